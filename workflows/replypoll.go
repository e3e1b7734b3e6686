package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Reply polling: a Temporal Schedule (ReplyPollScheduleID) starts
// ReplyPollWorkflow every REPLY_POLL_INTERVAL; POST /replies/poll starts the
// same workflow at once under ReplyPollNowWorkflowID. The workflow polls the
// IMAP mailboxes (storing replies with the suppression they imply), then
// delivers the stored replies' signals to their lead workflows. Both steps
// are idempotent: the poll keeps checkpoints and deduplicates, the delivery
// works from the replies' pending effects.
const (
	ActivityPollReplies         = "PollReplies"
	ActivityDeliverReplyEffects = "DeliverReplyEffects"

	// ErrTypeRepliesNotConfigured: no IMAP server is configured; polling
	// cannot succeed until one is.
	ErrTypeRepliesNotConfigured = "RepliesNotConfigured"
)

// The ids below are scoped by task queue. Every other workflow id carries a
// random entity id, but these are fixed names, and two deployments (each
// with its own database, mailbox and TEMPORAL_TASK_QUEUE) may share a
// namespace: with one id for all, a poll asked of one deployment joined the
// other's run and answered its counts without reading its own mailbox, and
// each worker start moved the one schedule to its own queue.

// ReplyPollScheduleID names the schedule of the workers on taskQueue; its
// runs get workflow ids starting with it.
func ReplyPollScheduleID(taskQueue string) string { return "reply-poll:" + taskQueue }

// ReplyPollNowWorkflowID is the id of a poll asked for through the API of
// the deployment on taskQueue. A second request while one runs joins it
// instead of starting another.
func ReplyPollNowWorkflowID(taskQueue string) string { return "reply-poll-now:" + taskQueue }

// ReplyPollInput says who asked for a poll: "schedule" or "api".
type ReplyPollInput struct {
	Trigger string `json:"trigger,omitempty"`
}

// PollRepliesResult answers ActivityPollReplies.
type PollRepliesResult struct {
	Mailboxes  int `json:"mailboxes"`
	Fetched    int `json:"fetched"`
	Duplicates int `json:"duplicates"`
	// New counts messages stored, Unparsed those stored unreadable.
	New      int `json:"new"`
	Unparsed int `json:"unparsed"`
	// ByUser counts new matched replies per user id.
	ByUser map[string]int `json:"by_user,omitempty"`
}

// DeliverEffectsRequest bounds one delivery run.
type DeliverEffectsRequest struct {
	Limit int `json:"limit"`
}

// DeliverEffectsResult answers ActivityDeliverReplyEffects.
type DeliverEffectsResult struct {
	Delivered  int `json:"delivered"`
	NoWorkflow int `json:"no_workflow"`
}

// ReplyPollResult is the outcome of one poll.
type ReplyPollResult struct {
	// RepliesFound counts messages newly stored; Failed those among them
	// that could not be read (kept for review).
	RepliesFound int            `json:"replies_found"`
	Failed       int            `json:"failed"`
	Fetched      int            `json:"fetched"`
	Duplicates   int            `json:"duplicates"`
	ByUser       map[string]int `json:"by_user,omitempty"`
	// EffectsDelivered counts reply signals delivered by this run.
	EffectsDelivered int `json:"effects_delivered"`
}

// ReplyPollWorkflow polls the mailboxes once and delivers pending reply
// effects. The delivery runs even when the poll fails (IMAP down), so
// replies stored by the inbound webhook still reach their leads; the
// workflow then fails with the poll's error.
func ReplyPollWorkflow(ctx workflow.Context, in ReplyPollInput) (ReplyPollResult, error) {
	var out ReplyPollResult
	pollCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// A first poll of a large mailbox takes a while; the activity
		// heartbeats after every page.
		StartToCloseTimeout: 30 * time.Minute,
		HeartbeatTimeout:    2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 5 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 3,
			NonRetryableErrorTypes: []string{ErrTypeRepliesNotConfigured},
		},
	})
	var poll PollRepliesResult
	pollErr := workflow.ExecuteActivity(pollCtx, ActivityPollReplies, in).Get(ctx, &poll)
	out.RepliesFound, out.Failed, out.Fetched, out.Duplicates, out.ByUser = poll.New, poll.Unparsed, poll.Fetched, poll.Duplicates, poll.ByUser

	effCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second, MaximumAttempts: 5,
		},
	})
	var eff DeliverEffectsResult
	effErr := workflow.ExecuteActivity(effCtx, ActivityDeliverReplyEffects, DeliverEffectsRequest{Limit: 5000}).Get(ctx, &eff)
	out.EffectsDelivered = eff.Delivered
	if pollErr != nil {
		return out, pollErr
	}
	return out, effErr
}

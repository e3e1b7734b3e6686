package api

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/backlinkoutreach/outreach/internal/inbox"
	"github.com/backlinkoutreach/outreach/internal/metrics"
	"github.com/backlinkoutreach/outreach/internal/temporalx"
	"github.com/backlinkoutreach/outreach/models"
	"github.com/backlinkoutreach/outreach/workflows"
)

// ReplyEngine is what the reply, suppression and unsubscribe handlers ask of
// the engine: run a reply poll now, and tell a lead workflow about a
// classified reply (it is an inbox.Notifier). TemporalEngine implements it.
type ReplyEngine interface {
	PollReplies(ctx context.Context) (workflows.ReplyPollResult, error)
	SignalLead(ctx context.Context, campaignID, leadID string, sig workflows.ReplySignal) error
}

var _ ReplyEngine = (*TemporalEngine)(nil)

// errPollingOff is answered when the poll workflow reports that no IMAP
// server is configured on the workers.
var errPollingOff = fmt.Errorf("%w: %w", models.ErrConflict, inbox.ErrNotConfigured)

// pollWait bounds how long POST /replies/poll waits for the poll: below
// the server's 5 min WriteTimeout, so the 503 that answers a longer poll
// still reaches the client (the poll goes on; its replies are stored).
const pollWait = 4*time.Minute + 30*time.Second

// PollReplies starts the reply-poll workflow (or joins the one running for
// an earlier request) and waits for its result, up to pollWait.
func (e *TemporalEngine) PollReplies(ctx context.Context) (workflows.ReplyPollResult, error) {
	var res workflows.ReplyPollResult
	ctx, cancel := context.WithTimeout(ctx, pollWait)
	defer cancel()
	run, err := e.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.ReplyPollNowWorkflowID(e.TaskQueue),
		TaskQueue:                e.TaskQueue,
		WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowExecutionTimeout: time.Hour,
		StaticSummary:            "Reply poll requested through the API",
	}, workflows.ReplyPollWorkflowName, workflows.ReplyPollInput{Trigger: "api"})
	if err != nil {
		return res, temporalx.Classify(fmt.Errorf("start reply poll: %w", err))
	}
	metrics.WorkflowStartsTotal.WithLabelValues("reply_poll").Inc()
	if err := run.Get(ctx, &res); err != nil {
		var app *temporal.ApplicationError
		if errors.As(err, &app) && app.Type() == workflows.ErrTypeRepliesNotConfigured {
			return res, errPollingOff
		}
		// The mailbox (or the database) could not be read: the poll can
		// be asked again; the checkpoints keep what was stored.
		return res, fmt.Errorf("%w: reply poll: %w", models.ErrUnavailable, err)
	}
	return res, nil
}

// SignalLead delivers a reply signal to a lead workflow; a workflow that has
// finished answers inbox.ErrNoWorkflow.
func (e *TemporalEngine) SignalLead(ctx context.Context, campaignID, leadID string, sig workflows.ReplySignal) error {
	ctx, cancel := e.call(ctx)
	defer cancel()
	err := inbox.TemporalNotifier{Client: e.Client}.SignalLead(ctx, campaignID, leadID, sig)
	if err != nil && !errors.Is(err, inbox.ErrNoWorkflow) {
		return temporalx.Classify(err)
	}
	return err
}

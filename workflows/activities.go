package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/backlinkoutreach/outreach/models"
)

// Activity names. Workflows call activities by name with the payloads
// below, so this package never imports the activity code (which does I/O);
// the activities package registers its methods under these names.
const (
	ActivityCampaignSync        = "CampaignSync"
	ActivityCampaignNextLeads   = "CampaignNextLeads"
	ActivityCampaignMarkStarted = "CampaignMarkStarted"
	ActivityCampaignDispatch    = "CampaignDispatch"
	ActivityCampaignWakeParked  = "CampaignWakeParked"
	ActivityCampaignReplanLeads = "CampaignReplanLeads"
	ActivitySendStep            = "SendStep"
	ActivityLeadTransition      = "LeadTransition"
	ActivityLeadEvent           = "LeadEvent"
	ActivityLeadDispatched      = "LeadDispatched"
	ActivityBulkStatusBatch     = "BulkStatusBatch"
)

// Application error types crossing the activity boundary.
const (
	// ErrTypeSMTPPermanent: the server refused the message with a 5xx; the
	// details carry the SendResult (the lead has bounced).
	ErrTypeSMTPPermanent = "SMTPPermanentFailure"
	// ErrTypeInvalidTransition: a status change the lifecycle refuses; the
	// details carry the stored status and the requested one.
	ErrTypeInvalidTransition = "InvalidTransition"
	// ErrTypeLeadGone: the lead row no longer exists.
	ErrTypeLeadGone = "LeadGone"
	// ErrTypeNothingToSend: a manual send found no step to send.
	ErrTypeNothingToSend = "NothingToSend"
)

// LeadPlan is the part of the campaign settings a lead workflow needs to
// time its steps. It is refreshed by every send, so edits apply to the
// next step.
type LeadPlan struct {
	Timezone string               `json:"tz"`
	Window   models.SendingWindow `json:"window"`
	// Delays holds delay_days per step; its length is the sequence length.
	Delays []float64 `json:"delays"`
	// OOODefault is the pause after an out-of-office reply without a date.
	OOODefault time.Duration `json:"ooo_default"`
}

// Settings rebuilds the window settings for models.ResolveWindow.
func (p LeadPlan) Settings() models.CampaignSettings {
	return models.CampaignSettings{Timezone: p.Timezone, Window: p.Window}
}

// CampaignSyncResult answers ActivityCampaignSync.
type CampaignSyncResult struct {
	Exists    bool                 `json:"exists"`
	State     models.CampaignState `json:"state"`
	Unstarted int                  `json:"unstarted"`
	Ready     int                  `json:"ready"`
	// PlanKey fingerprints the leads' plan (delays, window, time zone):
	// when it changes, the campaign tells its contacted leads to replan.
	PlanKey string `json:"plan_key,omitempty"`
}

// NextLeadsRequest asks for leads without a workflow.
type NextLeadsRequest struct {
	CampaignID string `json:"campaign_id"`
	Limit      int    `json:"limit"`
}

// LeadToStart is one lead the campaign starts a workflow for.
type LeadToStart struct {
	LeadID   string            `json:"lead_id"`
	Status   models.LeadStatus `json:"status"`
	Dispatch bool              `json:"dispatch,omitempty"`
}

// NextLeadsResult answers ActivityCampaignNextLeads.
type NextLeadsResult struct {
	Exists bool                 `json:"exists"`
	State  models.CampaignState `json:"state"`
	Leads  []LeadToStart        `json:"leads"`
	Plan   LeadPlan             `json:"plan"`
}

// MarkStartedRequest records started workflows; Redispatch lists leads
// whose workflow already existed and must be told to dispatch.
type MarkStartedRequest struct {
	CampaignID string   `json:"campaign_id"`
	LeadIDs    []string `json:"lead_ids"`
	Redispatch []string `json:"redispatch,omitempty"`
	// New counts the workflows this run started (the rest existed).
	New int `json:"new,omitempty"`
}

// DispatchRequest asks to dispatch up to Max first touches.
type DispatchRequest struct {
	CampaignID string `json:"campaign_id"`
	Max        int    `json:"max"`
}

// DispatchResult answers ActivityCampaignDispatch.
type DispatchResult struct {
	State      models.CampaignState `json:"state"`
	Dispatched int                  `json:"dispatched"`
	// More: room and ready leads are left; dispatch again at once.
	More bool `json:"more,omitempty"`
	// Ready counts first touches waiting after this call.
	Ready int `json:"ready"`
	// NextRoom is when a full cap resets, zero when room was not the limit.
	NextRoom time.Time `json:"next_room,omitzero"`
}

// WakeParkedRequest asks to signal resume to parked leads.
type WakeParkedRequest struct {
	CampaignID string `json:"campaign_id"`
	// After pages: parked leads with an id after it.
	After string `json:"after,omitempty"`
	Max   int    `json:"max"`
}

// WakeParkedResult answers ActivityCampaignWakeParked; Next is the cursor
// of the next page when More.
type WakeParkedResult struct {
	Woken int    `json:"woken"`
	More  bool   `json:"more,omitempty"`
	Next  string `json:"next,omitempty"`
}

// ReplanRequest asks to signal replan to a page of a campaign's contacted
// leads, those with an id after After.
type ReplanRequest struct {
	CampaignID string `json:"campaign_id"`
	After      string `json:"after,omitempty"`
	Max        int    `json:"max"`
}

// ReplanResult answers ActivityCampaignReplanLeads; Next is the cursor of
// the next page, empty after the last.
type ReplanResult struct {
	Signalled int    `json:"signalled"`
	Next      string `json:"next,omitempty"`
}

// SendRequest asks the send activity for one step.
type SendRequest struct {
	CampaignID string `json:"campaign_id"`
	LeadID     string `json:"lead_id"`
	Step       int    `json:"step"`
	// IgnoreDue: a manual send that may go before the step's delay.
	IgnoreDue bool `json:"ignore_due,omitempty"`
	// Replan: asked again after a change of the campaign's plan; a step
	// not yet due then answers its due time without an audit entry or a
	// timeline event (nothing was decided).
	Replan bool `json:"replan,omitempty"`
}

// Send outcomes (SendResult.Outcome).
const (
	OutcomeSent     = "sent"
	OutcomeUnknown  = "unknown"
	OutcomeDeferred = "deferred"
	OutcomePaused   = "paused"
	OutcomeBlocked  = "blocked"
	OutcomeFailed   = "failed"
	OutcomeDone     = "done"
	OutcomeGone     = "gone"
)

// SendResult answers ActivitySendStep.
type SendResult struct {
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
	// Until is when a deferred step may be tried again.
	Until time.Time `json:"until,omitzero"`
	// SentAt is when the step went out (sent) or may have (unknown).
	SentAt time.Time         `json:"sent_at,omitzero"`
	Status models.LeadStatus `json:"status"`
	// Plan is the campaign's timing now; empty when the campaign is gone.
	Plan LeadPlan `json:"plan"`
}

// TransitionRequest asks for a lead status change written to the database.
type TransitionRequest struct {
	CampaignID string            `json:"campaign_id"`
	LeadID     string            `json:"lead_id"`
	To         models.LeadStatus `json:"to"`
	Source     string            `json:"source"`
	Detail     string            `json:"detail,omitempty"`
	// Force and ExpectFrom undo a reply's effect when it is reclassified.
	Force      bool              `json:"force,omitempty"`
	ExpectFrom models.LeadStatus `json:"expect_from,omitempty"`
}

// TransitionResult answers ActivityLeadTransition.
type TransitionResult struct {
	From    models.LeadStatus `json:"from"`
	Status  models.LeadStatus `json:"status"`
	Changed bool              `json:"changed"`
}

// LeadEventRequest writes one timeline line.
type LeadEventRequest struct {
	CampaignID string `json:"campaign_id"`
	LeadID     string `json:"lead_id"`
	Kind       string `json:"kind"`
	Detail     string `json:"detail,omitempty"`
	Step       *int   `json:"step,omitempty"`
}

// LeadDispatchedRequest records a manual dispatch.
type LeadDispatchedRequest struct {
	CampaignID string `json:"campaign_id"`
	LeadID     string `json:"lead_id"`
}

// BulkStatusInput starts the bulk status workflow.
type BulkStatusInput struct {
	CampaignID string            `json:"campaign_id"`
	OwnerID    string            `json:"owner_id"`
	LeadIDs    []string          `json:"lead_ids"`
	Status     models.LeadStatus `json:"status"`
}

// BulkFailure is one lead the bulk change did not apply to.
type BulkFailure struct {
	LeadID string `json:"lead_id"`
	Reason string `json:"reason"`
}

// BulkStatusResult is the bulk workflow's answer (and the HTTP body).
type BulkStatusResult struct {
	Updated int           `json:"updated"`
	Failed  []BulkFailure `json:"failed"`
}

// Bulk failure reasons (invalid transitions read "invalid_transition: a -> b").
const (
	BulkNotFound            = "not_found"
	BulkWorkflowUnavailable = "workflow_unavailable"
)

// BulkBatchRequest is one batch of a bulk change.
type BulkBatchRequest struct {
	// RequestID names the bulk request; with the lead id it is the id of
	// each lead's Update, so a retried batch does not ask twice.
	RequestID  string            `json:"request_id"`
	CampaignID string            `json:"campaign_id"`
	OwnerID    string            `json:"owner_id"`
	LeadIDs    []string          `json:"lead_ids"`
	Status     models.LeadStatus `json:"status"`
}

// SendNowResult answers UpdateLeadSendNow.
type SendNowResult struct {
	Step  int    `json:"step"`
	Phase string `json:"phase"`
}

// UpdateLeadSendNow asks a lead to send its next step now, through every
// policy (POST /outreach/send). It carries no payload.
const UpdateLeadSendNow = "send-now"

// Search attribute keys.
var (
	CampaignIDKey = temporal.NewSearchAttributeKeyKeyword(SearchCampaignID)
	OwnerIDKey    = temporal.NewSearchAttributeKeyKeyword(SearchOwnerID)
	LeadStatusKey = temporal.NewSearchAttributeKeyKeyword(SearchLeadStatus)
)

// Activity options. Every activity retries without limit with capped
// backoff: the database or the SMTP server being down for a while must
// delay the campaign, never lose a step. Only the non-retryable error types
// stop a retry.
//
// execDB runs a short database step as a local activity: in the worker
// that runs the workflow task, with no round trip through the server's
// task queues. Each step is safe to run twice (a worker that dies after one
// re-runs it on replay): it reads or writes conditionally. Executions
// started before this change recorded the steps as regular activities, and
// replaying them with local ones fails, so those keep regular activities
// with their original options (version marker versionLocalDBSteps).
func execDB(ctx workflow.Context, name string, arg any) workflow.Future {
	retry := &temporal.RetryPolicy{
		InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second,
		NonRetryableErrorTypes: []string{ErrTypeInvalidTransition, ErrTypeLeadGone},
	}
	if workflow.GetVersion(ctx, versionLocalDBSteps, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		ao := workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second, RetryPolicy: retry}
		return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, ao), name, arg)
	}
	lao := workflow.LocalActivityOptions{StartToCloseTimeout: 30 * time.Second, RetryPolicy: retry}
	return workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, lao), name, arg)
}

// versionLocalDBSteps is the change id of execDB's move to local
// activities.
const versionLocalDBSteps = "local-db-steps"

// longActivity is for activities that signal or update many workflows;
// they heartbeat.
func longActivity(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute,
		HeartbeatTimeout:    30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
		},
	})
}

// bulkActivity gives up after a few tries, so a batch that cannot be
// applied is answered workflow_unavailable instead of holding the request.
func bulkActivity(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 5 * time.Minute,
		HeartbeatTimeout:    30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Second, MaximumAttempts: 4,
		},
	})
}

// SendTaskQueue is the task queue of the send activity beside a workflow
// task queue. Sends have their own queue so a worker takes only as many as
// it sends at once (see worker.Options.SendConcurrency): the others wait in
// Temporal, not in the worker, and no send waits long after it started.
func SendTaskQueue(taskQueue string) string { return taskQueue + "-send" }

// sendActivity heartbeats while it talks SMTP, so a worker killed mid-send
// is noticed in seconds and the step retried (and then found in `sending`:
// unknown, never sent twice).
func sendActivity(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           SendTaskQueue(workflow.GetInfo(ctx).TaskQueueName),
		StartToCloseTimeout: 5 * time.Minute,
		HeartbeatTimeout:    10 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
			NonRetryableErrorTypes: []string{ErrTypeSMTPPermanent},
		},
	})
}

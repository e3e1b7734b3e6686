// Package workflows holds the deterministic Temporal code of the engine: the
// campaign, lead, bulk-status and reply-poll workflows. It does no I/O; every
// side effect is an activity. This file is the contract other packages use to
// talk to the workflows: ids, signal, query and update names, payloads.
package workflows

import (
	"time"

	"github.com/backlinkoutreach/outreach/models"
)

// Search attribute names (all Keyword), registered at start-up and by the
// dev server's flags.
const (
	SearchCampaignID = "CampaignId"
	SearchOwnerID    = "OwnerId"
	SearchLeadStatus = "LeadStatus"
)

// CampaignWorkflowID is the id of a campaign's workflow.
func CampaignWorkflowID(campaignID string) string { return "campaign/" + campaignID }

// LeadWorkflowID is the id of a lead's workflow.
func LeadWorkflowID(campaignID, leadID string) string {
	return "campaign/" + campaignID + "/lead/" + leadID
}

// BulkStatusWorkflowID is the id of one bulk status request.
func BulkStatusWorkflowID(campaignID, requestID string) string {
	return "campaign/" + campaignID + "/bulk-status/" + requestID
}

// Workflow type names.
const (
	CampaignWorkflowName   = "CampaignWorkflow"
	LeadWorkflowName       = "LeadWorkflow"
	BulkStatusWorkflowName = "BulkStatusWorkflow"
	ReplyPollWorkflowName  = "ReplyPollWorkflow"
)

// Campaign workflow signals.
const (
	// SignalCampaignLaunch, Pause, Resume, Archive carry no payload.
	SignalCampaignLaunch  = "launch"
	SignalCampaignPause   = "pause"
	SignalCampaignResume  = "resume"
	SignalCampaignArchive = "archive"
	// SignalCampaignSettings carries no payload: the workflow reloads
	// settings and state from the database through an activity.
	SignalCampaignSettings = "settings-changed"
	// SignalLeadsAdded carries LeadsAdded.
	SignalLeadsAdded = "leads-added"
	// QueryCampaignState answers CampaignStatus.
	QueryCampaignState = "state"
)

// LeadsAdded wakes the campaign workflow; it finds the new leads itself.
type LeadsAdded struct {
	Count int `json:"count"`
}

// CampaignStatus answers QueryCampaignState.
type CampaignStatus struct {
	State        models.CampaignState `json:"state"`
	LeadsStarted int                  `json:"leads_started"`
	LeadsWaiting int                  `json:"leads_waiting"`
	// DispatchedToday counts first-touch dispatches on the current day.
	DispatchedToday int       `json:"dispatched_today"`
	Runs            int       `json:"runs"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// Lead workflow signals, updates and queries.
const (
	// SignalLeadDispatch tells a discovered lead to send step 0.
	SignalLeadDispatch = "dispatch"
	// SignalLeadResume wakes a lead parked while its campaign was paused.
	SignalLeadResume = "resume"
	// SignalLeadReply carries ReplySignal: a classified inbound message.
	SignalLeadReply = "reply"
	// SignalLeadStop ends the workflow at once (campaign deleted).
	SignalLeadStop = "stop"
	// SignalLeadReplan tells a lead waiting for a follow-up that its
	// campaign's settings changed: it asks the send step again, which
	// answers with the new plan (sent now if already due under it,
	// deferred to its due time otherwise).
	SignalLeadReplan = "replan"
	// UpdateLeadStatus carries StatusChange and returns StatusResult; its
	// validator refuses transitions the lifecycle does not allow.
	UpdateLeadStatus = "set-status"
	// QueryLeadState answers LeadState.
	QueryLeadState = "state"
)

// ReplySignal is a classified reply delivered to a lead workflow (SPEC §8).
type ReplySignal struct {
	ReplyID string `json:"reply_id"`
	// Tag is one of models.ReplyTags.
	Tag string `json:"tag"`
	// BounceKind is "hard" or "soft" when Tag is bounce.
	BounceKind string `json:"bounce_kind,omitempty"`
	// Until is the out-of-office return time, zero when none was stated.
	Until time.Time `json:"until,omitempty"`
	// Reclassified is true when a user changed the tag (PATCH /replies):
	// the lead reacts as if the new tag were the first.
	Reclassified bool `json:"reclassified,omitempty"`
}

// StatusChange is a manual status change.
type StatusChange struct {
	Status models.LeadStatus `json:"status"`
	// Source says who asked: "api", "bulk", "reply", ...
	Source string `json:"source"`
}

// StatusResult is the lead after a status change.
type StatusResult struct {
	From    models.LeadStatus `json:"from"`
	Status  models.LeadStatus `json:"status"`
	Changed bool              `json:"changed"`
}

// LeadState answers QueryLeadState.
type LeadState struct {
	Status models.LeadStatus `json:"status"`
	// Phase: waiting_dispatch, waiting_window, sending, waiting_followup,
	// paused, parked (campaign paused), out_of_office, done.
	Phase string `json:"phase"`
	// NextStep is the next sequence step to send, -1 when none.
	NextStep int `json:"next_step"`
	// NextAt is when the next step is due, zero when none.
	NextAt time.Time `json:"next_at,omitempty"`
}

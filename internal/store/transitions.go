package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/backlinkoutreach/outreach/models"
)

// Lead event kinds written by the engine (models.LeadEvent.Kind).
const (
	EventStatus      = "status"
	EventSent        = "sent"
	EventSendUnknown = "send_unknown"
	EventSendFailed  = "send_failed"
	EventDeferred    = "deferred"
	EventBlocked     = "blocked"
	EventReply       = "reply"
	EventPaused      = "paused"
	EventResumed     = "resumed"
	EventNote        = "note"
)

// Transition asks for a lead's status to change.
type Transition struct {
	LeadID string
	To     models.LeadStatus
	// Source says who asked (api, bulk, reply, send, ...); it is written
	// into the timeline.
	Source string
	Detail string
	Step   *int
	// Force writes To whatever the lifecycle says, but only when the lead
	// is in ExpectFrom. The lead workflow uses it to undo a reply's effect
	// when the reply is reclassified; nothing else may.
	Force      bool
	ExpectFrom models.LeadStatus
	At         time.Time
}

// TransitionResult is the lead's status after a Transition.
type TransitionResult struct {
	From    models.LeadStatus
	Status  models.LeadStatus
	Changed bool
}

// TransitionLead applies t in its own transaction.
func TransitionLead(ctx context.Context, db *gorm.DB, t Transition) (TransitionResult, error) {
	var res TransitionResult
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		res, err = transitionTx(tx, t)
		return err
	})
	return res, err
}

// TransitionUnstartedLead applies t to a lead of the campaign whose
// workflow has not been started yet (a large campaign starts them in
// batches): the workflow, once started, takes its status from the row, and
// every send checks the row. started reports a lead whose workflow runs
// already: nothing was written, and the change must go through it.
func TransitionUnstartedLead(ctx context.Context, db *gorm.DB, campaignID string, t Transition) (res TransitionResult, started bool, err error) {
	err = db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var l models.Lead
		q := tx.Select("id", "workflow_started")
		if DialectOf(tx) == Postgres {
			q = q.Clauses(clause.Locking{Strength: "NO KEY UPDATE"})
		}
		if err := q.Where("id = ? AND campaign_id = ?", t.LeadID, campaignID).Take(&l).Error; errors.Is(err, gorm.ErrRecordNotFound) {
			return models.ErrLeadNotFound
		} else if err != nil {
			return fmt.Errorf("load lead: %w", err)
		}
		if started = l.WorkflowStarted; started {
			return nil
		}
		var terr error
		res, terr = transitionTx(tx, t)
		return terr
	})
	return res, started, err
}

// transitionTx moves the lead to t.To when the lifecycle allows it from the
// status the database holds (not from what the caller believed), and
// writes the timeline event in the same transaction. Setting the current
// status is a no-op success. An illegal move answers *models.TransitionError
// naming the stored status.
func transitionTx(tx *gorm.DB, t Transition) (TransitionResult, error) {
	var l models.Lead
	q := tx.Select("id", "campaign_id", "status")
	if DialectOf(tx) == Postgres {
		q = q.Clauses(clause.Locking{Strength: "NO KEY UPDATE"})
	}
	err := q.Where("id = ?", t.LeadID).Take(&l).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return TransitionResult{}, models.ErrLeadNotFound
	}
	if err != nil {
		return TransitionResult{}, fmt.Errorf("load lead: %w", err)
	}
	res := TransitionResult{From: l.Status, Status: l.Status}
	if t.Force {
		if l.Status != t.ExpectFrom {
			return res, &models.TransitionError{From: l.Status, To: t.To}
		}
		if !t.To.Valid() {
			return res, fmt.Errorf("%w: %q", models.ErrUnknownStatus, t.To)
		}
	} else if err := models.CheckTransition(l.Status, t.To); err != nil {
		return res, err
	}
	if l.Status == t.To {
		return res, nil
	}
	at := t.At
	if at.IsZero() {
		at = time.Now()
	}
	at = at.UTC()
	upd := tx.Model(&models.Lead{}).Where("id = ? AND status = ?", l.ID, l.Status).
		Updates(map[string]any{"status": t.To, "status_changed_at": at, "updated_at": at})
	if upd.Error != nil {
		return res, fmt.Errorf("update lead status: %w", upd.Error)
	}
	if upd.RowsAffected != 1 {
		return res, fmt.Errorf("update lead status: lead %s changed concurrently", l.ID)
	}
	detail := t.Source
	if t.Detail != "" {
		detail += ": " + t.Detail
	}
	if err := addEvent(tx, models.LeadEvent{
		LeadID: l.ID, CampaignID: l.CampaignID, At: at, Kind: EventStatus,
		FromStatus: l.Status, ToStatus: t.To, Step: t.Step, Detail: detail,
	}); err != nil {
		return res, err
	}
	res.Status, res.Changed = t.To, true
	return res, nil
}

// AddLeadEvent writes one timeline line.
func AddLeadEvent(ctx context.Context, db *gorm.DB, e models.LeadEvent) error {
	return addEvent(db.WithContext(ctx), e)
}

func addEvent(tx *gorm.DB, e models.LeadEvent) error {
	if e.ID == "" {
		e.ID = models.NewID()
	}
	if e.At.IsZero() {
		e.At = time.Now()
	}
	e.At = e.At.UTC()
	if err := tx.Create(&e).Error; err != nil {
		return fmt.Errorf("add lead event: %w", err)
	}
	return nil
}

// MarkDispatched records that the lead was told to send its first step
// outside the campaign's own pacing (a manual send).
func MarkDispatched(ctx context.Context, db *gorm.DB, leadID string, now time.Time) error {
	err := db.WithContext(ctx).Model(&models.Lead{}).
		Where("id = ? AND dispatched_at IS NULL", leadID).
		Updates(map[string]any{"dispatched_at": now.UTC(), "updated_at": now.UTC()}).Error
	if err != nil {
		return fmt.Errorf("mark lead dispatched: %w", err)
	}
	return nil
}

// LeadStatusOf reads a lead's stored status; a lead of another campaign is
// not found.
func LeadStatusOf(ctx context.Context, db *gorm.DB, campaignID, leadID string) (models.LeadStatus, error) {
	var l models.Lead
	err := db.WithContext(ctx).Select("status").Where("id = ? AND campaign_id = ?", leadID, campaignID).Take(&l).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return "", models.ErrLeadNotFound
	}
	if err != nil {
		return "", fmt.Errorf("lead status: %w", err)
	}
	return l.Status, nil
}

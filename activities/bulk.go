package activities

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/internal/temporalx"
	"github.com/backlinkoutreach/outreach/models"
	"github.com/backlinkoutreach/outreach/workflows"
)

const (
	// bulkParallel bounds the Updates one batch has in flight (the
	// workflow runs up to 20 batches at once).
	bulkParallel = 5
	// bulkUpdateTimeout bounds one try of a lead's Update; bulkTries tries
	// attach to the same Update.
	bulkUpdateTimeout = 30 * time.Second
	bulkTries         = 3
)

// BulkStatusBatch applies one status to each lead of a batch through the
// lead's Update and answers a result per lead: updated (including a no-op
// to the current status), not_found (malformed id, or not a lead of this
// campaign and owner), invalid_transition: a -> b, or workflow_unavailable.
// A lead whose workflow has finished answers from the database.
func (a *Activities) BulkStatusBatch(ctx context.Context, req workflows.BulkBatchRequest) (workflows.BulkStatusResult, error) {
	out := workflows.BulkStatusResult{Failed: []workflows.BulkFailure{}}
	valid := make([]string, 0, len(req.LeadIDs))
	for _, id := range req.LeadIDs {
		if models.ValidID(id) {
			valid = append(valid, id)
		}
	}
	stored := map[string]models.LeadStatus{}
	if len(valid) > 0 {
		var rows []models.Lead
		if err := a.DB.WithContext(ctx).Select("id", "status").
			Where("campaign_id = ? AND user_id = ? AND id IN ?", req.CampaignID, req.OwnerID, valid).
			Find(&rows).Error; err != nil {
			return out, fmt.Errorf("load leads: %w", err)
		}
		for _, l := range rows {
			stored[l.ID] = l.Status
		}
	}
	reasons := make([]string, len(req.LeadIDs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, bulkParallel)
	for i, id := range req.LeadIDs {
		st, ok := stored[id]
		if !ok {
			reasons[i] = workflows.BulkNotFound
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			reasons[i] = a.applyStatus(ctx, req.RequestID, req.CampaignID, id, st, req.Status)
			if activity.IsActivity(ctx) {
				activity.RecordHeartbeat(ctx)
			}
		}()
	}
	wg.Wait()
	for i, id := range req.LeadIDs {
		if reasons[i] == "" {
			out.Updated++
			continue
		}
		out.Failed = append(out.Failed, workflows.BulkFailure{LeadID: id, Reason: reasons[i]})
	}
	return out, nil
}

// applyStatus answers "" when the lead has the status afterwards, else the
// failure reason.
func (a *Activities) applyStatus(ctx context.Context, requestID, campaignID, leadID string, stored, to models.LeadStatus) string {
	updateID := ""
	if requestID != "" {
		updateID = requestID + "/" + leadID
	}
	var err error
	for try := 0; try < bulkTries; try++ {
		uctx, cancel := context.WithTimeout(ctx, bulkUpdateTimeout)
		_, err = temporalx.UpdateLeadStatus(uctx, a.Temporal, campaignID, leadID, workflows.StatusChange{Status: to, Source: "bulk"}, updateID)
		cancel()
		if !errors.Is(err, models.ErrUnavailable) || ctx.Err() != nil {
			break
		}
	}
	var te *models.TransitionError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &te):
		return te.Error()
	case errors.Is(err, temporalx.ErrWorkflowClosed):
		// The workflow ends when its lead is terminal: the row is the
		// truth. A lead that is not terminal has a workflow about to
		// start.
		if stored == to {
			return ""
		}
		if stored.Terminal() {
			return (&models.TransitionError{From: stored, To: to}).Error()
		}
		// Not started yet (a large campaign starts them in batches): the
		// row is what it will start from.
		_, started, terr := store.TransitionUnstartedLead(ctx, a.DB, campaignID, store.Transition{LeadID: leadID, To: to, Source: "bulk"})
		switch {
		case errors.As(terr, &te):
			return te.Error()
		case terr != nil || started:
			return workflows.BulkWorkflowUnavailable
		}
		return ""
	default:
		// The outcome is unknown (the Update may have been applied just
		// before the deadline): the database says.
		if now, derr := store.LeadStatusOf(ctx, a.DB, campaignID, leadID); derr == nil && now == to {
			return ""
		}
		a.Log.WarnContext(ctx, "bulk status: lead update failed", "lead_id", leadID, "error", err)
		return workflows.BulkWorkflowUnavailable
	}
}

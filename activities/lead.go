package activities

import (
	"context"
	"errors"

	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/models"
	"github.com/backlinkoutreach/outreach/workflows"
)

// LeadTransition writes a status change (row and timeline) when the stored
// status allows it. A refused change is a non-retryable InvalidTransition
// carrying the stored status and the requested one.
func (a *Activities) LeadTransition(ctx context.Context, req workflows.TransitionRequest) (workflows.TransitionResult, error) {
	res, err := store.TransitionLead(ctx, a.DB, store.Transition{
		LeadID: req.LeadID, To: req.To, Source: req.Source, Detail: req.Detail,
		Force: req.Force, ExpectFrom: req.ExpectFrom, At: a.now(),
	})
	var te *models.TransitionError
	switch {
	case errors.As(err, &te):
		return workflows.TransitionResult{}, nonRetryable(te.Error(), workflows.ErrTypeInvalidTransition, te.From, te.To)
	case errors.Is(err, models.ErrLeadNotFound):
		return workflows.TransitionResult{}, nonRetryable("lead not found", workflows.ErrTypeLeadGone)
	case errors.Is(err, models.ErrUnknownStatus):
		return workflows.TransitionResult{}, nonRetryable(err.Error(), workflows.ErrTypeInvalidTransition, res.From, req.To)
	case err != nil:
		return workflows.TransitionResult{}, err
	}
	return workflows.TransitionResult{From: res.From, Status: res.Status, Changed: res.Changed}, nil
}

// LeadEvent writes one timeline line.
func (a *Activities) LeadEvent(ctx context.Context, req workflows.LeadEventRequest) error {
	err := store.AddLeadEvent(ctx, a.DB, models.LeadEvent{
		LeadID: req.LeadID, CampaignID: req.CampaignID, At: a.now(), Kind: req.Kind, Detail: req.Detail, Step: req.Step,
	})
	if errors.Is(err, gorm.ErrForeignKeyViolated) {
		return nonRetryable("lead not found", workflows.ErrTypeLeadGone)
	}
	return err
}

// LeadDispatched records a manual dispatch, so the campaign's pacing counts
// the lead in flight.
func (a *Activities) LeadDispatched(ctx context.Context, req workflows.LeadDispatchedRequest) error {
	return store.MarkDispatched(ctx, a.DB, req.LeadID, a.now())
}

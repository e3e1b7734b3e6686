package temporalx

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/backlinkoutreach/outreach/models"
	"github.com/backlinkoutreach/outreach/workflows"
)

// ErrWorkflowClosed means the lead's workflow is not running: it finished
// (the lead is terminal), was stopped, or was never started.
var ErrWorkflowClosed = errors.New("lead workflow is not running")

// NothingToSendError refuses a manual send (the lead's sequence is over or
// stopped). It matches models.ErrConflict.
type NothingToSendError struct{ Reason string }

func (e *NothingToSendError) Error() string { return e.Reason }

// Unwrap lets errors.Is(err, models.ErrConflict) match.
func (e *NothingToSendError) Unwrap() error { return models.ErrConflict }

// UpdateLeadStatus changes a lead's status through its workflow's Update and
// waits for the outcome. An illegal change is *models.TransitionError
// (naming the status the workflow holds); a workflow that is not running is
// ErrWorkflowClosed; an unreachable server wraps models.ErrUnavailable.
// updateID, when set, makes a retry after a timeout attach to the same
// Update instead of asking again.
func UpdateLeadStatus(ctx context.Context, c client.Client, campaignID, leadID string, change workflows.StatusChange, updateID string) (workflows.StatusResult, error) {
	var res workflows.StatusResult
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflows.LeadWorkflowID(campaignID, leadID), UpdateName: workflows.UpdateLeadStatus,
		UpdateID: updateID, Args: []any{change}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, &res)
	}
	return res, classifyUpdate(err)
}

// SendNow asks a lead to send its next step now.
func SendNow(ctx context.Context, c client.Client, campaignID, leadID string) (workflows.SendNowResult, error) {
	var res workflows.SendNowResult
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflows.LeadWorkflowID(campaignID, leadID), UpdateName: workflows.UpdateLeadSendNow,
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, &res)
	}
	return res, classifyUpdate(err)
}

func classifyUpdate(err error) error {
	if err == nil {
		return nil
	}
	var (
		appErr   *temporal.ApplicationError
		notFound *serviceerror.NotFound
	)
	if errors.As(err, &appErr) {
		switch appErr.Type() {
		case workflows.ErrTypeInvalidTransition:
			var from, to models.LeadStatus
			if derr := appErr.Details(&from, &to); derr == nil {
				return &models.TransitionError{From: from, To: to}
			}
		case workflows.ErrTypeNothingToSend:
			return &NothingToSendError{Reason: appErr.Message()}
		}
	}
	if errors.As(err, &notFound) {
		return fmt.Errorf("%w: %w", ErrWorkflowClosed, err)
	}
	return Classify(err)
}

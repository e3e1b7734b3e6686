package inbox

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/backlinkoutreach/outreach/workflows"
)

// TemporalNotifier signals lead workflows through a Temporal client.
type TemporalNotifier struct {
	Client client.Client
}

// SignalLead sends the reply signal to the lead's workflow; a workflow
// that has finished (or never existed) answers ErrNoWorkflow.
func (n TemporalNotifier) SignalLead(ctx context.Context, campaignID, leadID string, sig workflows.ReplySignal) error {
	err := n.Client.SignalWorkflow(ctx, workflows.LeadWorkflowID(campaignID, leadID), "", workflows.SignalLeadReply, sig)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return ErrNoWorkflow
	}
	if err != nil {
		return fmt.Errorf("signal lead workflow: %w", err)
	}
	return nil
}

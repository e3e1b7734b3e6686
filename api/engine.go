package api

import (
	"context"

	"github.com/backlinkoutreach/outreach/models"
)

// Engine is what the campaign and lead handlers ask of the workflow engine.
// The Temporal implementation lives beside the outreach handlers (issue 3).
// Deps.Engine is nil only in tests of the HTTP layer on its own; every binary
// wires it.
type Engine interface {
	// CampaignCreated starts the campaign's workflow. On error the handler
	// removes the new row, so no campaign exists without its workflow.
	CampaignCreated(ctx context.Context, c models.Campaign) error
	// LeadsAdded wakes the campaign workflow after n leads were stored.
	LeadsAdded(ctx context.Context, c models.Campaign, n int) error
	// CampaignChanged tells the workflow the campaign's settings or state
	// changed (patch, archive, unarchive).
	CampaignChanged(ctx context.Context, c models.Campaign) error
	// DeleteCampaign stops every workflow of the campaign; after it returns
	// no e-mail of the campaign leaves. The handler then deletes the rows.
	DeleteCampaign(ctx context.Context, c models.Campaign) error
}

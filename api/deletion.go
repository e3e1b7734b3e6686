package api

import (
	"context"
	"log/slog"
	"time"

	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/internal/store"
)

// DeletionFinisher finishes campaign deletions that were interrupted: a
// DELETE marks the campaign `deleting` (hidden, sends refuse it), has the
// engine stop its workflows and then deletes the rows; a crash in between
// would leave a campaign nobody can see or delete. The worker runs one
// (Run): a campaign deleting for longer than StuckAfter goes through the
// same two steps again, Engine.DeleteCampaign then the row delete. Both
// are safe to repeat, and several workers finishing the same campaign at
// once do no harm.
type DeletionFinisher struct {
	DB     *gorm.DB
	Engine Engine
	Log    *slog.Logger
	// StuckAfter is how long a campaign stays deleting before it is taken
	// over (default 10 min): far longer than a DELETE request takes (at
	// most DeleteWait for sends in flight, then the terminations), so a
	// request still at work is left alone.
	StuckAfter time.Duration
	// Every is how often Run looks (default 5 min).
	Every time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// finishBatch bounds the campaigns one Finish call takes on.
const finishBatch = 100

// Finish completes every deletion stuck for longer than StuckAfter and
// answers how many it completed. A campaign whose workflows cannot be
// stopped now (Temporal unreachable, a send still in flight) stays
// deleting for the next call; the others go on.
func (f *DeletionFinisher) Finish(ctx context.Context) (int, error) {
	now, stuck := time.Now, f.StuckAfter
	if f.Now != nil {
		now = f.Now
	}
	if stuck <= 0 {
		stuck = 10 * time.Minute
	}
	camps, err := store.StuckDeletions(ctx, f.DB, now().Add(-stuck), finishBatch)
	if err != nil {
		return 0, err
	}
	done := 0
	for _, c := range camps {
		if ctx.Err() != nil {
			return done, ctx.Err()
		}
		if err := f.Engine.DeleteCampaign(ctx, c); err != nil {
			f.log().WarnContext(ctx, "interrupted campaign delete: workflows not stopped yet; trying again later",
				"campaign_id", c.ID, "error", err)
			continue
		}
		removed, err := store.FinishCampaignDelete(ctx, f.DB, c.ID)
		if err != nil {
			f.log().WarnContext(ctx, "interrupted campaign delete: rows not deleted yet; trying again later",
				"campaign_id", c.ID, "error", err)
			continue
		}
		if removed {
			done++
			f.log().InfoContext(ctx, "finished an interrupted campaign delete", "campaign_id", c.ID,
				"deleting_since", c.UpdatedAt.UTC())
		}
	}
	return done, nil
}

// Run calls Finish at once and then every Every until ctx ends.
func (f *DeletionFinisher) Run(ctx context.Context) {
	every := f.Every
	if every <= 0 {
		every = 5 * time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := f.Finish(ctx); err != nil && ctx.Err() == nil {
			f.log().WarnContext(ctx, "look for interrupted campaign deletes", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (f *DeletionFinisher) log() *slog.Logger {
	if f.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return f.Log
}

package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/internal/storetest"
	"github.com/backlinkoutreach/outreach/models"
)

// StuckDeletions finds only campaigns marked deleting before the cut-off,
// oldest first; FinishCampaignDelete removes a deleting campaign with its
// leads and leaves any other campaign alone.
func TestStuckDeletions(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		u, err := store.CreateUser(ctx, db, "owner@example.com")
		if err != nil {
			t.Fatal(err)
		}
		older := seedCampaign(t, db, u.ID, "older")
		old := seedCampaign(t, db, u.ID, "old")
		fresh := seedCampaign(t, db, u.ID, "fresh")
		draft := seedCampaign(t, db, u.ID, "draft")
		if _, err := store.InsertLeads(ctx, db, newLeads(old, "old", 3)); err != nil {
			t.Fatal(err)
		}
		for _, c := range []models.Campaign{older, old, fresh} {
			if _, err := store.MarkCampaignDeleting(ctx, db, u.ID, c.ID); err != nil {
				t.Fatal(err)
			}
		}
		// The crash happened: two campaigns have been deleting for a while.
		now := time.Now().UTC()
		for id, ago := range map[string]time.Duration{older.ID: 2 * time.Hour, old.ID: time.Hour} {
			if err := db.Model(&models.Campaign{}).Where("id = ?", id).UpdateColumn("updated_at", now.Add(-ago)).Error; err != nil {
				t.Fatal(err)
			}
		}
		// Draft, but last written long ago: not a deletion.
		if err := db.Model(&models.Campaign{}).Where("id = ?", draft.ID).UpdateColumn("updated_at", now.Add(-3*time.Hour)).Error; err != nil {
			t.Fatal(err)
		}

		got, err := store.StuckDeletions(ctx, db, now.Add(-10*time.Minute), 10)
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]string, len(got))
		for i, c := range got {
			ids[i] = c.ID
			if c.State != models.CampaignDeleting {
				t.Errorf("campaign %s in state %s", c.ID, c.State)
			}
		}
		if !slices.Equal(ids, []string{older.ID, old.ID}) {
			t.Fatalf("stuck deletions %v, want older then old %v", ids, []string{older.ID, old.ID})
		}
		if got, _ := store.StuckDeletions(ctx, db, now.Add(-10*time.Minute), 1); len(got) != 1 || got[0].ID != older.ID {
			t.Fatalf("limit 1: %v", got)
		}

		removed, err := store.FinishCampaignDelete(ctx, db, old.ID)
		if err != nil || !removed {
			t.Fatalf("finish old: removed %v, %v", removed, err)
		}
		if _, err := store.LeadInCampaign(ctx, db, old.ID, "x"); !errors.Is(err, models.ErrLeadNotFound) {
			t.Fatalf("lead lookup after delete: %v", err)
		}
		var leads int64
		if err := db.Model(&models.Lead{}).Where("campaign_id = ?", old.ID).Count(&leads).Error; err != nil || leads != 0 {
			t.Fatalf("%d leads left (%v)", leads, err)
		}
		// Again: already gone.
		if removed, err := store.FinishCampaignDelete(ctx, db, old.ID); err != nil || removed {
			t.Fatalf("second finish: removed %v, %v", removed, err)
		}
		// A campaign not (or no longer) deleting survives.
		if removed, err := store.FinishCampaignDelete(ctx, db, draft.ID); err != nil || removed {
			t.Fatalf("finish of a draft: removed %v, %v", removed, err)
		}
		if _, err := store.CampaignForUser(ctx, db, u.ID, draft.ID); err != nil {
			t.Fatalf("draft campaign after a finish attempt: %v", err)
		}
	})
}

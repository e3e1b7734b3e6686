package store_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/internal/storetest"
	"github.com/backlinkoutreach/outreach/models"
)

func seedCampaign(t *testing.T, db *gorm.DB, userID, name string) models.Campaign {
	t.Helper()
	now := time.Now().UTC()
	c := models.Campaign{ID: models.NewID(), UserID: userID, Name: name, Keywords: []string{}, State: models.CampaignDraft, CreatedAt: now, UpdatedAt: now}
	if err := store.CreateCampaign(context.Background(), db, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func newLeads(c models.Campaign, prefix string, n int) []models.Lead {
	now := time.Now().UTC()
	out := make([]models.Lead, n)
	for i := range out {
		u := fmt.Sprintf("https://%s%d.example.com", prefix, i)
		out[i] = models.Lead{
			ID: models.NewID(), CampaignID: c.ID, UserID: c.UserID, WebsiteURL: u, NormalizedURL: u[len("https://"):],
			Source: models.SourceBulk, Status: models.StatusDiscovered, CreatedAt: now, UpdatedAt: now, StatusChangedAt: now,
		}
	}
	return out
}

// checkCounts compares lead_counts (kept by triggers) with a GROUP BY over
// the leads themselves.
func checkCounts(t *testing.T, db *gorm.DB, step string, campaigns ...models.Campaign) {
	t.Helper()
	ids := make([]string, len(campaigns))
	for i, c := range campaigns {
		ids[i] = c.ID
	}
	got, err := store.CampaignLeadCounts(context.Background(), db, ids)
	if err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		CampaignID string
		Status     models.LeadStatus
		N          int64
	}
	if err := db.Raw("SELECT campaign_id, status, count(*) AS n FROM leads GROUP BY campaign_id, status").Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	want := map[string]store.LeadCounts{}
	for _, id := range ids {
		want[id] = store.LeadCounts{}
		for _, s := range models.LeadStatuses {
			want[id][s] = 0
		}
	}
	for _, r := range rows {
		if w, ok := want[r.CampaignID]; ok {
			w[r.Status] = r.N
		}
	}
	for _, id := range ids {
		if !maps.Equal(got[id], want[id]) {
			t.Fatalf("%s: counts of %s:\n got %v\nwant %v", step, id, got[id], want[id])
		}
	}
	var negative int64
	db.Raw("SELECT count(*) FROM lead_counts WHERE n < 0").Scan(&negative)
	if negative != 0 {
		t.Fatalf("%s: negative counters", step)
	}
}

func TestLeadCountsStayExact(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		u, err := store.CreateUser(ctx, db, "owner@example.com")
		if err != nil {
			t.Fatal(err)
		}
		a, b := seedCampaign(t, db, u.ID, "A"), seedCampaign(t, db, u.ID, "B")
		checkCounts(t, db, "empty", a, b)

		la := newLeads(a, "a", 2500) // more than one insert batch
		if _, err := store.InsertLeads(ctx, db, la); err != nil {
			t.Fatal(err)
		}
		if _, err := store.InsertLeads(ctx, db, newLeads(b, "b", 10)); err != nil {
			t.Fatal(err)
		}
		checkCounts(t, db, "insert", a, b)
		// Re-inserting stored sites adds nothing and counts nothing.
		again := newLeads(a, "a", 5)
		stored, err := store.InsertLeads(ctx, db, again)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range stored {
			if s {
				t.Fatalf("row %d re-inserted", i)
			}
		}
		checkCounts(t, db, "duplicate insert", a, b)

		steps := []struct{ name, sql string }{
			{"single status update", "UPDATE leads SET status = 'contacted' WHERE id = '" + la[0].ID + "'"},
			{"many rows, one statement", "UPDATE leads SET status = 'contacted' WHERE campaign_id = '" + a.ID + "' AND website_url LIKE 'https://a1%'"},
			{"mixed statuses in one statement", "UPDATE leads SET status = CASE WHEN website_url LIKE '%5.example.com' THEN 'replied' ELSE 'bounced' END WHERE status = 'contacted'"},
			{"same status again", "UPDATE leads SET status = status, updated_at = updated_at WHERE campaign_id = '" + a.ID + "'"},
			{"other column", "UPDATE leads SET workflow_started = true WHERE campaign_id = '" + a.ID + "'"},
			{"swap statuses", "UPDATE leads SET status = CASE status WHEN 'replied' THEN 'placed' WHEN 'discovered' THEN 'contacted' ELSE status END WHERE campaign_id = '" + a.ID + "'"},
			{"delete some", "DELETE FROM leads WHERE website_url LIKE 'https://a2%'"},
			{"delete across campaigns", "DELETE FROM leads WHERE website_url LIKE '%9.example.com'"},
		}
		for _, s := range steps {
			if err := db.Exec(s.sql).Error; err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			checkCounts(t, db, s.name, a, b)
		}
		if err := store.DeleteCampaign(ctx, db, a.ID); err != nil {
			t.Fatal(err)
		}
		checkCounts(t, db, "campaign deleted", b)
		var orphans int64
		db.Raw("SELECT count(*) FROM lead_counts WHERE campaign_id = ?", a.ID).Scan(&orphans)
		if orphans != 0 {
			t.Fatalf("counters of a deleted campaign remain: %d rows", orphans)
		}
	})
}

// Concurrent inserts of overlapping sites: every site stored once, exactly
// one caller reports it stored, and the counters agree.
func TestInsertLeadsConcurrent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		u, err := store.CreateUser(ctx, db, "owner@example.com")
		if err != nil {
			t.Fatal(err)
		}
		c := seedCampaign(t, db, u.ID, "Race")
		// SQLite serialises writers (busy_timeout 10 s); under -race its
		// pure-Go engine is slow enough that four 500-row writers could
		// queue past the timeout, so it gets smaller batches.
		workers, n := 4, 500
		if store.DialectOf(db) == store.SQLite {
			n = 150
		}
		var (
			mu    sync.Mutex
			total int
			wg    sync.WaitGroup
		)
		for range workers {
			wg.Go(func() {
				stored, err := store.InsertLeads(ctx, db, newLeads(c, "s", n))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for _, s := range stored {
					if s {
						total++
					}
				}
			})
		}
		wg.Wait()
		if total != n {
			t.Fatalf("%d rows reported stored, want %d", total, n)
		}
		checkCounts(t, db, "concurrent", c)
		if err := store.InsertLead(ctx, db, newLeads(c, "s", 1)[0]); !errors.Is(err, models.ErrDuplicateLead) {
			t.Fatalf("single duplicate: %v", err)
		}
	})
}

func TestTemplateDeleteRefusedWhileUsed(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		u, _ := store.CreateUser(ctx, db, "owner@example.com")
		other, _ := store.CreateUser(ctx, db, "other@example.com")
		now := time.Now().UTC()
		tpl := models.Template{ID: models.NewID(), UserID: u.ID, Name: "t", Subject: "s", Body: "b", CreatedAt: now, UpdatedAt: now}
		if err := store.CreateTemplate(ctx, db, &tpl); err != nil {
			t.Fatal(err)
		}
		c := seedCampaign(t, db, u.ID, "Uses it")
		c.Settings.Sequence = []models.SeqStep{{TemplateID: tpl.ID}}
		if err := db.Model(&c).Select("settings").Updates(&c).Error; err != nil {
			t.Fatal(err)
		}
		if err := store.DeleteTemplate(ctx, db, other.ID, tpl.ID); !errors.Is(err, models.ErrTemplateNotFound) {
			t.Fatalf("another user's delete: %v", err)
		}
		err := store.DeleteTemplate(ctx, db, u.ID, tpl.ID)
		var inUse *store.TemplateInUseError
		if !errors.As(err, &inUse) || !errors.Is(err, models.ErrConflict) || len(inUse.Campaigns) != 1 || inUse.Campaigns[0].ID != c.ID {
			t.Fatalf("delete of a used template: %v", err)
		}
		c.Settings.Sequence = nil
		if err := db.Model(&c).Select("settings").Updates(&c).Error; err != nil {
			t.Fatal(err)
		}
		if err := store.DeleteTemplate(ctx, db, u.ID, tpl.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := store.TemplateForUser(ctx, db, u.ID, tpl.ID); !errors.Is(err, models.ErrTemplateNotFound) {
			t.Fatalf("after delete: %v", err)
		}
	})
}

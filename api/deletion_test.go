package api

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/models"
)

// A delete interrupted after "mark deleting" is finished by the
// DeletionFinisher through the engine, once it has been stuck long enough;
// an engine failure leaves it deleting (never restored: the user asked for
// the delete) for the next round; campaigns not deleting, or deleting only
// since a moment (a DELETE still at work), are left alone.
func TestDeletionFinisher(t *testing.T) {
	t.Parallel()
	eng := &recordingEngine{failWith: map[string]error{}}
	eachServer(t, func(t *testing.T, ts *testServer) {
		ctx := context.Background()
		u := ts.newUser("owner@example.com")
		stuck := u.createCampaign("Stuck")
		u.addLead(stuck.ID, map[string]any{"website_url": "https://a.example.com"})
		fresh := u.createCampaign("Being deleted")
		kept := u.createCampaign("Kept")
		for _, id := range []string{stuck.ID, fresh.ID} {
			if _, err := store.MarkCampaignDeleting(ctx, ts.DB, u.User.ID, id); err != nil {
				t.Fatal(err)
			}
		}
		// The process died after marking it, an hour ago.
		if err := ts.DB.Model(&models.Campaign{}).Where("id = ?", stuck.ID).
			UpdateColumn("updated_at", time.Now().UTC().Add(-time.Hour)).Error; err != nil {
			t.Fatal(err)
		}
		u.do(http.MethodGet, "/campaigns/"+stuck.ID, nil).expectError(http.StatusNotFound, CodeCampaignNotFound)
		u.do(http.MethodDelete, "/campaigns/"+stuck.ID, nil).expectError(http.StatusNotFound, CodeCampaignNotFound)
		eng.taken()

		f := &DeletionFinisher{DB: ts.DB, Engine: eng}
		eng.failWith["DeleteCampaign"] = errTemporalDown
		if n, err := f.Finish(ctx); err != nil || n != 0 {
			t.Fatalf("finish with the engine down: %d, %v", n, err)
		}
		if st := campaignState(t, ts, stuck.ID); st != models.CampaignDeleting {
			t.Fatalf("after a failed finish the campaign is %q, want still deleting", st)
		}
		delete(eng.failWith, "DeleteCampaign")
		if n, err := f.Finish(ctx); err != nil || n != 1 {
			t.Fatalf("finish: %d, %v", n, err)
		}
		want := []string{"DeleteCampaign " + stuck.ID + " deleting", "DeleteCampaign " + stuck.ID + " deleting"}
		if got := eng.taken(); !slices.Equal(got, want) {
			t.Fatalf("engine calls:\n got %q\nwant %q", got, want)
		}
		if st := campaignState(t, ts, stuck.ID); st != "" {
			t.Fatalf("stuck campaign still there (%s)", st)
		}
		var leads int64
		ts.DB.Model(&models.Lead{}).Where("campaign_id = ?", stuck.ID).Count(&leads)
		if leads != 0 {
			t.Fatalf("%d leads of the deleted campaign left", leads)
		}
		if st := campaignState(t, ts, fresh.ID); st != models.CampaignDeleting {
			t.Fatalf("a campaign deleting since a moment was touched: %q", st)
		}
		u.do(http.MethodGet, "/campaigns/"+kept.ID, nil).expect(http.StatusOK)

		// Run finishes at once and then on its ticks: with the clock an
		// hour ahead, the other deletion counts as stuck too.
		f.Now = func() time.Time { return time.Now().Add(time.Hour) }
		f.Every = 20 * time.Millisecond
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); f.Run(rctx) }()
		deadline := time.Now().Add(30 * time.Second)
		for campaignState(t, ts, fresh.ID) != "" {
			if time.Now().After(deadline) {
				t.Fatal("Run did not finish the second deletion")
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after its context ended")
		}
		u.do(http.MethodGet, "/campaigns/"+kept.ID, nil).expect(http.StatusOK)
		if got := eng.taken(); !slices.Contains(got, "DeleteCampaign "+fresh.ID+" deleting") || slices.Contains(got, "DeleteCampaign "+kept.ID+" draft") {
			t.Fatalf("engine calls of Run: %q", got)
		}
	}, withEngine(eng))
}

// campaignState reads a campaign's state straight from the table; "" when
// the row is gone.
func campaignState(t *testing.T, ts *testServer, id string) models.CampaignState {
	t.Helper()
	var states []string
	if err := ts.DB.Model(&models.Campaign{}).Where("id = ?", id).Pluck("state", &states).Error; err != nil {
		t.Fatal(err)
	}
	if len(states) == 0 {
		return ""
	}
	return models.CampaignState(states[0])
}

package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/backlinkoutreach/outreach/models"
)

// recordingEngine records the engine calls the handlers make and fails them
// on demand. The real engine is the Temporal one (issue 3); these tests pin
// the HTTP layer's side of the contract: what it calls, when, and what it
// does when the engine is unreachable.
type recordingEngine struct {
	mu    sync.Mutex
	calls []string
	// failWith, when set, is returned by the named method.
	failWith map[string]error
}

func (e *recordingEngine) record(method, campaignID string, extra ...any) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, fmt.Sprint(append([]any{method, " ", campaignID}, extra...)...))
	return e.failWith[method]
}

func (e *recordingEngine) CampaignCreated(_ context.Context, c models.Campaign) error {
	return e.record("CampaignCreated", c.ID)
}

func (e *recordingEngine) LeadsAdded(_ context.Context, c models.Campaign, n int) error {
	return e.record("LeadsAdded", c.ID, " ", n)
}

func (e *recordingEngine) CampaignChanged(_ context.Context, c models.Campaign) error {
	return e.record("CampaignChanged", c.ID, " ", c.State)
}

func (e *recordingEngine) DeleteCampaign(_ context.Context, c models.Campaign) error {
	return e.record("DeleteCampaign", c.ID, " ", c.State)
}

func (e *recordingEngine) taken() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.calls
	e.calls = nil
	return out
}

func withEngine(e Engine) func(*Deps) { return func(d *Deps) { d.Engine = e } }

// unavailable mimics what the Temporal engine returns when the server
// cannot be reached.
var errTemporalDown = fmt.Errorf("dial temporal: connection refused: %w", models.ErrUnavailable)

func TestCampaignCRUD(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		u := ts.newUser("owner@example.com")
		var created CampaignOut
		u.do(http.MethodPost, "/campaigns", map[string]any{
			"name":        "  SaaS Growth Blogs Q3  ",
			"description": "Outreach to SaaS marketing blogs for guest post placements",
			"keywords":    []string{"SaaS", " growth marketing ", "B2B"},
			"settings":    map[string]any{"timezone": "Europe/Berlin", "daily_cap": 25},
		}).expect(http.StatusCreated).decode(&created)
		if created.Name != "SaaS Growth Blogs Q3" || created.State != models.CampaignDraft ||
			!slices.Equal(created.Keywords, []string{"SaaS", "growth marketing", "B2B"}) {
			t.Fatalf("created campaign: %+v", created)
		}
		if !models.ValidID(created.ID) || created.CreatedAt.IsZero() {
			t.Fatalf("id/created_at not set: %+v", created)
		}
		// Effective settings: given values kept, defaults filled in.
		st := created.Settings
		if st.Timezone != "Europe/Berlin" || st.DailyCap == nil || *st.DailyCap != 25 ||
			st.Window.Start != models.DefaultWindowStart || len(st.Sequence) != len(models.DefaultSequence()) {
			t.Fatalf("effective settings: %+v", st)
		}
		if created.LeadCounts.Total != 0 || len(created.LeadCounts.ByStatus) != len(models.LeadStatuses) {
			t.Fatalf("counts of a new campaign: %+v", created.LeadCounts)
		}

		var got CampaignOut
		u.do(http.MethodGet, "/campaigns/"+created.ID, nil).expect(http.StatusOK).decode(&got)
		if got.ID != created.ID || got.Description != created.Description || got.Settings.Timezone != "Europe/Berlin" {
			t.Fatalf("get: %+v", got)
		}

		// PATCH merges settings per top-level key: timezone replaced,
		// daily_cap kept; a null key returns to its default.
		var patched CampaignOut
		u.do(http.MethodPatch, "/campaigns/"+created.ID, map[string]any{
			"name": "Renamed", "settings": map[string]any{"timezone": "America/New_York", "topic": "growth"},
		}).expect(http.StatusOK).decode(&patched)
		if patched.Name != "Renamed" || patched.Description != created.Description ||
			patched.Settings.Timezone != "America/New_York" || patched.Settings.DailyCap == nil ||
			*patched.Settings.DailyCap != 25 || patched.Settings.Topic != "growth" {
			t.Fatalf("patched: %+v", patched)
		}
		u.do(http.MethodPatch, "/campaigns/"+created.ID, map[string]any{"settings": map[string]any{"daily_cap": nil}}).
			expect(http.StatusOK).decode(&patched)
		if patched.Settings.DailyCap != nil || patched.Settings.Timezone != "America/New_York" {
			t.Fatalf("null key should reset only that key: %+v", patched.Settings)
		}
		// An invalid patch changes nothing.
		u.do(http.MethodPatch, "/campaigns/"+created.ID, map[string]any{
			"name": "Other", "settings": map[string]any{"timezone": "Mars/Olympus"},
		}).expectFields("settings.timezone")
		u.do(http.MethodGet, "/campaigns/"+created.ID, nil).expect(http.StatusOK).decode(&got)
		if got.Name != "Renamed" || got.Settings.Timezone != "America/New_York" {
			t.Fatalf("a refused patch changed the campaign: %+v", got)
		}
		// Null name is refused, null description empties it.
		u.do(http.MethodPatch, "/campaigns/"+created.ID, map[string]any{"name": nil}).expectFields("name")
		u.do(http.MethodPatch, "/campaigns/"+created.ID, map[string]any{"description": nil}).expect(http.StatusOK).decode(&got)
		if got.Description != "" || got.Name != "Renamed" {
			t.Fatalf("description: null: %+v", got)
		}
		// settings: null resets every setting.
		u.do(http.MethodPatch, "/campaigns/"+created.ID, map[string]any{"settings": nil}).expect(http.StatusOK).decode(&got)
		if got.Settings.Timezone != models.DefaultTimezone || got.Settings.Topic != "" {
			t.Fatalf("settings: null: %+v", got.Settings)
		}

		u.do(http.MethodDelete, "/campaigns/"+created.ID, nil).expect(http.StatusNoContent)
		u.do(http.MethodGet, "/campaigns/"+created.ID, nil).expectError(http.StatusNotFound, CodeCampaignNotFound)
		u.do(http.MethodDelete, "/campaigns/"+created.ID, nil).expectError(http.StatusNotFound, CodeCampaignNotFound)
	})
}

func TestCampaignDeleteRemovesEverything(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		u := ts.newUser("owner@example.com")
		keep := u.createCampaign("Keep")
		gone := u.createCampaign("Gone")
		for i := range 3 {
			u.addLead(keep.ID, map[string]any{"website_url": fmt.Sprintf("https://keep%d.example.com", i)})
			u.addLead(gone.ID, map[string]any{"website_url": fmt.Sprintf("https://gone%d.example.com", i)})
		}
		u.do(http.MethodDelete, "/campaigns/"+gone.ID, nil).expect(http.StatusNoContent)
		for table, want := range map[string]int64{"leads": 3, "lead_counts": 1, "campaigns": 1} {
			var n int64
			if err := ts.DB.Table(table).Count(&n).Error; err != nil {
				t.Fatal(err)
			}
			if n != want {
				t.Errorf("%s rows after delete: %d, want %d", table, n, want)
			}
		}
		var got CampaignOut
		u.do(http.MethodGet, "/campaigns/"+keep.ID, nil).expect(http.StatusOK).decode(&got)
		if got.LeadCounts.Total != 3 || got.LeadCounts.ByStatus["discovered"] != 3 {
			t.Fatalf("the other campaign's counts changed: %+v", got.LeadCounts)
		}
	})
}

func TestCampaignListCountsFiltersAndPages(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		u := ts.newUser("owner@example.com")
		other := ts.newUser("other@example.com")
		other.createCampaign("Not mine")
		var ids []string
		for i := range 7 {
			ids = append(ids, u.createCampaign(fmt.Sprintf("Campaign %d", i)).ID)
		}
		u.addLead(ids[6], map[string]any{"website_url": "https://a.example.com"})
		u.addLead(ids[6], map[string]any{"website_url": "https://b.example.com"})
		// Move one lead to contacted directly, as the engine would.
		if err := ts.DB.Exec("UPDATE leads SET status = 'contacted' WHERE website_url = 'https://b.example.com'").Error; err != nil {
			t.Fatal(err)
		}
		u.do(http.MethodPost, "/campaigns/"+ids[0]+"/archive", nil).expect(http.StatusOK)

		list := func(query string) CampaignList {
			t.Helper()
			var out CampaignList
			u.do(http.MethodGet, "/campaigns"+query, nil).expect(http.StatusOK).decode(&out)
			return out
		}
		all := list("")
		if len(all.Items) != 6 || all.NextCursor != nil {
			t.Fatalf("default list should hide the archived campaign: %d items", len(all.Items))
		}
		if all.Items[0].ID != ids[6] {
			t.Fatalf("newest first: got %s first, want %s", all.Items[0].Name, "Campaign 6")
		}
		c6 := all.Items[0].LeadCounts
		if c6.Total != 2 || c6.ByStatus["discovered"] != 1 || c6.ByStatus["contacted"] != 1 || len(c6.ByStatus) != 6 {
			t.Fatalf("lead counts: %+v", c6)
		}
		for _, st := range models.LeadStatuses {
			if _, ok := all.Items[1].LeadCounts.ByStatus[string(st)]; !ok {
				t.Fatalf("status %s missing from counts of an empty campaign", st)
			}
		}
		if got := list("?include_archived=true"); len(got.Items) != 7 {
			t.Fatalf("include_archived: %d items", len(got.Items))
		}
		if got := list("?state=archived"); len(got.Items) != 1 || got.Items[0].ID != ids[0] || got.Items[0].StateBeforeArchive != models.CampaignDraft {
			t.Fatalf("state=archived: %+v", got.Items)
		}
		if got := list("?state=draft"); len(got.Items) != 6 {
			t.Fatalf("state=draft: %d items", len(got.Items))
		}
		// Keyset pages of 3 walk every visible campaign once, newest first.
		var seen []string
		cursor := ""
		for range 5 {
			q := "?limit=3"
			if cursor != "" {
				q += "&cursor=" + cursor
			}
			page := list(q)
			for _, it := range page.Items {
				seen = append(seen, it.ID)
			}
			if page.NextCursor == nil {
				break
			}
			cursor = *page.NextCursor
		}
		want := slices.Clone(ids[1:])
		slices.Reverse(want)
		if !slices.Equal(seen, want) {
			t.Fatalf("pages: %v, want %v", seen, want)
		}
		u.do(http.MethodGet, "/campaigns?limit=0", nil).expectFields("limit")
		u.do(http.MethodGet, "/campaigns?limit=201", nil).expectFields("limit")
		u.do(http.MethodGet, "/campaigns?state=deleting", nil).expectFields("state")
		u.do(http.MethodGet, "/campaigns?cursor=garbage", nil).expectFields("cursor")
		u.do(http.MethodGet, "/campaigns?staus=active", nil).expectFields("staus")
		u.do(http.MethodGet, "/campaigns?include_archived=maybe", nil).expectFields("include_archived")
	})
}

func TestArchiveUnarchive(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		u := ts.newUser("owner@example.com")
		camp := u.createCampaign("Archive me")
		var got CampaignOut
		// A draft comes back a draft.
		u.do(http.MethodPost, "/campaigns/"+camp.ID+"/archive", nil).expect(http.StatusOK).decode(&got)
		if got.State != models.CampaignArchived || got.ArchivedAt == nil || got.StateBeforeArchive != models.CampaignDraft {
			t.Fatalf("archived: %+v", got)
		}
		// Archiving twice is a no-op that keeps what unarchive restores.
		u.do(http.MethodPost, "/campaigns/"+camp.ID+"/archive", nil).expect(http.StatusOK).decode(&got)
		if got.StateBeforeArchive != models.CampaignDraft {
			t.Fatalf("second archive lost the state to restore: %+v", got)
		}
		u.do(http.MethodPost, "/campaigns/"+camp.ID+"/unarchive", nil).expect(http.StatusOK).decode(&got)
		if got.State != models.CampaignDraft || got.ArchivedAt != nil || got.StateBeforeArchive != "" {
			t.Fatalf("unarchived draft: %+v", got)
		}
		// An active campaign comes back paused; a paused one paused.
		for _, before := range []models.CampaignState{models.CampaignActive, models.CampaignPaused} {
			if err := ts.DB.Model(&models.Campaign{}).Where("id = ?", camp.ID).Update("state", before).Error; err != nil {
				t.Fatal(err)
			}
			u.do(http.MethodPost, "/campaigns/"+camp.ID+"/archive", nil).expect(http.StatusOK).decode(&got)
			if got.StateBeforeArchive != before {
				t.Fatalf("archive of %s: %+v", before, got)
			}
			u.do(http.MethodPost, "/campaigns/"+camp.ID+"/unarchive", nil).expect(http.StatusOK).decode(&got)
			if got.State != models.CampaignPaused {
				t.Fatalf("unarchive of a campaign that was %s: state %s, want paused", before, got.State)
			}
		}
		// Unarchiving a campaign that is not archived changes nothing.
		u.do(http.MethodPost, "/campaigns/"+camp.ID+"/unarchive", nil).expect(http.StatusOK).decode(&got)
		if got.State != models.CampaignPaused {
			t.Fatalf("unarchive of a paused campaign: %+v", got)
		}
	})
}

func TestCampaignEngineCalls(t *testing.T) {
	t.Parallel()
	eng := &recordingEngine{}
	eachServer(t, func(t *testing.T, ts *testServer) {
		eng.taken()
		u := ts.newUser("owner@example.com")
		camp := u.createCampaign("Engine")
		u.addLead(camp.ID, map[string]any{"website_url": "https://a.example.com"})
		var bulk BulkAddResult
		u.do(http.MethodPost, "/campaigns/"+camp.ID+"/leads/bulk", []map[string]any{
			{"website_url": "https://a.example.com"}, {"website_url": "https://b.example.com"}, {"website_url": "https://c.example.com"},
		}).expect(http.StatusOK).decode(&bulk)
		// A bulk add where nothing is new does not wake the workflow.
		u.do(http.MethodPost, "/campaigns/"+camp.ID+"/leads/bulk", []map[string]any{{"website_url": "https://b.example.com"}}).expect(http.StatusOK)
		u.do(http.MethodPatch, "/campaigns/"+camp.ID, map[string]any{"name": "Engine 2"}).expect(http.StatusOK)
		u.do(http.MethodPost, "/campaigns/"+camp.ID+"/archive", nil).expect(http.StatusOK)
		u.do(http.MethodPost, "/campaigns/"+camp.ID+"/unarchive", nil).expect(http.StatusOK)
		u.do(http.MethodPut, "/campaigns/"+camp.ID+"/sequence", map[string]any{"steps": []map[string]any{{"subject": "Hi", "body": "Hello {name}"}}}).expect(http.StatusOK)
		u.do(http.MethodDelete, "/campaigns/"+camp.ID, nil).expect(http.StatusNoContent)
		want := []string{
			"CampaignCreated " + camp.ID,
			"LeadsAdded " + camp.ID + " 1",
			"LeadsAdded " + camp.ID + " 2",
			"CampaignChanged " + camp.ID + " draft",
			"CampaignChanged " + camp.ID + " archived",
			"CampaignChanged " + camp.ID + " draft",
			"CampaignChanged " + camp.ID + " draft",
			"DeleteCampaign " + camp.ID + " deleting",
		}
		if got := eng.taken(); !slices.Equal(got, want) {
			t.Fatalf("engine calls:\n got %q\nwant %q", got, want)
		}
	}, withEngine(eng))
}

func TestCampaignEngineUnavailable(t *testing.T) {
	t.Parallel()
	eng := &recordingEngine{failWith: map[string]error{}}
	eachServer(t, func(t *testing.T, ts *testServer) {
		u := ts.newUser("owner@example.com")
		// Create: no campaign may exist without its workflow.
		eng.failWith["CampaignCreated"] = errTemporalDown
		u.do(http.MethodPost, "/campaigns", map[string]any{"name": "No workflow"}).expectError(http.StatusServiceUnavailable, CodeUnavailable)
		var n int64
		ts.DB.Model(&models.Campaign{}).Count(&n)
		if n != 0 {
			t.Fatalf("campaign rows after a failed workflow start: %d", n)
		}
		delete(eng.failWith, "CampaignCreated")
		camp := u.createCampaign("With workflow")

		// Delete: when the workflows cannot all be stopped now, the
		// campaign stays deleting (hidden, sending nothing) and the
		// finisher completes it: never restored, whatever was stopped.
		doomed := u.createCampaign("Deleted while Temporal is down")
		eng.failWith["DeleteCampaign"] = errTemporalDown
		var pending DeletionPending
		u.do(http.MethodDelete, "/campaigns/"+doomed.ID, nil).expect(http.StatusAccepted).decode(&pending)
		if pending.ID != doomed.ID || pending.State != models.CampaignDeleting || pending.Message == "" {
			t.Fatalf("202 body %+v", pending)
		}
		if st := campaignState(t, ts, doomed.ID); st != models.CampaignDeleting {
			t.Fatalf("state after a delete the engine could not finish: %q, want deleting", st)
		}
		u.do(http.MethodGet, "/campaigns/"+doomed.ID, nil).expectError(http.StatusNotFound, CodeCampaignNotFound)
		delete(eng.failWith, "DeleteCampaign")

		// Patch: stored, then 503 so the client retries (idempotent).
		eng.failWith["CampaignChanged"] = errors.New("boom")
		env := u.do(http.MethodPatch, "/campaigns/"+camp.ID, map[string]any{"name": "Renamed"}).expectError(http.StatusInternalServerError, CodeInternal)
		if env.Error.Message != "internal error" {
			t.Fatalf("internal error text leaked: %q", env.Error.Message)
		}
		delete(eng.failWith, "CampaignChanged")

		// LeadsAdded failing does not fail the add: the leads are stored.
		eng.failWith["LeadsAdded"] = errTemporalDown
		u.addLead(camp.ID, map[string]any{"website_url": "https://a.example.com"})
		delete(eng.failWith, "LeadsAdded")
		u.do(http.MethodDelete, "/campaigns/"+camp.ID, nil).expect(http.StatusNoContent)
	}, withEngine(eng))
}

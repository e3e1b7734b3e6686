package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/models"
	"github.com/backlinkoutreach/outreach/workflows"
)

// The outreach routes on their own (no engine): input is checked before
// anything is asked of Temporal, and a missing engine is a 503, never a 500.
// The routes with an engine are tested against a real Temporal dev server
// in package worker.
func TestOutreachRoutesWithoutEngine(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		c := ts.newUser("owner@example.com")
		camp := c.createCampaign("Outreach")
		lead := c.addLead(camp.ID, map[string]any{"website_url": "https://blog.example/", "contact_email": "ed@blog.example"})
		cp := "/campaigns/" + camp.ID

		for _, r := range []struct {
			method, path string
			body         any
		}{
			{http.MethodPost, cp + "/launch", nil},
			{http.MethodPost, cp + "/pause", nil},
			{http.MethodPost, cp + "/resume", nil},
			{http.MethodPatch, cp + "/leads/" + lead.ID + "/status", map[string]any{"status": "contacted"}},
			{http.MethodPatch, cp + "/leads/bulk-status", map[string]any{"lead_ids": []string{lead.ID}, "status": "contacted"}},
		} {
			c.do(r.method, r.path, r.body).expectError(http.StatusServiceUnavailable, CodeUnavailable)
		}

		c.do(http.MethodPatch, cp+"/leads/"+lead.ID+"/status", map[string]any{"status": "won"}).expectFields("status")
		c.do(http.MethodPatch, cp+"/leads/"+lead.ID+"/status", map[string]any{"state": "contacted"}).expectFields("state")
		c.do(http.MethodPatch, cp+"/leads/bulk-status", map[string]any{"status": "contacted"}).expectFields("lead_ids")
		c.do(http.MethodPatch, cp+"/leads/bulk-status", map[string]any{"lead_ids": []string{}, "status": "x"}).expectFields("lead_ids", "status")
		c.do(http.MethodPatch, cp+"/leads/bulk-status", map[string]any{"lead_ids": make([]string, 10001), "status": "contacted"}).expectFields("lead_ids")
		c.do(http.MethodPatch, cp+"/leads/bulk-status", map[string]any{"lead_ids": []string{lead.ID, strings.Repeat("x", 300)}, "status": "contacted"}).expectFields("lead_ids[1]")
		c.do(http.MethodPatch, cp+"/leads/bulk-status", `{"lead_ids": [1, 2], "status": "contacted"}`).expectError(http.StatusUnprocessableEntity, CodeValidation)

		// A draft campaign cannot send; an unknown lead is a 404.
		c.do(http.MethodPost, "/outreach/send", map[string]any{"campaign_id": camp.ID, "lead_id": lead.ID}).expectError(http.StatusConflict, CodeConflict)
		c.do(http.MethodPost, "/outreach/send", map[string]any{"campaign_id": camp.ID, "lead_id": models.NewID()}).expectError(http.StatusNotFound, CodeLeadNotFound)
		c.do(http.MethodPost, "/outreach/send", map[string]any{"campaign_id": models.NewID(), "lead_id": lead.ID}).expectError(http.StatusNotFound, CodeCampaignNotFound)
		c.do(http.MethodPost, "/outreach/send", map[string]any{}).expectFields("campaign_id", "lead_id")

		c.do(http.MethodGet, cp+"/attempts?state=lost", nil).expectFields("state")
		c.do(http.MethodGet, cp+"/attempts?limit=0&colour=red", nil).expectFields("limit", "colour")
		c.do(http.MethodGet, cp+"/attempts?cursor=nonsense", nil).expectFields("cursor")
		c.do(http.MethodGet, cp+"/follow-ups?state=soon", nil).expectFields("state")

		c.do(http.MethodPost, "/policy/validate", map[string]any{"recipient": "not an address", "subject": strings.Repeat("x", 999)}).
			expectFields("recipient", "subject")
		c.do(http.MethodPost, "/policy/validate", map[string]any{"recipient": "ed@blog.example", "campaign_id": models.NewID()}).
			expectError(http.StatusNotFound, CodeCampaignNotFound)
		var rep store.PolicyReport
		c.do(http.MethodPost, "/policy/validate", map[string]any{"recipient": "ed@blog.fr", "campaign_id": camp.ID}).expect(http.StatusOK).decode(&rep)
		if rep.Allowed || rep.Reason != store.ReasonCampaignInactive || rep.LegalBasis != models.LegalBasisConsent || len(rep.Caps) != 3 {
			t.Errorf("policy for a draft campaign: %+v", rep)
		}
	})
}

// The send ledger and follow-ups pages, from rows written as the engine
// writes them.
func TestAttemptsAndFollowUpsPages(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		c := ts.newUser("owner@example.com")
		camp := c.createCampaign("Ledger")
		ts.DB.Model(&models.Campaign{}).Where("id = ?", camp.ID).Update("state", models.CampaignActive)
		var ids []string
		for i := range 5 {
			l := c.addLead(camp.ID, map[string]any{
				"website_url":   fmt.Sprintf("https://b%d.example/", i),
				"contact_email": fmt.Sprintf("e%d@b%d.example", i, i),
			})
			ids = append(ids, l.ID)
			now := time.Now().UTC()
			a := models.Attempt{
				ID: models.NewID(), UserID: c.User.ID, CampaignID: camp.ID, LeadID: l.ID, Step: 0,
				State: models.AttemptSent, MessageID: fmt.Sprintf("m%d@x", i), Recipient: l.ContactEmail, RecipientDomain: "x",
				Subject: "s", Body: "b", LegalBasis: models.LegalBasisLegitimateInterest, CreatedAt: now, UpdatedAt: now, SendingAt: &now, SentAt: &now,
			}
			if i == 4 {
				a.State, a.SentAt = models.AttemptUnknown, nil
			}
			if err := ts.DB.Create(&a).Error; err != nil {
				t.Fatal(err)
			}
			ts.DB.Model(&models.Lead{}).Where("id = ?", l.ID).Update("status", models.StatusContacted)
		}
		var page AttemptList
		c.do(http.MethodGet, "/campaigns/"+camp.ID+"/attempts?limit=2", nil).expect(http.StatusOK).decode(&page)
		if len(page.Items) != 2 || page.NextCursor == nil {
			t.Fatalf("first page %+v", page)
		}
		seen := len(page.Items)
		for page.NextCursor != nil {
			c.do(http.MethodGet, "/campaigns/"+camp.ID+"/attempts?limit=2&cursor="+*page.NextCursor, nil).expect(http.StatusOK).decode(&page)
			seen += len(page.Items)
		}
		if seen != 5 {
			t.Errorf("paged through %d attempts, want 5", seen)
		}
		c.do(http.MethodGet, "/campaigns/"+camp.ID+"/attempts?state=unknown", nil).expect(http.StatusOK).decode(&page)
		if len(page.Items) != 1 || page.Items[0].LeadID != ids[4] || page.Items[0].State != models.AttemptUnknown {
			t.Errorf("unknown attempts %+v", page.Items)
		}
		// The default sequence: a follow-up 4 days after each first step.
		var fu FollowUpList
		c.do(http.MethodGet, "/campaigns/"+camp.ID+"/follow-ups", nil).expect(http.StatusOK).decode(&fu)
		if len(fu.Items) != 5 {
			t.Fatalf("follow-ups %+v", fu.Items)
		}
		for _, f := range fu.Items {
			if f.Step != 1 || f.DueAt.Before(time.Now().Add(3*24*time.Hour)) {
				t.Errorf("follow-up %+v", f)
			}
		}
		// Another user sees none of it.
		other := ts.newUser("other@example.com")
		other.do(http.MethodGet, "/campaigns/"+camp.ID+"/attempts", nil).expectError(http.StatusNotFound, CodeCampaignNotFound)
	})
}

// stallingOutreach is an Outreach engine whose next Resume of a campaign,
// once armed, waits for the test and then fails (a signal that timed out).
type stallingOutreach struct {
	recordingEngine
	stalls sync.Map // campaign id -> *stall, taken by its next Resume
}

type stall struct{ entered, release chan struct{} }

func (e *stallingOutreach) arm(campaignID string) *stall {
	s := &stall{entered: make(chan struct{}), release: make(chan struct{})}
	e.stalls.Store(campaignID, s)
	return s
}

func (e *stallingOutreach) Launch(_ context.Context, c models.Campaign) error {
	return e.record("Launch", c.ID)
}

func (e *stallingOutreach) Pause(_ context.Context, c models.Campaign) error {
	return e.record("Pause", c.ID)
}

func (e *stallingOutreach) Resume(_ context.Context, c models.Campaign) error {
	if v, ok := e.stalls.LoadAndDelete(c.ID); ok {
		s := v.(*stall)
		close(s.entered)
		<-s.release
		return errTemporalDown
	}
	return e.record("Resume", c.ID)
}

func (e *stallingOutreach) SetLeadStatus(context.Context, models.Campaign, string, models.LeadStatus) (workflows.StatusResult, error) {
	return workflows.StatusResult{}, errTemporalDown
}

func (e *stallingOutreach) BulkStatus(context.Context, models.Campaign, []string, models.LeadStatus) (workflows.BulkStatusResult, error) {
	return workflows.BulkStatusResult{}, errTemporalDown
}

func (e *stallingOutreach) SendNow(context.Context, models.Campaign, string) (workflows.SendNowResult, error) {
	return workflows.SendNowResult{}, errTemporalDown
}

// A resume whose signal fails late undoes only its own change: a pause and
// a resume that succeeded meanwhile stand.
func TestStaleFailedResumeDoesNotUndoLaterOnes(t *testing.T) {
	t.Parallel()
	eng := &stallingOutreach{}
	eachServer(t, func(t *testing.T, ts *testServer) {
		u := ts.newUser("stale-resume@example.com")
		camp := u.createCampaign("Stale resume")
		if err := ts.DB.Model(&models.Campaign{}).Where("id = ?", camp.ID).Update("state", models.CampaignPaused).Error; err != nil {
			t.Fatal(err)
		}
		st := eng.arm(camp.ID)
		first := make(chan int)
		go func() { first <- u.do(http.MethodPost, "/campaigns/"+camp.ID+"/resume", nil).Code }()
		<-st.entered
		u.do(http.MethodPost, "/campaigns/"+camp.ID+"/pause", nil).expect(http.StatusOK)
		u.do(http.MethodPost, "/campaigns/"+camp.ID+"/resume", nil).expect(http.StatusOK)
		close(st.release)
		if code := <-first; code != http.StatusServiceUnavailable {
			t.Errorf("the stalled resume answered %d", code)
		}
		var got CampaignOut
		u.do(http.MethodGet, "/campaigns/"+camp.ID, nil).expect(http.StatusOK).decode(&got)
		if got.State != models.CampaignActive {
			t.Errorf("state %s after the last resume succeeded, want active", got.State)
		}

		// With nothing in between, the failed resume is undone.
		u.do(http.MethodPost, "/campaigns/"+camp.ID+"/pause", nil).expect(http.StatusOK)
		st = eng.arm(camp.ID)
		close(st.release)
		u.do(http.MethodPost, "/campaigns/"+camp.ID+"/resume", nil).expect(http.StatusServiceUnavailable)
		u.do(http.MethodGet, "/campaigns/"+camp.ID, nil).expect(http.StatusOK).decode(&got)
		if got.State != models.CampaignPaused {
			t.Errorf("state %s after a failed resume, want paused", got.State)
		}
	}, withEngine(eng))
}

// A lead marked contacted before launch (pitched some other way) gets no
// follow-ups from this engine, so an unfilled placeholder in them does not
// hold the launch back.
func TestLaunchIgnoresFollowUpsOfHandContactedLeads(t *testing.T) {
	t.Parallel()
	eng := &stallingOutreach{}
	eachServer(t, func(t *testing.T, ts *testServer) {
		u := ts.newUser("launch@example.com")
		camp := u.createCampaign("Launch")
		u.do(http.MethodPut, "/campaigns/"+camp.ID+"/sequence", map[string]any{"steps": []map[string]any{
			{"subject": "Guest post", "body": "Hello, a guest post idea.", "delay_days": 0},
			{"body": "Hi {name}, following up.", "delay_days": 3},
		}}).expect(http.StatusOK)
		u.addLead(camp.ID, map[string]any{"website_url": "https://full.example.com", "contact_email": "a@full.example.com", "contact_name": "Ann"})
		done := u.addLead(camp.ID, map[string]any{"website_url": "https://done.example.com", "contact_email": "b@done.example.com"})
		// What PATCH .../status does for a lead whose workflow has not
		// started (store.TransitionUnstartedLead): the row moves.
		if err := ts.DB.Model(&models.Lead{}).Where("id = ?", done.ID).Update("status", models.StatusContacted).Error; err != nil {
			t.Fatal(err)
		}
		u.do(http.MethodPost, "/campaigns/"+camp.ID+"/launch", nil).expect(http.StatusOK)
	}, withEngine(eng))
}

package api

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/models"
)

// Analytics fixtures write the engine's tables directly: the ledger and
// replies have no create route.

var analyticsNow = time.Date(2024, 3, 12, 18, 0, 0, 0, time.UTC) // 11:00 in Los Angeles (PDT since the 10th)

func fixedClock(d *Deps) { d.Now = func() time.Time { return analyticsNow } }

func (ts *testServer) seedAttempt(l LeadOut, userID string, step int, state models.AttemptState, sentAt string) {
	ts.t.Helper()
	now := time.Now().UTC()
	a := models.Attempt{
		ID: models.NewID(), UserID: userID, CampaignID: l.CampaignID, LeadID: l.ID, Step: step, State: state,
		MessageID: "<" + models.NewID() + "@outreach.test>", Recipient: l.ContactEmail, RecipientDomain: "example.com",
		Subject: "Guest post", Body: "Hello", CreatedAt: now, UpdatedAt: now,
	}
	if sentAt != "" {
		at, err := time.Parse(time.RFC3339, sentAt)
		if err != nil {
			ts.t.Fatal(err)
		}
		at = at.UTC()
		a.SentAt = &at
	}
	if err := ts.DB.Create(&a).Error; err != nil {
		ts.t.Fatal(err)
	}
}

func (ts *testServer) seedReply(l LeadOut, userID, class string) {
	ts.t.Helper()
	now := time.Now().UTC()
	id := models.NewID()
	r := models.Reply{
		ID: id, UserID: &userID, CampaignID: &l.CampaignID, LeadID: &l.ID, DedupeKey: "<" + id + "@example.com>",
		MessageID: "<" + id + "@example.com>", FromAddress: l.ContactEmail, Subject: "Re: Guest post", BodyText: "answer",
		Classification: class, Parsed: true, Source: "webhook", ReceivedAt: now, CreatedAt: now, UpdatedAt: now,
	}
	if err := ts.DB.Create(&r).Error; err != nil {
		ts.t.Fatal(err)
	}
}

func (ts *testServer) moveLead(l LeadOut, to ...models.LeadStatus) {
	ts.t.Helper()
	for _, s := range to {
		if _, err := store.TransitionLead(context.Background(), ts.DB, store.Transition{LeadID: l.ID, To: s, Source: "api"}); err != nil {
			ts.t.Fatalf("move lead to %s: %v", s, err)
		}
	}
}

// seedAnalyticsCampaign builds, through the API and the engine's tables, a
// campaign in America/Los_Angeles with known numbers: sends on both sides
// of local midnights around the 2024-03-10 clock change, replies of each
// class, and a lead moved to replied by hand.
func seedAnalyticsCampaign(ts *testServer, c *testClient, name string) CampaignOut {
	ts.t.Helper()
	var camp CampaignOut
	c.do(http.MethodPost, "/campaigns", map[string]any{"name": name, "settings": map[string]any{"timezone": "America/Los_Angeles"}}).
		expect(http.StatusCreated).decode(&camp)
	n := 0
	lead := func() LeadOut {
		n++
		host := fmt.Sprintf("%s-%d.example.com", camp.ID[len(camp.ID)-8:], n)
		return c.addLead(camp.ID, map[string]any{"website_url": "https://" + host, "contact_email": "editor@" + host})
	}
	C, R, B, P := models.StatusContacted, models.StatusReplied, models.StatusBounced, models.StatusPlaced
	sent := models.AttemptSent
	uid := c.User.ID

	l := lead()                                             // interested, then a neutral follow-up answer
	ts.seedAttempt(l, uid, 0, sent, "2024-03-10T07:30:00Z") // Mar 9 local
	ts.seedAttempt(l, uid, 1, sent, "2024-03-11T06:30:00Z") // Mar 10 local
	ts.seedReply(l, uid, models.ReplyInterested)
	ts.seedReply(l, uid, models.ReplyNeutral)
	ts.moveLead(l, C, R)

	l = lead()                                              // asked for payment, then placed
	ts.seedAttempt(l, uid, 0, sent, "2024-03-10T08:30:00Z") // Mar 10 local
	ts.seedReply(l, uid, models.ReplyAsksPayment)
	ts.moveLead(l, C, R, P)

	l = lead()                                              // bounced
	ts.seedAttempt(l, uid, 0, sent, "2024-03-11T07:30:00Z") // Mar 11 local
	ts.seedReply(l, uid, models.ReplyBounce)
	ts.moveLead(l, C, B)

	l = lead() // out of office
	ts.seedAttempt(l, uid, 0, sent, "2024-03-12T17:00:00Z")
	ts.seedReply(l, uid, models.ReplyOutOfOffice)
	ts.moveLead(l, C)

	l = lead() // unsubscribe request: a human answer
	ts.seedAttempt(l, uid, 0, sent, "2024-03-12T16:00:00Z")
	ts.seedReply(l, uid, models.ReplyUnsubscribe)
	ts.moveLead(l, C, B)

	l = lead() // refused by the server
	ts.seedAttempt(l, uid, 0, models.AttemptFailed, "")
	ts.moveLead(l, C, B)

	l = lead() // replied by hand: no e-mail, no reply record
	ts.moveLead(l, C, R)

	lead() // waiting
	return camp
}

func TestCampaignAnalytics(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		owner := ts.newUser("owner@example.com")
		camp := seedAnalyticsCampaign(ts, owner, "Analytics")
		var got CampaignAnalytics
		owner.do(http.MethodGet, "/campaigns/"+camp.ID+"/analytics?days=4", nil).expect(http.StatusOK).decode(&got)

		wantStatus := map[models.LeadStatus]int64{"discovered": 1, "contacted": 1, "replied": 2, "bounced": 3, "placed": 1, "lost": 0}
		wantStates := map[models.AttemptState]int64{"pending": 0, "sending": 0, "sent": 6, "failed": 1, "unknown": 0}
		wantClasses := map[string]int64{"interested": 1, "not_interested": 0, "out_of_office": 1, "unsubscribe": 1, "bounce": 1, "asks_payment": 1, "replied": 1}
		if got.TotalLeads != 8 || !maps.Equal(got.LeadsByStatus, wantStatus) {
			t.Errorf("leads %d %v, want 8 %v", got.TotalLeads, got.LeadsByStatus, wantStatus)
		}
		if got.TotalAttempts != 7 || got.EmailsSent != 6 || !maps.Equal(got.AttemptsByState, wantStates) {
			t.Errorf("attempts %d sent %d %v, want 7 6 %v", got.TotalAttempts, got.EmailsSent, got.AttemptsByState, wantStates)
		}
		if got.TotalReplies != 6 || !maps.Equal(got.RepliesByClassification, wantClasses) {
			t.Errorf("replies %d %v, want 6 %v", got.TotalReplies, got.RepliesByClassification, wantClasses)
		}
		// Sent to 5 leads; 3 answered as people (interested, asks_payment,
		// unsubscribe); the bounce, the auto-reply and the lead replied by
		// hand do not count. Contacted: 7 of 8; placed: 1.
		if got.LeadsSent != 5 || got.LeadsResponded != 3 || got.LeadsContacted != 7 || got.LeadsPlaced != 1 {
			t.Errorf("sent %d responded %d contacted %d placed %d, want 5 3 7 1", got.LeadsSent, got.LeadsResponded, got.LeadsContacted, got.LeadsPlaced)
		}
		if got.ResponseRate != 3.0/5.0 || got.PlacementRate != 1.0/7.0 {
			t.Errorf("rates %v %v, want 0.6 and 1/7", got.ResponseRate, got.PlacementRate)
		}
		wantFunnel := []FunnelStage{{"discovered", 8}, {"contacted", 7}, {"replied", 3}, {"placed", 1}}
		if !slices.Equal(got.Funnel, wantFunnel) {
			t.Errorf("funnel %v, want %v", got.Funnel, wantFunnel)
		}
		wantDays := []DailySends{{"2024-03-09", 1}, {"2024-03-10", 2}, {"2024-03-11", 1}, {"2024-03-12", 2}}
		if got.Timezone != "America/Los_Angeles" || got.Days != 4 || !slices.Equal(got.DailySends, wantDays) {
			t.Errorf("days %s %d %v, want America/Los_Angeles 4 %v", got.Timezone, got.Days, got.DailySends, wantDays)
		}

		// The default window is 30 days ending today in the campaign's zone.
		owner.do(http.MethodGet, "/campaigns/"+camp.ID+"/analytics", nil).expect(http.StatusOK).decode(&got)
		if got.Days != 30 || len(got.DailySends) != 30 || got.DailySends[29].Date != "2024-03-12" || got.DailySends[0].Date != "2024-02-12" {
			t.Errorf("default window: %d days, %d entries, %v", got.Days, len(got.DailySends), got.DailySends)
		}

		// An empty campaign: every key, every zero, no NaN.
		empty := owner.createCampaign("Empty")
		owner.do(http.MethodGet, "/campaigns/"+empty.ID+"/analytics?days=7", nil).expect(http.StatusOK).decode(&got)
		if got.TotalLeads != 0 || got.ResponseRate != 0 || got.PlacementRate != 0 || len(got.LeadsByStatus) != 6 ||
			len(got.AttemptsByState) != 5 || len(got.RepliesByClassification) != 7 || len(got.DailySends) != 7 || got.Timezone != "UTC" {
			t.Errorf("empty campaign: %+v", got)
		}
		for _, d := range got.DailySends {
			if d.Sent != 0 {
				t.Errorf("empty campaign sends on %s", d.Date)
			}
		}
		if got.DailySends[6].Date != "2024-03-12" {
			t.Errorf("UTC window ends %s, want 2024-03-12", got.DailySends[6].Date)
		}

		// Bad windows: 422 naming days.
		for _, q := range []string{"days=0", "days=366", "days=abc", "days=1.5", "days=-3", "days=3&days=4"} {
			env := owner.do(http.MethodGet, "/campaigns/"+camp.ID+"/analytics?"+q, nil).expectFields("days")
			if q != "days=3&days=4" && env.Error.Details[0].(map[string]any)["reason"] != "must be a whole number from 1 to 365" {
				t.Errorf("%s: %v", q, env.Error.Details)
			}
		}
		owner.do(http.MethodGet, "/campaigns/"+camp.ID+"/analytics?dayz=3", nil).expectFields("dayz")
		owner.do(http.MethodGet, "/campaigns/"+camp.ID+"/analytics?days=365", nil).expect(http.StatusOK)
		owner.do(http.MethodGet, "/campaigns/"+camp.ID+"/analytics?days=1", nil).expect(http.StatusOK)

		// Another user's campaign does not exist for the caller.
		intruder := ts.newUser("intruder@example.com")
		env := intruder.do(http.MethodGet, "/campaigns/"+camp.ID+"/analytics", nil).expectError(http.StatusNotFound, CodeCampaignNotFound)
		if env.Error.Message != "campaign not found" {
			t.Errorf("404 message %q", env.Error.Message)
		}
	}, fixedClock)
}

func TestReportingSnapshot(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		owner := ts.newUser("owner@example.com")
		a := seedAnalyticsCampaign(ts, owner, "First")
		b := seedAnalyticsCampaign(ts, owner, "Second")
		owner.do(http.MethodPost, "/campaigns/"+b.ID+"/archive", nil).expect(http.StatusOK)
		empty := owner.createCampaign("Nothing yet")
		other := ts.newUser("other@example.com")
		seedAnalyticsCampaign(ts, other, "Not yours")

		var got ReportingSnapshot
		owner.do(http.MethodGet, "/reporting/snapshot", nil).expect(http.StatusOK).decode(&got)
		if got.Campaigns != 3 || len(got.PerCampaign) != 3 {
			t.Fatalf("%d campaigns, %d lines; want 3 and 3", got.Campaigns, len(got.PerCampaign))
		}
		if got.PerCampaign[0].CampaignID != empty.ID || got.PerCampaign[1].CampaignID != b.ID || got.PerCampaign[2].CampaignID != a.ID {
			t.Errorf("lines not newest first: %+v", got.PerCampaign)
		}
		if got.PerCampaign[1].State != models.CampaignArchived || got.PerCampaign[0].TotalLeads != 0 || got.PerCampaign[0].ResponseRate != 0 {
			t.Errorf("lines: %+v", got.PerCampaign)
		}
		for _, line := range got.PerCampaign[1:] {
			if line.TotalLeads != 8 || line.LeadsSent != 5 || line.LeadsResponded != 3 || line.TotalReplies != 6 ||
				line.ResponseRate != 0.6 || line.LeadsPlaced != 1 || line.PlacementRate != 1.0/7.0 {
				t.Errorf("line %+v", line)
			}
		}
		// Twice one campaign: two leads set to replied by hand add nothing
		// to the reply records or to the responded leads.
		if got.TotalLeads != 16 || got.LeadsByStatus[models.StatusReplied] != 4 || got.TotalReplies != 12 ||
			got.RepliesByClassification[models.ReplyInterested] != 2 || got.LeadsResponded != 6 || got.LeadsSent != 10 ||
			got.ResponseRate != 0.6 || got.PlacementRate != 2.0/14.0 || got.AttemptsByState[models.AttemptSent] != 12 {
			t.Errorf("account totals: %+v", got.AnalyticsTotals)
		}
		if len(got.LeadsByStatus) != 6 || len(got.AttemptsByState) != 5 || len(got.RepliesByClassification) != 7 {
			t.Errorf("missing keys: %+v", got.AnalyticsTotals)
		}

		// A user without campaigns gets zeros, not an error.
		var none ReportingSnapshot
		ts.newUser("new@example.com").do(http.MethodGet, "/reporting/snapshot", nil).expect(http.StatusOK).decode(&none)
		if none.Campaigns != 0 || none.TotalLeads != 0 || none.ResponseRate != 0 || none.PerCampaign == nil {
			t.Errorf("empty account: %+v", none)
		}
		owner.do(http.MethodGet, "/reporting/snapshot?days=3", nil).expectFields("days")
	}, fixedClock)
}

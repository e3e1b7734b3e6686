package worker_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/backlinkoutreach/outreach/api"
	"github.com/backlinkoutreach/outreach/internal/enginetest"
	"github.com/backlinkoutreach/outreach/internal/storetest"
	"github.com/backlinkoutreach/outreach/models"
	"github.com/backlinkoutreach/outreach/workflows"
)

func bulk(r *rig, campaignID string, ids []string, status models.LeadStatus) workflows.BulkStatusResult {
	r.T.Helper()
	var res workflows.BulkStatusResult
	r.Call(http.MethodPatch, "/campaigns/"+campaignID+"/leads/bulk-status", map[string]any{"lead_ids": ids, "status": status},
		http.StatusOK, &res)
	return res
}

// Scenario 7: bulk status on 1,000 leads with a mix of legal, illegal and
// foreign ids: the exact updated count and one reason per failure.
func TestBulkStatusOnAThousandLeads(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			r := newRig(t, d, enginetest.Options{})
			camp, _ := r.CreateCampaign("Bulk", enginetest.FastSettings(0), 0)
			other, otherLeads := r.CreateCampaign("Other", enginetest.FastSettings(0), 20)
			// The leads are stored in the statuses the request meets (as
			// earlier replies and manual changes would have left them):
			// 700 discovered, 100 contacted, 180 replied, 20 placed. The
			// campaign then starts their workflows in those statuses; the
			// placed ones end at once, as terminal leads do.
			leads := r.insertLeads(camp.ID, map[models.LeadStatus]int{
				models.StatusPlaced: 20, models.StatusReplied: 180, models.StatusContacted: 100, models.StatusDiscovered: 700,
			})
			if err := r.Engine.LeadsAdded(r.Ctx, models.Campaign{ID: camp.ID, UserID: r.User.ID}, len(leads)); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			r.WaitStarted(camp.ID, 1000, 8*time.Minute)
			r.WaitStarted(other.ID, 20, time.Minute)
			t.Logf("lead workflows started after %s", time.Since(start))
			enginetest.WaitFor(t, time.Minute, "placed leads' workflows end", func() (bool, string) {
				running := r.ListWorkflows(fmt.Sprintf("CampaignId = '%s' AND LeadStatus = 'placed' AND ExecutionStatus = 'Running'", camp.ID))
				return len(running) == 0, fmt.Sprintf("%d still running", len(running))
			})

			// The request: every lead of the campaign to contacted, plus
			// foreign and malformed ids and a repeated one.
			ids := append([]string(nil), leads...)
			ids = append(ids, otherLeads...)
			ids = append(ids, models.NewID(), "not-an-id", "", "'; DROP TABLE leads; --", leads[500])
			bulkStart := time.Now()
			res := bulk(r, camp.ID, ids, models.StatusContacted)
			t.Logf("bulk of %d ids took %s", len(ids), time.Since(bulkStart))
			// legal: 700 discovered -> contacted; no-op: 100 contacted
			// already; illegal: 180 replied and 20 placed.
			if res.Updated != 800 {
				t.Errorf("updated %d, want 800", res.Updated)
			}
			reasons := map[string]int{}
			seen := map[string]bool{}
			for _, f := range res.Failed {
				if seen[f.LeadID] {
					t.Errorf("two reasons for %q", f.LeadID)
				}
				seen[f.LeadID] = true
				reasons[f.Reason]++
			}
			want := map[string]int{
				"invalid_transition: replied -> contacted": 180,
				"invalid_transition: placed -> contacted":  20,
				workflows.BulkNotFound:                     24,
			}
			for k, v := range want {
				if reasons[k] != v {
					t.Errorf("reason %q: %d, want %d (all reasons %v)", k, reasons[k], v, reasons)
				}
			}
			if len(res.Failed) != 224 {
				t.Errorf("failed %d, want 224", len(res.Failed))
			}
			for _, id := range otherLeads {
				if !seen[id] {
					t.Errorf("another campaign's lead %s was not refused", id)
				}
			}
			// The database agrees, and nothing of the other campaign moved.
			if n := r.Count(&models.Lead{}, "campaign_id = ? AND status = ?", camp.ID, models.StatusContacted); n != 800 {
				t.Errorf("contacted %d", n)
			}
			if n := r.Count(&models.Lead{}, "campaign_id = ? AND status = ?", other.ID, models.StatusDiscovered); n != 20 {
				t.Errorf("the other campaign's leads changed: %d discovered", n)
			}
			// Each change went through the lead's workflow: LeadStatus follows.
			enginetest.WaitFor(t, time.Minute, "LeadStatus", func() (bool, string) {
				n := len(r.ListWorkflows(fmt.Sprintf("CampaignId = '%s' AND LeadStatus = 'contacted'", camp.ID)))
				return n == 800, fmt.Sprintf("%d contacted in visibility", n)
			})
		})
	}
}

// One lead's status through its Update: illegal changes answer 409 naming
// both states; a finished workflow answers from the database.
func TestLeadStatusEndpoint(t *testing.T) {
	t.Parallel()
	r := newRig(t, "sqlite", enginetest.Options{})
	camp, leads := r.CreateCampaign("Status", enginetest.FastSettings(0), 2)
	r.WaitStarted(camp.ID, 2, time.Minute)
	path := "/campaigns/" + camp.ID + "/leads/" + leads[0] + "/status"
	code, body := r.Do(http.MethodPatch, path, map[string]any{"status": "placed"})
	if code != http.StatusConflict || !strings.Contains(string(body), `"code":"InvalidStatusTransitionError"`) ||
		!strings.Contains(string(body), `"from":"discovered"`) || !strings.Contains(string(body), `"to":"placed"`) {
		t.Fatalf("illegal change: %d %s", code, body)
	}
	var l api.LeadOut
	for _, st := range []string{"contacted", "contacted", "replied", "lost"} {
		r.Call(http.MethodPatch, path, map[string]any{"status": st}, http.StatusOK, &l)
		if string(l.Status) != st {
			t.Fatalf("after %s: %s", st, l.Status)
		}
	}
	enginetest.WaitFor(t, 30*time.Second, "the lost lead's workflow ends", func() (bool, string) {
		st := r.WorkflowStatus(workflows.LeadWorkflowID(camp.ID, leads[0]))
		return st.String() == "Completed", st.String()
	})
	r.Call(http.MethodPatch, path, map[string]any{"status": "lost"}, http.StatusOK, &l)
	code, body = r.Do(http.MethodPatch, path, map[string]any{"status": "replied"})
	if code != http.StatusConflict || !strings.Contains(string(body), `"from":"lost"`) {
		t.Fatalf("change of a finished lead: %d %s", code, body)
	}
	code, body = r.Do(http.MethodPatch, path, map[string]any{"status": "won"})
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("unknown status: %d %s", code, body)
	}
	code, _ = r.Do(http.MethodPatch, "/campaigns/"+camp.ID+"/leads/bulk-status", map[string]any{"lead_ids": make([]string, 10001), "status": "contacted"})
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("10,001 ids: %d", code)
	}
	var detail api.LeadDetail
	r.Call(http.MethodGet, "/campaigns/"+camp.ID+"/leads/"+leads[0], nil, http.StatusOK, &detail)
	var moves []string
	for _, e := range detail.Timeline {
		if e.Kind == "status" {
			moves = append(moves, string(e.FromStatus)+">"+string(e.ToStatus))
		}
	}
	if strings.Join(moves, ",") != "discovered>contacted,contacted>replied,replied>lost" {
		t.Errorf("timeline %v", moves)
	}
}

// Pausing stops new sends within seconds; resuming continues where it
// stopped, losing and repeating nothing.
func TestPauseAndResume(t *testing.T) {
	t.Parallel()
	r := newRig(t, "sqlite", enginetest.Options{})
	settings := enginetest.FastSettings(0, 2)
	settings["min_gap_seconds"] = 1
	camp, leads := r.CreateCampaign("Pause", settings, 12)
	r.Launch(camp.ID)
	r.WaitMessages(3, time.Minute)
	var out api.CampaignOut
	r.Call(http.MethodPost, "/campaigns/"+camp.ID+"/pause", nil, http.StatusOK, &out)
	if out.State != models.CampaignPaused {
		t.Fatalf("state %s", out.State)
	}
	// A send already past its policy check finished before pause answered;
	// nothing leaves after that.
	atPause := r.SMTP.Count()
	time.Sleep(5 * time.Second)
	if r.SMTP.Count() != atPause {
		t.Fatalf("%d messages sent while paused", r.SMTP.Count()-atPause)
	}
	r.Call(http.MethodPost, "/campaigns/"+camp.ID+"/pause", nil, http.StatusOK, nil) // idempotent
	var fu api.FollowUpList
	r.Call(http.MethodGet, "/campaigns/"+camp.ID+"/follow-ups", nil, http.StatusOK, &fu)
	for _, f := range fu.Items {
		if f.State != "paused" {
			t.Errorf("follow-up while paused: %+v", f)
		}
	}
	r.Call(http.MethodPost, "/campaigns/"+camp.ID+"/resume", nil, http.StatusOK, &out)
	if out.State != models.CampaignActive {
		t.Fatalf("state %s", out.State)
	}
	r.WaitMessages(24, 2*time.Minute)
	time.Sleep(3 * time.Second)
	counts := r.SMTP.CountByMessageID()
	if r.SMTP.Count() != 24 || len(counts) != 24 {
		t.Fatalf("%d messages (%d distinct), want 24: every lead both steps, once", r.SMTP.Count(), len(counts))
	}
	for _, l := range leads {
		if counts[enginetest.MessageID(camp.ID, l, 0)] != 1 || counts[enginetest.MessageID(camp.ID, l, 1)] != 1 {
			t.Errorf("lead %s: step 0 x%d, step 1 x%d", l, counts[enginetest.MessageID(camp.ID, l, 0)], counts[enginetest.MessageID(camp.ID, l, 1)])
		}
	}
	code, body := r.Do(http.MethodPost, "/campaigns/"+camp.ID+"/launch", nil)
	if code != http.StatusOK {
		t.Errorf("launching an active campaign is a no-op: %d %s", code, body)
	}
	r.Call(http.MethodPost, "/campaigns/"+camp.ID+"/archive", nil, http.StatusOK, nil)
	code, body = r.Do(http.MethodPost, "/campaigns/"+camp.ID+"/resume", nil)
	if code != http.StatusConflict || !strings.Contains(string(body), "archived") {
		t.Errorf("resume an archived campaign: %d %s", code, body)
	}
}

// Launching refuses a campaign whose e-mails would go out with unfilled
// placeholders, listing the leads and placeholders.
func TestLaunchRefusesUnfilledPlaceholders(t *testing.T) {
	t.Parallel()
	r := newRig(t, "sqlite", enginetest.Options{})
	var camp api.CampaignOut
	r.Call(http.MethodPost, "/campaigns", map[string]any{"name": "Gaps", "keywords": []string{"SaaS"}, "settings": enginetest.FastSettings(0)},
		http.StatusCreated, &camp)
	var ok, noName api.LeadOut
	r.Call(http.MethodPost, "/campaigns/"+camp.ID+"/leads", map[string]any{
		"website_url":   "https://full.example/",
		"website_title": "Full", "contact_email": "a@full.example", "contact_name": "Ann",
	}, http.StatusCreated, &ok)
	r.Call(http.MethodPost, "/campaigns/"+camp.ID+"/leads", map[string]any{
		"website_url":   "https://gap.example/",
		"contact_email": "b@gap.example",
	}, http.StatusCreated, &noName)
	code, body := r.Do(http.MethodPost, "/campaigns/"+camp.ID+"/launch", nil)
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("launch: %d %s", code, body)
	}
	var env api.Envelope
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	if len(env.Error.Details) != 1 {
		t.Fatalf("details %v", env.Error.Details)
	}
	d := env.Error.Details[0].(map[string]any)
	ph := fmt.Sprint(d["placeholders"])
	if d["lead_id"] != noName.ID || d["step"] != float64(0) || !strings.Contains(ph, "unfilled:name") || !strings.Contains(ph, "unfilled:website_title") {
		t.Fatalf("detail %v", d)
	}
	var got api.CampaignOut
	r.Call(http.MethodGet, "/campaigns/"+camp.ID, nil, http.StatusOK, &got)
	if got.State != models.CampaignDraft {
		t.Fatalf("a refused launch changed the state to %s", got.State)
	}
	time.Sleep(time.Second)
	if r.SMTP.Count() != 0 {
		t.Fatal("mail went out from a refused launch")
	}
}

// POST /outreach/send sends one lead now through its workflow and every
// policy; POST /policy/validate dry-runs the policy.
func TestSendNowAndPolicy(t *testing.T) {
	t.Parallel()
	r := newRig(t, "sqlite", enginetest.Options{})
	camp, leads := r.CreateCampaign("Manual", enginetest.FastSettings(0, 3600), 3)
	r.WaitStarted(camp.ID, 3, time.Minute)
	code, body := r.Do(http.MethodPost, "/outreach/send", map[string]any{"campaign_id": camp.ID, "lead_id": leads[0]})
	if code != http.StatusConflict {
		t.Fatalf("send from a draft: %d %s", code, body)
	}
	// Once the pitches are out, send-now sends a follow-up before its
	// one-hour delay.
	r.Launch(camp.ID)
	r.WaitMessages(3, time.Minute)
	enginetest.WaitFor(t, 30*time.Second, "step 0 recorded", func() (bool, string) {
		st := r.QueryLead(camp.ID, leads[1])
		return st.NextStep == 1, fmt.Sprintf("%+v", st)
	})
	var out api.SendNowOut
	r.Call(http.MethodPost, "/outreach/send", map[string]any{"campaign_id": camp.ID, "lead_id": leads[1]}, http.StatusAccepted, &out)
	if out.Step != 1 || out.State != "queued" {
		t.Fatalf("send-now: %+v", out)
	}
	r.WaitMessages(4, time.Minute)
	if r.SMTP.CountByMessageID()[enginetest.MessageID(camp.ID, leads[1], 1)] != 1 {
		t.Fatal("the follow-up did not go out early")
	}
	enginetest.WaitFor(t, 30*time.Second, "the follow-up recorded", func() (bool, string) {
		st := r.QueryLead(camp.ID, leads[1])
		return st.NextStep == -1, fmt.Sprintf("%+v", st)
	})
	code, body = r.Do(http.MethodPost, "/outreach/send", map[string]any{"campaign_id": camp.ID, "lead_id": leads[1]})
	if code != http.StatusConflict {
		t.Fatalf("send-now with nothing left: %d %s", code, body)
	}
	code, _ = r.Do(http.MethodPost, "/outreach/send", map[string]any{"campaign_id": camp.ID, "lead_id": models.NewID()})
	if code != http.StatusNotFound {
		t.Fatalf("unknown lead: %d", code)
	}
	var rep struct {
		Allowed    bool   `json:"allowed"`
		Reason     string `json:"reason"`
		LegalBasis string `json:"legal_basis"`
	}
	r.Call(http.MethodPost, "/policy/validate", map[string]any{
		"recipient": "editor2@site2.example", "campaign_id": camp.ID,
		"subject": "Guest post for Site 2",
	}, http.StatusOK, &rep)
	if rep.Allowed || rep.Reason != "duplicate_subject" || rep.LegalBasis != models.LegalBasisLegitimateInterest {
		t.Errorf("policy for a just-mailed address: %+v", rep)
	}
	r.Call(http.MethodPost, "/policy/validate", map[string]any{"recipient": "new@blog.de"}, http.StatusOK, &rep)
	if !rep.Allowed || rep.LegalBasis != models.LegalBasisConsent {
		t.Errorf("policy for a fresh address: %+v", rep)
	}
	code, _ = r.Do(http.MethodPost, "/policy/validate", map[string]any{"recipient": "not an address"})
	if code != http.StatusUnprocessableEntity {
		t.Errorf("bad recipient: %d", code)
	}
	var fu api.FollowUpList
	r.Call(http.MethodGet, "/campaigns/"+camp.ID+"/follow-ups?state=scheduled", nil, http.StatusOK, &fu)
	if len(fu.Items) != 2 {
		t.Errorf("scheduled follow-ups %+v", fu.Items)
	}
	for _, f := range fu.Items {
		if f.Step != 1 || f.DueAt.Before(time.Now().Add(55*time.Minute)) {
			t.Errorf("follow-up %+v", f)
		}
	}
}

// insertLeads stores leads of the given statuses directly (in that order
// of ids: the map is walked in lifecycle order) and answers their ids.
func (r *rig) insertLeads(campaignID string, n map[models.LeadStatus]int) []string {
	r.T.Helper()
	now := time.Now().UTC()
	var rows []models.Lead
	i := 0
	for _, st := range []models.LeadStatus{models.StatusPlaced, models.StatusReplied, models.StatusContacted, models.StatusDiscovered} {
		for range n[st] {
			id := models.NewID()
			rows = append(rows, models.Lead{
				ID: id, CampaignID: campaignID, UserID: r.User.ID,
				WebsiteURL: fmt.Sprintf("https://bulk%d.example/", i), NormalizedURL: fmt.Sprintf("bulk%d.example", i),
				WebsiteTitle: "Bulk", ContactEmail: fmt.Sprintf("e%d@bulk%d.example", i, i), ContactName: "Ed",
				Source: models.SourceBulk, Status: st, CreatedAt: now, UpdatedAt: now, StatusChangedAt: now,
			})
			i++
		}
	}
	if err := r.DB.CreateInBatches(rows, 200).Error; err != nil {
		r.T.Fatal(err)
	}
	ids := make([]string, len(rows))
	for i, l := range rows {
		ids[i] = l.ID
	}
	return ids
}

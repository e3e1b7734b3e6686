package worker_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"

	"github.com/backlinkoutreach/outreach/api"
	"github.com/backlinkoutreach/outreach/internal/enginetest"
	"github.com/backlinkoutreach/outreach/internal/mail"
	"github.com/backlinkoutreach/outreach/internal/mailtest"
	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/internal/storetest"
	"github.com/backlinkoutreach/outreach/internal/unsub"
	"github.com/backlinkoutreach/outreach/models"
	"github.com/backlinkoutreach/outreach/workflows"
)

// messagesByLead groups captured messages by lead, from their Message-IDs.
func messagesByLead(t *testing.T, msgs []mailtest.Message, campaignID string, leads []string) map[string][]mailtest.Message {
	t.Helper()
	out := map[string][]mailtest.Message{}
	for _, l := range leads {
		for step := 0; step < 5; step++ {
			id := mail.MessageID(campaignID, l, step, "sender.example")
			for _, m := range msgs {
				if m.MessageID == id {
					out[l] = append(out[l], m)
				}
			}
		}
	}
	return out
}

// Scenario 1: a 200-lead campaign with a 2-step sequence and delays of
// seconds: every lead receives exactly step 0 then step 1, threaded.
func TestTwoStepSequenceThreaded(t *testing.T) {
	t.Parallel()
	r := newRig(t, store.SQLite, enginetest.Options{})
	camp, leads := r.CreateCampaign("Two steps", enginetest.FastSettings(0, 3), 200)
	r.Launch(camp.ID)
	r.WaitMessages(400, 4*time.Minute)
	time.Sleep(2 * time.Second) // anything extra would show up now
	msgs := r.SMTP.Messages()
	if len(msgs) != 400 {
		t.Fatalf("%d messages, want 400", len(msgs))
	}
	byLead := messagesByLead(t, msgs, camp.ID, leads)
	for i, l := range leads {
		m := byLead[l]
		if len(m) != 2 {
			t.Fatalf("lead %d got %d messages", i, len(m))
		}
		first, second := m[0], m[1]
		if !first.ReceivedAt.Before(second.ReceivedAt) && !first.ReceivedAt.Equal(second.ReceivedAt) {
			t.Errorf("lead %d: step 1 arrived before step 0", i)
		}
		if second.ReceivedAt.Sub(first.ReceivedAt) < 2*time.Second {
			t.Errorf("lead %d: step 1 came %s after step 0, before its 3 s delay", i, second.ReceivedAt.Sub(first.ReceivedAt))
		}
		if second.InReplyTo != first.MessageID || len(second.References) != 1 || second.References[0] != first.MessageID {
			t.Errorf("lead %d: step 1 not threaded: in-reply-to %q references %v", i, second.InReplyTo, second.References)
		}
		if second.Subject != "Re: "+first.Subject || !strings.HasPrefix(first.Subject, "Guest post for Site ") {
			t.Errorf("lead %d: subjects %q / %q", i, first.Subject, second.Subject)
		}
		if len(first.To) != 1 || !strings.HasPrefix(first.To[0], "editor") {
			t.Errorf("lead %d: envelope to %v", i, first.To)
		}
		lu := first.Header.Get("List-Unsubscribe")
		if !strings.Contains(lu, "<mailto:"+enginetest.Sender+"?subject=unsubscribe>") || !strings.Contains(lu, "<"+enginetest.BaseURL+"/u/") ||
			first.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
			t.Errorf("lead %d: List-Unsubscribe %q", i, lu)
		}
	}
	// The unsubscribe token names this lead.
	signer, _ := unsub.New([]byte(enginetest.Secret))
	lu := byLead[leads[7]][0].Header.Get("List-Unsubscribe")
	tok := lu[strings.Index(lu, "/u/")+3 : strings.LastIndex(lu, ">")]
	if cl, err := signer.Open(tok); err != nil || cl.LeadID != leads[7] || cl.CampaignID != camp.ID || cl.Email != "editor7@site7.example" {
		t.Errorf("unsubscribe token: %+v %v", cl, err)
	}
	// The ledger and the lead rows agree.
	if n := r.Count(&models.Attempt{}, "campaign_id = ? AND state = ?", camp.ID, models.AttemptSent); n != 400 {
		t.Errorf("sent attempts %d", n)
	}
	if n := r.Count(&models.Lead{}, "campaign_id = ? AND status = ?", camp.ID, models.StatusContacted); n != 200 {
		t.Errorf("contacted leads %d", n)
	}
	var page api.AttemptList
	r.Call(http.MethodGet, "/campaigns/"+camp.ID+"/attempts?limit=500&lead_id="+leads[3], nil, http.StatusOK, &page)
	if len(page.Items) != 2 || page.Items[0].LegalBasis != models.LegalBasisLegitimateInterest || page.Items[1].InReplyTo != page.Items[0].MessageID {
		t.Errorf("attempts of one lead: %+v", page.Items)
	}
	var detail api.LeadDetail
	r.Call(http.MethodGet, "/campaigns/"+camp.ID+"/leads/"+leads[3], nil, http.StatusOK, &detail)
	var kinds []string
	for _, e := range detail.Timeline {
		kinds = append(kinds, e.Kind)
	}
	if strings.Join(kinds, ",") != "created,sent,status,sent" {
		t.Errorf("timeline %v", kinds)
	}
	// The Web UI finds every workflow of the campaign by CampaignId, and
	// each lead's status in LeadStatus; ids carry no personal data.
	enginetest.WaitFor(t, 30*time.Second, "visibility", func() (bool, string) {
		// The campaign's earlier runs (continued as new) are listed too.
		all := r.ListWorkflows(fmt.Sprintf("CampaignId = '%s' AND ExecutionStatus = 'Running'", camp.ID))
		contacted := r.ListWorkflows(fmt.Sprintf("CampaignId = '%s' AND LeadStatus = 'contacted'", camp.ID))
		return len(all) == 201 && len(contacted) == 200, fmt.Sprintf("%d running workflows, %d contacted", len(all), len(contacted))
	})
	for _, id := range r.ListWorkflows(fmt.Sprintf("CampaignId = '%s'", camp.ID)) {
		if strings.Contains(id, "@") || strings.Contains(id, "editor") {
			t.Fatalf("workflow id %s carries personal data", id)
		}
	}
	st := r.QueryLead(camp.ID, leads[0])
	if st.Status != models.StatusContacted || st.Phase != workflows.PhaseDone || st.NextStep != -1 {
		t.Errorf("lead state after the sequence: %+v", st)
	}
	desc, err := r.Client.DescribeWorkflow(r.Ctx, workflows.LeadWorkflowID(camp.ID, leads[0]), "")
	if err != nil {
		t.Fatal(err)
	}
	if desc.RawResponse.GetWorkflowExecutionInfo().GetStatus() != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Errorf("a contacted lead's workflow must stay open for late replies")
	}
}

// Scenario 2: a reply after step 0: step 1 is never sent.
func TestReplyAfterFirstStepStopsFollowUp(t *testing.T) {
	t.Parallel()
	r := newRig(t, store.SQLite, enginetest.Options{})
	camp, leads := r.CreateCampaign("Reply", enginetest.FastSettings(0, 4), 3)
	r.Launch(camp.ID)
	r.WaitMessages(3, time.Minute)
	if err := r.Client.SignalWorkflow(r.Ctx, workflows.LeadWorkflowID(camp.ID, leads[1]), "", workflows.SignalLeadReply,
		workflows.ReplySignal{ReplyID: models.NewID(), Tag: models.ReplyInterested}); err != nil {
		t.Fatal(err)
	}
	r.WaitMessages(5, time.Minute)
	time.Sleep(6 * time.Second)
	byLead := messagesByLead(t, r.SMTP.Messages(), camp.ID, leads)
	if len(byLead[leads[1]]) != 1 || len(byLead[leads[0]]) != 2 || len(byLead[leads[2]]) != 2 || r.SMTP.Count() != 5 {
		t.Fatalf("messages per lead: %d %d %d (total %d); the replied lead must get only step 0",
			len(byLead[leads[0]]), len(byLead[leads[1]]), len(byLead[leads[2]]), r.SMTP.Count())
	}
	var l api.LeadOut
	r.Call(http.MethodGet, "/campaigns/"+camp.ID+"/leads/"+leads[1], nil, http.StatusOK, &l)
	if l.Status != models.StatusReplied {
		t.Errorf("status %s", l.Status)
	}
	if st := r.QueryLead(camp.ID, leads[1]); st.Status != models.StatusReplied || st.NextStep != -1 {
		t.Errorf("lead state %+v", st)
	}
}

// Scenario 3: caps are hard. 50 first touches go out at once against a
// recipient-domain cap of 10: exactly 10 are sent, the 40 others are
// deferred to the next day, not dropped. A user cap of 10 paces the
// dispatch itself.
func TestCapsAreHard(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects() {
		t.Run(string(d)+"/domain cap, 50 concurrent sends", func(t *testing.T) {
			t.Parallel()
			r := newRig(t, d, enginetest.Options{Limits: store.SendLimits{DomainDailyCap: 10}, SendConcurrency: 8})
			var camp api.CampaignOut
			r.Call(http.MethodPost, "/campaigns", map[string]any{"name": "Caps", "keywords": []string{"SaaS"}, "settings": enginetest.FastSettings(0)},
				http.StatusCreated, &camp)
			rows := make([]map[string]any, 50)
			for i := range rows {
				rows[i] = map[string]any{
					"website_url": fmt.Sprintf("https://blog%d.example/", i), "website_title": fmt.Sprintf("Blog %d", i),
					"contact_email": fmt.Sprintf("writer%d@bigmail.example", i), "contact_name": "Writer",
				}
			}
			r.Call(http.MethodPost, "/campaigns/"+camp.ID+"/leads/bulk", rows, http.StatusOK, nil)
			r.WaitStarted(camp.ID, 50, time.Minute)
			r.Launch(camp.ID)
			r.WaitMessages(10, time.Minute)
			enginetest.WaitFor(t, time.Minute, "every send decided", func() (bool, string) {
				sent := r.Count(&models.Attempt{}, "campaign_id = ? AND state = ?", camp.ID, models.AttemptSent)
				pending := r.Count(&models.Attempt{}, "campaign_id = ? AND state = ?", camp.ID, models.AttemptPending)
				return sent+pending == 50, fmt.Sprintf("sent %d pending %d", sent, pending)
			})
			time.Sleep(2 * time.Second)
			if r.SMTP.Count() != 10 {
				t.Fatalf("%d messages reached the server, want exactly 10", r.SMTP.Count())
			}
			if n := r.Count(&models.Attempt{}, "campaign_id = ? AND state = ?", camp.ID, models.AttemptSent); n != 10 {
				t.Fatalf("sent attempts %d", n)
			}
			if n := r.Count(&models.AuditEntry{}, "campaign_id = ? AND result = ? AND reason = ?", camp.ID, store.AuditDeferred, store.ReasonDomainCap); n != 40 {
				t.Errorf("deferred audit entries %d, want 40", n)
			}
			midnight := models.StartOfNextDay(time.Now(), time.UTC)
			var pending []models.Attempt
			r.DB.Where("campaign_id = ? AND state = ?", camp.ID, models.AttemptPending).Find(&pending)
			for _, a := range pending[:5] {
				st := r.QueryLead(camp.ID, a.LeadID)
				if st.Phase != workflows.PhaseDeferred || !st.NextAt.Equal(midnight) || st.Status != models.StatusDiscovered {
					t.Errorf("deferred lead %s: %+v, want deferred until %s", a.LeadID, st, midnight)
				}
			}
			var listed api.AttemptList
			r.Call(http.MethodGet, "/campaigns/"+camp.ID+"/attempts?state=pending&limit=100", nil, http.StatusOK, &listed)
			if len(listed.Items) != 40 {
				t.Errorf("pending attempts listed: %d", len(listed.Items))
			}
		})
		t.Run(string(d)+"/user cap paces first touches", func(t *testing.T) {
			t.Parallel()
			r := newRig(t, d, enginetest.Options{Limits: store.SendLimits{UserDailyCap: 10}, SendConcurrency: 8})
			camp, _ := r.CreateCampaign("Paced", enginetest.FastSettings(0), 50)
			r.WaitStarted(camp.ID, 50, time.Minute)
			r.Launch(camp.ID)
			r.WaitMessages(10, time.Minute)
			time.Sleep(3 * time.Second)
			if r.SMTP.Count() != 10 {
				t.Fatalf("%d messages, want 10", r.SMTP.Count())
			}
			if n := r.Count(&models.Lead{}, "campaign_id = ? AND dispatched_at IS NOT NULL", camp.ID); n != 10 {
				t.Errorf("dispatched %d first touches, want the cap's 10", n)
			}
			v, err := r.Client.QueryWorkflow(r.Ctx, workflows.CampaignWorkflowID(camp.ID), "", workflows.QueryCampaignState)
			if err != nil {
				t.Fatal(err)
			}
			var cs workflows.CampaignStatus
			if err := v.Get(&cs); err != nil {
				t.Fatal(err)
			}
			if cs.State != models.CampaignActive || cs.LeadsStarted != 50 || cs.LeadsWaiting != 40 || cs.DispatchedToday != 10 {
				t.Errorf("campaign state %+v", cs)
			}
			var rep store.PolicyReport
			r.Call(http.MethodPost, "/policy/validate", map[string]any{"recipient": "someone@new.example", "campaign_id": camp.ID}, http.StatusOK, &rep)
			if rep.Allowed || rep.Reason != store.ReasonUserCap || rep.Caps[0].Count != 10 || rep.Caps[0].Limit != 10 {
				t.Errorf("policy dry-run after the cap: %+v", rep)
			}
		})
	}
}

// Scenario 5: the SMTP server is down for 30 s mid-campaign; after it
// returns everything is delivered, once.
func TestSMTPOutageDeliversOnceAfterwards(t *testing.T) {
	t.Parallel()
	r := newRig(t, store.SQLite, enginetest.Options{})
	camp, leads := r.CreateCampaign("Outage", enginetest.FastSettings(0), 80)
	r.Launch(camp.ID)
	r.WaitMessages(10, time.Minute)
	if err := r.SMTP.Stop(); err != nil {
		t.Fatal(err)
	}
	down := r.SMTP.Count()
	time.Sleep(30 * time.Second)
	// The sends that failed meanwhile went back to pending, slots given back.
	var retried []models.Attempt
	r.DB.Where("campaign_id = ? AND state = ? AND error <> ''", camp.ID, models.AttemptPending).Find(&retried)
	if len(retried) == 0 {
		t.Fatalf("no send was retried during the outage (%d delivered before it)", down)
	}
	if err := r.SMTP.Start(); err != nil {
		t.Fatal(err)
	}
	r.WaitMessages(80, 3*time.Minute)
	time.Sleep(3 * time.Second)
	counts := r.SMTP.CountByMessageID()
	if len(counts) != 80 || r.SMTP.Count() != 80 {
		t.Fatalf("%d messages, %d distinct, want 80 each", r.SMTP.Count(), len(counts))
	}
	for _, l := range leads {
		if counts[mail.MessageID(camp.ID, l, 0, "sender.example")] != 1 {
			t.Errorf("lead %s not delivered exactly once", l)
		}
	}
	if n := r.Count(&models.Attempt{}, "campaign_id = ? AND state = ?", camp.ID, models.AttemptSent); n != 80 {
		t.Errorf("sent attempts %d", n)
	}
	var used int64
	if err := r.DB.Raw("SELECT coalesce(sum(count), 0) FROM send_counters WHERE user_id = ? AND scope = 'user'", r.User.ID).Row().Scan(&used); err != nil {
		t.Fatal(err)
	}
	if used != 80 {
		t.Errorf("user counter %d: sends that never reached the server must not count", used)
	}
}

// Scenario 6: deleting a campaign mid-send: nothing is delivered after
// DELETE returns, and none of its workflows runs.
func TestDeleteMidSend(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects() {
		for _, batch := range []bool{false, true} {
			name := string(d)
			if batch {
				name += "/batch termination"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				deleteMidSend(t, d, batch)
			})
		}
	}
}

// deleteMidSend deletes a campaign while it sends; with batch, its lead
// workflows are terminated by a server-side job (large campaigns).
func deleteMidSend(t *testing.T, d store.Dialect, batch bool) {
	r := newRig(t, d, enginetest.Options{})
	if batch {
		r.Engine.BatchThreshold = 10
	}
	settings := enginetest.FastSettings(0, 2)
	settings["min_gap_seconds"] = 1
	camp, _ := r.CreateCampaign("Delete", settings, 40)
	r.Launch(camp.ID)
	r.WaitMessages(3, time.Minute)
	code, body := r.Do(http.MethodDelete, "/campaigns/"+camp.ID, nil)
	if code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", code, body)
	}
	atDelete := r.SMTP.Count()
	time.Sleep(5 * time.Second)
	if r.SMTP.Count() != atDelete {
		t.Fatalf("%d messages arrived after DELETE returned", r.SMTP.Count()-atDelete)
	}
	if atDelete >= 40 {
		t.Fatalf("every lead was sent before the delete (%d): the test proves nothing", atDelete)
	}
	enginetest.WaitFor(t, time.Minute, "every workflow of the campaign stopped", func() (bool, string) {
		running := r.ListWorkflows(fmt.Sprintf("CampaignId = '%s' AND ExecutionStatus = 'Running'", camp.ID))
		return len(running) == 0, fmt.Sprintf("%d still run", len(running))
	})
	// Children whose start was still pending when the campaign workflow
	// was terminated never run; every lead that had sent had one.
	if n := len(r.ListWorkflows(fmt.Sprintf("CampaignId = '%s' AND ExecutionStatus = 'Terminated'", camp.ID))); n < atDelete+1 {
		t.Errorf("%d workflows terminated, want at least the campaign's and the %d leads' that had sent", n, atDelete)
	}
	if st := r.WorkflowStatus(workflows.CampaignWorkflowID(camp.ID)); st != enums.WORKFLOW_EXECUTION_STATUS_TERMINATED {
		t.Errorf("campaign workflow %s", st)
	}
	r.Call(http.MethodGet, "/campaigns/"+camp.ID, nil, http.StatusNotFound, nil)
	if n := r.Count(&models.Lead{}, "campaign_id = ?", camp.ID); n != 0 {
		t.Errorf("%d leads left", n)
	}
}

// Shortening the follow-up delay of a running campaign reaches leads that
// are already waiting out the old one: the follow-up goes at the new time,
// not days later.
func TestShorterDelayReachesWaitingLeads(t *testing.T) {
	t.Parallel()
	r := newRig(t, store.SQLite, enginetest.Options{})
	camp, leads := r.CreateCampaign("Replan", enginetest.FastSettings(0, 2*enginetest.SecondsInDay), 3)
	r.Launch(camp.ID)
	r.WaitMessages(3, time.Minute)
	enginetest.WaitFor(t, time.Minute, "the leads waiting for their follow-up", func() (bool, string) {
		st := r.QueryLead(camp.ID, leads[2])
		return st.Phase == workflows.PhaseWaitingFollowUp, st.Phase
	})
	r.Call(http.MethodPatch, "/campaigns/"+camp.ID, map[string]any{"settings": enginetest.FastSettings(0, 2)}, http.StatusOK, nil)
	r.WaitMessages(6, time.Minute)
	byLead := messagesByLead(t, r.SMTP.Messages(), camp.ID, leads)
	for i, l := range leads {
		if m := byLead[l]; len(m) != 2 || m[1].InReplyTo != m[0].MessageID {
			t.Errorf("lead %d: %d messages after the delay was shortened", i, len(m))
		}
	}
}

// A status change for a lead whose workflow is not started yet (a large
// campaign starts them in batches; here one added behind the API's back)
// is written to the row the workflow will start from: 200, not a 503 to
// retry for as long as the start takes.
func TestStatusOfUnstartedLead(t *testing.T) {
	t.Parallel()
	r := newRig(t, store.SQLite, enginetest.Options{})
	camp, _ := r.CreateCampaign("Unstarted", enginetest.FastSettings(0), 0)
	now := time.Now().UTC()
	l := models.Lead{
		ID: models.NewID(), CampaignID: camp.ID, UserID: r.User.ID, WebsiteURL: "https://unstarted.example",
		NormalizedURL: "unstarted.example", ContactEmail: "ed@unstarted.example", Source: models.SourceManual,
		Status: models.StatusDiscovered, CreatedAt: now, UpdatedAt: now, StatusChangedAt: now,
	}
	if err := r.DB.Create(&l).Error; err != nil {
		t.Fatal(err)
	}
	var out api.LeadOut
	r.Call(http.MethodPatch, "/campaigns/"+camp.ID+"/leads/"+l.ID+"/status", map[string]any{"status": "contacted"}, http.StatusOK, &out)
	if out.Status != models.StatusContacted {
		t.Fatalf("status %s", out.Status)
	}
	code, body := r.Do(http.MethodPatch, "/campaigns/"+camp.ID+"/leads/"+l.ID+"/status", map[string]any{"status": "placed"})
	if code != http.StatusConflict {
		t.Errorf("contacted -> placed on an unstarted lead: %d %s", code, body)
	}
}

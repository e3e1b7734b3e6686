// Package e2e tests reply handling end to end: a real Temporal dev server,
// the engine's worker (campaign and lead workflows, the send step) with the
// reply poller registered, the capturing SMTP server, an in-process IMAP
// server fed with APPEND, the HTTP API and a real database.
package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/backlinkoutreach/outreach/activities"
	"github.com/backlinkoutreach/outreach/api"
	"github.com/backlinkoutreach/outreach/internal/enginetest"
	"github.com/backlinkoutreach/outreach/internal/inbox"
	"github.com/backlinkoutreach/outreach/internal/inbox/imaptest"
	"github.com/backlinkoutreach/outreach/internal/mailtest"
	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/internal/storetest"
	"github.com/backlinkoutreach/outreach/models"
	"github.com/backlinkoutreach/outreach/workflows"
)

func TestMain(m *testing.M) { enginetest.Main(m, enginetest.MainOptions{Temporal: true}) }

// rig is the shared engine rig (no send caps) with an IMAP server it polls
// and the reply poller registered on its worker.
type rig struct {
	*enginetest.Rig
	imap *imaptest.Server
}

func newRig(t testing.TB, d store.Dialect) *rig {
	t.Helper()
	im := imaptest.Start(t, imaptest.Options{})
	env := map[string]string{
		"IMAP_HOST": im.Host, "IMAP_PORT": fmt.Sprint(im.Port), "IMAP_USERNAME": im.Username, "IMAP_PASSWORD": im.Password,
		"IMAP_TLS": "none", "OOO_DEFAULT_DELAY": "1h",
	}
	register := func(r *enginetest.Rig, w sdkworker.Worker) {
		quiet := enginetest.QuietLog()
		replies := &activities.Replies{
			DB:      r.DB,
			Log:     quiet,
			Effects: &inbox.Effects{DB: r.DB, Notifier: inbox.TemporalNotifier{Client: r.Client}},
			Poller: &inbox.Poller{
				Config: inbox.ConfigFrom(r.Cfg), DB: r.DB,
				Pipeline: &inbox.Pipeline{DB: r.DB, Classifier: inbox.NewClassifier(r.Cfg, quiet)},
			},
		}
		replies.Register(w)
	}
	return &rig{Rig: enginetest.New(t, d, enginetest.Options{Env: env, Register: register}), imap: im}
}

// campaign creates and launches a campaign of n leads whose sequence is a
// pitch and one follow-up after followUp.
func (r *rig) campaign(n int, followUp time.Duration) (string, []string) {
	r.T.Helper()
	settings := map[string]any{
		"timezone":        "UTC",
		"window":          map[string]any{"days": enginetest.AllDays(), "start": "00:00", "end": "24:00"},
		"min_gap_seconds": 0, "jitter_seconds": 0,
		"sequence": []map[string]any{
			{"subject": "Guest post for {website_title}", "body": "Hi {name}, may I write for {website_title}?"},
			{"body": "Hi {name}, following up on my note.", "delay_days": followUp.Seconds() / enginetest.SecondsInDay},
		},
		"sender": map[string]any{"name": "Ann Writer", "site": "https://ann.example"},
	}
	var camp api.CampaignOut
	r.Call(http.MethodPost, "/campaigns", map[string]any{"name": "Replies e2e", "keywords": []string{"gardening"}, "settings": settings},
		http.StatusCreated, &camp)
	rows := make([]map[string]any, n)
	for i := range rows {
		rows[i] = enginetest.LeadRow(i)
	}
	r.Call(http.MethodPost, "/campaigns/"+camp.ID+"/leads/bulk", rows, http.StatusOK, nil)
	var ids []string
	if err := r.DB.Model(&models.Lead{}).Where("campaign_id = ?", camp.ID).Order("website_url").Pluck("id", &ids).Error; err != nil {
		r.T.Fatal(err)
	}
	r.Call(http.MethodPost, "/campaigns/"+camp.ID+"/launch", nil, http.StatusOK, nil)
	return camp.ID, ids
}

// firstTouches waits for every lead's step 0 and answers them by address.
func (r *rig) firstTouches(n int) map[string]mailtest.Message {
	r.T.Helper()
	ctx, cancel := context.WithTimeout(r.Ctx, 2*time.Minute)
	defer cancel()
	if err := r.SMTP.WaitForCount(ctx, n); err != nil {
		r.T.Fatal(err)
	}
	out := map[string]mailtest.Message{}
	for _, m := range r.SMTP.Messages() {
		out[m.To[0]] = m
	}
	return out
}

func (r *rig) sentTo(addr string) []mailtest.Message {
	var out []mailtest.Message
	for _, m := range r.SMTP.Messages() {
		if m.To[0] == addr {
			out = append(out, m)
		}
	}
	return out
}

func (r *rig) leadStatus(id string) models.LeadStatus {
	r.T.Helper()
	var l models.Lead
	if err := r.DB.Take(&l, "id = ?", id).Error; err != nil {
		r.T.Fatal(err)
	}
	return l.Status
}

func (r *rig) appendMail(raw string) {
	r.T.Helper()
	r.imap.Append(r.T, r.imap.Client(r.T), "INBOX", []byte(strings.ReplaceAll(raw, "\n", "\r\n")), time.Now())
}

// poll asks for a poll through the API. A poll of a few messages takes
// seconds; a minute means it waits on something else.
func (r *rig) poll() api.PollOut {
	r.T.Helper()
	ctx, cancel := context.WithTimeout(r.Ctx, time.Minute)
	defer cancel()
	code, body := r.RequestContext(ctx, http.MethodPost, api.BasePath+"/replies/poll", "", nil)
	if code != http.StatusOK {
		r.T.Fatalf("POST /replies/poll: status %d: %s", code, body)
	}
	var out api.PollOut
	if err := json.Unmarshal(body, &out); err != nil {
		r.T.Fatal(err)
	}
	return out
}

// otherDeploymentPolling starts a reply poll as another deployment sharing
// the namespace would (its own task queue, database and mailbox), left
// running for the test: no worker listens on that queue.
func (r *rig) otherDeploymentPolling() {
	r.T.Helper()
	queue := "e2e-other-" + models.NewID()
	run, err := r.Client.ExecuteWorkflow(r.Ctx, client.StartWorkflowOptions{
		ID: workflows.ReplyPollNowWorkflowID(queue), TaskQueue: queue, WorkflowExecutionTimeout: 10 * time.Minute,
	}, workflows.ReplyPollWorkflowName, workflows.ReplyPollInput{Trigger: "api"})
	if err != nil {
		r.T.Fatal(err)
	}
	r.T.Cleanup(func() { _ = r.Client.TerminateWorkflow(context.Background(), run.GetID(), run.GetRunID(), "test over") })
}

// A reply in the thread, a colleague's reply in the same thread and a hard
// bounce, found by POST /replies/poll: each lead moves and its follow-up is
// never sent; the lead nobody answered gets its follow-up. A poll running
// meanwhile for another deployment in the namespace (as the SQLite and
// PostgreSQL runs of this test are to each other) is neither joined nor
// waited for: with one workflow id for every deployment, this poll once
// joined the other run and answered its counts (0 found here).
func TestPollStopsAnsweredLeads(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			pollStopsAnsweredLeads(t, d)
		})
	}
}

func pollStopsAnsweredLeads(t *testing.T, d store.Dialect) {
	r := newRig(t, d)
	campID, leads := r.campaign(4, 20*time.Second)
	first := r.firstTouches(4)
	m0, m1, m2 := first["editor0@site0.example"], first["editor1@site1.example"], first["editor2@site2.example"]
	r.appendMail("Message-ID: <yes@site0.example>\nFrom: editor0@site0.example\nSubject: Re: " + m0.Subject +
		"\nIn-Reply-To: <" + m0.MessageID + ">\nReferences: <" + m0.MessageID + ">\n\nSounds good, send me the draft!\n\n> Hi Editor 0")
	r.appendMail("Message-ID: <no@site1.example>\nFrom: Chief <chief@site1.example>\nSubject: Re: " + m1.Subject +
		"\nReferences: <" + m1.MessageID + "> <something@site1.example>\n\nI run the site: we don't accept guest posts, sorry.")
	r.appendMail(`From: MAILER-DAEMON@mx.site2.example
Subject: Undelivered Mail Returned to Sender
Message-ID: <bounce@mx.site2.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary=b

--b
Content-Type: text/plain

Delivery failed.
--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.site2.example

Final-Recipient: rfc822; editor2@site2.example
Action: failed
Status: 5.1.1

--b
Content-Type: text/rfc822-headers

Message-ID: <` + m2.MessageID + `>
Subject: ` + m2.Subject + `

--b--
`)
	r.otherDeploymentPolling()
	out := r.poll()
	if out.RepliesFound != 3 || out.Failed != 0 {
		t.Fatalf("poll answered %+v, want 3 replies found", out)
	}
	enginetest.WaitFor(t, time.Minute, "lead statuses", func() (bool, string) {
		s := []models.LeadStatus{r.leadStatus(leads[0]), r.leadStatus(leads[1]), r.leadStatus(leads[2]), r.leadStatus(leads[3])}
		return s[0] == models.StatusReplied && s[1] == models.StatusBounced && s[2] == models.StatusBounced && s[3] == models.StatusContacted,
			fmt.Sprint(s)
	})
	// The untouched lead gets its follow-up; the others never do.
	enginetest.WaitFor(t, 90*time.Second, "the follow-up to lead 3", func() (bool, string) {
		return len(r.sentTo("editor3@site3.example")) == 2, fmt.Sprint(r.SMTP.Count(), " messages")
	})
	time.Sleep(3 * time.Second)
	for i := range 3 {
		if n := len(r.sentTo(fmt.Sprintf("editor%d@site%d.example", i, i))); n != 1 {
			t.Errorf("lead %d got %d e-mails, want only the pitch", i, n)
		}
	}
	for addr, src := range map[string]string{"editor1@site1.example": models.SuppressNotInterested, "editor2@site2.example": models.SuppressHardBounce} {
		var s models.Suppression
		if err := r.DB.Where("user_id = ? AND value = ?", r.User.ID, addr).Take(&s).Error; err != nil || s.Source != src {
			t.Errorf("%s: suppression %+v %v, want source %s", addr, s, err, src)
		}
	}
	var list api.ReplyList
	r.Call(http.MethodGet, "/campaigns/"+campID+"/replies", nil, http.StatusOK, &list)
	if len(list.Items) != 3 {
		t.Fatalf("%d replies listed", len(list.Items))
	}
	for _, it := range list.Items {
		if it.Effect != store.EffectDelivered {
			t.Errorf("reply %s effect %s, want delivered", it.MessageID, it.Effect)
		}
	}
	// Polling again finds nothing new.
	if again := r.poll(); again.RepliesFound != 0 {
		t.Errorf("second poll found %d", again.RepliesFound)
	}
}

// The List-Unsubscribe link of a real message: one click suppresses the
// address and stops the lead; its follow-up is never sent.
func TestOneClickUnsubscribeStopsLead(t *testing.T) {
	t.Parallel()
	r := newRig(t, store.SQLite)
	_, leads := r.campaign(2, 15*time.Second)
	first := r.firstTouches(2)
	lu := first["editor0@site0.example"].Header.Get("List-Unsubscribe")
	i := strings.Index(lu, "<"+enginetest.BaseURL+"/u/")
	if i < 0 {
		t.Fatalf("List-Unsubscribe %q has no link", lu)
	}
	link := lu[i+1+len(enginetest.BaseURL):]
	link = link[:strings.Index(link, ">")]
	// An altered token changes nothing.
	if code, _ := r.Request(http.MethodPost, link[:len(link)-3]+"xyz", "application/x-www-form-urlencoded", []byte("List-Unsubscribe=One-Click")); code != http.StatusNotFound {
		t.Fatalf("altered token answered %d", code)
	}
	if code, body := r.Request(http.MethodPost, link, "application/x-www-form-urlencoded", []byte("List-Unsubscribe=One-Click")); code != http.StatusOK {
		t.Fatalf("one-click answered %d: %s", code, body)
	}
	enginetest.WaitFor(t, 30*time.Second, "lead 0 bounced", func() (bool, string) {
		s := r.leadStatus(leads[0])
		return s == models.StatusBounced, string(s)
	})
	enginetest.WaitFor(t, 60*time.Second, "lead 1's follow-up", func() (bool, string) {
		return len(r.sentTo("editor1@site1.example")) == 2, fmt.Sprint(r.SMTP.Count())
	})
	time.Sleep(2 * time.Second)
	if n := len(r.sentTo("editor0@site0.example")); n != 1 {
		t.Fatalf("the unsubscribed lead got %d e-mails", n)
	}
	if hit, _ := store.IsSuppressed(r.Ctx, r.DB, r.User.ID, "editor0@site0.example"); hit == "" {
		t.Fatal("not suppressed")
	}
}

// An out-of-office reply stating a return date: the follow-up is not sent
// before that date, and is sent after it. The reply is written at 23:59 in a
// time zone chosen so that "tomorrow" begins a minute or so from now.
func TestOutOfOfficeDefersFollowUp(t *testing.T) {
	t.Parallel()
	r := newRig(t, store.SQLite)
	_, leads := r.campaign(1, 3*time.Second)
	m := r.firstTouches(1)["editor0@site0.example"]
	now := time.Now().UTC()
	back := now.Add(45 * time.Second).Truncate(time.Minute).Add(time.Minute) // 45 to 105 s away, on a minute
	secs := back.Hour()*3600 + back.Minute()*60
	offset := (86400 - secs) % 86400
	if offset > 12*3600 {
		offset -= 86400
	}
	zone := time.FixedZone("", offset)
	r.appendMail("Message-ID: <ooo@site0.example>\nFrom: editor0@site0.example\nSubject: Automatic reply: " + m.Subject +
		"\nDate: " + now.In(zone).Format(time.RFC1123Z) + "\nAuto-Submitted: auto-replied\nIn-Reply-To: <" + m.MessageID + ">\n\n" +
		"I'm out of the office today with no access to email, back tomorrow.")
	if out := r.poll(); out.RepliesFound != 1 {
		t.Fatalf("poll: %+v", out)
	}
	var rep models.Reply
	if err := r.DB.Take(&rep, "message_id = ?", "ooo@site0.example").Error; err != nil {
		t.Fatal(err)
	}
	if rep.Classification != models.ReplyOutOfOffice || rep.OOOUntil == nil || !rep.OOOUntil.Equal(back) {
		t.Fatalf("reply %s until %v, want out_of_office until %v", rep.Classification, rep.OOOUntil, back)
	}
	// Before the return: the follow-up (due 3 s after the pitch) waits.
	for time.Now().Before(back.Add(-2 * time.Second)) {
		if n := len(r.sentTo("editor0@site0.example")); n != 1 {
			t.Fatalf("follow-up sent at %v, before the return at %v", time.Now().UTC(), back)
		}
		time.Sleep(500 * time.Millisecond)
	}
	enginetest.WaitFor(t, 60*time.Second, "the follow-up after the return", func() (bool, string) {
		return len(r.sentTo("editor0@site0.example")) == 2, ""
	})
	msgs := r.sentTo("editor0@site0.example")
	if got := msgs[1].ReceivedAt; got.Before(back) {
		t.Fatalf("follow-up received at %v, before %v", got, back)
	}
	if s := r.leadStatus(leads[0]); s != models.StatusContacted {
		t.Fatalf("lead %s after an out-of-office reply", s)
	}
}

// Reclassifying a reply re-applies the effect: a neutral reply (lead
// replied) corrected to not_interested bounces the lead and suppresses it.
func TestReclassifyReachesLead(t *testing.T) {
	t.Parallel()
	r := newRig(t, store.SQLite)
	_, leads := r.campaign(1, time.Hour)
	m := r.firstTouches(1)["editor0@site0.example"]
	raw := "Message-ID: <who@site0.example>\r\nFrom: editor0@site0.example\r\nSubject: Re: x\r\nIn-Reply-To: <" + m.MessageID +
		">\r\nContent-Type: text/plain\r\n\r\nWho is this?\r\n"
	code, body := r.Request(http.MethodPost, api.BasePath+"/replies/inbound", "message/rfc822", []byte(raw))
	if code != http.StatusCreated {
		t.Fatalf("inbound: %d %s", code, body)
	}
	var in api.InboundOut
	_ = json.Unmarshal(body, &in)
	if in.Reply.Effect != store.EffectDelivered || in.Reply.Classification != models.ReplyNeutral {
		t.Fatalf("inbound reply %+v", in.Reply)
	}
	enginetest.WaitFor(t, 30*time.Second, "lead replied", func() (bool, string) {
		s := r.leadStatus(leads[0])
		return s == models.StatusReplied, string(s)
	})
	var out api.ReplyOut
	r.Call(http.MethodPatch, "/replies/"+in.Reply.ID, map[string]any{"classification": "not_interested"}, http.StatusOK, &out)
	if out.Effect != store.EffectDelivered {
		t.Fatalf("reclassified effect %s", out.Effect)
	}
	enginetest.WaitFor(t, 30*time.Second, "lead after reclassification", func() (bool, string) {
		s := r.leadStatus(leads[0])
		return s == models.StatusBounced || s == models.StatusLost, string(s)
	})
	if hit, _ := store.IsSuppressed(r.Ctx, r.DB, r.User.ID, "editor0@site0.example"); hit == "" {
		t.Fatal("not suppressed after not_interested")
	}
}

// The schedule is created once and updated in place.
func TestEnsureSchedule(t *testing.T) {
	t.Parallel()
	r := newRig(t, store.SQLite)
	for _, every := range []time.Duration{5 * time.Minute, 5 * time.Minute, 2 * time.Minute} {
		if err := inbox.EnsureSchedule(r.Ctx, r.Client, r.Queue, every); err != nil {
			t.Fatal(err)
		}
	}
	h := r.Client.ScheduleClient().GetHandle(r.Ctx, workflows.ReplyPollScheduleID(r.Queue))
	t.Cleanup(func() { _ = h.Delete(context.Background()) })
	desc, err := h.Describe(r.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	iv := desc.Schedule.Spec.Intervals
	act, ok := desc.Schedule.Action.(*client.ScheduleWorkflowAction)
	if len(iv) != 1 || iv[0].Every != 2*time.Minute || !ok || act.TaskQueue != r.Queue || act.Workflow != workflows.ReplyPollWorkflowName {
		t.Fatalf("schedule %+v action %+v", iv, desc.Schedule.Action)
	}
	// A scheduled run delivers effects and polls: trigger one now.
	if err := h.Trigger(r.Ctx, client.ScheduleTriggerOptions{}); err != nil {
		t.Fatal(err)
	}
	enginetest.WaitFor(t, 30*time.Second, "a scheduled run", func() (bool, string) {
		d, err := h.Describe(r.Ctx)
		return err == nil && len(d.Info.RecentActions) > 0, ""
	})
}

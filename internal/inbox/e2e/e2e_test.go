// Package e2e tests reply handling end to end: a real Temporal dev server,
// the engine's worker (campaign and lead workflows, the send step) with the
// reply poller registered, the capturing SMTP server, an in-process IMAP
// server fed with APPEND, the HTTP API and a real database.
package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/activities"
	"github.com/backlinkoutreach/outreach/api"
	"github.com/backlinkoutreach/outreach/internal/config"
	"github.com/backlinkoutreach/outreach/internal/devserver"
	"github.com/backlinkoutreach/outreach/internal/inbox"
	"github.com/backlinkoutreach/outreach/internal/inbox/imaptest"
	"github.com/backlinkoutreach/outreach/internal/mail"
	"github.com/backlinkoutreach/outreach/internal/mailtest"
	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/internal/storetest"
	"github.com/backlinkoutreach/outreach/internal/temporalx"
	"github.com/backlinkoutreach/outreach/internal/unsub"
	"github.com/backlinkoutreach/outreach/models"
	"github.com/backlinkoutreach/outreach/worker"
	"github.com/backlinkoutreach/outreach/workflows"
)

var temporalAddr string

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	srv, err := devserver.Start(ctx, devserver.Options{Headless: true})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start the Temporal dev server:", err)
		os.Exit(1)
	}
	temporalAddr = srv.Address
	code := m.Run()
	srv.Stop()
	os.Exit(code)
}

const (
	sender  = "outreach@sender.example"
	secret  = "0123456789abcdef0123456789abcdef-e2e-secret"
	baseURL = "https://outreach.example"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

type rig struct {
	t       testing.TB
	ctx     context.Context
	db      *gorm.DB
	smtp    *mailtest.Server
	imap    *imaptest.Server
	client  client.Client
	queue   string
	handler http.Handler
	key     string
	user    models.User
}

func newRig(t testing.TB, d store.Dialect) *rig {
	t.Helper()
	ctx := context.Background()
	db := storetest.New(t, d)
	smtp, err := mailtest.Start(mailtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = smtp.Stop() })
	c, err := temporalx.Dial(ctx, temporalx.Options{Address: temporalAddr, Namespace: "default", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	im := imaptest.Start(t, imaptest.Options{})
	r := &rig{t: t, ctx: ctx, db: db, smtp: smtp, imap: im, client: c, queue: "e2e-" + models.NewID()}
	env := map[string]string{
		"TEMPORAL_ADDRESS": temporalAddr, "TEMPORAL_TASK_QUEUE": r.queue, "SMTP_FROM": sender,
		"UNSUBSCRIBE_SECRET": secret, "PUBLIC_BASE_URL": baseURL, "USER_DAILY_CAP": "0", "DOMAIN_DAILY_CAP": "0",
		"IMAP_HOST": im.Host, "IMAP_PORT": fmt.Sprint(im.Port), "IMAP_USERNAME": im.Username, "IMAP_PASSWORD": im.Password,
		"IMAP_TLS": "none", "OOO_DEFAULT_DELAY": "1h",
	}
	cfg, err := config.LoadFrom(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	mailer, err := mail.NewSender(mail.Config{Host: smtp.Host(), Port: smtp.Port(), TLS: mail.TLSNone, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := unsub.New([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	settings := activities.SettingsFrom(cfg)
	settings.Limits = store.SendLimits{}
	acts, err := activities.New(db, mailer, c, signer, settings, quiet())
	if err != nil {
		t.Fatal(err)
	}
	replies := &activities.Replies{
		DB:      db,
		Log:     quiet(),
		Effects: &inbox.Effects{DB: db, Notifier: inbox.TemporalNotifier{Client: c}},
		Poller: &inbox.Poller{
			Config: inbox.ConfigFrom(cfg), DB: db,
			Pipeline: &inbox.Pipeline{DB: db, Classifier: inbox.NewClassifier(cfg, quiet())},
		},
	}
	w := worker.New(c, r.queue, acts, worker.Options{Register: []func(sdkworker.Worker){replies.Register}})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	engine := api.NewTemporalEngine(c, db, r.queue, quiet())
	r.handler = api.New(api.Deps{DB: db, Config: cfg, Log: quiet(), Engine: engine}).Handler()
	r.user, err = store.CreateUser(ctx, db, models.NewID()+"@owner.example")
	if err != nil {
		t.Fatal(err)
	}
	r.key, _, err = store.CreateKey(ctx, db, r.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) do(method, path, ctype string, body []byte) (int, []byte) {
	r.t.Helper()
	return r.doCtx(r.ctx, method, path, ctype, body)
}

func (r *rig) doCtx(ctx context.Context, method, path, ctype string, body []byte) (int, []byte) {
	r.t.Helper()
	req := httptest.NewRequestWithContext(ctx, method, path, bytes.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if strings.HasPrefix(path, api.BasePath) {
		req.Header.Set("Authorization", "Bearer "+r.key)
	}
	w := httptest.NewRecorder()
	r.handler.ServeHTTP(w, req)
	return w.Code, w.Body.Bytes()
}

func (r *rig) call(method, path string, body any, want int, out any) {
	r.t.Helper()
	var raw []byte
	ctype := ""
	if body != nil {
		raw, _ = json.Marshal(body)
		ctype = "application/json"
	}
	code, resp := r.do(method, api.BasePath+path, ctype, raw)
	if code != want {
		r.t.Fatalf("%s %s: status %d, want %d: %s", method, path, code, want, resp)
	}
	if out != nil {
		if err := json.Unmarshal(resp, out); err != nil {
			r.t.Fatal(err)
		}
	}
}

// campaign creates and launches a campaign of n leads whose sequence is a
// pitch and one follow-up after followUp.
func (r *rig) campaign(n int, followUp time.Duration) (string, []string) {
	r.t.Helper()
	settings := map[string]any{
		"timezone":        "UTC",
		"window":          map[string]any{"days": []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}, "start": "00:00", "end": "24:00"},
		"min_gap_seconds": 0, "jitter_seconds": 0,
		"sequence": []map[string]any{
			{"subject": "Guest post for {website_title}", "body": "Hi {name}, may I write for {website_title}?"},
			{"body": "Hi {name}, following up on my note.", "delay_days": followUp.Seconds() / 86400},
		},
		"sender": map[string]any{"name": "Ann Writer", "site": "https://ann.example"},
	}
	var camp api.CampaignOut
	r.call(http.MethodPost, "/campaigns", map[string]any{"name": "Replies e2e", "keywords": []string{"gardening"}, "settings": settings},
		http.StatusCreated, &camp)
	rows := make([]map[string]any, n)
	for i := range rows {
		rows[i] = map[string]any{
			"website_url": fmt.Sprintf("https://site%d.example/", i), "website_title": fmt.Sprintf("Site %d", i),
			"contact_email": fmt.Sprintf("editor%d@site%d.example", i, i), "contact_name": fmt.Sprintf("Editor %d", i),
		}
	}
	r.call(http.MethodPost, "/campaigns/"+camp.ID+"/leads/bulk", rows, http.StatusOK, nil)
	var ids []string
	if err := r.db.Model(&models.Lead{}).Where("campaign_id = ?", camp.ID).Order("website_url").Pluck("id", &ids).Error; err != nil {
		r.t.Fatal(err)
	}
	r.call(http.MethodPost, "/campaigns/"+camp.ID+"/launch", nil, http.StatusOK, nil)
	return camp.ID, ids
}

// firstTouches waits for every lead's step 0 and answers them by address.
func (r *rig) firstTouches(n int) map[string]mailtest.Message {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(r.ctx, 2*time.Minute)
	defer cancel()
	if err := r.smtp.WaitForCount(ctx, n); err != nil {
		r.t.Fatal(err)
	}
	out := map[string]mailtest.Message{}
	for _, m := range r.smtp.Messages() {
		out[m.To[0]] = m
	}
	return out
}

func (r *rig) sentTo(addr string) []mailtest.Message {
	var out []mailtest.Message
	for _, m := range r.smtp.Messages() {
		if m.To[0] == addr {
			out = append(out, m)
		}
	}
	return out
}

func (r *rig) leadStatus(id string) models.LeadStatus {
	r.t.Helper()
	var l models.Lead
	if err := r.db.Take(&l, "id = ?", id).Error; err != nil {
		r.t.Fatal(err)
	}
	return l.Status
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s (%s)", timeout, what, state)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (r *rig) appendMail(raw string) {
	r.t.Helper()
	r.imap.Append(r.t, r.imap.Client(r.t), "INBOX", []byte(strings.ReplaceAll(raw, "\n", "\r\n")), time.Now())
}

// poll asks for a poll through the API. A poll of a few messages takes
// seconds; a minute means it waits on something else.
func (r *rig) poll() api.PollOut {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(r.ctx, time.Minute)
	defer cancel()
	code, body := r.doCtx(ctx, http.MethodPost, api.BasePath+"/replies/poll", "", nil)
	if code != http.StatusOK {
		r.t.Fatalf("POST /replies/poll: status %d: %s", code, body)
	}
	var out api.PollOut
	if err := json.Unmarshal(body, &out); err != nil {
		r.t.Fatal(err)
	}
	return out
}

// otherDeploymentPolling starts a reply poll as another deployment sharing
// the namespace would (its own task queue, database and mailbox), left
// running for the test: no worker listens on that queue.
func (r *rig) otherDeploymentPolling() {
	r.t.Helper()
	queue := "e2e-other-" + models.NewID()
	run, err := r.client.ExecuteWorkflow(r.ctx, client.StartWorkflowOptions{
		ID: workflows.ReplyPollNowWorkflowID(queue), TaskQueue: queue, WorkflowExecutionTimeout: 10 * time.Minute,
	}, workflows.ReplyPollWorkflowName, workflows.ReplyPollInput{Trigger: "api"})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = r.client.TerminateWorkflow(context.Background(), run.GetID(), run.GetRunID(), "test over") })
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
	waitFor(t, time.Minute, "lead statuses", func() (bool, string) {
		s := []models.LeadStatus{r.leadStatus(leads[0]), r.leadStatus(leads[1]), r.leadStatus(leads[2]), r.leadStatus(leads[3])}
		return s[0] == models.StatusReplied && s[1] == models.StatusBounced && s[2] == models.StatusBounced && s[3] == models.StatusContacted,
			fmt.Sprint(s)
	})
	// The untouched lead gets its follow-up; the others never do.
	waitFor(t, 90*time.Second, "the follow-up to lead 3", func() (bool, string) {
		return len(r.sentTo("editor3@site3.example")) == 2, fmt.Sprint(r.smtp.Count(), " messages")
	})
	time.Sleep(3 * time.Second)
	for i := range 3 {
		if n := len(r.sentTo(fmt.Sprintf("editor%d@site%d.example", i, i))); n != 1 {
			t.Errorf("lead %d got %d e-mails, want only the pitch", i, n)
		}
	}
	for addr, src := range map[string]string{"editor1@site1.example": models.SuppressNotInterested, "editor2@site2.example": models.SuppressHardBounce} {
		var s models.Suppression
		if err := r.db.Where("user_id = ? AND value = ?", r.user.ID, addr).Take(&s).Error; err != nil || s.Source != src {
			t.Errorf("%s: suppression %+v %v, want source %s", addr, s, err, src)
		}
	}
	var list api.ReplyList
	r.call(http.MethodGet, "/campaigns/"+campID+"/replies", nil, http.StatusOK, &list)
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
	i := strings.Index(lu, "<"+baseURL+"/u/")
	if i < 0 {
		t.Fatalf("List-Unsubscribe %q has no link", lu)
	}
	link := lu[i+1+len(baseURL):]
	link = link[:strings.Index(link, ">")]
	// An altered token changes nothing.
	if code, _ := r.do(http.MethodPost, link[:len(link)-3]+"xyz", "application/x-www-form-urlencoded", []byte("List-Unsubscribe=One-Click")); code != http.StatusNotFound {
		t.Fatalf("altered token answered %d", code)
	}
	if code, body := r.do(http.MethodPost, link, "application/x-www-form-urlencoded", []byte("List-Unsubscribe=One-Click")); code != http.StatusOK {
		t.Fatalf("one-click answered %d: %s", code, body)
	}
	waitFor(t, 30*time.Second, "lead 0 bounced", func() (bool, string) {
		s := r.leadStatus(leads[0])
		return s == models.StatusBounced, string(s)
	})
	waitFor(t, 60*time.Second, "lead 1's follow-up", func() (bool, string) {
		return len(r.sentTo("editor1@site1.example")) == 2, fmt.Sprint(r.smtp.Count())
	})
	time.Sleep(2 * time.Second)
	if n := len(r.sentTo("editor0@site0.example")); n != 1 {
		t.Fatalf("the unsubscribed lead got %d e-mails", n)
	}
	if hit, _ := store.IsSuppressed(r.ctx, r.db, r.user.ID, "editor0@site0.example"); hit == "" {
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
	if err := r.db.Take(&rep, "message_id = ?", "ooo@site0.example").Error; err != nil {
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
	waitFor(t, 60*time.Second, "the follow-up after the return", func() (bool, string) {
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
	code, body := r.do(http.MethodPost, api.BasePath+"/replies/inbound", "message/rfc822", []byte(raw))
	if code != http.StatusCreated {
		t.Fatalf("inbound: %d %s", code, body)
	}
	var in api.InboundOut
	_ = json.Unmarshal(body, &in)
	if in.Reply.Effect != store.EffectDelivered || in.Reply.Classification != models.ReplyNeutral {
		t.Fatalf("inbound reply %+v", in.Reply)
	}
	waitFor(t, 30*time.Second, "lead replied", func() (bool, string) {
		s := r.leadStatus(leads[0])
		return s == models.StatusReplied, string(s)
	})
	var out api.ReplyOut
	r.call(http.MethodPatch, "/replies/"+in.Reply.ID, map[string]any{"classification": "not_interested"}, http.StatusOK, &out)
	if out.Effect != store.EffectDelivered {
		t.Fatalf("reclassified effect %s", out.Effect)
	}
	waitFor(t, 30*time.Second, "lead after reclassification", func() (bool, string) {
		s := r.leadStatus(leads[0])
		return s == models.StatusBounced || s == models.StatusLost, string(s)
	})
	if hit, _ := store.IsSuppressed(r.ctx, r.db, r.user.ID, "editor0@site0.example"); hit == "" {
		t.Fatal("not suppressed after not_interested")
	}
}

// The schedule is created once and updated in place.
func TestEnsureSchedule(t *testing.T) {
	t.Parallel()
	r := newRig(t, store.SQLite)
	for _, every := range []time.Duration{5 * time.Minute, 5 * time.Minute, 2 * time.Minute} {
		if err := inbox.EnsureSchedule(r.ctx, r.client, r.queue, every); err != nil {
			t.Fatal(err)
		}
	}
	h := r.client.ScheduleClient().GetHandle(r.ctx, workflows.ReplyPollScheduleID(r.queue))
	t.Cleanup(func() { _ = h.Delete(context.Background()) })
	desc, err := h.Describe(r.ctx)
	if err != nil {
		t.Fatal(err)
	}
	iv := desc.Schedule.Spec.Intervals
	act, ok := desc.Schedule.Action.(*client.ScheduleWorkflowAction)
	if len(iv) != 1 || iv[0].Every != 2*time.Minute || !ok || act.TaskQueue != r.queue || act.Workflow != workflows.ReplyPollWorkflowName {
		t.Fatalf("schedule %+v action %+v", iv, desc.Schedule.Action)
	}
	// A scheduled run delivers effects and polls: trigger one now.
	if err := h.Trigger(r.ctx, client.ScheduleTriggerOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "a scheduled run", func() (bool, string) {
		d, err := h.Describe(r.ctx)
		return err == nil && len(d.Info.RecentActions) > 0, ""
	})
}

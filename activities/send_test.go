package activities_test

// SendStep called directly (no Temporal: the activity is a method), against
// a real database and real SMTP servers: the capture server, and a raw
// socket server that breaks the connection after the message was handed
// over.

import (
	"bufio"
	"context"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/activities"
	"github.com/backlinkoutreach/outreach/internal/mail"
	"github.com/backlinkoutreach/outreach/internal/mailtest"
	"github.com/backlinkoutreach/outreach/internal/metrics"
	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/internal/storetest"
	"github.com/backlinkoutreach/outreach/internal/unsub"
	"github.com/backlinkoutreach/outreach/models"
	"github.com/backlinkoutreach/outreach/workflows"
)

const secret = "0123456789abcdef0123456789abcdef-activities"

type fixture struct {
	db   *gorm.DB
	acts *activities.Activities
	camp models.Campaign
	user models.User
}

func ptr[T any](v T) *T { return &v }

func newFixture(t *testing.T, db *gorm.DB, host string, port int) *fixture {
	t.Helper()
	now := time.Now().UTC()
	f := &fixture{db: db}
	f.user = models.User{ID: models.NewID(), Email: models.NewID() + "@owner.example", CreatedAt: now}
	if err := db.Create(&f.user).Error; err != nil {
		t.Fatal(err)
	}
	f.camp = models.Campaign{
		ID: models.NewID(), UserID: f.user.ID, Name: "c", Keywords: []string{"SaaS"}, State: models.CampaignActive,
		Settings: models.CampaignSettings{
			Window:        models.SendingWindow{Days: []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}, Start: "00:00", End: "24:00"},
			MinGapSeconds: ptr(0), JitterSeconds: ptr(0),
			Sequence: []models.SeqStep{{Subject: "Hello {website_title}", Body: "Hi {name}", HTMLBody: "<p>Hi {name}</p>"}},
		}, CreatedAt: now, UpdatedAt: now,
	}
	if err := db.Create(&f.camp).Error; err != nil {
		t.Fatal(err)
	}
	sender, err := mail.NewSender(mail.Config{Host: host, Port: port, TLS: mail.TLSNone, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := unsub.New([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	// The client is never dialled by SendStep.
	lazy, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lazy.Close)
	f.acts, err = activities.New(db, sender, lazy, signer, activities.Settings{
		From: "outreach@sender.example", PublicBaseURL: "https://outreach.example", Limits: store.SendLimits{UserDailyCap: 10},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) lead(t *testing.T, email string) models.Lead {
	t.Helper()
	now := time.Now().UTC()
	id := models.NewID()
	l := models.Lead{
		ID: id, CampaignID: f.camp.ID, UserID: f.user.ID, WebsiteURL: "https://" + id + ".example", NormalizedURL: id,
		WebsiteTitle: "Blog", ContactEmail: email, ContactName: "Ed", Source: models.SourceManual, Status: models.StatusDiscovered,
		CreatedAt: now, UpdatedAt: now, StatusChangedAt: now,
	}
	if err := f.db.Create(&l).Error; err != nil {
		t.Fatal(err)
	}
	return l
}

func (f *fixture) attempt(t *testing.T, leadID string) models.Attempt {
	t.Helper()
	var a models.Attempt
	if err := f.db.Take(&a, "lead_id = ? AND step = 0", leadID).Error; err != nil {
		t.Fatal(err)
	}
	return a
}

func (f *fixture) userCount(t *testing.T) int64 {
	t.Helper()
	var n int64
	if err := f.db.Raw("SELECT coalesce(sum(count), 0) FROM send_counters WHERE user_id = ? AND scope = 'user'", f.user.ID).Row().Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSendStepOutcomes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		srv, err := mailtest.Start(mailtest.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = srv.Stop() }()
		f := newFixture(t, db, srv.Host(), srv.Port())

		// Delivered: the message carries its unsubscribe token.
		ok := f.lead(t, "ed@blog.example")
		sentBefore := counterValue(metrics.SendsTotal.WithLabelValues("sent"))
		res, err := f.acts.SendStep(ctx, workflows.SendRequest{CampaignID: f.camp.ID, LeadID: ok.ID})
		if err != nil || res.Outcome != workflows.OutcomeSent || res.Status != models.StatusContacted || len(res.Plan.Delays) != 1 {
			t.Fatalf("send: %+v %v", res, err)
		}
		if counterValue(metrics.SendsTotal.WithLabelValues("sent")) != sentBefore+1 {
			t.Error("sent not counted")
		}
		m := srv.Messages()[0]
		lu := m.Header.Get("List-Unsubscribe")
		tok := lu[strings.Index(lu, "/u/")+3 : strings.LastIndex(lu, ">")]
		signer, _ := unsub.New([]byte(secret))
		if cl, err := signer.Open(tok); err != nil || cl.LeadID != ok.ID || cl.Email != "ed@blog.example" || cl.UserID != f.user.ID {
			t.Errorf("token %+v %v", cl, err)
		}
		if !strings.Contains(string(m.Raw), "<p>Hi Ed</p>") || m.Subject != "Hello Blog" {
			t.Errorf("message %q", m.Raw)
		}
		// The same step again (a retry after a crash) answers from the
		// ledger; nothing is sent, and the plan is still the campaign's (the
		// lead workflow adopts it: a default plan once moved a follow-up
		// days later and into another window).
		first := res
		res, err = f.acts.SendStep(ctx, workflows.SendRequest{CampaignID: f.camp.ID, LeadID: ok.ID})
		if err != nil || res.Outcome != workflows.OutcomeSent || srv.Count() != 1 {
			t.Fatalf("second send: %+v %v (%d messages)", res, err, srv.Count())
		}
		if !reflect.DeepEqual(res.Plan, first.Plan) || res.SentAt.Sub(first.SentAt).Abs() > time.Second || res.Status != models.StatusContacted {
			t.Errorf("second send answered plan %+v sent %v status %s, want plan %+v sent %v", res.Plan, res.SentAt, res.Status, first.Plan, first.SentAt)
		}

		// 550: non-retryable, bounced, suppressed, slot kept.
		gone := f.lead(t, "gone@blog.example")
		srv.Reject("gone@blog.example", 550, "no such user")
		_, err = f.acts.SendStep(ctx, workflows.SendRequest{CampaignID: f.camp.ID, LeadID: gone.ID})
		var appErr *temporal.ApplicationError
		if !errors.As(err, &appErr) || appErr.Type() != workflows.ErrTypeSMTPPermanent || !appErr.NonRetryable() {
			t.Fatalf("550: %v", err)
		}
		var details workflows.SendResult
		if err := appErr.Details(&details); err != nil || details.Status != models.StatusBounced || details.Outcome != workflows.OutcomeFailed {
			t.Fatalf("550 details %+v %v", details, err)
		}
		if a := f.attempt(t, gone.ID); a.State != models.AttemptFailed {
			t.Errorf("attempt %s", a.State)
		}
		if hit, _ := store.IsSuppressed(ctx, db, f.user.ID, "gone@blog.example"); hit == "" {
			t.Error("not suppressed")
		}
		if f.userCount(t) != 2 {
			t.Errorf("user counter %d, want 2 (the 5xx reached the server)", f.userCount(t))
		}
		// Asked again (a lost completion), it answers the same failure.
		if _, err := f.acts.SendStep(ctx, workflows.SendRequest{CampaignID: f.camp.ID, LeadID: gone.ID}); !errors.As(err, &appErr) || !appErr.NonRetryable() {
			t.Errorf("repeat of a failed step: %v", err)
		}

		// 451: retryable, back to pending, slot given back.
		full := f.lead(t, "full@blog.example")
		srv.Reject("full@blog.example", 451, "try later")
		_, err = f.acts.SendStep(ctx, workflows.SendRequest{CampaignID: f.camp.ID, LeadID: full.ID})
		if err == nil || errors.As(err, &appErr) && appErr.NonRetryable() {
			t.Fatalf("451: want a retryable error, got %v", err)
		}
		if a := f.attempt(t, full.ID); a.State != models.AttemptPending || !strings.Contains(a.Error, "451") {
			t.Errorf("attempt %s %q", a.State, a.Error)
		}
		if f.userCount(t) != 2 {
			t.Errorf("user counter %d after a 451, want 2", f.userCount(t))
		}
		srv.Accept("full@blog.example")
		if res, err := f.acts.SendStep(ctx, workflows.SendRequest{CampaignID: f.camp.ID, LeadID: full.ID}); err != nil || res.Outcome != workflows.OutcomeSent {
			t.Fatalf("after the 451: %+v %v", res, err)
		}
	})
}

// dropAfterData speaks just enough SMTP to take a whole message, then
// closes the connection instead of answering the final ".".
func dropAfterData(t *testing.T) (string, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { _ = c.Close() }()
				r := bufio.NewReader(c)
				say := func(s string) { _, _ = c.Write([]byte(s + "\r\n")) }
				say("220 drop.example ESMTP")
				inData := false
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					line = strings.TrimRight(line, "\r\n")
					if inData {
						if line == "." {
							return // the message is complete; no answer
						}
						continue
					}
					switch cmd := strings.ToUpper(strings.SplitN(line, " ", 2)[0]); cmd {
					case "EHLO", "HELO":
						say("250 drop.example")
					case "DATA":
						inData = true
						say("354 go ahead")
					case "QUIT":
						say("221 bye")
						return
					default:
						say("250 ok")
					}
				}
			}()
		}
	}()
	addr := ln.Addr().(*net.TCPAddr)
	return "127.0.0.1", addr.Port
}

func TestSendStepConnectionLostAfterDataIsUnknown(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		host, port := dropAfterData(t)
		f := newFixture(t, db, host, port)
		l := f.lead(t, "ed@blog.example")
		before := counterValue(metrics.UnknownSendsTotal)
		res, err := f.acts.SendStep(ctx, workflows.SendRequest{CampaignID: f.camp.ID, LeadID: l.ID})
		if err != nil || res.Outcome != workflows.OutcomeUnknown || res.Status != models.StatusContacted {
			t.Fatalf("send: %+v %v", res, err)
		}
		if a := f.attempt(t, l.ID); a.State != models.AttemptUnknown {
			t.Errorf("attempt %s", a.State)
		}
		if counterValue(metrics.UnknownSendsTotal) != before+1 {
			t.Error("unknown send not counted")
		}
		// Never sent again; the plan is still the campaign's.
		first := res
		res, err = f.acts.SendStep(ctx, workflows.SendRequest{CampaignID: f.camp.ID, LeadID: l.ID})
		if err != nil || res.Outcome != workflows.OutcomeUnknown {
			t.Fatalf("second try: %+v %v", res, err)
		}
		if !reflect.DeepEqual(res.Plan, first.Plan) {
			t.Errorf("second try answered plan %+v, want %+v", res.Plan, first.Plan)
		}
		if counterValue(metrics.UnknownSendsTotal) != before+1 {
			t.Error("an already unknown send counted twice")
		}
	})
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

// clockMailer is a Mailer whose conversation takes d on the activities'
// clock (a real SMTP server with TLS takes seconds).
type clockMailer struct {
	now *time.Time
	d   time.Duration
}

func (m clockMailer) Send(context.Context, mail.Message) error { *m.now = m.now.Add(m.d); return nil }

// The send time the workflow bases the follow-up on (SendResult.SentAt)
// must be the one the send step checks the due time against
// (attempts.sent_at): else every follow-up, asked exactly when due, is
// first refused as not_due with an audit entry and a timeline event.
func TestSentAtMatchesLedger(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		f := newFixture(t, db, "127.0.0.1", 1)
		if err := db.Model(&models.Campaign{}).Where("id = ?", f.camp.ID).Select("settings").Updates(models.Campaign{Settings: models.CampaignSettings{
			Window:        models.SendingWindow{Days: []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}, Start: "00:00", End: "24:00"},
			MinGapSeconds: ptr(0), JitterSeconds: ptr(0),
			Sequence: []models.SeqStep{{Subject: "Hello {website_title}", Body: "Hi {name}"}, {Body: "Following up, {name}", DelayDays: 3}},
		}}).Error; err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		f.acts.Now = func() time.Time { return now }
		f.acts.Mail = clockMailer{now: &now, d: 5 * time.Second}
		l := f.lead(t, "ed@blog.example")
		res, err := f.acts.SendStep(ctx, workflows.SendRequest{CampaignID: f.camp.ID, LeadID: l.ID})
		if err != nil || res.Outcome != workflows.OutcomeSent {
			t.Fatalf("pitch: %+v %v", res, err)
		}
		// The lead workflow wakes at LastSentAt + delay (workflows/lead.go due()).
		now = res.SentAt.Add(3 * 24 * time.Hour)
		fu, err := f.acts.SendStep(ctx, workflows.SendRequest{CampaignID: f.camp.ID, LeadID: l.ID, Step: 1})
		if err != nil {
			t.Fatal(err)
		}
		if fu.Outcome != workflows.OutcomeSent {
			var a models.Attempt
			db.Take(&a, "lead_id = ? AND step = 0", l.ID)
			t.Errorf("follow-up asked at its due time: %s %s until %s (SendResult.SentAt %s, ledger sent_at %s)",
				fu.Outcome, fu.Reason, fu.Until, res.SentAt, a.SentAt.UTC())
		}
	})
}

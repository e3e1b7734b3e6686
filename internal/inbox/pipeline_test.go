package inbox

import (
	"context"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/internal/devserver"
	"github.com/backlinkoutreach/outreach/internal/inbox/imaptest"
	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/internal/storetest"
	"github.com/backlinkoutreach/outreach/models"
	"github.com/backlinkoutreach/outreach/workflows"
)

// A message whose header does not parse is stored unparsed, still matched
// by what can be read of its header, and never stops the batch.
func TestProcessBrokenHeader(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		w := newWorld(t, db, 1)
		p := &Pipeline{DB: db}
		batch := []Inbound{
			{Raw: crlf("Message-ID: <bh@site0.example>\nFrom: lead0@site0.example\nIn-Reply-To: <" + w.sent[0].MessageID + ">\n" +
				"this header line has no colon\n\nplease unsubscribe me"), Source: SourceWebhook},
			{Raw: []byte("\x00\x01 no header \xff"), Source: SourceWebhook},
			{Raw: reply("ok@site0.example", "lead0@site0.example", "Re: x", w.sent[0].MessageID, "", "Who is this?"), Source: SourceWebhook},
		}
		out, err := p.Process(context.Background(), batch)
		if err != nil {
			t.Fatal(err)
		}
		if !out[0].New || out[0].Reply.Parsed || !out[0].Matched || out[0].Reply.ParseError == "" {
			t.Errorf("broken header: %+v", out[0])
		}
		if !out[1].New || out[1].Reply.Parsed || out[1].Matched {
			t.Errorf("no header: %+v", out[1])
		}
		if !out[2].New || !out[2].Reply.Parsed || out[2].Result.Tag != models.ReplyNeutral {
			t.Errorf("good message after broken ones: %+v", out[2])
		}
		// Sent again (a provider retrying its webhook): nothing new.
		again, err := p.Process(context.Background(), batch)
		if err != nil {
			t.Fatal(err)
		}
		for i, o := range again {
			if o.New || o.Reply.ID != out[i].Reply.ID {
				t.Errorf("message %d stored twice: %+v", i, o)
			}
		}
	})
}

// The webhook of one user matches only that user's e-mails, and its
// deduplication is the user's own.
func TestProcessScopedToUser(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		a := newWorld(t, db, 1)
		b := newWorld(t, db, 1)
		// Both users pitched the same address; b's e-mail is the newer one.
		for _, w := range []*world{a, b} {
			if err := db.Model(&models.Attempt{}).Where("id = ?", w.sent[0].ID).Update("recipient", "editor@shared.example").Error; err != nil {
				t.Fatal(err)
			}
		}
		later := time.Now().UTC()
		db.Model(&models.Attempt{}).Where("id = ?", b.sent[0].ID).Update("created_at", later)
		raw := reply("shared-1@shared.example", "editor@shared.example", "Re: hello", "", "", "Not interested.")
		p := &Pipeline{DB: db}
		// Through IMAP (no user) the newest e-mail to the address wins.
		o, err := p.ProcessOne(ctx, Inbound{Raw: raw, Source: SourceIMAP})
		if err != nil || strPtr(o.Reply.LeadID) != b.leads[0].ID {
			t.Fatalf("imap match: %+v %v", o.Reply, err)
		}
		// Through a's webhook only a's e-mail can match, and a's copy is
		// stored for a although the same message is stored already.
		o, err = p.ProcessOne(ctx, Inbound{Raw: raw, Source: SourceWebhook, UserID: a.user.ID})
		if err != nil || !o.New || strPtr(o.Reply.LeadID) != a.leads[0].ID {
			t.Fatalf("webhook match: %+v %v", o, err)
		}
		// A thread header naming b's e-mail does not let a's webhook reach it.
		raw2 := reply("shared-2@shared.example", "editor@shared.example", "Re: hello", b.sent[0].MessageID, "", "Yes!")
		o, err = p.ProcessOne(ctx, Inbound{Raw: raw2, Source: SourceWebhook, UserID: a.user.ID})
		if err != nil || strPtr(o.Reply.AttemptID) != a.sent[0].ID {
			t.Fatalf("cross-user thread header: %+v %v", o.Reply, err)
		}
	})
}

// A reply without thread headers matches the latest e-mail to its sender
// whatever the case of either address: a lead entered as Jane.Doe@... who
// answers from jane.doe@... asking to be removed is matched and suppressed.
func TestProcessMatchesSenderCaseInsensitively(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		w := newWorld(t, db, 2)
		if err := db.Model(&models.Attempt{}).Where("id = ?", w.sent[0].ID).Update("recipient", "Jane.Doe@Site0.example").Error; err != nil {
			t.Fatal(err)
		}
		p := &Pipeline{DB: db}
		for _, c := range []struct{ from, want string }{
			{"jane.doe@site0.example", w.leads[0].ID},
			{"JANE.DOE@SITE0.EXAMPLE", w.leads[0].ID},
			{"LEAD1@site1.example", w.leads[1].ID},
		} {
			raw := reply("case-"+c.from+"@mail.example", c.from, "stop", "", "", "Please remove me from your list.")
			o, err := p.ProcessOne(ctx, Inbound{Raw: raw, Source: SourceIMAP})
			if err != nil {
				t.Fatal(err)
			}
			if !o.Matched || strPtr(o.Reply.LeadID) != c.want {
				t.Errorf("reply from %s: matched %v to lead %q, want %q", c.from, o.Matched, strPtr(o.Reply.LeadID), c.want)
			}
		}
		hit, err := store.SuppressedAmong(ctx, db, w.user.ID, []string{"jane.doe@site0.example"})
		if err != nil || !hit["jane.doe@site0.example"] {
			t.Errorf("the unsubscribing sender is not suppressed: %v %v", hit, err)
		}
	})
}

// --- reply effects against a real Temporal server ---

var devTemporal struct {
	addr string
	err  error
}

func TestMain(m *testing.M) {
	imaptest.ServeIfChild()
	code := func() int {
		ctx := context.Background()
		srv, err := devserver.Start(ctx, devserver.Options{Headless: true})
		if err != nil {
			devTemporal.err = err
		} else {
			defer srv.Stop()
			devTemporal.addr = srv.Address
		}
		return m.Run()
	}()
	os.Exit(code)
}

func temporalClient(t testing.TB) client.Client {
	t.Helper()
	if devTemporal.err != nil {
		t.Fatalf("temporal dev server: %v", devTemporal.err)
	}
	c, err := client.Dial(client.Options{HostPort: devTemporal.addr, Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// replyCatcher stands where a lead workflow stands (same id) and returns
// the first reply signal it gets.
func replyCatcher(ctx workflow.Context) (workflows.ReplySignal, error) {
	var sig workflows.ReplySignal
	workflow.GetSignalChannel(ctx, workflows.SignalLeadReply).Receive(ctx, &sig)
	return sig, nil
}

func TestEffectsDeliver(t *testing.T) {
	t.Parallel()
	db := storetest.New(t, store.SQLite)
	ctx := context.Background()
	tc := temporalClient(t)
	queue := "effects-" + models.NewID()
	wk := worker.New(tc, queue, worker.Options{})
	wk.RegisterWorkflowWithOptions(replyCatcher, workflow.RegisterOptions{Name: "replyCatcher"})
	if err := wk.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wk.Stop)

	w := newWorld(t, db, 3)
	// Lead 0 has a running workflow; lead 1's has finished (none running).
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.LeadWorkflowID(w.camp.ID, w.leads[0].ID), TaskQueue: queue}, "replyCatcher")
	if err != nil {
		t.Fatal(err)
	}
	p := &Pipeline{DB: db}
	out, err := p.Process(ctx, []Inbound{
		{Raw: crlf("Message-ID: <e0@x.example>\nFrom: " + w.leads[0].ContactEmail + "\nSubject: Automatic reply\n" +
			"Date: Mon, 11 Mar 2030 09:00:00 +0000\nIn-Reply-To: <" + w.sent[0].MessageID + ">\nAuto-Submitted: auto-replied\n\n" +
			"I am out of the office until 20 March 2030."), Source: SourceIMAP},
		{Raw: reply("e1@x.example", w.leads[1].ContactEmail, "Re: x", w.sent[1].MessageID, "", "Send it over!"), Source: SourceIMAP},
		{Raw: reply("e2@x.example", w.leads[2].ContactEmail, "Re: x", w.sent[2].MessageID, "", "Unsubscribe"), Source: SourceIMAP},
	})
	if err != nil {
		t.Fatal(err)
	}

	// Temporal unreachable: effects stay pending with the error, and the
	// run reports the failure so a caller can retry.
	deadAddr := closedPort(t)
	dead, err := client.NewLazyClient(client.Options{HostPort: deadAddr, Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	short, cancel := context.WithTimeout(ctx, 3*time.Second)
	st, err := (&Effects{DB: db, Notifier: TemporalNotifier{Client: dead}}).Deliver(short, 10, out[2].Reply.ID)
	cancel()
	if err == nil || st.Failed != 1 {
		t.Fatalf("deliver with Temporal down: %+v %v", st, err)
	}
	e, _, _ := store.EffectOf(ctx, db, out[2].Reply.ID)
	if e.State != store.EffectPending || e.Tries != 1 || e.LastError == "" {
		t.Fatalf("effect after a failed try: %+v", e)
	}

	st, err = (&Effects{DB: db, Notifier: TemporalNotifier{Client: tc}}).Deliver(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if st.Delivered != 1 || st.NoWorkflow != 2 {
		t.Fatalf("stats %+v, want 1 delivered and 2 without a workflow", st)
	}
	var got workflows.ReplySignal
	if err := run.Get(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if got.ReplyID != out[0].Reply.ID || got.Tag != models.ReplyOutOfOffice || !got.Until.Equal(time.Date(2030, 3, 21, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("signal received %+v", got)
	}
	for i, want := range []string{store.EffectDelivered, store.EffectNoWorkflow, store.EffectNoWorkflow} {
		e, ok, _ := store.EffectOf(ctx, db, out[i].Reply.ID)
		if !ok || e.State != want {
			t.Errorf("reply %d effect %+v, want %s", i, e, want)
		}
	}
	// Nothing left to deliver.
	if st, err := (&Effects{DB: db, Notifier: TemporalNotifier{Client: tc}}).Deliver(ctx, 10); err != nil || st != (EffectStats{}) {
		t.Fatalf("second run %+v %v", st, err)
	}
}

func closedPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// Header values PostgreSQL cannot store or compare (NUL, invalid UTF-8) in
// the ids and addresses a message is matched and deduplicated by never
// fail the batch: such a message would otherwise stop every later poll.
func TestProcessUnstorableHeaderBytes(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		w := newWorld(t, db, 1)
		p := &Pipeline{DB: db}
		raw := crlf("Message-ID: <nul\x00id@x.example>\nFrom: lead0@site0.example\x00\nIn-Reply-To: <bad\xffid@x.example>\n" +
			"References: <a\x00b@x.example> <" + w.sent[0].MessageID + ">\nSubject: Re: hi\n\nNot interested, thanks.")
		batch := []Inbound{
			{Raw: raw, Source: SourceIMAP},
			{Raw: crlf("From: x\x00@y.example\nMessage-ID: <\xfe\xff@z>\nSubject: ok\n\nHello"), Source: SourceWebhook, UserID: w.user.ID},
		}
		out, err := p.Process(context.Background(), batch)
		if err != nil {
			t.Fatalf("a message with unstorable header bytes failed the batch: %v", err)
		}
		if !out[0].New || !out[0].Matched || strPtr(out[0].Reply.LeadID) != w.leads[0].ID {
			t.Errorf("reply with NUL in its ids: %+v", out[0])
		}
		if !out[1].New {
			t.Errorf("second message: %+v", out[1])
		}
		again, err := p.Process(context.Background(), batch)
		if err != nil || again[0].New || again[1].New {
			t.Errorf("stored twice: %+v %v", again, err)
		}
	})
}

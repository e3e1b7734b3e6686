package worker_test

// The integration rig: a real Temporal dev server (one per test binary,
// started in TestMain), a real database (storetest: SQLite, PostgreSQL when
// TEST_DATABASE_URL is set), the capturing SMTP server, the HTTP API with
// the Temporal engine, and a worker (in-process, or the outreach binary as
// a subprocess). Each rig has its own task queue, so tests run side by side
// on one server.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/activities"
	"github.com/backlinkoutreach/outreach/api"
	"github.com/backlinkoutreach/outreach/internal/config"
	"github.com/backlinkoutreach/outreach/internal/devserver"
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
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

const (
	testSender   = "outreach@sender.example"
	testSecret   = "0123456789abcdef0123456789abcdef-test-secret"
	testBaseURL  = "https://outreach.example"
	secondsInDay = 86400.0
)

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

type rigOptions struct {
	limits store.SendLimits
	// sendConcurrency > 1 lets one process run several SMTP conversations.
	sendConcurrency int
	// external runs no in-process worker: the test starts the binary.
	external bool
	// register adds workflows and activities to the in-process worker.
	register func(w sdkworker.Worker)
}

type rig struct {
	t       testing.TB
	ctx     context.Context
	db      *gorm.DB
	dsn     string
	dialect store.Dialect
	smtp    *mailtest.Server
	client  client.Client
	queue   string
	cfg     config.Config
	engine  *api.TemporalEngine
	handler http.Handler
	user    models.User
	key     string
	worker  *worker.Worker
}

func newRig(t testing.TB, d store.Dialect, o rigOptions) *rig {
	t.Helper()
	ctx := context.Background()
	db, dsn := storetest.NewWithURL(t, d)
	smtp, err := mailtest.Start(mailtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = smtp.Stop() })
	c, err := temporalx.Dial(ctx, temporalx.Options{Address: temporalAddr, Namespace: "default", Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	r := &rig{t: t, ctx: ctx, db: db, dsn: dsn, dialect: d, smtp: smtp, client: c, queue: "test-" + models.NewID()}
	r.cfg, err = config.LoadFrom(func(k string) (string, bool) {
		v, ok := r.env()[k]
		return v, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	r.cfg.UserDailyCap, r.cfg.DomainDailyCap = o.limits.UserDailyCap, o.limits.DomainDailyCap
	if !o.external {
		sender, err := mail.NewSender(mail.Config{Host: smtp.Host(), Port: smtp.Port(), TLS: mail.TLSNone, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		signer, err := unsub.New([]byte(testSecret))
		if err != nil {
			t.Fatal(err)
		}
		settings := activities.SettingsFrom(r.cfg)
		settings.Limits = o.limits
		settings.SendConcurrency = o.sendConcurrency
		acts, err := activities.New(db, sender, c, signer, settings, quietLog())
		if err != nil {
			t.Fatal(err)
		}
		wo := worker.Options{}
		if o.register != nil {
			wo.Register = append(wo.Register, o.register)
		}
		r.worker = worker.New(c, r.queue, acts, wo)
		if err := r.worker.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.worker.Stop)
	}
	r.engine = api.NewTemporalEngine(c, db, r.queue, quietLog())
	r.engine.DeleteWait = 20 * time.Second
	srv := api.New(api.Deps{
		DB: db, Config: r.cfg, Log: quietLog(), Engine: r.engine,
		Ready: []api.Check{{Name: "temporal", Run: temporalx.Check(c)}},
	})
	r.handler = srv.Handler()
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

// env is the configuration a worker process of this rig runs with.
func (r *rig) env() map[string]string {
	m := map[string]string{
		"TEMPORAL_ADDRESS":    temporalAddr,
		"TEMPORAL_NAMESPACE":  "default",
		"TEMPORAL_TASK_QUEUE": r.queue,
		"SMTP_HOST":           r.smtp.Host(),
		"SMTP_PORT":           strconv.Itoa(r.smtp.Port()),
		"SMTP_TLS":            "none",
		"SMTP_FROM":           testSender,
		"UNSUBSCRIBE_SECRET":  testSecret,
		"PUBLIC_BASE_URL":     testBaseURL,
		"USER_DAILY_CAP":      strconv.Itoa(r.cfg.UserDailyCap),
		"DOMAIN_DAILY_CAP":    strconv.Itoa(r.cfg.DomainDailyCap),
		"LOG_LEVEL":           "warn",
	}
	if r.dialect == store.Postgres {
		m["DATABASE_URL"] = r.dsn
	} else {
		m["OUTREACH_DATA_DIR"] = filepath.Dir(r.dsn)
	}
	return m
}

// do sends an API request as the rig's user and answers status and body.
func (r *rig) do(method, path string, body any) (int, []byte) {
	r.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			r.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequestWithContext(r.ctx, method, api.BasePath+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+r.key)
	w := httptest.NewRecorder()
	r.handler.ServeHTTP(w, req)
	return w.Code, w.Body.Bytes()
}

// call does a request, checks the status and decodes the answer.
func (r *rig) call(method, path string, body any, want int, out any) {
	r.t.Helper()
	code, raw := r.do(method, path, body)
	if code != want {
		r.t.Fatalf("%s %s: status %d, want %d: %s", method, path, code, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			r.t.Fatalf("%s %s: decode: %v: %s", method, path, err, raw)
		}
	}
}

func allDays() []string { return []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"} }

// fastSettings: the window always open, no gap, the given step delays in
// seconds (the first is the pitch).
func fastSettings(delaysSeconds ...float64) map[string]any {
	steps := []map[string]any{{
		"subject": "Guest post for {website_title}",
		"body":    "Hi {name},\n\nI would love to write for {website_title} about {topic}.\n\nAnn",
	}}
	for i, d := range delaysSeconds {
		if i == 0 {
			continue
		}
		steps = append(steps, map[string]any{
			"body":       fmt.Sprintf("Hi {name}, following up (%d) on my note about {website_title}.", i),
			"delay_days": d / secondsInDay,
		})
	}
	return map[string]any{
		"timezone":        "UTC",
		"window":          map[string]any{"days": allDays(), "start": "00:00", "end": "24:00"},
		"min_gap_seconds": 0, "jitter_seconds": 0,
		"sequence": steps,
		"sender":   map[string]any{"name": "Ann Writer", "site": "https://ann.example"},
	}
}

// createCampaign creates a campaign through the API (which starts its
// workflow) and adds n leads with addresses on distinct domains.
func (r *rig) createCampaign(name string, settings map[string]any, n int) (api.CampaignOut, []string) {
	r.t.Helper()
	var camp api.CampaignOut
	r.call(http.MethodPost, "/campaigns", map[string]any{"name": name, "keywords": []string{"SaaS growth"}, "settings": settings},
		http.StatusCreated, &camp)
	return camp, r.addLeads(camp.ID, 0, n)
}

func (r *rig) addLeads(campaignID string, from, n int) []string {
	r.t.Helper()
	for start := from; start < from+n; start += 5000 {
		end := min(start+5000, from+n)
		rows := make([]map[string]any, 0, end-start)
		for i := start; i < end; i++ {
			rows = append(rows, map[string]any{
				"website_url": fmt.Sprintf("https://site%d.example/", i), "website_title": fmt.Sprintf("Site %d", i),
				"contact_email": fmt.Sprintf("editor%d@site%d.example", i, i), "contact_name": fmt.Sprintf("Editor %d", i),
			})
		}
		var res api.BulkAddResult
		r.call(http.MethodPost, "/campaigns/"+campaignID+"/leads/bulk", rows, http.StatusOK, &res)
		if res.Added != end-start {
			r.t.Fatalf("added %d of %d leads: %+v", res.Added, end-start, res.Failed)
		}
	}
	var ids []string
	if err := r.db.Model(&models.Lead{}).Where("campaign_id = ?", campaignID).Order("id").Pluck("id", &ids).Error; err != nil {
		r.t.Fatal(err)
	}
	return ids
}

func (r *rig) launch(campaignID string) {
	r.t.Helper()
	r.call(http.MethodPost, "/campaigns/"+campaignID+"/launch", nil, http.StatusOK, nil)
}

// waitFor polls cond until it holds or the timeout passes.
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
		time.Sleep(100 * time.Millisecond)
	}
}

func (r *rig) waitMessages(n int, timeout time.Duration) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(r.ctx, timeout)
	defer cancel()
	if err := r.smtp.WaitForCount(ctx, n); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) count(model any, where string, args ...any) int64 {
	r.t.Helper()
	var n int64
	if err := r.db.Model(model).Where(where, args...).Count(&n).Error; err != nil {
		r.t.Fatal(err)
	}
	return n
}

// waitStarted waits until the campaign workflow has started n lead
// workflows.
func (r *rig) waitStarted(campaignID string, n int, timeout time.Duration) {
	r.t.Helper()
	waitFor(r.t, timeout, "lead workflows started", func() (bool, string) {
		got := r.count(&models.Lead{}, "campaign_id = ? AND workflow_started = ?", campaignID, true)
		return got >= int64(n), fmt.Sprintf("%d of %d", got, n)
	})
}

func (r *rig) queryLead(campaignID, leadID string) workflows.LeadState {
	r.t.Helper()
	v, err := r.client.QueryWorkflow(r.ctx, workflows.LeadWorkflowID(campaignID, leadID), "", workflows.QueryLeadState)
	if err != nil {
		r.t.Fatal(err)
	}
	var st workflows.LeadState
	if err := v.Get(&st); err != nil {
		r.t.Fatal(err)
	}
	return st
}

// listWorkflows answers the ids of workflows matching a visibility query.
func (r *rig) listWorkflows(query string) []string {
	r.t.Helper()
	var ids []string
	var token []byte
	for {
		resp, err := r.client.ListWorkflow(r.ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, NextPageToken: token, PageSize: 1000})
		if err != nil {
			r.t.Fatal(err)
		}
		for _, e := range resp.GetExecutions() {
			ids = append(ids, e.GetExecution().GetWorkflowId())
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return ids
		}
	}
}

func (r *rig) workflowStatus(id string) enums.WorkflowExecutionStatus {
	r.t.Helper()
	d, err := r.client.DescribeWorkflow(r.ctx, id, "")
	if err != nil {
		r.t.Fatal(err)
	}
	return d.RawResponse.GetWorkflowExecutionInfo().GetStatus()
}

// binDir holds the outreach binary built for subprocess workers.
var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

func outreachBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "outreach-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "outreach")
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/backlinkoutreach/outreach/cmd/outreach")
		out, err := cmd.CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %w: %s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// startWorkerProcess runs `outreach worker` with the rig's configuration.
func (r *rig) startWorkerProcess(t testing.TB, logTo io.Writer) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(outreachBinary(t), "worker")
	cmd.Env = os.Environ()
	for k, v := range r.env() {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = logTo, logTo
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

func messageID(campaignID, leadID string, step int) string {
	return mail.MessageID(campaignID, leadID, step, "sender.example")
}

func storeLimits(user, domain int) store.SendLimits {
	return store.SendLimits{UserDailyCap: user, DomainDailyCap: domain}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

package enginetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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

// Options configure a rig.
type Options struct {
	Limits store.SendLimits
	// SendConcurrency > 1 lets one process run several SMTP conversations.
	SendConcurrency int
	// External runs no in-process worker: the test starts the binary
	// (StartWorkerProcess).
	External bool
	// Env adds configuration variables (IMAP_*, OOO_DEFAULT_DELAY, ...).
	Env map[string]string
	// Register adds workflows and activities to the in-process worker; the
	// rig's database, client and configuration are ready when it runs.
	Register func(r *Rig, w sdkworker.Worker)
}

// Rig is one engine on the shared dev server: its own database, SMTP
// server, task queue, worker and API, and a user with an API key.
type Rig struct {
	T       testing.TB
	Ctx     context.Context
	DB      *gorm.DB
	DSN     string
	Dialect store.Dialect
	SMTP    *mailtest.Server
	Client  client.Client
	Queue   string
	Cfg     config.Config
	Engine  *api.TemporalEngine
	Handler http.Handler
	User    models.User
	Key     string
	Worker  *worker.Worker // nil when External
	env     map[string]string
}

// New builds a rig; everything it starts stops when the test ends.
func New(t testing.TB, d store.Dialect, o Options) *Rig {
	t.Helper()
	ctx := context.Background()
	db, dsn := storetest.NewWithURL(t, d)
	smtp, err := mailtest.Start(mailtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = smtp.Stop() })
	addr := TemporalAddress(t)
	c, err := temporalx.Dial(ctx, temporalx.Options{Address: addr, Namespace: "default", Logger: QuietLog()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	r := &Rig{T: t, Ctx: ctx, DB: db, DSN: dsn, Dialect: d, SMTP: smtp, Client: c, Queue: "test-" + models.NewID()}
	r.env = map[string]string{
		"TEMPORAL_ADDRESS":    addr,
		"TEMPORAL_NAMESPACE":  "default",
		"TEMPORAL_TASK_QUEUE": r.Queue,
		"SMTP_HOST":           smtp.Host(),
		"SMTP_PORT":           strconv.Itoa(smtp.Port()),
		"SMTP_TLS":            "none",
		"SMTP_FROM":           Sender,
		"UNSUBSCRIBE_SECRET":  Secret,
		"PUBLIC_BASE_URL":     BaseURL,
		"USER_DAILY_CAP":      strconv.Itoa(o.Limits.UserDailyCap),
		"DOMAIN_DAILY_CAP":    strconv.Itoa(o.Limits.DomainDailyCap),
		"LOG_LEVEL":           "warn",
	}
	if d == store.Postgres {
		r.env["DATABASE_URL"] = dsn
	} else {
		r.env["OUTREACH_DATA_DIR"] = filepath.Dir(dsn)
	}
	maps.Copy(r.env, o.Env)
	r.Cfg, err = config.LoadFrom(func(k string) (string, bool) { v, ok := r.env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if !o.External {
		r.startWorker(o)
	}
	r.Engine = api.NewTemporalEngine(c, db, r.Queue, QuietLog())
	r.Engine.DeleteWait = 20 * time.Second
	r.Handler = api.New(api.Deps{
		DB: db, Config: r.Cfg, Log: QuietLog(), Engine: r.Engine,
		Ready: []api.Check{{Name: "temporal", Run: temporalx.Check(c)}},
	}).Handler()
	r.User, err = store.CreateUser(ctx, db, models.NewID()+"@owner.example")
	if err != nil {
		t.Fatal(err)
	}
	r.Key, _, err = store.CreateKey(ctx, db, r.User.ID)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *Rig) startWorker(o Options) {
	t := r.T
	t.Helper()
	sender, err := mail.NewSender(mail.Config{Host: r.SMTP.Host(), Port: r.SMTP.Port(), TLS: mail.TLSNone, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := unsub.New([]byte(Secret))
	if err != nil {
		t.Fatal(err)
	}
	settings := activities.SettingsFrom(r.Cfg)
	settings.Limits = o.Limits
	settings.SendConcurrency = o.SendConcurrency
	acts, err := activities.New(r.DB, sender, r.Client, signer, settings, QuietLog())
	if err != nil {
		t.Fatal(err)
	}
	wo := worker.Options{}
	if o.Register != nil {
		wo.Register = append(wo.Register, func(w sdkworker.Worker) { o.Register(r, w) })
	}
	r.Worker = worker.New(r.Client, r.Queue, acts, wo)
	if err := r.Worker.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Worker.Stop)
}

// Env is the configuration a worker process of this rig runs with.
func (r *Rig) Env() map[string]string { return maps.Clone(r.env) }

// StartWorkerProcess runs `outreach worker` with the rig's configuration;
// the test stops it.
func (r *Rig) StartWorkerProcess(t testing.TB, logTo io.Writer) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), Binary(t), "worker") //nolint:gosec // the binary Binary built
	cmd.Env = os.Environ()
	for k, v := range r.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = logTo, logTo
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// Request sends a request to the rig's API with path as given (the user's
// key goes with paths under api.BasePath, not with /u/ links) and answers
// the status and body.
func (r *Rig) Request(method, path, ctype string, body []byte) (int, []byte) {
	r.T.Helper()
	return r.RequestContext(r.Ctx, method, path, ctype, body)
}

// RequestContext is Request bounded by ctx, for a request that must not
// wait longer than the test allows.
func (r *Rig) RequestContext(ctx context.Context, method, path, ctype string, body []byte) (int, []byte) {
	r.T.Helper()
	req := httptest.NewRequestWithContext(ctx, method, path, bytes.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if strings.HasPrefix(path, api.BasePath) {
		req.Header.Set("Authorization", "Bearer "+r.Key)
	}
	w := httptest.NewRecorder()
	r.Handler.ServeHTTP(w, req)
	return w.Code, w.Body.Bytes()
}

// Do sends body (nil for none) as JSON to path under api.BasePath and
// answers the status and body.
func (r *Rig) Do(method, path string, body any) (int, []byte) {
	r.T.Helper()
	if body == nil {
		return r.Request(method, api.BasePath+path, "", nil)
	}
	raw, err := json.Marshal(body)
	if err != nil {
		r.T.Fatal(err)
	}
	return r.Request(method, api.BasePath+path, "application/json", raw)
}

// Call does a request, checks the status and decodes the answer into out
// (unless nil).
func (r *Rig) Call(method, path string, body any, want int, out any) {
	r.T.Helper()
	code, raw := r.Do(method, path, body)
	if code != want {
		r.T.Fatalf("%s %s: status %d, want %d: %s", method, path, code, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			r.T.Fatalf("%s %s: decode: %v: %s", method, path, err, raw)
		}
	}
}

// AllDays is a sending window's every day.
func AllDays() []string { return []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"} }

// FastSettings are campaign settings with the window always open, no gap,
// and the given step delays in seconds (the first is the pitch's and is
// ignored).
func FastSettings(delaysSeconds ...float64) map[string]any {
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
			"delay_days": d / SecondsInDay,
		})
	}
	return map[string]any{
		"timezone":        "UTC",
		"window":          map[string]any{"days": AllDays(), "start": "00:00", "end": "24:00"},
		"min_gap_seconds": 0, "jitter_seconds": 0,
		"sequence": steps,
		"sender":   map[string]any{"name": "Ann Writer", "site": "https://ann.example"},
	}
}

// CreateCampaign creates a campaign through the API (which starts its
// workflow) and adds n leads with addresses on distinct domains; it
// answers the campaign and the lead ids in id order.
func (r *Rig) CreateCampaign(name string, settings map[string]any, n int) (api.CampaignOut, []string) {
	r.T.Helper()
	var camp api.CampaignOut
	r.Call(http.MethodPost, "/campaigns", map[string]any{"name": name, "keywords": []string{"SaaS growth"}, "settings": settings},
		http.StatusCreated, &camp)
	return camp, r.AddLeads(camp.ID, 0, n)
}

// LeadRow is the i-th lead of AddLeads: https://site<i>.example/, written
// to editor<i>@site<i>.example.
func LeadRow(i int) map[string]any {
	return map[string]any{
		"website_url": fmt.Sprintf("https://site%d.example/", i), "website_title": fmt.Sprintf("Site %d", i),
		"contact_email": fmt.Sprintf("editor%d@site%d.example", i, i), "contact_name": fmt.Sprintf("Editor %d", i),
	}
}

// AddLeads adds leads from..from+n-1 (LeadRow) through the bulk API and
// answers every lead id of the campaign in id order.
func (r *Rig) AddLeads(campaignID string, from, n int) []string {
	r.T.Helper()
	for start := from; start < from+n; start += 5000 {
		end := min(start+5000, from+n)
		rows := make([]map[string]any, 0, end-start)
		for i := start; i < end; i++ {
			rows = append(rows, LeadRow(i))
		}
		var res api.BulkAddResult
		r.Call(http.MethodPost, "/campaigns/"+campaignID+"/leads/bulk", rows, http.StatusOK, &res)
		if res.Added != end-start {
			r.T.Fatalf("added %d of %d leads: %+v", res.Added, end-start, res.Failed)
		}
	}
	var ids []string
	if err := r.DB.Model(&models.Lead{}).Where("campaign_id = ?", campaignID).Order("id").Pluck("id", &ids).Error; err != nil {
		r.T.Fatal(err)
	}
	return ids
}

// Launch starts sending.
func (r *Rig) Launch(campaignID string) {
	r.T.Helper()
	r.Call(http.MethodPost, "/campaigns/"+campaignID+"/launch", nil, http.StatusOK, nil)
}

// WaitMessages waits until the SMTP server holds n messages.
func (r *Rig) WaitMessages(n int, timeout time.Duration) {
	r.T.Helper()
	ctx, cancel := context.WithTimeout(r.Ctx, timeout)
	defer cancel()
	if err := r.SMTP.WaitForCount(ctx, n); err != nil {
		r.T.Fatal(err)
	}
}

// Count counts model rows matching where.
func (r *Rig) Count(model any, where string, args ...any) int64 {
	r.T.Helper()
	var n int64
	if err := r.DB.Model(model).Where(where, args...).Count(&n).Error; err != nil {
		r.T.Fatal(err)
	}
	return n
}

// WaitStarted waits until the campaign workflow has started n lead
// workflows.
func (r *Rig) WaitStarted(campaignID string, n int, timeout time.Duration) {
	r.T.Helper()
	WaitFor(r.T, timeout, "lead workflows started", func() (bool, string) {
		got := r.Count(&models.Lead{}, "campaign_id = ? AND workflow_started = ?", campaignID, true)
		return got >= int64(n), fmt.Sprintf("%d of %d", got, n)
	})
}

// QueryLead answers a lead workflow's state query.
func (r *Rig) QueryLead(campaignID, leadID string) workflows.LeadState {
	r.T.Helper()
	v, err := r.Client.QueryWorkflow(r.Ctx, workflows.LeadWorkflowID(campaignID, leadID), "", workflows.QueryLeadState)
	if err != nil {
		r.T.Fatal(err)
	}
	var st workflows.LeadState
	if err := v.Get(&st); err != nil {
		r.T.Fatal(err)
	}
	return st
}

// ListWorkflows answers the ids of workflows matching a visibility query.
func (r *Rig) ListWorkflows(query string) []string {
	r.T.Helper()
	var ids []string
	var token []byte
	for {
		resp, err := r.Client.ListWorkflow(r.Ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, NextPageToken: token, PageSize: 1000})
		if err != nil {
			r.T.Fatal(err)
		}
		for _, e := range resp.GetExecutions() {
			ids = append(ids, e.GetExecution().GetWorkflowId())
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return ids
		}
	}
}

// WorkflowStatus answers a workflow's execution status.
func (r *Rig) WorkflowStatus(id string) enums.WorkflowExecutionStatus {
	r.T.Helper()
	d, err := r.Client.DescribeWorkflow(r.Ctx, id, "")
	if err != nil {
		r.T.Fatal(err)
	}
	return d.RawResponse.GetWorkflowExecutionInfo().GetStatus()
}

// MessageID is the Message-ID the engine gives a step sent by the rig.
func MessageID(campaignID, leadID string, step int) string {
	return mail.MessageID(campaignID, leadID, step, SenderDomain)
}

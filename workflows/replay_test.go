package workflows_test

// Replay tests. testdata/*.json are histories recorded from real runs on a
// Temporal dev server (TestRecordAndReplay records them again, replays the
// fresh ones, and with -update-histories rewrites the committed files).
// TestReplayCommitted replays the committed files against the current code,
// so a change that would break running workflows fails CI.

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/backlinkoutreach/outreach/internal/devserver"
	"github.com/backlinkoutreach/outreach/models"
	"github.com/backlinkoutreach/outreach/worker"
	"github.com/backlinkoutreach/outreach/workflows"
)

var updateHistories = flag.Bool("update-histories", false, "rewrite workflows/testdata/*.json from fresh runs on a dev server")

func quietSDK() sdklog.Logger { return sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)) }

func replay(t *testing.T, h *historypb.History) error {
	t.Helper()
	r := sdkworker.NewWorkflowReplayer()
	worker.RegisterWorkflows(r)
	return r.ReplayWorkflowHistory(quietSDK(), h)
}

func TestReplayCommitted(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{
		"lead_full_sequence.json": false, "lead_reply_mid_sequence.json": false,
		"campaign_continue_as_new.json": false, "bulk_status.json": false,
	}
	for _, f := range files {
		want[filepath.Base(f)] = true
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := sdkworker.NewWorkflowReplayer()
			worker.RegisterWorkflows(r)
			if err := r.ReplayWorkflowHistoryFromJSONFile(quietSDK(), f); err != nil {
				t.Fatalf("replay %s: %v", f, err)
			}
		})
	}
	for name, found := range want {
		if !found {
			t.Errorf("testdata/%s is missing: run go test ./workflows -run TestRecordAndReplay -update-histories", name)
		}
	}
}

// TestReplayEarlierVersions replays histories recorded by an earlier
// version of the workflows (testdata/earlier: the first one that shipped,
// whose database steps were regular activities). Executions of that
// version may still be running on a server the engine is upgraded on.
func TestReplayEarlierVersions(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "earlier", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("%d earlier histories in testdata/earlier, want the lead, reply and continue-as-new ones", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := sdkworker.NewWorkflowReplayer()
			worker.RegisterWorkflows(r)
			if err := r.ReplayWorkflowHistoryFromJSONFile(quietSDK(), f); err != nil {
				t.Fatalf("replay %s: %v", f, err)
			}
		})
	}
}

// recorder holds fake activities with in-memory state: the histories
// record their results, so replay needs none of it.
type recorder struct {
	mu     sync.Mutex
	status map[string]models.LeadStatus
	plan   workflows.LeadPlan
	leads  []string
	start  map[string]bool
}

func (r *recorder) SendStep(_ context.Context, req workflows.SendRequest) (workflows.SendResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if req.Step == 0 {
		r.status[req.LeadID] = models.StatusContacted
	}
	return workflows.SendResult{Outcome: workflows.OutcomeSent, Status: r.status[req.LeadID], Plan: r.plan, SentAt: time.Now().UTC()}, nil
}

func (r *recorder) LeadTransition(_ context.Context, req workflows.TransitionRequest) (workflows.TransitionResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	from := r.status[req.LeadID]
	if err := models.CheckTransition(from, req.To); err != nil && !req.Force {
		return workflows.TransitionResult{}, err
	}
	r.status[req.LeadID] = req.To
	return workflows.TransitionResult{From: from, Status: req.To, Changed: from != req.To}, nil
}

func (r *recorder) LeadEvent(context.Context, workflows.LeadEventRequest) error { return nil }

func (r *recorder) LeadDispatched(context.Context, workflows.LeadDispatchedRequest) error { return nil }

func (r *recorder) CampaignSync(context.Context, string) (workflows.CampaignSyncResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	unstarted := 0
	for _, l := range r.leads {
		if !r.start[l] {
			unstarted++
		}
	}
	return workflows.CampaignSyncResult{Exists: true, State: models.CampaignDraft, Unstarted: unstarted}, nil
}

func (r *recorder) CampaignNextLeads(_ context.Context, req workflows.NextLeadsRequest) (workflows.NextLeadsResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := workflows.NextLeadsResult{Exists: true, State: models.CampaignDraft, Plan: r.plan}
	for _, l := range r.leads {
		if !r.start[l] && len(out.Leads) < req.Limit {
			out.Leads = append(out.Leads, workflows.LeadToStart{LeadID: l, Status: models.StatusDiscovered})
		}
	}
	return out, nil
}

func (r *recorder) CampaignMarkStarted(_ context.Context, req workflows.MarkStartedRequest) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range req.LeadIDs {
		r.start[l] = true
	}
	return nil
}

func (r *recorder) CampaignDispatch(context.Context, workflows.DispatchRequest) (workflows.DispatchResult, error) {
	return workflows.DispatchResult{State: models.CampaignDraft}, nil
}

func (r *recorder) CampaignWakeParked(context.Context, workflows.WakeParkedRequest) (workflows.WakeParkedResult, error) {
	return workflows.WakeParkedResult{}, nil
}

func (r *recorder) BulkStatusBatch(_ context.Context, req workflows.BulkBatchRequest) (workflows.BulkStatusResult, error) {
	out := workflows.BulkStatusResult{Failed: []workflows.BulkFailure{}}
	for _, id := range req.LeadIDs {
		if id == "foreign" {
			out.Failed = append(out.Failed, workflows.BulkFailure{LeadID: id, Reason: workflows.BulkNotFound})
		} else {
			out.Updated++
		}
	}
	return out, nil
}

func (r *recorder) register(w sdkworker.Worker) {
	worker.RegisterWorkflows(w)
	for name, fn := range map[string]any{
		workflows.ActivitySendStep: r.SendStep, workflows.ActivityLeadTransition: r.LeadTransition,
		workflows.ActivityLeadEvent: r.LeadEvent, workflows.ActivityLeadDispatched: r.LeadDispatched,
		workflows.ActivityCampaignSync: r.CampaignSync, workflows.ActivityCampaignNextLeads: r.CampaignNextLeads,
		workflows.ActivityCampaignMarkStarted: r.CampaignMarkStarted, workflows.ActivityCampaignDispatch: r.CampaignDispatch,
		workflows.ActivityCampaignWakeParked: r.CampaignWakeParked, workflows.ActivityBulkStatusBatch: r.BulkStatusBatch,
	} {
		w.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
}

// TestRecordAndReplay runs the recorded scenarios on a real dev server and
// replays their fresh histories.
func TestRecordAndReplay(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	srv, err := devserver.Start(ctx, devserver.Options{Headless: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	c, err := client.DialContext(ctx, client.Options{HostPort: srv.Address, Logger: quietSDK()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const queue = "replay"
	plan := workflows.LeadPlan{Timezone: "UTC", Window: models.SendingWindow{
		Days:  []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"},
		Start: "00:00", End: "24:00",
	}, Delays: []float64{0, 2.0 / 86400}}
	rec := &recorder{
		status: map[string]models.LeadStatus{}, plan: plan, start: map[string]bool{},
		leads: []string{"lead-a", "lead-b", "lead-c"},
	}
	w := sdkworker.New(c, queue, sdkworker.Options{})
	rec.register(w)
	ws := sdkworker.New(c, workflows.SendTaskQueue(queue), sdkworker.Options{})
	ws.RegisterActivityWithOptions(rec.SendStep, activity.RegisterOptions{Name: workflows.ActivitySendStep})
	for _, x := range []sdkworker.Worker{w, ws} {
		if err := x.Start(); err != nil {
			t.Fatal(err)
		}
		defer x.Stop()
	}
	lead := func(id string) workflows.LeadInput {
		rec.mu.Lock()
		rec.status[id] = models.StatusDiscovered
		rec.mu.Unlock()
		return workflows.LeadInput{CampaignID: "rec", LeadID: id, OwnerID: "owner", Status: models.StatusDiscovered, Dispatched: true, Plan: plan}
	}
	start := func(id string, wf string, arg any) {
		t.Helper()
		if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, wf, arg); err != nil {
			t.Fatal(err)
		}
	}
	queryNext := func(id string) int {
		v, err := c.QueryWorkflow(ctx, id, "", workflows.QueryLeadState)
		if err != nil {
			t.Fatal(err)
		}
		var st workflows.LeadState
		if err := v.Get(&st); err != nil {
			t.Fatal(err)
		}
		return st.NextStep
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	histories := map[string]*historypb.History{}
	fetch := func(name, id, runID string) {
		t.Helper()
		h := &historypb.History{}
		it := c.GetWorkflowHistory(ctx, id, runID, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			h.Events = append(h.Events, e)
		}
		histories[name] = h
	}

	// A full sequence: both steps, a reply, then placed by hand.
	full := "campaign/rec/lead/full"
	start(full, workflows.LeadWorkflowName, lead("full"))
	waitUntil("both steps sent", func() bool { return queryNext(full) == -1 })
	if err := c.SignalWorkflow(ctx, full, "", workflows.SignalLeadReply, workflows.ReplySignal{ReplyID: "r1", Tag: models.ReplyInterested}); err != nil {
		t.Fatal(err)
	}
	waitUntil("replied", func() bool { rec.mu.Lock(); defer rec.mu.Unlock(); return rec.status["full"] == models.StatusReplied })
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: full, UpdateName: workflows.UpdateLeadStatus,
		Args: []any{workflows.StatusChange{Status: models.StatusPlaced, Source: "api"}}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.GetWorkflow(ctx, full, "").Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	fetch("lead_full_sequence.json", full, "")

	// A reply between the steps stops the follow-up.
	mid := "campaign/rec/lead/mid"
	midIn := lead("mid")
	midIn.Plan.Delays = []float64{0, 1}
	start(mid, workflows.LeadWorkflowName, midIn)
	waitUntil("step 0 sent", func() bool { return queryNext(mid) == 1 })
	if err := c.SignalWorkflow(ctx, mid, "", workflows.SignalLeadReply, workflows.ReplySignal{ReplyID: "r2", Tag: models.ReplyNeutral}); err != nil {
		t.Fatal(err)
	}
	waitUntil("sequence stopped", func() bool { return queryNext(mid) == -1 })
	if err := c.SignalWorkflow(ctx, mid, "", workflows.SignalLeadStop, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.GetWorkflow(ctx, mid, "").Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	fetch("lead_reply_mid_sequence.json", mid, "")

	// A campaign run that continues as new after its children budget.
	camp := "campaign/rec"
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: camp, TaskQueue: queue}, workflows.CampaignWorkflowName,
		workflows.CampaignInput{CampaignID: "rec", OwnerID: "owner", MaxChildrenPerRun: 2})
	if err != nil {
		t.Fatal(err)
	}
	firstRun := run.GetRunID()
	waitUntil("the first run continued as new", func() bool {
		d, err := c.DescribeWorkflow(ctx, camp, firstRun)
		return err == nil && d.RawResponse.GetWorkflowExecutionInfo().GetStatus() == enums.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW
	})
	fetch("campaign_continue_as_new.json", camp, firstRun)
	_ = c.TerminateWorkflow(ctx, camp, "", "recorded")
	for _, l := range rec.leads {
		_ = c.TerminateWorkflow(ctx, workflows.LeadWorkflowID("rec", l), "", "recorded")
	}

	// A bulk request in two batches.
	ids := []string{"foreign"}
	for i := range workflows.BulkBatchSize + 5 {
		ids = append(ids, fmt.Sprintf("l%d", i))
	}
	bulk, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "campaign/rec/bulk-status/1", TaskQueue: queue},
		workflows.BulkStatusWorkflowName, workflows.BulkStatusInput{CampaignID: "rec", OwnerID: "owner", LeadIDs: ids, Status: models.StatusContacted})
	if err != nil {
		t.Fatal(err)
	}
	var res workflows.BulkStatusResult
	if err := bulk.Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if res.Updated != workflows.BulkBatchSize+5 || len(res.Failed) != 1 {
		t.Fatalf("bulk result %+v", res)
	}
	fetch("bulk_status.json", "campaign/rec/bulk-status/1", "")

	for name, h := range histories {
		if err := replay(t, h); err != nil {
			t.Errorf("replay fresh %s: %v", name, err)
		}
		if *updateHistories {
			b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(h)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join("testdata", name), append(b, '\n'), 0o644); err != nil { //nolint:gosec // test fixtures, meant to be read
				t.Fatal(err)
			}
		}
	}
}

// TestReplayDetectsChangedCode replays the committed full sequence against a
// lead workflow that sends nothing: replay must fail, or the replay tests
// would prove nothing.
func TestReplayDetectsChangedCode(t *testing.T) {
	t.Parallel()
	f, err := os.ReadFile(filepath.Join("testdata", "lead_full_sequence.json"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := client.HistoryFromJSON(bytes.NewReader(f), client.HistoryJSONOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := sdkworker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(func(ctx workflow.Context, _ workflows.LeadInput) error {
		// Waits for dispatch instead of sending step 0.
		return workflow.Sleep(ctx, time.Hour)
	}, workflow.RegisterOptions{Name: workflows.LeadWorkflowName})
	if err := r.ReplayWorkflowHistory(quietSDK(), h); err == nil {
		t.Fatal("a workflow that does something else replayed the recorded history without error")
	}
}

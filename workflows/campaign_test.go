package workflows

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/backlinkoutreach/outreach/models"
)

// fakeCampaign stands in for the database behind the campaign activities.
type fakeCampaign struct {
	mu         sync.Mutex
	env        *testsuite.TestWorkflowEnvironment
	state      models.CampaignState
	gone       bool
	leads      []string
	started    map[string]bool
	dispatched map[string]time.Time
	// roomPerDay caps first touches per UTC day; 0 is unlimited.
	roomPerDay    int
	dispatchCalls []time.Time
	wakeCalls     []time.Time
	replanCalls   []ReplanRequest
	planKey       string
	children      []LeadInput
}

func newFakeCampaign(env *testsuite.TestWorkflowEnvironment, n int) *fakeCampaign {
	f := &fakeCampaign{env: env, state: models.CampaignDraft, started: map[string]bool{}, dispatched: map[string]time.Time{}}
	f.addLeads(n)
	return f
}

func (f *fakeCampaign) addLeads(n int) {
	base := len(f.leads)
	for i := range n {
		f.leads = append(f.leads, fmt.Sprintf("lead-%04d", base+i))
	}
}

func (f *fakeCampaign) roomLocked() (int, bool) {
	if f.roomPerDay == 0 {
		return 0, true
	}
	day := f.env.Now().UTC().Format("2006-01-02")
	used := 0
	for _, at := range f.dispatched {
		if at.Format("2006-01-02") == day {
			used++
		}
	}
	return max(f.roomPerDay-used, 0), false
}

func (f *fakeCampaign) readyLocked() []string {
	var out []string
	for _, id := range f.leads {
		if _, d := f.dispatched[id]; f.started[id] && !d {
			out = append(out, id)
		}
	}
	return out
}

func (f *fakeCampaign) Sync(_ context.Context, _ string) (CampaignSyncResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	unstarted := 0
	for _, id := range f.leads {
		if !f.started[id] {
			unstarted++
		}
	}
	return CampaignSyncResult{Exists: !f.gone, State: f.state, Unstarted: unstarted, Ready: len(f.readyLocked()), PlanKey: f.planKey}, nil
}

func (f *fakeCampaign) NextLeads(_ context.Context, req NextLeadsRequest) (NextLeadsResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := NextLeadsResult{Exists: !f.gone, State: f.state, Plan: LeadPlan{Timezone: "UTC", Delays: []float64{0}}}
	room, unlimited := f.roomLocked()
	for _, id := range f.leads {
		if len(out.Leads) == req.Limit {
			break
		}
		if f.started[id] {
			continue
		}
		l := LeadToStart{LeadID: id, Status: models.StatusDiscovered}
		if f.state == models.CampaignActive && (unlimited || room > 0) {
			l.Dispatch = true
			f.dispatched[id] = f.env.Now().UTC()
			room--
		}
		out.Leads = append(out.Leads, l)
	}
	return out, nil
}

func (f *fakeCampaign) MarkStarted(_ context.Context, req MarkStartedRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range req.LeadIDs {
		f.started[id] = true
	}
	return nil
}

func (f *fakeCampaign) Dispatch(_ context.Context, req DispatchRequest) (DispatchResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dispatchCalls = append(f.dispatchCalls, f.env.Now().UTC())
	out := DispatchResult{State: f.state}
	if f.state != models.CampaignActive {
		return out, nil
	}
	room, unlimited := f.roomLocked()
	n := req.Max
	if !unlimited {
		n = min(n, room)
	}
	ready := f.readyLocked()
	n = min(n, len(ready))
	for _, id := range ready[:n] {
		f.dispatched[id] = f.env.Now().UTC()
	}
	out.Dispatched = n
	out.Ready = len(ready) - n
	roomLeft := unlimited || room > n
	out.More = n == req.Max && out.Ready > 0 && roomLeft
	if !roomLeft {
		out.NextRoom = models.StartOfNextDay(f.env.Now(), time.UTC)
	}
	return out, nil
}

func (f *fakeCampaign) WakeParked(_ context.Context, _ WakeParkedRequest) (WakeParkedResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.wakeCalls = append(f.wakeCalls, f.env.Now().UTC())
	return WakeParkedResult{Woken: 3}, nil
}

// Replan answers pages of two leads.
func (f *fakeCampaign) Replan(_ context.Context, req ReplanRequest) (ReplanResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replanCalls = append(f.replanCalls, req)
	var page []string
	for _, id := range f.leads {
		if id > req.After && len(page) < 2 {
			page = append(page, id)
		}
	}
	out := ReplanResult{Signalled: len(page)}
	if len(page) == 2 {
		out.Next = page[1]
	}
	return out, nil
}

func (f *fakeCampaign) child(_ workflow.Context, in LeadInput) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.children = append(f.children, in)
	return nil
}

func (f *fakeCampaign) set(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

func newCampaignEnv(t *testing.T, f *fakeCampaign) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(t0)
	env.SetTestTimeout(30 * time.Second)
	f.env = env
	env.RegisterWorkflowWithOptions(CampaignWorkflow, workflow.RegisterOptions{Name: CampaignWorkflowName})
	env.RegisterWorkflowWithOptions(f.child, workflow.RegisterOptions{Name: LeadWorkflowName})
	env.RegisterActivityWithOptions(f.Sync, activity.RegisterOptions{Name: ActivityCampaignSync})
	env.RegisterActivityWithOptions(f.NextLeads, activity.RegisterOptions{Name: ActivityCampaignNextLeads})
	env.RegisterActivityWithOptions(f.MarkStarted, activity.RegisterOptions{Name: ActivityCampaignMarkStarted})
	env.RegisterActivityWithOptions(f.Dispatch, activity.RegisterOptions{Name: ActivityCampaignDispatch})
	env.RegisterActivityWithOptions(f.WakeParked, activity.RegisterOptions{Name: ActivityCampaignWakeParked})
	env.RegisterActivityWithOptions(f.Replan, activity.RegisterOptions{Name: ActivityCampaignReplanLeads})
	return env
}

// endCampaign deletes the campaign row and wakes the workflow, which ends.
func endCampaign(env *testsuite.TestWorkflowEnvironment, f *fakeCampaign, after time.Duration) {
	env.RegisterDelayedCallback(func() {
		f.set(func() { f.gone = true })
		env.SignalWorkflow(SignalCampaignSettings, nil)
	}, after)
}

func queryCampaign(t *testing.T, env *testsuite.TestWorkflowEnvironment) CampaignStatus {
	t.Helper()
	v, err := env.QueryWorkflow(QueryCampaignState)
	if err != nil {
		t.Fatal(err)
	}
	var st CampaignStatus
	if err := v.Get(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestCampaignContinuesAsNewCarryingState(t *testing.T) {
	t.Parallel()
	f := newFakeCampaign(nil, 7)
	in := CampaignInput{CampaignID: "c1", OwnerID: "u1", MaxChildrenPerRun: 3}
	var runs []CampaignInput
	for run := 0; run < 5; run++ {
		env := newCampaignEnv(t, f)
		env.SetStartTime(t0.Add(time.Duration(run) * time.Hour))
		if run == 2 {
			endCampaign(env, f, 10*time.Minute)
		}
		env.ExecuteWorkflow(CampaignWorkflowName, in)
		err := env.GetWorkflowError()
		var can *workflow.ContinueAsNewError
		if !errors.As(err, &can) {
			if err != nil {
				t.Fatalf("run %d: %v", run, err)
			}
			break
		}
		if can.WorkflowType.Name != CampaignWorkflowName {
			t.Fatalf("continued as %s", can.WorkflowType.Name)
		}
		var next CampaignInput
		if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
			t.Fatal(err)
		}
		runs = append(runs, next)
		in = next
	}
	if len(runs) != 2 {
		t.Fatalf("continued %d times, want 2 (3 + 3 children, then 1)", len(runs))
	}
	if runs[0].LeadsStarted != 3 || runs[0].Runs != 1 || runs[1].LeadsStarted != 6 || runs[1].Runs != 2 ||
		runs[1].CampaignID != "c1" || runs[1].OwnerID != "u1" || runs[1].MaxChildrenPerRun != 3 {
		t.Fatalf("carried state %+v", runs)
	}
	if len(f.children) != 7 || len(f.started) != 7 {
		t.Fatalf("children %d started %d, want 7", len(f.children), len(f.started))
	}
	for _, c := range f.children {
		if c.CampaignID != "c1" || c.OwnerID != "u1" || c.Status != models.StatusDiscovered || c.Dispatched {
			t.Fatalf("child input %+v (a draft campaign dispatches nothing)", c)
		}
	}
}

func TestCampaignLaunchDispatchesWithinDailyRoom(t *testing.T) {
	t.Parallel()
	f := newFakeCampaign(nil, 5)
	f.roomPerDay = 2
	env := newCampaignEnv(t, f)
	var afterLaunch, nextDay CampaignStatus
	env.RegisterDelayedCallback(func() {
		f.set(func() { f.state = models.CampaignActive })
		env.SignalWorkflow(SignalCampaignLaunch, nil)
	}, time.Hour)
	env.RegisterDelayedCallback(func() { afterLaunch = queryCampaign(t, env) }, 2*time.Hour)
	env.RegisterDelayedCallback(func() { nextDay = queryCampaign(t, env) }, 15*time.Hour)
	endCampaign(env, f, 3*24*time.Hour)
	env.ExecuteWorkflow(CampaignWorkflowName, CampaignInput{CampaignID: "c1", OwnerID: "u1"})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	perDay := map[string]int{}
	for _, at := range f.dispatched {
		perDay[at.Format("2006-01-02")]++
	}
	if perDay["2025-03-12"] != 2 || perDay["2025-03-13"] != 2 || perDay["2025-03-14"] != 1 {
		t.Fatalf("dispatches per day %v, want 2, 2, 1", perDay)
	}
	// The workflow woke at the cap reset, not only at its re-check.
	var resetWake bool
	for _, at := range f.dispatchCalls {
		if at.Equal(time.Date(2025, 3, 13, 0, 0, 1, 0, time.UTC)) {
			resetWake = true
		}
	}
	if !resetWake {
		t.Errorf("no dispatch at the next day's reset: %v", f.dispatchCalls)
	}
	if afterLaunch.State != models.CampaignActive || afterLaunch.LeadsStarted != 5 || afterLaunch.LeadsWaiting != 3 || afterLaunch.DispatchedToday != 2 {
		t.Errorf("state after launch %+v", afterLaunch)
	}
	if nextDay.DispatchedToday != 2 || nextDay.LeadsWaiting != 1 {
		t.Errorf("state the next day %+v", nextDay)
	}
}

func TestCampaignActiveStartsChildrenDispatched(t *testing.T) {
	t.Parallel()
	f := newFakeCampaign(nil, 0)
	f.state = models.CampaignActive
	env := newCampaignEnv(t, f)
	env.RegisterDelayedCallback(func() {
		f.set(func() { f.addLeads(4) })
		env.SignalWorkflow(SignalLeadsAdded, LeadsAdded{Count: 4})
	}, time.Minute)
	endCampaign(env, f, time.Hour)
	env.ExecuteWorkflow(CampaignWorkflowName, CampaignInput{CampaignID: "c1", OwnerID: "u1"})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(f.children) != 4 {
		t.Fatalf("children %d", len(f.children))
	}
	for _, c := range f.children {
		if !c.Dispatched || len(c.Plan.Delays) != 1 {
			t.Fatalf("with room and an active campaign a child starts dispatched: %+v", c)
		}
	}
}

func TestCampaignPauseResumeWakesParkedLeads(t *testing.T) {
	t.Parallel()
	f := newFakeCampaign(nil, 2)
	f.state = models.CampaignActive
	env := newCampaignEnv(t, f)
	var paused CampaignStatus
	env.RegisterDelayedCallback(func() {
		f.set(func() { f.state = models.CampaignPaused })
		env.SignalWorkflow(SignalCampaignPause, nil)
	}, time.Hour)
	env.RegisterDelayedCallback(func() { paused = queryCampaign(t, env) }, 2*time.Hour)
	env.RegisterDelayedCallback(func() {
		f.set(func() { f.state = models.CampaignActive })
		env.SignalWorkflow(SignalCampaignResume, nil)
	}, 3*time.Hour)
	endCampaign(env, f, 4*time.Hour)
	env.ExecuteWorkflow(CampaignWorkflowName, CampaignInput{CampaignID: "c1", OwnerID: "u1"})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if paused.State != models.CampaignPaused {
		t.Errorf("state while paused %+v", paused)
	}
	if len(f.wakeCalls) != 1 || !f.wakeCalls[0].Equal(t0.Add(3*time.Hour)) {
		t.Fatalf("parked leads woken at %v, want once at resume", f.wakeCalls)
	}
}

func TestCampaignResumeAndContinueAsNew(t *testing.T) {
	t.Parallel()
	f := newFakeCampaign(nil, 0)
	f.state = models.CampaignActive
	env := newCampaignEnv(t, f)
	env.RegisterDelayedCallback(func() {
		env.SetContinueAsNewSuggested(true)
		env.SignalWorkflow(SignalCampaignResume, nil)
	}, 90*time.Minute)
	env.ExecuteWorkflow(CampaignWorkflowName, CampaignInput{CampaignID: "c1", OwnerID: "u1"})
	next := continuedWith[CampaignInput](t, env)
	// This run handled the resume before continuing: not carried over.
	if next.ResumeParked || len(f.wakeCalls) != 1 || next.Runs != 1 {
		t.Fatalf("resume handled %d times, carried %v, runs %d", len(f.wakeCalls), next.ResumeParked, next.Runs)
	}

	// A resume drained while continuing is carried and handled first thing.
	f2 := newFakeCampaign(nil, 0)
	f2.state = models.CampaignActive
	env2 := newCampaignEnv(t, f2)
	endCampaign(env2, f2, time.Minute)
	env2.ExecuteWorkflow(CampaignWorkflowName, CampaignInput{CampaignID: "c1", OwnerID: "u1", ResumeParked: true})
	if err := env2.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(f2.wakeCalls) != 1 || !f2.wakeCalls[0].Equal(t0) {
		t.Fatalf("carried resume woke parked leads at %v", f2.wakeCalls)
	}
}

// A change of the leads' plan tells every contacted lead, page by page,
// once the campaign is active; a change of anything else (the same plan
// key), or a paused campaign's change before it resumes, tells nobody.
func TestCampaignPlanChangeReplansLeads(t *testing.T) {
	t.Parallel()
	f := newFakeCampaign(nil, 5)
	f.state, f.planKey = models.CampaignActive, "a"
	env := newCampaignEnv(t, f)
	calls := func() int {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.replanCalls)
	}
	var afterRename, whilePaused, afterResume int
	// A rename: settings signal, same plan.
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalCampaignSettings, nil) }, time.Hour)
	env.RegisterDelayedCallback(func() { afterRename = calls() }, 90*time.Minute)
	// Paused, then the delays change: nothing until the resume.
	env.RegisterDelayedCallback(func() {
		f.set(func() { f.state = models.CampaignPaused })
		env.SignalWorkflow(SignalCampaignPause, nil)
	}, 2*time.Hour)
	env.RegisterDelayedCallback(func() {
		f.set(func() { f.planKey = "b" })
		env.SignalWorkflow(SignalCampaignSettings, nil)
	}, 3*time.Hour)
	env.RegisterDelayedCallback(func() { whilePaused = calls() }, 4*time.Hour)
	env.RegisterDelayedCallback(func() {
		f.set(func() { f.state = models.CampaignActive })
		env.SignalWorkflow(SignalCampaignResume, nil)
	}, 5*time.Hour)
	env.RegisterDelayedCallback(func() { afterResume = calls() }, 6*time.Hour)
	endCampaign(env, f, 7*time.Hour)
	env.ExecuteWorkflow(CampaignWorkflowName, CampaignInput{CampaignID: "c1", OwnerID: "u1"})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if afterRename != 0 || whilePaused != 0 {
		t.Fatalf("replanned after a rename (%d calls) or while paused (%d calls)", afterRename, whilePaused)
	}
	var afters []string
	for _, r := range f.replanCalls {
		if r.CampaignID != "c1" || r.Max <= 0 {
			t.Fatalf("replan request %+v", r)
		}
		afters = append(afters, r.After)
	}
	// Five leads in pages of two: three calls, each after the last page's end.
	if afterResume != 3 || len(afters) != 3 || afters[0] != "" || afters[1] != f.leads[1] || afters[2] != f.leads[3] {
		t.Fatalf("replan calls after %q (%d by the resume), want one pass over the leads at the resume", afters, afterResume)
	}
}

package workflows

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/backlinkoutreach/outreach/models"
)

var t0 = time.Date(2025, 3, 12, 10, 0, 0, 0, time.UTC) // a Wednesday

func alwaysOpenWindow() models.SendingWindow {
	return models.SendingWindow{Days: []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}, Start: "00:00", End: "24:00"}
}

type sendCall struct {
	Step      int
	At        time.Time
	IgnoreDue bool
}

// fakeLead stands in for the database behind the lead activities: it keeps
// the lead's status and records every call at workflow time.
type fakeLead struct {
	mu          sync.Mutex
	env         *testsuite.TestWorkflowEnvironment
	status      models.LeadStatus
	plan        LeadPlan
	sends       []sendCall
	transitions []TransitionRequest
	events      []LeadEventRequest
	dispatched  int
	// send overrides the default answer (sent) for a call.
	send func(call int, req SendRequest) (SendResult, error)
}

func (f *fakeLead) SendStep(_ context.Context, req SendRequest) (SendResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sends = append(f.sends, sendCall{Step: req.Step, At: f.env.Now().UTC(), IgnoreDue: req.IgnoreDue})
	if f.send != nil {
		res, err := f.send(len(f.sends)-1, req)
		if res.Status != "" {
			f.status = res.Status
		}
		if res.Status == "" {
			res.Status = f.status
		}
		return res, err
	}
	if req.Step == 0 && f.status == models.StatusDiscovered {
		f.status = models.StatusContacted
	}
	return SendResult{Outcome: OutcomeSent, Status: f.status, Plan: f.plan, SentAt: f.env.Now().UTC()}, nil
}

func (f *fakeLead) LeadTransition(_ context.Context, req TransitionRequest) (TransitionResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.transitions = append(f.transitions, req)
	from := f.status
	if req.Force {
		if from != req.ExpectFrom {
			return TransitionResult{}, temporal.NewNonRetryableApplicationError("stale", ErrTypeInvalidTransition, nil, from, req.To)
		}
	} else if err := models.CheckTransition(from, req.To); err != nil {
		return TransitionResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidTransition, nil, from, req.To)
	}
	f.status = req.To
	return TransitionResult{From: from, Status: req.To, Changed: from != req.To}, nil
}

func (f *fakeLead) LeadEvent(_ context.Context, req LeadEventRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, req)
	return nil
}

func (f *fakeLead) LeadDispatched(_ context.Context, _ LeadDispatchedRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dispatched++
	return nil
}

func (f *fakeLead) sendSteps() []sendCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sendCall(nil), f.sends...)
}

func (f *fakeLead) currentStatus() models.LeadStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status
}

func newLeadEnv(t *testing.T, plan LeadPlan) (*testsuite.TestWorkflowEnvironment, *fakeLead) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(t0)
	env.SetTestTimeout(30 * time.Second)
	f := &fakeLead{env: env, status: models.StatusDiscovered, plan: plan}
	env.RegisterWorkflowWithOptions(LeadWorkflow, workflow.RegisterOptions{Name: LeadWorkflowName})
	env.RegisterActivityWithOptions(f.SendStep, activity.RegisterOptions{Name: ActivitySendStep})
	env.RegisterActivityWithOptions(f.LeadTransition, activity.RegisterOptions{Name: ActivityLeadTransition})
	env.RegisterActivityWithOptions(f.LeadEvent, activity.RegisterOptions{Name: ActivityLeadEvent})
	env.RegisterActivityWithOptions(f.LeadDispatched, activity.RegisterOptions{Name: ActivityLeadDispatched})
	return env, f
}

func leadInput(plan LeadPlan, dispatched bool) LeadInput {
	return LeadInput{CampaignID: "c1", LeadID: "l1", OwnerID: "u1", Status: models.StatusDiscovered, Dispatched: dispatched, Plan: plan}
}

func days(d float64) time.Duration { return time.Duration(d * float64(24*time.Hour)) }

func stopAt(env *testsuite.TestWorkflowEnvironment, after time.Duration) {
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalLeadStop, nil) }, after)
}

func queryLead(t *testing.T, env *testsuite.TestWorkflowEnvironment) LeadState {
	t.Helper()
	v, err := env.QueryWorkflow(QueryLeadState)
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	var st LeadState
	if err := v.Get(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestLeadSequenceTiming(t *testing.T) {
	t.Parallel()
	plan := LeadPlan{Timezone: "UTC", Window: alwaysOpenWindow(), Delays: []float64{0, 2, 3.5}}
	env, f := newLeadEnv(t, plan)
	var mid LeadState
	env.RegisterDelayedCallback(func() { mid = queryLead(t, env) }, days(1))
	stopAt(env, days(30))
	env.ExecuteWorkflow(LeadWorkflowName, leadInput(plan, true))
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	sends := f.sendSteps()
	want := []time.Time{t0, t0.Add(days(2)), t0.Add(days(5.5))}
	if len(sends) != len(want) {
		t.Fatalf("sends %+v, want %d", sends, len(want))
	}
	for i, s := range sends {
		if s.Step != i || !s.At.Equal(want[i]) {
			t.Errorf("send %d: step %d at %s, want step %d at %s", i, s.Step, s.At, i, want[i])
		}
	}
	if mid.Status != models.StatusContacted || mid.Phase != PhaseWaitingFollowUp || mid.NextStep != 1 || !mid.NextAt.Equal(t0.Add(days(2))) {
		t.Errorf("state after step 0: %+v", mid)
	}
}

func TestLeadWaitsForDispatch(t *testing.T) {
	t.Parallel()
	plan := LeadPlan{Timezone: "UTC", Window: alwaysOpenWindow(), Delays: []float64{0}}
	env, f := newLeadEnv(t, plan)
	var before LeadState
	env.RegisterDelayedCallback(func() { before = queryLead(t, env) }, time.Hour)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalLeadDispatch, nil) }, 3*time.Hour)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalLeadDispatch, nil) }, 4*time.Hour) // a second dispatch is harmless
	stopAt(env, days(1))
	env.ExecuteWorkflow(LeadWorkflowName, leadInput(plan, false))
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if before.Phase != PhaseWaitingDispatch || before.NextStep != -1 {
		t.Errorf("before dispatch: %+v", before)
	}
	sends := f.sendSteps()
	if len(sends) != 1 || !sends[0].At.Equal(t0.Add(3*time.Hour)) {
		t.Fatalf("sends %+v", sends)
	}
}

// TestLeadWindowAcrossWeekendAndZones sends inside Mon-Fri 09:00-17:00 in
// New York: dispatched on a Friday evening, step 0 goes Monday 09:00 EST,
// and the 1-day follow-up goes Tuesday morning; a 1-day follow-up due on a
// Saturday waits for Monday.
func TestLeadWindowAcrossWeekendAndZones(t *testing.T) {
	t.Parallel()
	plan := LeadPlan{
		Timezone: "America/New_York",
		Window:   models.SendingWindow{Days: []string{"mon", "tue", "wed", "thu", "fri"}, Start: "09:00", End: "17:00"},
		Delays:   []float64{0, 1, 4},
	}
	env, f := newLeadEnv(t, plan)
	friday := time.Date(2025, 3, 14, 23, 0, 0, 0, time.UTC) // 19:00 EDT on Friday
	env.SetStartTime(friday)
	stopAt(env, days(20))
	env.ExecuteWorkflow(LeadWorkflowName, leadInput(plan, true))
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	sends := f.sendSteps()
	want := []time.Time{
		time.Date(2025, 3, 17, 13, 0, 0, 0, time.UTC), // Monday 09:00 EDT
		time.Date(2025, 3, 18, 13, 0, 0, 0, time.UTC), // Tuesday
		time.Date(2025, 3, 24, 13, 0, 0, 0, time.UTC), // Tue+4d = Saturday 22nd: Monday 24th
	}
	if len(sends) != 3 {
		t.Fatalf("sends %+v", sends)
	}
	for i := range want {
		if !sends[i].At.Equal(want[i]) {
			t.Errorf("step %d sent at %s, want %s", i, sends[i].At, want[i])
		}
	}
}

func TestLeadOutOfOfficePausesFollowUp(t *testing.T) {
	t.Parallel()
	plan := LeadPlan{Timezone: "UTC", Window: alwaysOpenWindow(), Delays: []float64{0, 2}}
	env, f := newLeadEnv(t, plan)
	back := t0.Add(days(9))
	var during LeadState
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalLeadReply, ReplySignal{ReplyID: "r1", Tag: models.ReplyOutOfOffice, Until: back})
	}, days(1))
	env.RegisterDelayedCallback(func() { during = queryLead(t, env) }, days(3))
	stopAt(env, days(20))
	env.ExecuteWorkflow(LeadWorkflowName, leadInput(plan, true))
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	sends := f.sendSteps()
	if len(sends) != 2 || !sends[1].At.Equal(back) {
		t.Fatalf("follow-up sends %+v, want step 1 exactly at %s (not at +2d)", sends, back)
	}
	if during.Phase != PhaseOutOfOffice || !during.NextAt.Equal(back) || during.Status != models.StatusContacted {
		t.Errorf("state while out of office: %+v", during)
	}
	if len(f.events) != 1 || f.events[0].Kind != EventKindPaused {
		t.Errorf("timeline events %+v", f.events)
	}
}

func TestLeadOutOfOfficeWithoutDateUsesDefault(t *testing.T) {
	t.Parallel()
	plan := LeadPlan{Timezone: "UTC", Window: alwaysOpenWindow(), Delays: []float64{0, 1}, OOODefault: 5 * 24 * time.Hour}
	env, f := newLeadEnv(t, plan)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalLeadReply, ReplySignal{ReplyID: "r1", Tag: models.ReplyOutOfOffice})
	}, 12*time.Hour)
	stopAt(env, days(20))
	env.ExecuteWorkflow(LeadWorkflowName, leadInput(plan, true))
	sends := f.sendSteps()
	if len(sends) != 2 || !sends[1].At.Equal(t0.Add(12*time.Hour+days(5))) {
		t.Fatalf("sends %+v", sends)
	}
}

func TestLeadReplyStopsFollowUps(t *testing.T) {
	t.Parallel()
	plan := LeadPlan{Timezone: "UTC", Window: alwaysOpenWindow(), Delays: []float64{0, 2, 2}}
	env, f := newLeadEnv(t, plan)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalLeadReply, ReplySignal{ReplyID: "r1", Tag: models.ReplyInterested})
	}, days(1))
	var after LeadState
	env.RegisterDelayedCallback(func() { after = queryLead(t, env) }, days(3))
	stopAt(env, days(30))
	env.ExecuteWorkflow(LeadWorkflowName, leadInput(plan, true))
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if sends := f.sendSteps(); len(sends) != 1 {
		t.Fatalf("sends after a reply: %+v", sends)
	}
	if f.currentStatus() != models.StatusReplied || after.Status != models.StatusReplied || after.NextStep != -1 {
		t.Errorf("status %s, state %+v", f.currentStatus(), after)
	}
}

func TestLeadNegativeRepliesAndBounces(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		sigs  []ReplySignal
		want  models.LeadStatus
		sends int
		// ends: the workflow completes by itself (terminal, grace over).
		ends bool
	}{
		{"not interested bounces", []ReplySignal{{ReplyID: "r", Tag: models.ReplyNotInterested}}, models.StatusBounced, 1, true},
		{"unsubscribe bounces", []ReplySignal{{ReplyID: "r", Tag: models.ReplyUnsubscribe}}, models.StatusBounced, 1, true},
		{"hard bounce bounces", []ReplySignal{{ReplyID: "r", Tag: models.ReplyBounce, BounceKind: "hard"}}, models.StatusBounced, 1, true},
		{"decline after a reply is lost", []ReplySignal{{ReplyID: "r", Tag: models.ReplyNeutral}, {ReplyID: "r2", Tag: models.ReplyNotInterested}}, models.StatusLost, 1, true},
		{"soft bounce continues a day later", []ReplySignal{{ReplyID: "r", Tag: models.ReplyBounce, BounceKind: "soft"}}, models.StatusContacted, 2, false},
		{"reclassified to out of office resumes", []ReplySignal{{ReplyID: "r", Tag: models.ReplyNotInterested}, {ReplyID: "r", Tag: models.ReplyOutOfOffice, Until: t0.Add(days(6)), Reclassified: true}}, models.StatusContacted, 2, false},
		// Any reply can be corrected, not only the first: the lead ends as
		// if the corrected tag had come with it, the others replayed.
		{"second reply reclassified as interested", []ReplySignal{
			{ReplyID: "ooo", Tag: models.ReplyOutOfOffice, Until: t0.Add(days(2))},
			{ReplyID: "r", Tag: models.ReplyNotInterested},
			{ReplyID: "r", Tag: models.ReplyInterested, Reclassified: true},
		}, models.StatusReplied, 1, false},
		{"second reply reclassified as out of office resumes", []ReplySignal{
			{ReplyID: "ooo", Tag: models.ReplyOutOfOffice, Until: t0.Add(days(2))},
			{ReplyID: "r", Tag: models.ReplyUnsubscribe},
			{ReplyID: "r", Tag: models.ReplyOutOfOffice, Until: t0.Add(days(3)), Reclassified: true},
		}, models.StatusContacted, 2, false},
		{"first reply reclassified keeps a later refusal", []ReplySignal{
			{ReplyID: "a", Tag: models.ReplyOutOfOffice, Until: t0.Add(days(2))},
			{ReplyID: "b", Tag: models.ReplyNotInterested},
			{ReplyID: "a", Tag: models.ReplyInterested, Reclassified: true},
		}, models.StatusLost, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			plan := LeadPlan{Timezone: "UTC", Window: alwaysOpenWindow(), Delays: []float64{0, 1}}
			env, f := newLeadEnv(t, plan)
			for i, s := range tt.sigs {
				env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalLeadReply, s) }, time.Duration(i+1)*time.Hour)
			}
			if !tt.ends {
				stopAt(env, days(30))
			}
			env.ExecuteWorkflow(LeadWorkflowName, leadInput(plan, true))
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			if got := f.currentStatus(); got != tt.want {
				t.Errorf("status %s, want %s", got, tt.want)
			}
			if got := len(f.sendSteps()); got != tt.sends {
				t.Errorf("sends %d, want %d", got, tt.sends)
			}
			if tt.ends && env.Now().Before(t0.Add(ReclassifyGrace)) {
				t.Errorf("a reply-terminal lead closed at %s, before its reclassification grace", env.Now())
			}
		})
	}
}

func TestLeadSoftBounceDelaysNextStep(t *testing.T) {
	t.Parallel()
	plan := LeadPlan{Timezone: "UTC", Window: alwaysOpenWindow(), Delays: []float64{0, 0.5}}
	env, f := newLeadEnv(t, plan)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalLeadReply, ReplySignal{ReplyID: "r", Tag: models.ReplyBounce, BounceKind: "soft"})
	}, time.Hour)
	stopAt(env, days(5))
	env.ExecuteWorkflow(LeadWorkflowName, leadInput(plan, true))
	sends := f.sendSteps()
	if len(sends) != 2 || !sends[1].At.Equal(t0.Add(time.Hour+softBounceDelay)) {
		t.Fatalf("sends %+v: the follow-up must wait a day after the soft bounce", sends)
	}
}

func TestLeadStatusUpdateValidator(t *testing.T) {
	t.Parallel()
	plan := LeadPlan{Timezone: "UTC", Window: alwaysOpenWindow(), Delays: []float64{0, 1}}
	env, f := newLeadEnv(t, plan)
	type outcome struct {
		rejected error
		result   StatusResult
		err      error
		done     bool
	}
	results := map[string]*outcome{}
	update := func(id string, to models.LeadStatus, at time.Duration) {
		o := &outcome{}
		results[id] = o
		env.RegisterDelayedCallback(func() {
			env.UpdateWorkflow(UpdateLeadStatus, id, &testsuite.TestUpdateCallback{
				OnAccept: func() {},
				OnReject: func(err error) { o.rejected = err },
				OnComplete: func(v any, err error) {
					o.done, o.err = true, err
					if r, ok := v.(StatusResult); ok {
						o.result = r
					}
				},
			}, StatusChange{Status: to, Source: "api"})
		}, at)
	}
	update("placed-too-early", models.StatusPlaced, time.Hour) // discovered -> placed
	update("same", models.StatusDiscovered, 2*time.Hour)       // no-op
	update("contact", models.StatusContacted, 3*time.Hour)     // legal
	update("back", models.StatusDiscovered, 4*time.Hour)       // contacted -> discovered
	update("reply", models.StatusReplied, 5*time.Hour)         // legal
	update("place", models.StatusPlaced, 6*time.Hour)          // legal, terminal: the workflow ends
	env.ExecuteWorkflow(LeadWorkflowName, leadInput(plan, false))
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"placed-too-early", "back"} {
		var appErr *temporal.ApplicationError
		if !errors.As(results[id].rejected, &appErr) || appErr.Type() != ErrTypeInvalidTransition {
			t.Errorf("%s: want a rejection by the validator, got %+v", id, results[id])
			continue
		}
		var from, to models.LeadStatus
		if err := appErr.Details(&from, &to); err != nil || from == "" || to == "" {
			t.Errorf("%s: rejection names no states: %v", id, err)
		}
	}
	if r := results["same"]; r.rejected != nil || !r.done || r.result.Changed {
		t.Errorf("same status: %+v", r)
	}
	if r := results["contact"]; !r.done || r.err != nil || !r.result.Changed || r.result.Status != models.StatusContacted {
		t.Errorf("contact: %+v", r)
	}
	if f.currentStatus() != models.StatusPlaced {
		t.Errorf("final status %s", f.currentStatus())
	}
	if len(f.sendSteps()) != 0 {
		t.Errorf("a lead marked contacted by hand was pitched: %+v", f.sendSteps())
	}
	// Only legal changes reached the database; the no-op did not.
	if len(f.transitions) != 3 {
		t.Errorf("transitions written %+v", f.transitions)
	}
}

func TestLeadPauseAndResume(t *testing.T) {
	t.Parallel()
	plan := LeadPlan{Timezone: "UTC", Window: alwaysOpenWindow(), Delays: []float64{0, 1}}
	env, f := newLeadEnv(t, plan)
	paused := true
	f.send = func(call int, req SendRequest) (SendResult, error) {
		if paused {
			return SendResult{Outcome: OutcomePaused, Plan: plan}, nil
		}
		st := models.StatusContacted
		return SendResult{Outcome: OutcomeSent, Status: st, Plan: plan, SentAt: env.Now()}, nil
	}
	var parked LeadState
	env.RegisterDelayedCallback(func() { parked = queryLead(t, env) }, time.Minute)
	env.RegisterDelayedCallback(func() {
		f.mu.Lock()
		paused = false
		f.mu.Unlock()
		env.SignalWorkflow(SignalLeadResume, nil)
	}, 10*time.Minute)
	stopAt(env, days(5))
	env.ExecuteWorkflow(LeadWorkflowName, leadInput(plan, true))
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if parked.Phase != PhaseParked {
		t.Errorf("phase while paused: %+v", parked)
	}
	sends := f.sendSteps()
	// paused at t0, resumed at +10 min (not the hourly re-check), then the
	// follow-up a day after the real send: nothing lost, nothing repeated.
	if len(sends) != 3 || sends[0].Step != 0 || sends[1].Step != 0 || !sends[1].At.Equal(t0.Add(10*time.Minute)) ||
		sends[2].Step != 1 || !sends[2].At.Equal(t0.Add(10*time.Minute+days(1))) {
		t.Fatalf("sends %+v", sends)
	}
}

func TestLeadDeferredAndPermanentFailure(t *testing.T) {
	t.Parallel()
	plan := LeadPlan{Timezone: "UTC", Window: alwaysOpenWindow(), Delays: []float64{0, 1}}
	env, f := newLeadEnv(t, plan)
	f.send = func(call int, req SendRequest) (SendResult, error) {
		if call == 0 {
			return SendResult{Outcome: OutcomeDeferred, Reason: "user_cap", Until: t0.Add(14 * time.Hour), Plan: plan}, nil
		}
		res := SendResult{Outcome: OutcomeFailed, Status: models.StatusBounced, Plan: plan}
		return res, temporal.NewNonRetryableApplicationError("550 no such user", ErrTypeSMTPPermanent, nil, res)
	}
	env.ExecuteWorkflow(LeadWorkflowName, leadInput(plan, true))
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	sends := f.sendSteps()
	if len(sends) != 2 || !sends[1].At.Equal(t0.Add(14*time.Hour)) {
		t.Fatalf("sends %+v: the deferred step is retried at its time, once", sends)
	}
	if f.currentStatus() != models.StatusBounced || !env.IsWorkflowCompleted() {
		t.Errorf("status %s, completed %v", f.currentStatus(), env.IsWorkflowCompleted())
	}
}

func TestLeadSendNow(t *testing.T) {
	t.Parallel()
	plan := LeadPlan{Timezone: "UTC", Window: alwaysOpenWindow(), Delays: []float64{0, 3}}
	env, f := newLeadEnv(t, plan)
	var rejected error
	var first SendNowResult
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(UpdateLeadSendNow, "now-0", &testsuite.TestUpdateCallback{
			OnAccept: func() {}, OnReject: func(err error) { t.Errorf("send-now rejected: %v", err) },
			OnComplete: func(v any, err error) {
				if r, ok := v.(SendNowResult); ok {
					first = r
				}
			},
		})
	}, time.Hour)
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(UpdateLeadSendNow, "now-1", &testsuite.TestUpdateCallback{
			OnAccept: func() {}, OnReject: func(err error) { t.Errorf("send-now rejected: %v", err) }, OnComplete: func(any, error) {},
		})
	}, 2*time.Hour)
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(UpdateLeadSendNow, "now-2", &testsuite.TestUpdateCallback{
			OnAccept: func() {}, OnReject: func(err error) { rejected = err }, OnComplete: func(any, error) {},
		})
	}, 3*time.Hour)
	stopAt(env, days(10))
	env.ExecuteWorkflow(LeadWorkflowName, leadInput(plan, false))
	sends := f.sendSteps()
	if len(sends) != 2 || !sends[0].At.Equal(t0.Add(time.Hour)) || !sends[1].At.Equal(t0.Add(2*time.Hour)) || !sends[1].IgnoreDue {
		t.Fatalf("sends %+v", sends)
	}
	if f.dispatched != 1 || first.Step != 0 {
		t.Errorf("manual dispatch recorded %d times; result %+v", f.dispatched, first)
	}
	var appErr *temporal.ApplicationError
	if !errors.As(rejected, &appErr) || appErr.Type() != ErrTypeNothingToSend {
		t.Errorf("send-now after the last step: %v", rejected)
	}
}

// continuedWith reads the input a run that continued as new carries.
func continuedWith[In any](t *testing.T, env *testsuite.TestWorkflowEnvironment) In {
	t.Helper()
	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("want continue-as-new, got %v", err)
	}
	var next In
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	return next
}

func TestLeadContinueAsNewCarriesProgress(t *testing.T) {
	t.Parallel()
	plan := LeadPlan{Timezone: "UTC", Window: alwaysOpenWindow(), Delays: []float64{0, 2}}
	env, f := newLeadEnv(t, plan)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalLeadReply, ReplySignal{ReplyID: "r", Tag: models.ReplyOutOfOffice, Until: t0.Add(days(4))})
	}, time.Hour)
	env.RegisterDelayedCallback(func() { env.SetContinueAsNewSuggested(true) }, 2*time.Hour)
	env.ExecuteWorkflow(LeadWorkflowName, leadInput(plan, true))
	next := continuedWith[LeadInput](t, env)
	p := next.Progress
	if p == nil || p.NextStep != 1 || !p.LastSentAt.Equal(t0) || !p.NotBefore.Equal(t0.Add(days(4))) ||
		next.Status != models.StatusContacted || !next.Dispatched || len(next.Plan.Delays) != 2 || p.ReplyBase == nil {
		t.Fatalf("carried input %+v progress %+v", next, p)
	}
	if len(f.sendSteps()) != 1 {
		t.Errorf("sends %+v", f.sendSteps())
	}
	// The next run picks up where this one stopped.
	env2, f2 := newLeadEnv(t, plan)
	f2.status = models.StatusContacted
	stopAt(env2, days(10))
	env2.SetStartTime(t0.Add(2 * time.Hour))
	env2.ExecuteWorkflow(LeadWorkflowName, next)
	if sends := f2.sendSteps(); len(sends) != 1 || sends[0].Step != 1 || !sends[0].At.Equal(t0.Add(days(4))) {
		t.Fatalf("second run sends %+v", sends)
	}
}

func TestLeadParkedBacksOff(t *testing.T) {
	t.Parallel()
	plan := LeadPlan{Timezone: "UTC", Window: alwaysOpenWindow(), Delays: []float64{0}}
	env, f := newLeadEnv(t, plan)
	f.send = func(call int, req SendRequest) (SendResult, error) {
		if call < 7 {
			return SendResult{Outcome: OutcomePaused, Plan: plan}, nil
		}
		return SendResult{Outcome: OutcomeSent, Status: models.StatusContacted, Plan: plan}, nil
	}
	stopAt(env, days(10))
	env.ExecuteWorkflow(LeadWorkflowName, leadInput(plan, true))
	sends := f.sendSteps()
	if len(sends) != 8 {
		t.Fatalf("sends %+v", sends)
	}
	// Looks after 1, 2, 4, 8, 16, 24, 24 hours: the resume signal is the
	// fast path, the looks only a fallback.
	want := []time.Duration{0, 1, 3, 7, 15, 31, 55, 79}
	for i, s := range sends {
		if !s.At.Equal(t0.Add(want[i] * time.Hour)) {
			t.Errorf("try %d at %s, want +%dh", i, s.At.Sub(t0), want[i])
		}
	}
}

// A shorter follow-up delay reaches a lead already waiting out the old one:
// told to replan, it asks the send step again and adopts the plan it
// answers; an out-of-office pause still holds the step back.
func TestLeadReplanAdoptsNewSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		ooo    bool
		wantAt time.Time
	}{
		{"shorter delay", false, t0.Add(days(3))},
		{"out of office holds", true, t0.Add(days(5))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			old := LeadPlan{Timezone: "UTC", Window: alwaysOpenWindow(), Delays: []float64{0, 14}}
			shorter := LeadPlan{Timezone: "UTC", Window: alwaysOpenWindow(), Delays: []float64{0, 3}}
			env, f := newLeadEnv(t, old)
			f.send = func(_ int, req SendRequest) (SendResult, error) {
				now := env.Now().UTC()
				if req.Step == 0 {
					return SendResult{Outcome: OutcomeSent, Status: models.StatusContacted, Plan: old, SentAt: now}, nil
				}
				if due := t0.Add(days(3)); now.Before(due) {
					return SendResult{Outcome: OutcomeDeferred, Reason: "not_due", Until: due, Plan: shorter}, nil
				}
				return SendResult{Outcome: OutcomeSent, Plan: shorter, SentAt: now}, nil
			}
			if tc.ooo {
				env.RegisterDelayedCallback(func() {
					env.SignalWorkflow(SignalLeadReply, ReplySignal{ReplyID: "ooo", Tag: models.ReplyOutOfOffice, Until: t0.Add(days(5))})
				}, 30*time.Minute)
			}
			env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalLeadReplan, nil) }, time.Hour)
			stopAt(env, days(20))
			env.ExecuteWorkflow(LeadWorkflowName, leadInput(old, true))
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			var sent []time.Time
			for _, s := range f.sendSteps() {
				if s.Step == 1 {
					sent = append(sent, s.At)
				}
			}
			if len(sent) == 0 || !sent[len(sent)-1].Equal(tc.wantAt) {
				t.Fatalf("follow-up asked at %v, want last at %s", sent, tc.wantAt)
			}
			if tc.ooo && len(sent) != 1 {
				t.Errorf("a replan during an out-of-office pause asked the send step early: %v", sent)
			}
		})
	}
}

// A reply signal delivered twice (two deliverers raced) is applied once: a
// soft bounce does not push the next follow-up a second day out.
func TestLeadAppliesARepliedSignalOnce(t *testing.T) {
	t.Parallel()
	plan := LeadPlan{Timezone: "UTC", Window: alwaysOpenWindow(), Delays: []float64{0, 0.5}}
	env, f := newLeadEnv(t, plan)
	soft := ReplySignal{ReplyID: "r", Tag: models.ReplyBounce, BounceKind: "soft"}
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalLeadReply, soft) }, time.Hour)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalLeadReply, soft) }, 3*time.Hour)
	stopAt(env, days(5))
	env.ExecuteWorkflow(LeadWorkflowName, leadInput(plan, true))
	sends := f.sendSteps()
	if len(sends) != 2 || !sends[1].At.Equal(t0.Add(time.Hour+softBounceDelay)) {
		t.Fatalf("sends %+v: the follow-up must wait one day after the first delivery of the soft bounce", sends)
	}
	var paused int
	for _, e := range f.events {
		if e.Kind == "reply" {
			paused++
		}
	}
	if paused != 1 {
		t.Errorf("%d soft-bounce events, want 1", paused)
	}
}

// A reclassification never replays over replies it does not know (a run
// continued from a worker that did not record them) nor over a status a
// person set after the first reply: the lead, replied, stays replied.
func TestLeadReplayNeedsEveryReply(t *testing.T) {
	t.Parallel()
	plan := LeadPlan{Timezone: "UTC", Window: alwaysOpenWindow(), Delays: []float64{0, 1, 1}}
	for _, tc := range []struct {
		name     string
		progress LeadProgress
		manual   bool
	}{
		{"continued without the reply list", LeadProgress{
			NextStep: 1, LastSentAt: t0.Add(-time.Hour), SeqStopped: true, StopReason: "reply: interested",
			ReplyBase: &ReplyBase{ReplyID: "r1", Status: models.StatusContacted},
		}, false},
		{"status set by hand after the first reply", LeadProgress{NextStep: 1, LastSentAt: t0.Add(-time.Hour)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env, f := newLeadEnv(t, plan)
			f.status = models.StatusReplied
			in := leadInput(plan, true)
			in.Status, in.Progress = models.StatusReplied, &tc.progress
			if tc.manual {
				// Contacted, an interested reply, then a person's decision
				// (placed, then back is impossible: use lost).
				f.status, in.Status = models.StatusContacted, models.StatusContacted
				env.RegisterDelayedCallback(func() {
					env.SignalWorkflow(SignalLeadReply, ReplySignal{ReplyID: "r1", Tag: models.ReplyInterested})
				}, time.Minute)
				env.RegisterDelayedCallback(func() {
					env.UpdateWorkflow(UpdateLeadStatus, "manual", &testsuite.TestUpdateCallback{
						OnAccept: func() {}, OnReject: func(error) {}, OnComplete: func(any, error) {},
					}, StatusChange{Status: models.StatusPlaced})
				}, 2*time.Minute)
			}
			env.RegisterDelayedCallback(func() {
				env.SignalWorkflow(SignalLeadReply, ReplySignal{ReplyID: "r2", Tag: models.ReplyOutOfOffice, Until: t0.Add(days(1))})
			}, time.Hour)
			env.RegisterDelayedCallback(func() {
				env.SignalWorkflow(SignalLeadReply, ReplySignal{ReplyID: "r2", Tag: models.ReplyBounce, BounceKind: "soft", Reclassified: true})
			}, 2*time.Hour)
			stopAt(env, days(6))
			env.ExecuteWorkflow(LeadWorkflowName, in)
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			want := models.StatusReplied
			if tc.manual {
				want = models.StatusPlaced
			}
			if got := f.currentStatus(); got != want {
				t.Errorf("status %s, want %s", got, want)
			}
			for _, s := range f.sendSteps() {
				if s.Step > 0 {
					t.Errorf("follow-up %d sent after an interested reply", s.Step)
				}
			}
		})
	}
}

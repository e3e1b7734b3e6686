package workflows

import (
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/backlinkoutreach/outreach/models"
)

// A replan the lead has not taken yet (it waits out an out-of-office) is
// carried across continue-as-new: the new run asks at the end of the hold
// with the shorter plan, not after the old delay.
func TestLeadReplanSurvivesContinueAsNew(t *testing.T) {
	t.Parallel()
	old := LeadPlan{Timezone: "UTC", Window: alwaysOpenWindow(), Delays: []float64{0, 14}}
	shorter := LeadPlan{Timezone: "UTC", Window: alwaysOpenWindow(), Delays: []float64{0, 3}}
	sendFn := func(env *testsuite.TestWorkflowEnvironment) func(int, SendRequest) (SendResult, error) {
		return func(_ int, req SendRequest) (SendResult, error) {
			now := env.Now().UTC()
			if req.Step == 0 {
				return SendResult{Outcome: OutcomeSent, Status: models.StatusContacted, Plan: old, SentAt: now}, nil
			}
			if due := t0.Add(days(3)); now.Before(due) {
				return SendResult{Outcome: OutcomeDeferred, Reason: "not_due", Until: due, Plan: shorter}, nil
			}
			return SendResult{Outcome: OutcomeSent, Plan: shorter, SentAt: now}, nil
		}
	}
	env, f := newLeadEnv(t, old)
	f.send = sendFn(env)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalLeadReply, ReplySignal{ReplyID: "ooo", Tag: models.ReplyOutOfOffice, Until: t0.Add(days(5))})
	}, 30*time.Minute)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalLeadReplan, nil) }, time.Hour)
	env.RegisterDelayedCallback(func() { env.SetContinueAsNewSuggested(true) }, 2*time.Hour)
	env.ExecuteWorkflow(LeadWorkflowName, leadInput(old, true))
	next := continuedWith[LeadInput](t, env)

	env2, f2 := newLeadEnv(t, old)
	f2.status = models.StatusContacted
	f2.send = sendFn(env2)
	env2.SetStartTime(t0.Add(2 * time.Hour))
	stopAt(env2, days(20))
	env2.ExecuteWorkflow(LeadWorkflowName, next)
	if err := env2.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var step1 []time.Time
	for _, s := range f2.sendSteps() {
		if s.Step == 1 {
			step1 = append(step1, s.At)
		}
	}
	if want := t0.Add(days(5)); len(step1) == 0 || !step1[0].Equal(want) {
		t.Fatalf("follow-up first asked at %v, want at the end of the hold %s (new 3-day plan); the replan was lost across continue-as-new", step1, want)
	}
}

// A manual status change and a reply handled at the same moment are
// applied one after the other: the reply waits for the change to be
// written and then applies to it (replied, then not interested: lost).
// It was worked out from the status before the change, refused by the
// database, and lost.
func TestLeadManualUpdateRacingReply(t *testing.T) {
	t.Parallel()
	plan := LeadPlan{Timezone: "UTC", Window: alwaysOpenWindow(), Delays: []float64{0, 2}}
	env, f := newLeadEnv(t, plan)
	var upErr error
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(UpdateLeadStatus, "manual", &testsuite.TestUpdateCallback{
			OnAccept: func() {}, OnReject: func(err error) { upErr = err }, OnComplete: func(_ any, err error) { upErr = err },
		}, StatusChange{Status: models.StatusReplied})
		env.SignalWorkflow(SignalLeadReply, ReplySignal{ReplyID: "r1", Tag: models.ReplyNotInterested})
	}, time.Hour)
	stopAt(env, days(10))
	env.ExecuteWorkflow(LeadWorkflowName, leadInput(plan, true))
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	got := f.currentStatus()
	if upErr == nil && got != models.StatusLost {
		t.Fatalf("manual replied accepted and a not_interested reply applied, final status %s, want lost", got)
	}
	if upErr != nil && got != models.StatusBounced {
		t.Fatalf("final %s", got)
	}
}

// Reclassifying the first reply after a person set the status applies the
// new tag on top of that decision: no return to the state before the
// reply, so no follow-up to a lead a person marked replied.
func TestLeadReclassifyFirstReplyKeepsManualDecision(t *testing.T) {
	t.Parallel()
	plan := LeadPlan{Timezone: "UTC", Window: alwaysOpenWindow(), Delays: []float64{0, 2}}
	env, f := newLeadEnv(t, plan)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalLeadReply, ReplySignal{ReplyID: "r1", Tag: models.ReplyOutOfOffice, Until: t0.Add(days(1))})
	}, time.Hour)
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(UpdateLeadStatus, "manual", &testsuite.TestUpdateCallback{
			OnAccept: func() {}, OnReject: func(err error) { t.Errorf("rejected: %v", err) }, OnComplete: func(any, error) {},
		}, StatusChange{Status: models.StatusReplied})
	}, 2*time.Hour)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalLeadReply, ReplySignal{ReplyID: "r1", Tag: models.ReplyBounce, BounceKind: "soft", Reclassified: true})
	}, 3*time.Hour)
	stopAt(env, days(10))
	env.ExecuteWorkflow(LeadWorkflowName, leadInput(plan, true))
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if got := f.currentStatus(); got != models.StatusReplied {
		t.Errorf("status %s, want replied (set by a person after the reply)", got)
	}
	for _, s := range f.sendSteps() {
		if s.Step > 0 {
			t.Errorf("follow-up %d sent at %s to a lead a person marked replied", s.Step, s.At)
		}
	}
}

// The same correction delivered twice (two deliverers raced) is applied
// once: the soft bounce holds the follow-up a day from the first delivery.
func TestLeadReclassificationDeliveredTwiceAppliedOnce(t *testing.T) {
	t.Parallel()
	plan := LeadPlan{Timezone: "UTC", Window: alwaysOpenWindow(), Delays: []float64{0, 0.5}}
	env, f := newLeadEnv(t, plan)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalLeadReply, ReplySignal{ReplyID: "r", Tag: models.ReplyNotInterested})
	}, time.Hour)
	fix := ReplySignal{ReplyID: "r", Tag: models.ReplyBounce, BounceKind: "soft", Reclassified: true}
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalLeadReply, fix) }, 2*time.Hour)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalLeadReply, fix) }, 5*time.Hour)
	stopAt(env, days(5))
	env.ExecuteWorkflow(LeadWorkflowName, leadInput(plan, true))
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	sends := f.sendSteps()
	if len(sends) != 2 || !sends[1].At.Equal(t0.Add(2*time.Hour+softBounceDelay)) {
		t.Fatalf("sends %+v: want the follow-up a day after the (first delivery of the) correction, %s", sends, t0.Add(2*time.Hour+softBounceDelay))
	}
}

package workflows

import (
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/backlinkoutreach/outreach/models"
)

// DefaultChildrenPerRun bounds the lead workflows one campaign run starts
// before it continues as new. The SPEC allows 500; 100 is faster: every
// child start updates the parent's mutable state, whose cost grows with the
// children it still tracks (measured on the dev server: 500 children in one
// run took 23 s, five runs of 100 took 14 s). 100 children are ~300
// history events, far below every limit, whatever the campaign's size.
const DefaultChildrenPerRun = 100

const (
	// dispatchBatch bounds the first touches one dispatch activity signals.
	dispatchBatch = 500
	// activeRecheck wakes an active campaign even without signals: sends
	// that were blocked or failed free room.
	activeRecheck = time.Hour
	// idleRecheck makes a draft or paused campaign notice leads whose
	// leads-added signal was lost (the API had already answered an error).
	idleRecheck = 6 * time.Hour
	// retryStart is the pause after child starts failed.
	retryStart = time.Minute
)

// CampaignInput starts a campaign workflow and carries its small state
// across continue-as-new. It never holds lead ids: a run finds its leads in
// the database.
type CampaignInput struct {
	CampaignID string `json:"campaign_id"`
	OwnerID    string `json:"owner_id"`
	// LeadsStarted counts lead workflows started over all runs.
	LeadsStarted int `json:"leads_started,omitempty"`
	// DispatchedToday counts first touches dispatched on DispatchDay (UTC).
	DispatchedToday int    `json:"dispatched_today,omitempty"`
	DispatchDay     string `json:"dispatch_day,omitempty"`
	Runs            int    `json:"runs,omitempty"`
	// ResumeParked: a resume signal was drained before continue-as-new.
	ResumeParked bool `json:"resume_parked,omitempty"`
	// PlanKey is the fingerprint of the leads' plan last seen (see
	// CampaignSyncResult); Replan: a change of it is still to be told to
	// the leads.
	PlanKey string `json:"plan_key,omitempty"`
	Replan  bool   `json:"replan,omitempty"`
	// State, Unstarted and NeedSync carry what the previous run knew, so a
	// continued run starts working at once; a fresh run (State empty), or
	// one that inherits drained signals (NeedSync), reads the campaign
	// first.
	State     models.CampaignState `json:"state,omitempty"`
	Unstarted bool                 `json:"unstarted,omitempty"`
	NeedSync  bool                 `json:"need_sync,omitempty"`
	// MaxChildrenPerRun overrides DefaultChildrenPerRun (tests).
	MaxChildrenPerRun int `json:"max_children_per_run,omitempty"`
}

type campaignWF struct {
	ctx workflow.Context
	in  CampaignInput

	state          models.CampaignState
	maxPerRun      int
	startedThisRun int
	unstarted      bool
	startFailed    bool
	ready          int
	nextRoom       time.Time
	needSync       bool
	resumeParked   bool
	replan         bool
	planKey        string
	updatedAt      time.Time

	launch, pause, resume, archive, settings, added workflow.ReceiveChannel
}

// errCampaignGone ends the workflow when its campaign row is gone.
var errCampaignGone = errors.New("campaign gone")

// CampaignWorkflow runs one campaign for its whole life: it starts a lead
// workflow for every lead, paces first touches against the daily caps, and
// reacts to launch, pause, resume, archive, settings changes and new leads.
func CampaignWorkflow(ctx workflow.Context, in CampaignInput) error {
	w := &campaignWF{ctx: ctx, in: in, maxPerRun: in.MaxChildrenPerRun, resumeParked: in.ResumeParked, replan: in.Replan, planKey: in.PlanKey}
	if w.maxPerRun <= 0 {
		w.maxPerRun = DefaultChildrenPerRun
	}
	w.launch = workflow.GetSignalChannel(ctx, SignalCampaignLaunch)
	w.pause = workflow.GetSignalChannel(ctx, SignalCampaignPause)
	w.resume = workflow.GetSignalChannel(ctx, SignalCampaignResume)
	w.archive = workflow.GetSignalChannel(ctx, SignalCampaignArchive)
	w.settings = workflow.GetSignalChannel(ctx, SignalCampaignSettings)
	w.added = workflow.GetSignalChannel(ctx, SignalLeadsAdded)
	if err := workflow.SetQueryHandler(ctx, QueryCampaignState, w.status); err != nil {
		return fmt.Errorf("campaign state query: %w", err)
	}
	err := w.run()
	if errors.Is(err, errCampaignGone) {
		workflow.GetLogger(ctx).Info("campaign row is gone; ending its workflow", "campaign_id", in.CampaignID)
		return nil
	}
	return err
}

func (w *campaignWF) status() (CampaignStatus, error) {
	return CampaignStatus{
		State: w.state, LeadsStarted: w.in.LeadsStarted, LeadsWaiting: w.ready,
		DispatchedToday: w.in.DispatchedToday, Runs: w.in.Runs + 1, UpdatedAt: w.updatedAt,
	}, nil
}

func (w *campaignWF) run() error {
	if w.in.State == "" || w.in.NeedSync {
		if err := w.sync(); err != nil {
			return err
		}
	} else {
		w.state, w.unstarted = w.in.State, w.in.Unstarted
	}
	for {
		if w.resumeParked {
			// Leads parked by a pause are woken only while the campaign is
			// active; a later resume wakes them otherwise.
			if w.state == models.CampaignActive {
				if err := w.wakeParked(); err != nil {
					return err
				}
			}
			w.resumeParked = false
		}
		if w.replan && w.state == models.CampaignActive {
			// The leads' timing changed (delays, window, time zone): leads
			// waiting for a follow-up look at it again under the new plan
			// (a shorter delay must not wait out the old one). A paused
			// campaign's leads are told once it is active again.
			if workflow.GetVersion(w.ctx, versionReplanOnSettings, workflow.DefaultVersion, 1) == 1 {
				if err := w.replanLeads(); err != nil {
					return err
				}
			}
			w.replan = false
		}
		if err := w.startChildren(); err != nil {
			return err
		}
		if w.state == models.CampaignActive && !w.budgetSpent() {
			if err := w.dispatch(); err != nil {
				return err
			}
		}
		w.showDetails()
		if w.budgetSpent() || workflow.GetInfo(w.ctx).GetContinueAsNewSuggested() {
			return w.continueAsNew()
		}
		w.wait()
		if w.needSync {
			if err := w.sync(); err != nil {
				return err
			}
		}
	}
}

func (w *campaignWF) budgetSpent() bool { return w.startedThisRun >= w.maxPerRun }

func (w *campaignWF) sync() error {
	var res CampaignSyncResult
	if err := execDB(w.ctx, ActivityCampaignSync, w.in.CampaignID).Get(w.ctx, &res); err != nil {
		return fmt.Errorf("sync campaign: %w", err)
	}
	if !res.Exists {
		return errCampaignGone
	}
	w.state, w.ready, w.needSync = res.State, res.Ready, false
	if res.PlanKey != "" {
		w.replan = w.replan || w.planKey != "" && res.PlanKey != w.planKey
		w.planKey = res.PlanKey
	}
	w.unstarted = w.unstarted || res.Unstarted > 0
	w.updatedAt = workflow.Now(w.ctx)
	return nil
}

// startChildren starts lead workflows for leads without one, up to the
// run's budget.
func (w *campaignWF) startChildren() error {
	w.startFailed = false
	for w.unstarted && !w.budgetSpent() {
		limit := w.maxPerRun - w.startedThisRun
		var res NextLeadsResult
		err := execDB(w.ctx, ActivityCampaignNextLeads,
			NextLeadsRequest{CampaignID: w.in.CampaignID, Limit: limit}).Get(w.ctx, &res)
		if err != nil {
			return fmt.Errorf("select leads to start: %w", err)
		}
		if !res.Exists {
			return errCampaignGone
		}
		w.state = res.State
		if len(res.Leads) < limit {
			w.unstarted = false
		}
		if len(res.Leads) == 0 {
			return nil
		}
		type pending struct {
			lead LeadToStart
			f    workflow.ChildWorkflowFuture
		}
		futures := make([]pending, 0, len(res.Leads))
		for _, l := range res.Leads {
			cctx := workflow.WithChildOptions(w.ctx, workflow.ChildWorkflowOptions{
				WorkflowID:            LeadWorkflowID(w.in.CampaignID, l.LeadID),
				ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
				WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
				TypedSearchAttributes: temporal.NewSearchAttributes(
					CampaignIDKey.ValueSet(w.in.CampaignID),
					OwnerIDKey.ValueSet(w.in.OwnerID),
					LeadStatusKey.ValueSet(string(l.Status)),
				),
				StaticSummary: fmt.Sprintf("Lead %s of campaign %s", l.LeadID, w.in.CampaignID),
			})
			f := workflow.ExecuteChildWorkflow(cctx, LeadWorkflowName, LeadInput{
				CampaignID: w.in.CampaignID, LeadID: l.LeadID, OwnerID: w.in.OwnerID,
				Status: l.Status, Dispatched: l.Dispatch, Plan: res.Plan,
			})
			futures = append(futures, pending{lead: l, f: f})
		}
		var started, redispatch []string
		dispatched, fresh := 0, 0
		for _, p := range futures {
			err := p.f.GetChildWorkflowExecution().Get(w.ctx, nil)
			var exists *temporal.ChildWorkflowExecutionAlreadyStartedError
			switch {
			case err == nil:
				fresh++
				if p.lead.Dispatch {
					dispatched++
				}
			case errors.As(err, &exists):
				// Started by an earlier run that stopped before recording
				// it; it may not know it was dispatched.
				if p.lead.Dispatch {
					redispatch = append(redispatch, p.lead.LeadID)
					dispatched++
				}
			default:
				w.startFailed = true
				workflow.GetLogger(w.ctx).Warn("lead workflow did not start; retrying later",
					"lead_id", p.lead.LeadID, "error", err)
				continue
			}
			started = append(started, p.lead.LeadID)
		}
		if len(started) > 0 {
			err := execDB(w.ctx, ActivityCampaignMarkStarted, MarkStartedRequest{
				CampaignID: w.in.CampaignID, LeadIDs: started, Redispatch: redispatch, New: fresh,
			}).Get(w.ctx, nil)
			if err != nil {
				return fmt.Errorf("record started lead workflows: %w", err)
			}
		}
		w.startedThisRun += len(started)
		w.in.LeadsStarted += len(started)
		w.countDispatched(dispatched)
		w.updatedAt = workflow.Now(w.ctx)
		if w.startFailed {
			w.unstarted = true
			return nil
		}
	}
	return nil
}

func (w *campaignWF) countDispatched(n int) {
	day := workflow.Now(w.ctx).UTC().Format("2006-01-02")
	if w.in.DispatchDay != day {
		w.in.DispatchDay, w.in.DispatchedToday = day, 0
	}
	w.in.DispatchedToday += n
}

// dispatch tells ready leads to send their first step, as many as today's
// room allows.
func (w *campaignWF) dispatch() error {
	for {
		var res DispatchResult
		err := workflow.ExecuteActivity(longActivity(w.ctx), ActivityCampaignDispatch,
			DispatchRequest{CampaignID: w.in.CampaignID, Max: dispatchBatch}).Get(w.ctx, &res)
		if err != nil {
			return fmt.Errorf("dispatch first touches: %w", err)
		}
		w.state, w.ready, w.nextRoom = res.State, res.Ready, res.NextRoom
		w.countDispatched(res.Dispatched)
		w.updatedAt = workflow.Now(w.ctx)
		if !res.More || workflow.GetInfo(w.ctx).GetContinueAsNewSuggested() {
			return nil
		}
	}
}

func (w *campaignWF) wakeParked() error {
	return eachPage(w, ActivityCampaignWakeParked, "wake parked leads",
		func(after string) any {
			return WakeParkedRequest{CampaignID: w.in.CampaignID, After: after, Max: dispatchBatch}
		},
		func(r WakeParkedResult) (string, bool) { return r.Next, r.More })
}

// eachPage runs a paging activity until it answers no further page; next
// reads the cursor of the next page from an answer.
func eachPage[Res any](w *campaignWF, activity, what string, req func(after string) any, next func(Res) (string, bool)) error {
	after := ""
	for {
		var res Res
		if err := workflow.ExecuteActivity(longActivity(w.ctx), activity, req(after)).Get(w.ctx, &res); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		cursor, more := next(res)
		if !more {
			return nil
		}
		after = cursor
	}
}

// versionReplanOnSettings marks campaign workflows that tell their
// contacted leads of a change of their plan.
const versionReplanOnSettings = "replan-on-settings"

// replanLeads signals replan to every contacted lead, a page at a time.
func (w *campaignWF) replanLeads() error {
	return eachPage(w, ActivityCampaignReplanLeads, "replan leads",
		func(after string) any {
			return ReplanRequest{CampaignID: w.in.CampaignID, After: after, Max: dispatchBatch}
		},
		func(r ReplanResult) (string, bool) { return r.Next, r.Next != "" })
}

// wait blocks until a signal arrives or the next moment worth a look: the
// cap reset while first touches wait for room, else a re-check.
func (w *campaignWF) wait() {
	now := workflow.Now(w.ctx)
	var next time.Time
	switch {
	case w.startFailed:
		next = now.Add(retryStart)
	case w.state == models.CampaignActive && w.ready > 0 && !w.nextRoom.IsZero():
		next = w.nextRoom.Add(time.Second)
	case w.state == models.CampaignActive:
		next = now.Add(activeRecheck)
	default:
		next = now.Add(idleRecheck)
	}
	tctx, cancel := workflow.WithCancel(w.ctx)
	defer cancel()
	timer := workflow.NewTimer(tctx, max(next.Sub(now), time.Second))
	sel := workflow.NewSelector(w.ctx)
	sel.AddFuture(timer, func(workflow.Future) { w.needSync = true })
	w.addSignals(sel)
	sel.Select(w.ctx)
	w.drainSignals()
}

func (w *campaignWF) addSignals(sel workflow.Selector) {
	for _, ch := range []workflow.ReceiveChannel{w.launch, w.pause, w.archive, w.settings} {
		sel.AddReceive(ch, func(c workflow.ReceiveChannel, _ bool) {
			c.Receive(w.ctx, nil)
			w.needSync = true
		})
	}
	sel.AddReceive(w.resume, func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(w.ctx, nil)
		w.needSync, w.resumeParked = true, true
	})
	sel.AddReceive(w.added, func(c workflow.ReceiveChannel, _ bool) {
		var la LeadsAdded
		c.Receive(w.ctx, &la)
		w.unstarted = true
	})
}

// drainSignals takes every buffered signal without blocking, so a burst
// (one leads-added per API request) costs one pass of the loop.
func (w *campaignWF) drainSignals() {
	for {
		got := false
		for _, ch := range []workflow.ReceiveChannel{w.launch, w.pause, w.archive, w.settings} {
			for ch.ReceiveAsync(nil) {
				w.needSync, got = true, true
			}
		}
		for w.resume.ReceiveAsync(nil) {
			w.needSync, w.resumeParked, got = true, true, true
		}
		var la LeadsAdded
		for w.added.ReceiveAsync(&la) {
			w.unstarted, got = true, true
		}
		if !got {
			return
		}
	}
}

func (w *campaignWF) continueAsNew() error {
	// Nothing may be lost between runs: take every buffered signal, let
	// running handlers finish, and take what arrived meanwhile.
	w.drainSignals()
	if err := workflow.Await(w.ctx, func() bool { return workflow.AllHandlersFinished(w.ctx) }); err != nil {
		return fmt.Errorf("await handlers: %w", err)
	}
	w.drainSignals()
	next := w.in
	next.Runs++
	next.ResumeParked, next.Replan, next.PlanKey = w.resumeParked, w.replan, w.planKey
	next.State, next.Unstarted, next.NeedSync = w.state, w.unstarted, w.needSync
	return workflow.NewContinueAsNewError(w.ctx, CampaignWorkflowName, next)
}

func (w *campaignWF) showDetails() {
	workflow.SetCurrentDetails(w.ctx, fmt.Sprintf(
		"**State:** %s  \n**Lead workflows started:** %d  \n**First touches waiting for room:** %d  \n**Dispatched today (UTC):** %d  \n**Run:** %d",
		w.state, w.in.LeadsStarted, w.ready, w.in.DispatchedToday, w.in.Runs+1))
}

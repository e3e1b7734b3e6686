package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/backlinkoutreach/outreach/models"
)

const (
	// parkedRecheck is how long a lead parked by a paused campaign first
	// waits for the resume signal before it looks again by itself; each
	// further look waits twice as long, up to parkedRecheckMax, so a
	// campaign paused for months costs a few looks a day per lead.
	parkedRecheck    = time.Hour
	parkedRecheckMax = 24 * time.Hour
	// softBounceDelay keeps the next follow-up at least this far from a
	// soft bounce, so it doubles as the retry.
	softBounceDelay = 24 * time.Hour
	// defaultOOODelay applies when neither the reply nor the plan says.
	defaultOOODelay = 7 * 24 * time.Hour
	// ReclassifyGrace keeps a workflow open after a reply made its lead
	// terminal, so reclassifying that reply can still undo its effect.
	ReclassifyGrace = 7 * 24 * time.Hour
	// errorBackoff is the pause after an activity failed for good in an
	// unexpected way.
	errorBackoff = 10 * time.Minute
	// leadHistoryLimit triggers continue-as-new well before the server's
	// 10,240-event warning.
	leadHistoryLimit = 2000
)

// Lead phases (LeadState.Phase).
const (
	PhaseWaitingDispatch = "waiting_dispatch"
	PhaseWaitingFollowUp = "waiting_followup"
	PhaseWaitingWindow   = "waiting_window"
	PhaseSending         = "sending"
	PhaseDeferred        = "deferred"
	PhaseParked          = "parked"
	PhaseOutOfOffice     = "out_of_office"
	PhaseDone            = "done"
)

// LeadInput starts a lead workflow; Progress carries its state across
// continue-as-new.
type LeadInput struct {
	CampaignID string            `json:"campaign_id"`
	LeadID     string            `json:"lead_id"`
	OwnerID    string            `json:"owner_id"`
	Status     models.LeadStatus `json:"status"`
	Dispatched bool              `json:"dispatched,omitempty"`
	Plan       LeadPlan          `json:"plan"`
	Progress   *LeadProgress     `json:"progress,omitempty"`
}

// LeadProgress is where a lead is in its sequence.
type LeadProgress struct {
	NextStep   int       `json:"next_step"`
	LastSentAt time.Time `json:"last_sent_at,omitzero"`
	// NotBefore holds the next step back (out of office, soft bounce).
	NotBefore  time.Time `json:"not_before,omitzero"`
	SeqStopped bool      `json:"seq_stopped,omitempty"`
	StopReason string    `json:"stop_reason,omitempty"`
	SendNow    bool      `json:"send_now,omitempty"`
	// ReplyBase is the state before the first reply, for reclassification.
	ReplyBase *ReplyBase `json:"reply_base,omitempty"`
	// Replies are the replies applied since, oldest first (the last
	// maxAppliedReplies), so reclassifying any of them replays them all.
	Replies []AppliedReply `json:"replies,omitempty"`
	// ManualAfterReply: a person changed the status after the first
	// reply; a reclassification then never replays over that decision.
	ManualAfterReply bool `json:"manual_after_reply,omitempty"`
	// TerminalByReplyAt starts the reclassification grace.
	TerminalByReplyAt time.Time `json:"terminal_by_reply_at,omitzero"`
	// Parks counts the send tries in a row that found the campaign paused.
	Parks int `json:"parks,omitempty"`
	// Replan carries a replan not yet taken across continue-as-new.
	Replan bool `json:"replan,omitempty"`
}

// ReplyBase is a lead's state just before a reply changed it.
type ReplyBase struct {
	ReplyID    string            `json:"reply_id"`
	Status     models.LeadStatus `json:"status"`
	NotBefore  time.Time         `json:"not_before,omitzero"`
	SeqStopped bool              `json:"seq_stopped,omitempty"`
	StopReason string            `json:"stop_reason,omitempty"`
}

// AppliedReply is one reply as the lead applied it: its tag and, for an
// out-of-office or a soft bounce, the time it held the next step back to.
type AppliedReply struct {
	ReplyID    string    `json:"reply_id"`
	Tag        string    `json:"tag"`
	BounceKind string    `json:"bounce_kind,omitempty"`
	NotBefore  time.Time `json:"not_before,omitzero"`
}

// maxAppliedReplies bounds LeadProgress.Replies; a reply older than that
// is reclassified as before (only the first reply replays from the base).
const maxAppliedReplies = 50

// versionReplanSignal marks lead workflow runs that listen to the replan
// signal (see LeadWorkflow).
const versionReplanSignal = "replan-signal"

// versionReplyOnce marks lead workflows that ignore a reply signal they
// have applied already (a delivery repeated by two deliverers racing).
const versionReplyOnce = "reply-once"

// versionRevivedAtClose marks lead workflows that go on when a signal
// taken while closing made the lead live again (before: it completed).
const versionRevivedAtClose = "revived-at-close"

// versionReclassifyReplay marks lead workflows that replay every applied
// reply when one of them is reclassified (before: only the first reply
// could be, and later replies were ignored).
const versionReclassifyReplay = "reclassify-replays-replies"

// versionManualDecisionKept marks lead workflows where reclassifying the
// first reply after a person changed the status applies the new tag on top
// of that decision (before: back to the state before the first reply,
// which could send a follow-up to a lead marked replied by hand).
const versionManualDecisionKept = "manual-decision-kept"

// versionReclassifyOnce marks lead workflows that ignore a reclassification
// they have applied already (two deliverers raced: a soft bounce's hold
// was pushed back twice).
const versionReclassifyOnce = "reclassify-once"

// versionStatusExclusive marks lead workflows where a reply waits while a
// manual status change is being written (before: it was worked out from
// the status before that change, refused by the database, and lost).
const versionStatusExclusive = "status-update-exclusive"

type leadWF struct {
	ctx workflow.Context
	in  LeadInput

	status     models.LeadStatus
	dispatched bool
	plan       LeadPlan
	p          LeadProgress
	phase      string
	nextAt     time.Time
	stopped    bool
	gone       bool
	// replan: the campaign's settings changed; ask the send step again.
	replan bool
	// updating counts manual status changes being written; a reply waits
	// for them (versionStatusExclusive).
	updating int

	dispatchCh, resumeCh, replyCh, stopCh, replanCh workflow.ReceiveChannel
	// wake lets update handlers interrupt the main loop's waits.
	wake workflow.Channel
}

// LeadWorkflow owns one lead's lifecycle (SPEC §3): it waits to be
// dispatched, sends its sequence through the send activity on durable
// timers inside the sending window, reacts to replies, and applies manual
// status changes through an Update whose validator refuses illegal ones.
func LeadWorkflow(ctx workflow.Context, in LeadInput) error {
	w := &leadWF{ctx: ctx, in: in, status: in.Status, dispatched: in.Dispatched, plan: in.Plan}
	if in.Progress != nil {
		w.p = *in.Progress
		w.replan, w.p.Replan = w.p.Replan, false
	} else if in.Status != models.StatusDiscovered {
		// Contacted outside this engine (or before it knew the lead): its
		// sequence is not ours to run.
		w.p.SeqStopped, w.p.StopReason = true, "not contacted by this campaign's sequence"
	}
	w.dispatchCh = workflow.GetSignalChannel(ctx, SignalLeadDispatch)
	w.resumeCh = workflow.GetSignalChannel(ctx, SignalLeadResume)
	w.replyCh = workflow.GetSignalChannel(ctx, SignalLeadReply)
	w.stopCh = workflow.GetSignalChannel(ctx, SignalLeadStop)
	// A run begun by a worker without replan ignores the signal (an old
	// worker may have received one during a rolling deploy, and its
	// history must replay the same); runs begun now, and every run after
	// continue-as-new, take it.
	if workflow.GetVersion(ctx, versionReplanSignal, workflow.DefaultVersion, 1) == 1 {
		w.replanCh = workflow.GetSignalChannel(ctx, SignalLeadReplan)
	}
	w.wake = workflow.NewBufferedChannel(ctx, 1)
	if err := w.setup(); err != nil {
		return err
	}
	return w.run()
}

func (w *leadWF) setup() error {
	if err := workflow.SetQueryHandler(w.ctx, QueryLeadState, func() (LeadState, error) {
		next := w.p.NextStep
		if !w.sequenceRunning() {
			next = -1
		}
		return LeadState{Status: w.status, Phase: w.phase, NextStep: next, NextAt: w.nextAt}, nil
	}); err != nil {
		return fmt.Errorf("lead state query: %w", err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(w.ctx, UpdateLeadStatus, w.setStatus,
		workflow.UpdateHandlerOptions{Validator: w.validateStatus}); err != nil {
		return fmt.Errorf("set-status update: %w", err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(w.ctx, UpdateLeadSendNow, w.sendNow,
		workflow.UpdateHandlerOptions{Validator: w.validateSendNow}); err != nil {
		return fmt.Errorf("send-now update: %w", err)
	}
	return nil
}

func (w *leadWF) run() error {
	for {
		w.takePending()
		if w.stopped || w.gone {
			return w.finish()
		}
		if w.status.Terminal() {
			if end := w.p.TerminalByReplyAt.Add(ReclassifyGrace); !w.p.TerminalByReplyAt.IsZero() && workflow.Now(w.ctx).Before(end) {
				w.setPhase(PhaseDone, end)
				w.sleepUntil(end)
				continue
			}
			if err := w.finish(); err != nil {
				return err
			}
			// A reply reclassified in the last moment (taken by finish's
			// drain) can make the lead live again: it goes on.
			if w.status.Terminal() || w.stopped || w.gone ||
				workflow.GetVersion(w.ctx, versionRevivedAtClose, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
				return nil
			}
			continue
		}
		if w.shouldContinueAsNew() {
			return w.continueAsNew()
		}
		switch {
		case w.status == models.StatusDiscovered && !w.dispatched && !w.p.SeqStopped:
			w.setPhase(PhaseWaitingDispatch, time.Time{})
			w.sleepUntil(time.Time{})
		case w.sequenceRunning():
			if w.replan {
				if w.replanNow() {
					w.sendStep(true)
				}
			} else if w.stepReady() {
				w.sendStep(false)
			}
		default:
			w.setPhase(PhaseDone, time.Time{})
			w.sleepUntil(time.Time{})
		}
	}
}

func (w *leadWF) steps() int {
	if len(w.plan.Delays) == 0 {
		// Unknown plan: try; the send activity knows the sequence.
		return w.p.NextStep + 1
	}
	return len(w.plan.Delays)
}

func (w *leadWF) sequenceRunning() bool {
	if w.p.SeqStopped || w.p.NextStep >= w.steps() {
		return false
	}
	if w.p.NextStep == 0 {
		return w.status == models.StatusDiscovered && w.dispatched
	}
	return w.status == models.StatusContacted
}

// replanNow handles a change of the campaign's settings: a follow-up asks
// the send step again (it decides with the new settings and answers the
// new plan, which the lead adopts), at once, or once a reply's hold (an
// out-of-office, a soft bounce: the send step knows of neither) is over;
// it answers true when the step is to be asked now, and after a wait
// false, the change still pending.
func (w *leadWF) replanNow() bool {
	if w.p.NextStep == 0 || w.p.SendNow {
		w.replan = false // a first touch or a send-now asks anyway
		return false
	}
	if nb := w.p.NotBefore; nb.After(workflow.Now(w.ctx)) {
		w.setPhase(PhaseOutOfOffice, nb)
		w.sleepUntil(nb)
		return false
	}
	w.replan = false
	return true
}

// due is when the next step may go, before the window is considered.
func (w *leadWF) due() time.Time {
	if w.p.SendNow {
		return time.Time{}
	}
	var d time.Time
	if w.p.NextStep > 0 && w.p.NextStep < len(w.plan.Delays) {
		d = w.p.LastSentAt.Add(time.Duration(w.plan.Delays[w.p.NextStep] * float64(24*time.Hour)))
	}
	if w.p.NotBefore.After(d) {
		d = w.p.NotBefore
	}
	return d
}

// stepReady waits for the step's due time and then for the sending window;
// it answers true when the step may be sent now, false after any wait (the
// loop then looks again: a signal may have changed everything).
func (w *leadWF) stepReady() bool {
	now := workflow.Now(w.ctx)
	if due := w.due(); due.After(now) {
		phase := PhaseWaitingFollowUp
		if !w.p.NotBefore.IsZero() && !w.p.NotBefore.Before(due) {
			phase = PhaseOutOfOffice
		}
		w.setPhase(phase, due)
		w.sleepUntil(due)
		return false
	}
	if win, err := models.ResolveWindow(w.plan.Settings()); err == nil {
		if open := win.NextOpen(now); open.After(now) {
			w.setPhase(PhaseWaitingWindow, open)
			w.sleepUntil(open)
			return false
		}
	}
	return true
}

// sendStep asks the send activity for the next step; replan marks a
// question asked only because the campaign's plan changed.
func (w *leadWF) sendStep(replan bool) {
	step := w.p.NextStep
	w.setPhase(PhaseSending, workflow.Now(w.ctx))
	var res SendResult
	err := workflow.ExecuteActivity(sendActivity(w.ctx), ActivitySendStep, SendRequest{
		CampaignID: w.in.CampaignID, LeadID: w.in.LeadID, Step: step, IgnoreDue: w.p.SendNow, Replan: replan,
	}).Get(w.ctx, &res)
	if err != nil {
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.Type() == ErrTypeSMTPPermanent {
			if derr := appErr.Details(&res); derr == nil {
				w.mergeStatus(res.Status)
			}
			w.stopSequence("permanent SMTP failure")
			w.p.SendNow = false
			return
		}
		workflow.GetLogger(w.ctx).Error("send step failed; trying again later", "step", step, "error", err)
		w.setPhase(PhaseDeferred, workflow.Now(w.ctx).Add(errorBackoff))
		w.sleepUntil(workflow.Now(w.ctx).Add(errorBackoff))
		return
	}
	if len(res.Plan.Delays) > 0 {
		w.plan = res.Plan
	}
	w.mergeStatus(res.Status)
	if res.Outcome != OutcomePaused {
		w.p.Parks = 0
	}
	switch res.Outcome {
	case OutcomeSent, OutcomeUnknown:
		w.p.LastSentAt = res.SentAt
		if w.p.LastSentAt.IsZero() {
			w.p.LastSentAt = workflow.Now(w.ctx)
		}
		w.p.NextStep = step + 1
		w.p.SendNow = false
	case OutcomeDeferred:
		w.setPhase(PhaseDeferred, res.Until)
		w.sleepUntil(res.Until)
	case OutcomePaused:
		w.p.Parks++
		wait := parkedRecheck
		for i := 1; i < w.p.Parks && wait < parkedRecheckMax; i++ {
			wait *= 2
		}
		until := workflow.Now(w.ctx).Add(min(wait, parkedRecheckMax))
		w.setPhase(PhaseParked, until)
		w.sleepUntil(until)
	case OutcomeBlocked:
		w.stopSequence("blocked: " + res.Reason)
		w.p.SendNow = false
	case OutcomeDone:
		w.stopSequence("sequence ended")
		w.p.SendNow = false
	case OutcomeGone:
		w.gone = true
	default:
		workflow.GetLogger(w.ctx).Error("unknown send outcome", "outcome", res.Outcome)
		w.sleepUntil(workflow.Now(w.ctx).Add(errorBackoff))
	}
}

func (w *leadWF) stopSequence(reason string) {
	if !w.p.SeqStopped {
		w.p.SeqStopped, w.p.StopReason = true, reason
	}
}

// sleepUntil waits until t (zero: no timer) or until a signal or update
// wakes the loop; it answers whether something woke it.
func (w *leadWF) sleepUntil(t time.Time) bool {
	var timer workflow.Future
	cancel := func() {}
	if !t.IsZero() {
		d := t.Sub(workflow.Now(w.ctx))
		if d <= 0 {
			return false
		}
		var tctx workflow.Context
		tctx, cancel = workflow.WithCancel(w.ctx)
		timer = workflow.NewTimer(tctx, d)
	}
	woken := false
	sel := workflow.NewSelector(w.ctx)
	if timer != nil {
		sel.AddFuture(timer, func(workflow.Future) {})
	}
	sel.AddReceive(w.dispatchCh, func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(w.ctx, nil)
		w.dispatched, woken = true, true
	})
	sel.AddReceive(w.resumeCh, func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(w.ctx, nil)
		woken = true
	})
	sel.AddReceive(w.stopCh, func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(w.ctx, nil)
		w.stopped, woken = true, true
	})
	sel.AddReceive(w.replyCh, func(c workflow.ReceiveChannel, _ bool) {
		var r ReplySignal
		c.Receive(w.ctx, &r)
		w.onReply(r)
		woken = true
	})
	sel.AddReceive(w.wake, func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(w.ctx, nil)
		woken = true
	})
	if w.replanCh != nil {
		sel.AddReceive(w.replanCh, func(c workflow.ReceiveChannel, _ bool) {
			c.Receive(w.ctx, nil)
			w.replan, woken = true, true
		})
	}
	sel.Select(w.ctx)
	if woken {
		cancel()
	}
	return woken
}

// takePending applies every buffered signal without blocking.
func (w *leadWF) takePending() {
	for {
		got := false
		for w.dispatchCh.ReceiveAsync(nil) {
			w.dispatched, got = true, true
		}
		for w.resumeCh.ReceiveAsync(nil) {
			got = true
		}
		for w.stopCh.ReceiveAsync(nil) {
			w.stopped, got = true, true
		}
		var r ReplySignal
		for w.replyCh.ReceiveAsync(&r) {
			w.onReply(r)
			r, got = ReplySignal{}, true
		}
		for w.wake.ReceiveAsync(nil) {
			got = true
		}
		for w.replanCh != nil && w.replanCh.ReceiveAsync(nil) {
			w.replan, got = true, true
		}
		if !got {
			return
		}
	}
}

// onReply applies a classified reply (SPEC §8).
func (w *leadWF) onReply(r ReplySignal) {
	if w.updating > 0 {
		// A manual status change is being written: the reply applies to
		// the status it leaves (versionStatusExclusive).
		_ = workflow.Await(w.ctx, func() bool { return w.updating == 0 })
	}
	if r.Reclassified && w.sameAsApplied(r) &&
		workflow.GetVersion(w.ctx, versionReclassifyOnce, workflow.DefaultVersion, 1) == 1 {
		// The same correction delivered again (two deliverers raced).
		return
	}
	if r.Reclassified && w.canReplay(r.ReplyID) &&
		workflow.GetVersion(w.ctx, versionReclassifyReplay, workflow.DefaultVersion, 1) == 1 {
		w.reclassify(r)
		return
	}
	if !r.Reclassified && w.appliedIndex(r.ReplyID) >= 0 &&
		workflow.GetVersion(w.ctx, versionReplyOnce, workflow.DefaultVersion, 1) == 1 {
		// Delivered again (two deliverers raced): applied once already.
		return
	}
	fromBase := r.Reclassified && w.p.ReplyBase != nil && w.p.ReplyBase.ReplyID == r.ReplyID
	if fromBase && w.p.ManualAfterReply &&
		workflow.GetVersion(w.ctx, versionManualDecisionKept, workflow.DefaultVersion, 1) == 1 {
		// A person has set the status since: the new tag applies on top of
		// that decision, as any reply after it would.
		fromBase = false
	}
	if fromBase {
		// As if the new tag were the first: back to the state before the
		// reply, then apply it.
		b := w.p.ReplyBase
		if w.status != b.Status {
			_ = w.transition(w.ctx, TransitionRequest{
				To: b.Status, Source: "reply", Detail: "reply reclassified as " + r.Tag,
				Force: true, ExpectFrom: w.status,
			})
		}
		w.p.SeqStopped, w.p.StopReason, w.p.NotBefore = b.SeqStopped, b.StopReason, b.NotBefore
		w.p.TerminalByReplyAt = time.Time{}
	} else if w.p.ReplyBase == nil {
		w.p.ReplyBase = &ReplyBase{
			ReplyID: r.ReplyID, Status: w.status, NotBefore: w.p.NotBefore,
			SeqStopped: w.p.SeqStopped, StopReason: w.p.StopReason,
		}
	}
	now := workflow.Now(w.ctx)
	a := w.applied(r, now)
	st := replayState{status: w.status, seqStopped: w.p.SeqStopped, stopReason: w.p.StopReason, notBefore: w.p.NotBefore}
	st.apply(a)
	if st.status != w.status {
		detail := r.Tag
		if r.Tag == models.ReplyBounce {
			detail = "hard bounce"
		}
		_ = w.transition(w.ctx, TransitionRequest{To: st.status, Source: "reply", Detail: detail})
	}
	w.p.SeqStopped, w.p.StopReason, w.p.NotBefore = st.seqStopped, st.stopReason, st.notBefore
	w.replyEvent(a)
	if w.status.Terminal() && w.p.TerminalByReplyAt.IsZero() {
		w.p.TerminalByReplyAt = now
	}
	w.recordApplied(a)
}

// replyEvent writes the timeline event of a reply that holds the next step
// back (an out-of-office, a soft bounce), or of an unknown tag.
func (w *leadWF) replyEvent(a AppliedReply) {
	switch {
	case a.Tag == models.ReplyOutOfOffice:
		w.event(EventKindPaused, "out of office until "+a.NotBefore.UTC().Format(time.RFC3339))
	case a.Tag == models.ReplyBounce && a.BounceKind == "soft":
		// The message will not be sent twice; the next follow-up is the
		// retry, no sooner than a day from now.
		w.event("reply", "soft bounce: next follow-up no earlier than "+a.NotBefore.UTC().Format(time.RFC3339))
	case !slices.Contains(models.ReplyTags, a.Tag):
		w.event("note", "reply with unknown tag "+a.Tag)
	}
}

// sameAsApplied reports whether r is a reply already applied with the same
// tag (and, for an out-of-office, the same return date, or none given).
func (w *leadWF) sameAsApplied(r ReplySignal) bool {
	i := w.appliedIndex(r.ReplyID)
	if i < 0 {
		return false
	}
	a := w.p.Replies[i]
	return a.Tag == r.Tag && a.BounceKind == r.BounceKind &&
		(r.Tag != models.ReplyOutOfOffice || r.Until.IsZero() || r.Until.Equal(a.NotBefore))
}

// appliedIndex is the position of a reply in LeadProgress.Replies, or -1.
func (w *leadWF) appliedIndex(replyID string) int {
	for i, a := range w.p.Replies {
		if a.ReplyID == replyID {
			return i
		}
	}
	return -1
}

// canReplay reports whether a reclassification of replyID can be replayed
// from the state before the first reply: every reply since is known (the
// list starts at the first, so none was dropped and none came before this
// was recorded), and no person changed the status in between.
func (w *leadWF) canReplay(replyID string) bool {
	return w.p.ReplyBase != nil && len(w.p.Replies) > 0 && w.p.Replies[0].ReplyID == w.p.ReplyBase.ReplyID &&
		!w.p.ManualAfterReply && w.appliedIndex(replyID) >= 0
}

// recordApplied remembers a reply onReply has just applied, with the time
// it held the next step back to.
func (w *leadWF) recordApplied(a AppliedReply) {
	if i := w.appliedIndex(a.ReplyID); i >= 0 {
		w.p.Replies[i] = a
		return
	}
	w.p.Replies = append(w.p.Replies, a)
	if n := len(w.p.Replies); n > maxAppliedReplies {
		w.p.Replies = append([]AppliedReply(nil), w.p.Replies[n-maxAppliedReplies:]...)
	}
}

// applied is r as recorded in LeadProgress.Replies, received at now: an
// out-of-office holds the next step back to its return date (or the
// plan's default delay), a soft bounce for softBounceDelay (as onReply).
func (w *leadWF) applied(r ReplySignal, now time.Time) AppliedReply {
	a := AppliedReply{ReplyID: r.ReplyID, Tag: r.Tag, BounceKind: r.BounceKind}
	switch {
	case r.Tag == models.ReplyOutOfOffice:
		a.NotBefore = r.Until
		if a.NotBefore.IsZero() {
			d := w.plan.OOODefault
			if d <= 0 {
				d = defaultOOODelay
			}
			a.NotBefore = now.Add(d)
		}
	case r.Tag == models.ReplyBounce && r.BounceKind == "soft":
		a.NotBefore = now.Add(softBounceDelay)
	}
	return a
}

// reclassify applies a user's correction of one applied reply: the lead
// ends as if that reply had carried the new tag from the start, the
// replies before and after it included. The state is rebuilt from the one
// before the first reply, and the status moved there in one transition.
func (w *leadWF) reclassify(r ReplySignal) {
	now := workflow.Now(w.ctx)
	a := w.applied(r, now)
	w.p.Replies[w.appliedIndex(r.ReplyID)] = a
	b := w.p.ReplyBase
	st := replayState{status: b.Status, seqStopped: b.SeqStopped, stopReason: b.StopReason, notBefore: b.NotBefore}
	for _, applied := range w.p.Replies {
		st.apply(applied)
	}
	if w.status != st.status {
		_ = w.transition(w.ctx, TransitionRequest{
			To: st.status, Source: "reply", Detail: "reply reclassified as " + r.Tag,
			Force: true, ExpectFrom: w.status,
		})
	}
	w.p.SeqStopped, w.p.StopReason, w.p.NotBefore = st.seqStopped, st.stopReason, st.notBefore
	w.replyEvent(a)
	w.p.TerminalByReplyAt = time.Time{}
	if w.status.Terminal() {
		w.p.TerminalByReplyAt = now
	}
}

// replayState is a lead's reply-driven state, rebuilt by reclassify.
type replayState struct {
	status     models.LeadStatus
	seqStopped bool
	stopReason string
	notBefore  time.Time
}

// apply is onReply's effect of one reply on the state (SPEC §8).
func (s *replayState) apply(a AppliedReply) {
	stop := func(reason string) {
		if !s.seqStopped {
			s.seqStopped, s.stopReason = true, reason
		}
	}
	switch a.Tag {
	case models.ReplyInterested, models.ReplyNeutral, models.ReplyAsksPayment:
		stop("reply: " + a.Tag)
		if s.status == models.StatusContacted {
			s.status = models.StatusReplied
		}
	case models.ReplyNotInterested, models.ReplyUnsubscribe:
		stop("reply: " + a.Tag)
		switch s.status {
		case models.StatusContacted:
			s.status = models.StatusBounced
		case models.StatusReplied:
			s.status = models.StatusLost
		}
	case models.ReplyBounce:
		if a.BounceKind != "soft" {
			stop("hard bounce")
			if s.status == models.StatusContacted {
				s.status = models.StatusBounced
			}
			return
		}
		if a.NotBefore.After(s.notBefore) {
			s.notBefore = a.NotBefore
		}
	case models.ReplyOutOfOffice:
		if a.NotBefore.After(s.notBefore) {
			s.notBefore = a.NotBefore
		}
	}
}

// EventKindPaused is the timeline kind of an out-of-office pause.
const EventKindPaused = "paused"

// transition writes a status change through the activity and adopts the
// stored status, also when the database refused (it knows better). ctx is
// the calling coroutine's: the main loop's or an update handler's.
func (w *leadWF) transition(ctx workflow.Context, req TransitionRequest) error {
	req.CampaignID, req.LeadID = w.in.CampaignID, w.in.LeadID
	var res TransitionResult
	err := execDB(ctx, ActivityLeadTransition, req).Get(ctx, &res)
	if err != nil {
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) {
			switch appErr.Type() {
			case ErrTypeInvalidTransition:
				var from, to models.LeadStatus
				if appErr.Details(&from, &to) == nil {
					w.adopt(from)
				}
				return transitionError(from, req.To)
			case ErrTypeLeadGone:
				w.gone = true
			}
		}
		return err
	}
	w.adopt(res.Status)
	return nil
}

func (w *leadWF) event(kind, detail string) {
	step := w.p.NextStep
	err := execDB(w.ctx, ActivityLeadEvent, LeadEventRequest{
		CampaignID: w.in.CampaignID, LeadID: w.in.LeadID, Kind: kind, Detail: detail, Step: &step,
	}).Get(w.ctx, nil)
	if err != nil {
		workflow.GetLogger(w.ctx).Warn("timeline event not written", "kind", kind, "error", err)
	}
}

func statusRank(s models.LeadStatus) int {
	switch s {
	case models.StatusDiscovered:
		return 0
	case models.StatusContacted:
		return 1
	case models.StatusReplied, models.StatusBounced:
		return 2
	case models.StatusPlaced, models.StatusLost:
		return 3
	default:
		return -1
	}
}

// mergeStatus adopts a status an activity read from the database, unless
// it is behind what this workflow already knows (statuses only move
// forward; two activities may answer out of order).
func (w *leadWF) mergeStatus(s models.LeadStatus) {
	if s == "" || s == w.status || statusRank(s) < statusRank(w.status) {
		return
	}
	w.adopt(s)
}

// adopt sets the status and mirrors it into LeadStatus.
func (w *leadWF) adopt(s models.LeadStatus) {
	if s == "" || s == w.status {
		return
	}
	w.status = s
	if s.StopsSequence() {
		w.stopSequence("lead is " + string(s))
	}
	if err := workflow.UpsertTypedSearchAttributes(w.ctx, LeadStatusKey.ValueSet(string(s))); err != nil {
		workflow.GetLogger(w.ctx).Error("LeadStatus not upserted", "error", err)
	}
}

func transitionError(from, to models.LeadStatus) error {
	return temporal.NewApplicationErrorWithOptions(
		fmt.Sprintf("invalid_transition: %s -> %s", from, to), ErrTypeInvalidTransition,
		temporal.ApplicationErrorOptions{NonRetryable: true, Details: []any{from, to}})
}

func (w *leadWF) validateStatus(c StatusChange) error {
	if err := models.CheckTransition(w.status, c.Status); err != nil {
		var te *models.TransitionError
		if errors.As(err, &te) {
			return transitionError(te.From, te.To)
		}
		return temporal.NewApplicationErrorWithOptions(err.Error(), "InvalidStatus",
			temporal.ApplicationErrorOptions{NonRetryable: true})
	}
	return nil
}

func (w *leadWF) setStatus(ctx workflow.Context, c StatusChange) (StatusResult, error) {
	from := w.status
	if c.Status == from {
		return StatusResult{From: from, Status: from}, nil
	}
	source := c.Source
	if source == "" {
		source = "api"
	}
	if workflow.GetVersion(ctx, versionStatusExclusive, workflow.DefaultVersion, 1) == 1 {
		w.updating++
		defer func() { w.updating-- }()
	}
	if err := w.transition(ctx, TransitionRequest{To: c.Status, Source: source}); err != nil {
		return StatusResult{From: from, Status: w.status}, err
	}
	if from == models.StatusDiscovered && w.status == models.StatusContacted {
		// Marked contacted by hand: the pitch went out some other way.
		w.stopSequence("marked contacted by hand")
	}
	if w.p.ReplyBase != nil {
		w.p.ManualAfterReply = true
	}
	w.wake.SendAsync(true)
	return StatusResult{From: from, Status: w.status, Changed: w.status != from}, nil
}

func (w *leadWF) validateSendNow() error {
	if (w.status != models.StatusDiscovered && w.status != models.StatusContacted) || w.p.SeqStopped ||
		w.p.NextStep >= w.steps() || w.stopped || w.gone {
		reason := "the lead is " + string(w.status)
		if w.p.SeqStopped {
			reason += " and its sequence has stopped (" + w.p.StopReason + ")"
		} else if w.p.NextStep >= w.steps() {
			reason += " and its sequence is complete"
		}
		return temporal.NewApplicationErrorWithOptions("nothing to send: "+reason, ErrTypeNothingToSend,
			temporal.ApplicationErrorOptions{NonRetryable: true})
	}
	return nil
}

func (w *leadWF) sendNow(ctx workflow.Context) (SendNowResult, error) {
	if w.status == models.StatusDiscovered && !w.dispatched {
		err := execDB(ctx, ActivityLeadDispatched,
			LeadDispatchedRequest{CampaignID: w.in.CampaignID, LeadID: w.in.LeadID}).Get(ctx, nil)
		if err != nil {
			return SendNowResult{}, err
		}
		w.dispatched = true
	}
	w.p.SendNow = true
	w.wake.SendAsync(true)
	return SendNowResult{Step: w.p.NextStep, Phase: w.phase}, nil
}

func (w *leadWF) setPhase(phase string, at time.Time) {
	if phase == w.phase && at.Equal(w.nextAt) {
		return
	}
	w.phase, w.nextAt = phase, at
	detail := fmt.Sprintf("**Lead:** %s  \n**Status:** %s  \n**Phase:** %s", w.in.LeadID, w.status, phase)
	if w.sequenceRunning() || phase == PhaseSending {
		detail += fmt.Sprintf("  \n**Step:** %d of %d", w.p.NextStep+1, w.steps())
	}
	if !at.IsZero() {
		detail += "  \n**Until:** " + at.UTC().Format("2006-01-02 15:04:05 MST")
	}
	if w.p.SeqStopped && w.p.StopReason != "" {
		detail += "  \n**Sequence stopped:** " + w.p.StopReason
	}
	workflow.SetCurrentDetails(w.ctx, detail)
}

func (w *leadWF) shouldContinueAsNew() bool {
	info := workflow.GetInfo(w.ctx)
	return info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() > leadHistoryLimit
}

func (w *leadWF) drainAndAwait() error {
	w.takePending()
	if err := workflow.Await(w.ctx, func() bool { return workflow.AllHandlersFinished(w.ctx) }); err != nil {
		return fmt.Errorf("await handlers: %w", err)
	}
	w.takePending()
	return nil
}

func (w *leadWF) continueAsNew() error {
	if err := w.drainAndAwait(); err != nil {
		return err
	}
	p := w.p
	p.Replan = w.replan
	return workflow.NewContinueAsNewError(w.ctx, LeadWorkflowName, LeadInput{
		CampaignID: w.in.CampaignID, LeadID: w.in.LeadID, OwnerID: w.in.OwnerID,
		Status: w.status, Dispatched: w.dispatched, Plan: w.plan, Progress: &p,
	})
}

func (w *leadWF) finish() error {
	w.setPhase(PhaseDone, time.Time{})
	return w.drainAndAwait()
}

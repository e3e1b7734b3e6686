package inbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/workflows"
)

// ErrNoWorkflow means the lead's workflow is not running (it finished, or
// the campaign was deleted): the reply is kept and counted, but there is
// nothing left to tell.
var ErrNoWorkflow = errors.New("the lead's workflow is not running")

// Notifier delivers a classified reply to its lead workflow.
type Notifier interface {
	SignalLead(ctx context.Context, campaignID, leadID string, sig workflows.ReplySignal) error
}

// Effects delivers stored replies' pending effects to lead workflows.
type Effects struct {
	DB       *gorm.DB
	Notifier Notifier
	Log      *slog.Logger
	Now      func() time.Time
	// Concurrency bounds signals in flight; 0 means 8.
	Concurrency int
}

// EffectStats counts one delivery run.
type EffectStats struct {
	Delivered  int
	NoWorkflow int
	Failed     int
}

// Deliver signals up to limit pending effects (only those of replyIDs when
// given; without, the signals queued apart from replies as well: a one-click
// unsubscribe that met an outage). A failure is recorded on the effect,
// which stays pending for the next run; the error returned is the first
// failure, so callers that must not lose an effect (an activity) can retry.
func (e *Effects) Deliver(ctx context.Context, limit int, replyIDs ...string) (EffectStats, error) {
	var st EffectStats
	pending, err := store.PendingEffects(ctx, e.DB, limit, replyIDs...)
	if err != nil {
		return st, err
	}
	var signals []store.LeadSignal
	if len(replyIDs) == 0 && len(pending) < limit {
		if signals, err = store.PendingLeadSignals(ctx, e.DB, limit-len(pending)); err != nil {
			return st, err
		}
	}
	conc := e.Concurrency
	if conc <= 0 {
		conc = 8
	}
	var (
		mu       sync.Mutex
		firstErr error
	)
	count := func(state string, sigErr error) {
		mu.Lock()
		defer mu.Unlock()
		switch state {
		case store.EffectDelivered:
			st.Delivered++
		case store.EffectNoWorkflow:
			st.NoWorkflow++
		default:
			st.Failed++
			if firstErr == nil {
				firstErr = sigErr
			}
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(conc)
	for _, pe := range pending {
		g.Go(func() error {
			state, sigErr := e.deliverOne(gctx, pe)
			if err := store.FinishEffect(gctx, e.DB, pe.Effect, state, errText(sigErr), e.now()); err != nil {
				return err
			}
			count(state, sigErr)
			return nil
		})
	}
	for _, ls := range signals {
		g.Go(func() error {
			sig := workflows.ReplySignal{ReplyID: ls.SignalID(), Tag: ls.Tag}
			state, sigErr := e.signal(gctx, ls.CampaignID, ls.LeadID, sig)
			if err := store.FinishLeadSignal(gctx, e.DB, ls, errText(sigErr), e.now()); err != nil {
				return err
			}
			count(state, sigErr)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return st, err
	}
	if firstErr != nil {
		return st, fmt.Errorf("deliver reply effects: %d failed: %w", st.Failed, firstErr)
	}
	return st, nil
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func (e *Effects) deliverOne(ctx context.Context, pe store.PendingEffect) (string, error) {
	r := pe.Reply
	if r.CampaignID == nil || r.LeadID == nil {
		return store.EffectNoWorkflow, nil
	}
	sig := workflows.ReplySignal{
		ReplyID: r.ID, Tag: r.Classification, BounceKind: r.BounceKind, Reclassified: pe.Effect.Reclassified,
	}
	if r.OOOUntil != nil {
		sig.Until = r.OOOUntil.UTC()
	}
	return e.signal(ctx, *r.CampaignID, *r.LeadID, sig)
}

// signal delivers sig and answers the state it leaves the effect in.
func (e *Effects) signal(ctx context.Context, campaignID, leadID string, sig workflows.ReplySignal) (string, error) {
	err := e.Notifier.SignalLead(ctx, campaignID, leadID, sig)
	switch {
	case err == nil:
		return store.EffectDelivered, nil
	case errors.Is(err, ErrNoWorkflow):
		e.log().InfoContext(ctx, "signal for a lead whose workflow has finished", "signal", sig.ReplyID, "lead_id", leadID)
		return store.EffectNoWorkflow, nil
	default:
		e.log().WarnContext(ctx, "lead signal failed; will retry", "signal", sig.ReplyID, "error", err)
		return store.EffectPending, err
	}
}

func (e *Effects) now() time.Time {
	if e.Now != nil {
		return e.Now().UTC()
	}
	return time.Now().UTC()
}

func (e *Effects) log() *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.New(slog.DiscardHandler)
}

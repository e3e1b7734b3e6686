package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"go.temporal.io/api/serviceerror"
	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/internal/metrics"
	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/internal/temporalx"
	"github.com/backlinkoutreach/outreach/models"
	"github.com/backlinkoutreach/outreach/workflows"
)

// signalParallel bounds concurrent signals from one activity.
const signalParallel = 16

// CampaignSync reads the campaign's state and backlog.
func (a *Activities) CampaignSync(ctx context.Context, campaignID string) (workflows.CampaignSyncResult, error) {
	s, err := store.SnapshotCampaign(ctx, a.DB, campaignID)
	if err != nil {
		return workflows.CampaignSyncResult{}, err
	}
	out := workflows.CampaignSyncResult{Exists: s.Exists, State: s.State, Unstarted: int(s.Unstarted), Ready: int(s.Ready)}
	if s.Exists {
		b, err := json.Marshal(a.planFrom(s.Settings))
		if err != nil {
			return out, fmt.Errorf("plan fingerprint: %w", err)
		}
		sum := sha256.Sum256(b)
		out.PlanKey = hex.EncodeToString(sum[:8])
	}
	return out, nil
}

func (a *Activities) loadCampaign(ctx context.Context, id string) (models.Campaign, bool, error) {
	var c models.Campaign
	err := a.DB.WithContext(ctx).Where("id = ?", id).Take(&c).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return c, false, nil
	}
	if err != nil {
		return c, false, fmt.Errorf("load campaign: %w", err)
	}
	return c, c.State != models.CampaignDeleting, nil
}

// CampaignNextLeads selects leads without a workflow; while the campaign is
// active it also dispatches, at start, the first touches today's room
// allows.
func (a *Activities) CampaignNextLeads(ctx context.Context, req workflows.NextLeadsRequest) (workflows.NextLeadsResult, error) {
	c, ok, err := a.loadCampaign(ctx, req.CampaignID)
	if err != nil || !ok {
		return workflows.NextLeadsResult{}, err
	}
	starts, err := store.NextLeadsToStart(ctx, a.DB, c, req.Limit, c.State == models.CampaignActive, a.Settings.Limits, a.now())
	if err != nil {
		return workflows.NextLeadsResult{}, err
	}
	out := workflows.NextLeadsResult{Exists: true, State: c.State, Plan: a.planFrom(c.Settings), Leads: make([]workflows.LeadToStart, len(starts))}
	for i, s := range starts {
		out.Leads[i] = workflows.LeadToStart{LeadID: s.ID, Status: s.Status, Dispatch: s.Dispatch}
	}
	return out, nil
}

// CampaignMarkStarted records started lead workflows and tells the ones
// that already existed to dispatch.
func (a *Activities) CampaignMarkStarted(ctx context.Context, req workflows.MarkStartedRequest) error {
	if _, err := a.signalLeads(ctx, req.CampaignID, req.Redispatch, workflows.SignalLeadDispatch); err != nil {
		return err
	}
	if err := store.MarkWorkflowsStarted(ctx, a.DB, req.CampaignID, req.LeadIDs); err != nil {
		return err
	}
	// Counted here, not in workflow code, which replays.
	metrics.WorkflowStartsTotal.WithLabelValues("lead").Add(float64(req.New))
	return nil
}

// CampaignDispatch signals up to req.Max ready first touches within
// today's room and marks them dispatched.
func (a *Activities) CampaignDispatch(ctx context.Context, req workflows.DispatchRequest) (workflows.DispatchResult, error) {
	stop := keepAlive(ctx)
	defer stop()
	c, ok, err := a.loadCampaign(ctx, req.CampaignID)
	if err != nil || !ok {
		return workflows.DispatchResult{State: models.CampaignDeleting}, err
	}
	out := workflows.DispatchResult{State: c.State}
	if c.State != models.CampaignActive {
		return out, nil
	}
	room, err := store.DispatchRoom(ctx, a.DB, c, a.Settings.Limits, a.now())
	if err != nil {
		return out, err
	}
	n := req.Max
	if !room.Unlimited {
		n = min(n, room.N)
	}
	var ids []string
	if n > 0 {
		if ids, err = store.ReadyLeads(ctx, a.DB, c.ID, n); err != nil {
			return out, err
		}
	}
	done, sigErr := a.signalLeads(ctx, c.ID, ids, workflows.SignalLeadDispatch)
	// Marked after the signal: a crash in between re-signals (harmless,
	// the lead ignores a second dispatch), never strands a lead marked but
	// never told.
	if err := store.SetDispatched(ctx, a.DB, done, a.now()); err != nil {
		return out, err
	}
	if sigErr != nil {
		return out, sigErr
	}
	out.Dispatched = len(done)
	snap, err := store.SnapshotCampaign(ctx, a.DB, c.ID)
	if err != nil {
		return out, err
	}
	out.Ready = int(snap.Ready)
	roomLeft := room.Unlimited || room.N > len(ids)
	out.More = len(ids) == req.Max && out.Ready > 0 && roomLeft
	if !roomLeft {
		out.NextRoom = room.Next
	}
	return out, nil
}

// CampaignWakeParked signals resume to leads parked by a pause.
func (a *Activities) CampaignWakeParked(ctx context.Context, req workflows.WakeParkedRequest) (workflows.WakeParkedResult, error) {
	stop := keepAlive(ctx)
	defer stop()
	ids, err := store.ParkedLeadIDs(ctx, a.DB, req.CampaignID, req.After, req.Max)
	if err != nil {
		return workflows.WakeParkedResult{}, err
	}
	// A lead whose signal fails stays parked: it wakes by its own re-check,
	// or by the next resume.
	done, sigErr := a.signalLeads(ctx, req.CampaignID, ids, workflows.SignalLeadResume)
	if sigErr != nil {
		a.Log.WarnContext(ctx, "some parked leads were not woken; they look again by themselves", "error", sigErr)
	}
	if err := store.UnparkLeads(ctx, a.DB, done); err != nil {
		return workflows.WakeParkedResult{}, err
	}
	out := workflows.WakeParkedResult{Woken: len(done), More: len(ids) == req.Max}
	if out.More {
		out.Next = ids[len(ids)-1]
	}
	return out, nil
}

// CampaignReplanLeads signals replan to a page of the campaign's contacted
// leads after its settings changed. A lead whose signal fails keeps its
// plan until its next send decision, which reads the new settings anyway.
func (a *Activities) CampaignReplanLeads(ctx context.Context, req workflows.ReplanRequest) (workflows.ReplanResult, error) {
	stop := keepAlive(ctx)
	defer stop()
	ids, err := store.LeadIDsOfCampaignInStatus(ctx, a.DB, req.CampaignID, models.StatusContacted, req.After, req.Max)
	if err != nil {
		return workflows.ReplanResult{}, err
	}
	done, err := a.signalLeads(ctx, req.CampaignID, ids, workflows.SignalLeadReplan)
	if err != nil {
		a.Log.WarnContext(ctx, "some leads were not told of the new settings; they adopt them at their next send", "error", err)
	}
	out := workflows.ReplanResult{Signalled: len(done)}
	if len(ids) == req.Max {
		out.Next = ids[len(ids)-1]
	}
	return out, nil
}

// signalLeads signals each lead's workflow. It answers the leads that got
// the signal or whose workflow no longer runs (nothing to tell), and the
// first other error.
func (a *Activities) signalLeads(ctx context.Context, campaignID string, ids []string, signal string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var (
		mu       sync.Mutex
		done     []string
		firstErr error
		wg       sync.WaitGroup
	)
	sem := make(chan struct{}, signalParallel)
	for _, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := a.Temporal.SignalWorkflow(ctx, workflows.LeadWorkflowID(campaignID, id), "", signal, nil)
			var nf *serviceerror.NotFound
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil, errors.As(err, &nf):
				done = append(done, id)
			case firstErr == nil:
				firstErr = temporalx.Classify(fmt.Errorf("signal %s to lead %s: %w", signal, id, err))
			}
		}()
	}
	wg.Wait()
	return done, firstErr
}

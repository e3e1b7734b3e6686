package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	batchpb "go.temporal.io/api/batch/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/internal/metrics"
	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/internal/temporalx"
	"github.com/backlinkoutreach/outreach/models"
	"github.com/backlinkoutreach/outreach/workflows"
)

// Outreach is what the outreach handlers ask of the engine beyond Engine.
// TemporalEngine implements both.
type Outreach interface {
	Engine
	// Launch, Pause and Resume tell the campaign workflow; the caller has
	// stored the new state first.
	Launch(ctx context.Context, c models.Campaign) error
	Pause(ctx context.Context, c models.Campaign) error
	Resume(ctx context.Context, c models.Campaign) error
	// SetLeadStatus changes a lead's status through its workflow.
	SetLeadStatus(ctx context.Context, c models.Campaign, leadID string, to models.LeadStatus) (workflows.StatusResult, error)
	// BulkStatus runs the bulk status workflow and waits for its result.
	BulkStatus(ctx context.Context, c models.Campaign, ids []string, to models.LeadStatus) (workflows.BulkStatusResult, error)
	// SendNow asks a lead to send its next step now.
	SendNow(ctx context.Context, c models.Campaign, leadID string) (workflows.SendNowResult, error)
}

// TemporalEngine is the Engine on Temporal: campaign workflows started and
// signalled through the client, lead workflows changed through Updates.
type TemporalEngine struct {
	Client    client.Client
	DB        *gorm.DB
	TaskQueue string
	Log       *slog.Logger
	// CallTimeout bounds one Temporal call made for a request (default
	// 10 s), so an unreachable server answers 503 quickly.
	CallTimeout time.Duration
	// BulkTimeout bounds a bulk status request (default 5 min).
	BulkTimeout time.Duration
	// DeleteWait bounds the wait for the campaign's SMTP conversations in
	// flight at delete (default 90 s: longer than one conversation may
	// last, see activities).
	DeleteWait time.Duration
	// Namespace is needed for server-side batch jobs (default "default").
	Namespace string
	// BatchThreshold: a deleted campaign with more leads than this has its
	// lead workflows terminated by a server-side batch job instead of one
	// call each (default 2,000).
	BatchThreshold int
}

var _ Outreach = (*TemporalEngine)(nil)

// NewTemporalEngine builds the engine with default timeouts.
func NewTemporalEngine(c client.Client, db *gorm.DB, taskQueue string, log *slog.Logger) *TemporalEngine {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &TemporalEngine{
		Client: c, DB: db, TaskQueue: taskQueue, Log: log,
		CallTimeout: 10 * time.Second, BulkTimeout: 5 * time.Minute, DeleteWait: 90 * time.Second,
		Namespace: "default", BatchThreshold: 2000,
	}
}

func (e *TemporalEngine) call(ctx context.Context) (context.Context, context.CancelFunc) {
	d := e.CallTimeout
	if d <= 0 {
		d = 10 * time.Second
	}
	return context.WithTimeout(ctx, d)
}

func (e *TemporalEngine) campaignStart(c models.Campaign) (client.StartWorkflowOptions, workflows.CampaignInput) {
	opts := client.StartWorkflowOptions{
		ID:        workflows.CampaignWorkflowID(c.ID),
		TaskQueue: e.TaskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.CampaignIDKey.ValueSet(c.ID), workflows.OwnerIDKey.ValueSet(c.UserID)),
		StaticSummary: "Campaign " + c.ID,
	}
	return opts, workflows.CampaignInput{CampaignID: c.ID, OwnerID: c.UserID}
}

// CampaignCreated starts the campaign's workflow.
func (e *TemporalEngine) CampaignCreated(ctx context.Context, c models.Campaign) error {
	ctx, cancel := e.call(ctx)
	defer cancel()
	opts, in := e.campaignStart(c)
	_, err := e.Client.ExecuteWorkflow(ctx, opts, workflows.CampaignWorkflowName, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if err != nil && !errors.As(err, &started) {
		return temporalx.Classify(fmt.Errorf("start campaign workflow: %w", err))
	}
	metrics.WorkflowStartsTotal.WithLabelValues("campaign").Inc()
	return nil
}

// signal signals the campaign workflow, starting it when it does not run
// (a dev server restarted without its state, a workflow that ended on a
// bug): the campaign's rows are the truth and the new run resumes from them.
func (e *TemporalEngine) signal(ctx context.Context, c models.Campaign, name string, arg any) error {
	ctx, cancel := e.call(ctx)
	defer cancel()
	opts, in := e.campaignStart(c)
	_, err := e.Client.SignalWithStartWorkflow(ctx, opts.ID, name, arg, opts, workflows.CampaignWorkflowName, in)
	if err != nil {
		return temporalx.Classify(fmt.Errorf("signal %s to campaign %s: %w", name, c.ID, err))
	}
	return nil
}

// LeadsAdded wakes the campaign workflow.
func (e *TemporalEngine) LeadsAdded(ctx context.Context, c models.Campaign, n int) error {
	return e.signal(ctx, c, workflows.SignalLeadsAdded, workflows.LeadsAdded{Count: n})
}

// CampaignChanged makes the workflow reload the campaign.
func (e *TemporalEngine) CampaignChanged(ctx context.Context, c models.Campaign) error {
	return e.signal(ctx, c, workflows.SignalCampaignSettings, nil)
}

// Launch tells the workflow the campaign is active.
func (e *TemporalEngine) Launch(ctx context.Context, c models.Campaign) error {
	return e.signal(ctx, c, workflows.SignalCampaignLaunch, nil)
}

// Pause tells the workflow the campaign is paused.
// The state is stored before: no send can pass the send step any more. It
// then waits out the SMTP conversations already past it (as a delete
// does), so that once pause has answered no e-mail of the campaign leaves.
func (e *TemporalEngine) Pause(ctx context.Context, c models.Campaign) error {
	sigErr := e.signal(ctx, c, workflows.SignalCampaignPause, nil)
	if err := e.waitSends(ctx, c.ID); err != nil {
		return errors.Join(sigErr, err)
	}
	return sigErr
}

// Resume tells the workflow to continue and wake parked leads.
func (e *TemporalEngine) Resume(ctx context.Context, c models.Campaign) error {
	return e.signal(ctx, c, workflows.SignalCampaignResume, nil)
}

// SetLeadStatus changes a lead's status through its Update. A lead whose
// workflow has ended is terminal: it answers from the database.
func (e *TemporalEngine) SetLeadStatus(ctx context.Context, c models.Campaign, leadID string, to models.LeadStatus) (workflows.StatusResult, error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := temporalx.UpdateLeadStatus(cctx, e.Client, c.ID, leadID, workflows.StatusChange{Status: to, Source: "api"}, "")
	if !errors.Is(err, temporalx.ErrWorkflowClosed) {
		return res, err
	}
	stored, derr := store.LeadStatusOf(ctx, e.DB, c.ID, leadID)
	if derr != nil {
		return res, derr
	}
	switch {
	case stored == to:
		return workflows.StatusResult{From: stored, Status: stored}, nil
	case stored.Terminal():
		return res, &models.TransitionError{From: stored, To: to}
	}
	// Not terminal: its workflow is not started yet (a large campaign
	// starts them in batches), and the row is the truth it will start from.
	tr, started, err := store.TransitionUnstartedLead(ctx, e.DB, c.ID, store.Transition{LeadID: leadID, To: to, Source: "api"})
	if err != nil {
		return res, err
	}
	if started {
		// Started meanwhile: about to answer through its Update.
		return res, fmt.Errorf("%w: the lead's workflow is starting", models.ErrUnavailable)
	}
	return workflows.StatusResult{From: tr.From, Status: tr.Status}, nil
}

// BulkStatus runs the bulk status workflow and waits for its answer.
func (e *TemporalEngine) BulkStatus(ctx context.Context, c models.Campaign, ids []string, to models.LeadStatus) (workflows.BulkStatusResult, error) {
	var res workflows.BulkStatusResult
	d := e.BulkTimeout
	if d <= 0 {
		d = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	run, err := e.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        workflows.BulkStatusWorkflowID(c.ID, models.NewID()),
		TaskQueue: e.TaskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.CampaignIDKey.ValueSet(c.ID), workflows.OwnerIDKey.ValueSet(c.UserID)),
		StaticSummary: fmt.Sprintf("Set %d leads of campaign %s to %s", len(ids), c.ID, to),
	}, workflows.BulkStatusWorkflowName, workflows.BulkStatusInput{
		CampaignID: c.ID, OwnerID: c.UserID, LeadIDs: ids, Status: to,
	})
	if err != nil {
		return res, temporalx.Classify(fmt.Errorf("start bulk status workflow: %w", err))
	}
	metrics.WorkflowStartsTotal.WithLabelValues("bulk_status").Inc()
	if err := run.Get(ctx, &res); err != nil {
		return res, temporalx.Classify(fmt.Errorf("bulk status workflow: %w", err))
	}
	return res, nil
}

// SendNow asks the lead's workflow to send its next step now.
func (e *TemporalEngine) SendNow(ctx context.Context, c models.Campaign, leadID string) (workflows.SendNowResult, error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := temporalx.SendNow(cctx, e.Client, c.ID, leadID)
	if errors.Is(err, temporalx.ErrWorkflowClosed) {
		stored, derr := store.LeadStatusOf(ctx, e.DB, c.ID, leadID)
		if derr != nil {
			return res, derr
		}
		if stored.Terminal() {
			return res, &temporalx.NothingToSendError{Reason: "nothing to send: the lead is " + string(stored)}
		}
		return res, fmt.Errorf("%w: the lead's workflow is not running yet", models.ErrUnavailable)
	}
	return res, err
}

// DeleteCampaign stops everything of the campaign. The campaign is already
// `deleting` (sends refuse it, under the campaign row lock), so once the
// conversations in flight are over no e-mail of it can leave; then the
// campaign, lead and bulk workflows are terminated.
func (e *TemporalEngine) DeleteCampaign(ctx context.Context, c models.Campaign) error {
	if err := e.DB.WithContext(ctx).Model(&models.Campaign{}).Where("id = ? AND state <> ?", c.ID, models.CampaignDeleting).
		Update("state", models.CampaignDeleting).Error; err != nil {
		return fmt.Errorf("mark campaign deleting: %w", err)
	}
	if err := e.waitSends(ctx, c.ID); err != nil {
		return err
	}
	// The campaign workflow first, so it starts no more children.
	if err := e.terminate(ctx, workflows.CampaignWorkflowID(c.ID), "campaign deleted"); err != nil {
		return err
	}
	counts, err := store.CampaignLeadCounts(ctx, e.DB, []string{c.ID})
	if err != nil {
		return err
	}
	if e.BatchThreshold > 0 && counts[c.ID].Total() > int64(e.BatchThreshold) {
		// Too many for one call each within a request: a batch job on the
		// server terminates them. No e-mail depends on it: the campaign's
		// rows are gone, so a lead workflow still running finds nothing to
		// send and ends itself.
		err = e.terminateByBatch(ctx, c)
		if err == nil || errors.Is(err, models.ErrUnavailable) {
			return err
		}
		e.Log.WarnContext(ctx, "batch termination refused; terminating one by one", "campaign_id", c.ID, "error", err)
	}
	after := ""
	for {
		ids, err := store.LeadIDsOfCampaign(ctx, e.DB, c.ID, after, 1000)
		if err != nil {
			return err
		}
		wids := make([]string, len(ids))
		for i, id := range ids {
			wids[i] = workflows.LeadWorkflowID(c.ID, id)
		}
		if err := e.terminateAll(ctx, wids); err != nil {
			return err
		}
		if len(ids) < 1000 {
			break
		}
		after = ids[len(ids)-1]
	}
	// Whatever still runs under the campaign's id (bulk requests, a lead
	// workflow whose row is gone) is found through visibility.
	lctx, cancel := e.call(ctx)
	defer cancel()
	var rest []string
	var token []byte
	for {
		resp, err := e.Client.ListWorkflow(lctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: runningQuery(c.ID), NextPageToken: token, PageSize: 1000,
		})
		if err != nil {
			return temporalx.Classify(fmt.Errorf("list campaign workflows: %w", err))
		}
		for _, ex := range resp.GetExecutions() {
			rest = append(rest, ex.GetExecution().GetWorkflowId())
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	return e.terminateAll(ctx, rest)
}

func runningQuery(campaignID string) string {
	return fmt.Sprintf("%s = '%s' AND ExecutionStatus = 'Running'", workflows.SearchCampaignID, campaignID)
}

// terminateByBatch starts a server-side job terminating every running
// workflow of the campaign.
func (e *TemporalEngine) terminateByBatch(ctx context.Context, c models.Campaign) error {
	ctx, cancel := e.call(ctx)
	defer cancel()
	ns := e.Namespace
	if ns == "" {
		ns = "default"
	}
	_, err := e.Client.WorkflowService().StartBatchOperation(ctx, &workflowservice.StartBatchOperationRequest{
		Namespace: ns, VisibilityQuery: runningQuery(c.ID), JobId: "delete-campaign-" + c.ID + "-" + models.NewID(),
		Reason: "campaign deleted",
		Operation: &workflowservice.StartBatchOperationRequest_TerminationOperation{
			TerminationOperation: &batchpb.BatchOperationTermination{Identity: "outreach-api"},
		},
	})
	if err != nil {
		return temporalx.Classify(fmt.Errorf("start batch termination: %w", err))
	}
	return nil
}

// waitSends waits until the campaign has no SMTP conversation in flight. A
// row in `sending` older than any conversation can last belongs to a
// process that died; it turns unknown when its send is retried.
func (e *TemporalEngine) waitSends(ctx context.Context, campaignID string) error {
	wait := e.DeleteWait
	if wait <= 0 {
		wait = 90 * time.Second
	}
	deadline := time.Now().Add(wait)
	for {
		var n int64
		err := e.DB.WithContext(ctx).Model(&models.Attempt{}).
			Where("campaign_id = ? AND state = ? AND sending_at > ?", campaignID, models.AttemptSending, time.Now().UTC().Add(-wait)).
			Count(&n).Error
		if err != nil {
			return fmt.Errorf("count sends in flight: %w", err)
		}
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %d e-mails of the campaign are still being sent", models.ErrUnavailable, n)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for sends in flight: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (e *TemporalEngine) terminate(ctx context.Context, workflowID, reason string) error {
	ctx, cancel := e.call(ctx)
	defer cancel()
	err := e.Client.TerminateWorkflow(ctx, workflowID, "", reason)
	var nf *serviceerror.NotFound
	if err != nil && !errors.As(err, &nf) {
		return temporalx.Classify(fmt.Errorf("terminate %s: %w", workflowID, err))
	}
	return nil
}

// terminateAll terminates workflows with bounded concurrency; one that does
// not run is fine.
func (e *TemporalEngine) terminateAll(ctx context.Context, ids []string) error {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	sem := make(chan struct{}, 16)
	for _, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := e.terminate(ctx, id, "campaign deleted"); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return firstErr
}

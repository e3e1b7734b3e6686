package workflows

import (
	"sort"

	"go.temporal.io/sdk/workflow"
)

const (
	// BulkBatchSize is the most leads one bulk activity handles.
	BulkBatchSize = 100
	// BulkParallel is the most bulk activities in flight at once.
	BulkParallel = 20
	// MaxBulkLeads is the most ids one bulk request may carry.
	MaxBulkLeads = 10000
)

// BulkStatusWorkflow applies one status to many leads: it fans the ids out
// to activities in batches of BulkBatchSize, at most BulkParallel at a
// time; each activity changes every lead of its batch through the lead's
// own Update (so the lifecycle rules and the lead's timeline hold), and the
// workflow gathers {updated, failed} with one reason per failed id, in the
// order the ids were given. Repeated ids count once.
func BulkStatusWorkflow(ctx workflow.Context, in BulkStatusInput) (BulkStatusResult, error) {
	seen := make(map[string]int, len(in.LeadIDs))
	ids := make([]string, 0, len(in.LeadIDs))
	for _, id := range in.LeadIDs {
		if _, dup := seen[id]; dup {
			continue
		}
		seen[id] = len(ids)
		ids = append(ids, id)
	}
	var batches [][]string
	for start := 0; start < len(ids); start += BulkBatchSize {
		batches = append(batches, ids[start:min(start+BulkBatchSize, len(ids))])
	}
	out := BulkStatusResult{Failed: []BulkFailure{}}
	actx := bulkActivity(ctx)
	sel := workflow.NewSelector(ctx)
	next, inflight := 0, 0
	start := func() {
		batch := batches[next]
		next++
		inflight++
		f := workflow.ExecuteActivity(actx, ActivityBulkStatusBatch, BulkBatchRequest{
			RequestID:  workflow.GetInfo(ctx).WorkflowExecution.ID,
			CampaignID: in.CampaignID, OwnerID: in.OwnerID, LeadIDs: batch, Status: in.Status,
		})
		sel.AddFuture(f, func(f workflow.Future) {
			inflight--
			var r BulkStatusResult
			if err := f.Get(ctx, &r); err != nil {
				workflow.GetLogger(ctx).Error("bulk status batch failed", "error", err)
				for _, id := range batch {
					out.Failed = append(out.Failed, BulkFailure{LeadID: id, Reason: BulkWorkflowUnavailable})
				}
				return
			}
			out.Updated += r.Updated
			out.Failed = append(out.Failed, r.Failed...)
		})
	}
	for next < len(batches) && inflight < BulkParallel {
		start()
	}
	for inflight > 0 {
		sel.Select(ctx)
		for next < len(batches) && inflight < BulkParallel {
			start()
		}
	}
	sort.SliceStable(out.Failed, func(i, j int) bool { return seen[out.Failed[i].LeadID] < seen[out.Failed[j].LeadID] })
	return out, nil
}

package workflows

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/backlinkoutreach/outreach/models"
)

func TestBulkStatusFansOutAndGathers(t *testing.T) {
	t.Parallel()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := s.NewTestWorkflowEnvironment()
	env.SetTestTimeout(time.Minute)
	var (
		mu          sync.Mutex
		inflight    int
		maxInflight int
		sizes       []int
	)
	batch := func(_ context.Context, req BulkBatchRequest) (BulkStatusResult, error) {
		mu.Lock()
		inflight++
		maxInflight = max(maxInflight, inflight)
		sizes = append(sizes, len(req.LeadIDs))
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		out := BulkStatusResult{Failed: []BulkFailure{}}
		for _, id := range req.LeadIDs {
			switch {
			case strings.HasPrefix(id, "foreign"):
				out.Failed = append(out.Failed, BulkFailure{LeadID: id, Reason: BulkNotFound})
			case strings.HasPrefix(id, "replied"):
				out.Failed = append(out.Failed, BulkFailure{LeadID: id, Reason: "invalid_transition: replied -> contacted"})
			default:
				out.Updated++
			}
		}
		mu.Lock()
		inflight--
		mu.Unlock()
		return out, nil
	}
	env.RegisterWorkflowWithOptions(BulkStatusWorkflow, workflow.RegisterOptions{Name: BulkStatusWorkflowName})
	env.RegisterActivityWithOptions(batch, activity.RegisterOptions{Name: ActivityBulkStatusBatch})

	var ids, wantFailed []string
	updated := 0
	for i := range 3450 {
		var id string
		switch i % 10 {
		case 3:
			id = fmt.Sprintf("foreign-%d", i)
			wantFailed = append(wantFailed, id)
		case 7:
			id = fmt.Sprintf("replied-%d", i)
			wantFailed = append(wantFailed, id)
		default:
			id = fmt.Sprintf("lead-%d", i)
			updated++
		}
		ids = append(ids, id)
		if i%500 == 0 {
			ids = append(ids, id) // a repeated id counts once
		}
	}
	env.ExecuteWorkflow(BulkStatusWorkflowName, BulkStatusInput{CampaignID: "c1", OwnerID: "u1", LeadIDs: ids, Status: models.StatusContacted})
	var res BulkStatusResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Updated != updated || len(res.Failed) != len(wantFailed) {
		t.Fatalf("updated %d failed %d; want %d and %d", res.Updated, len(res.Failed), updated, len(wantFailed))
	}
	for i, f := range res.Failed {
		if f.LeadID != wantFailed[i] {
			t.Fatalf("failure %d is %s, want %s (input order)", i, f.LeadID, wantFailed[i])
		}
	}
	if len(sizes) != 35 {
		t.Errorf("%d batches, want 35", len(sizes))
	}
	for _, n := range sizes {
		if n > BulkBatchSize {
			t.Errorf("batch of %d", n)
		}
	}
	if maxInflight > BulkParallel || maxInflight < 2 {
		t.Errorf("max batches in flight %d, want 2..%d", maxInflight, BulkParallel)
	}
}

package worker_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/backlinkoutreach/outreach/api"
	"github.com/backlinkoutreach/outreach/internal/enginetest"
	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/internal/storetest"
	"github.com/backlinkoutreach/outreach/models"
	"github.com/backlinkoutreach/outreach/workflows"
)

// benchDialect is PostgreSQL when TEST_DATABASE_URL is set, else SQLite.
func benchDialect() store.Dialect {
	if os.Getenv(storetest.EnvURL) != "" {
		return store.Postgres
	}
	return store.SQLite
}

const baselineWorkflow = "BaselineOneActivity"

func baselineActivity(_ context.Context, n int) (int, error) { return n + 1, nil }

func baselineFlow(ctx workflow.Context, n int) (int, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second})
	var out int
	err := workflow.ExecuteActivity(ctx, "BaselineActivity", n).Get(ctx, &out)
	return out, err
}

func registerBaseline(_ *enginetest.Rig, w sdkworker.Worker) {
	w.RegisterWorkflowWithOptions(baselineFlow, workflow.RegisterOptions{Name: baselineWorkflow})
	w.RegisterActivityWithOptions(baselineActivity, activity.RegisterOptions{Name: "BaselineActivity"})
}

// runBaseline starts n trivial one-activity workflows on the rig's task
// queue (same server, same worker) and answers workflows per second.
func runBaseline(b *testing.B, r *rig, n int) float64 {
	b.Helper()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 32)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			run, err := r.Client.ExecuteWorkflow(r.Ctx, client.StartWorkflowOptions{
				ID: fmt.Sprintf("baseline/%s/%d", r.Queue, i), TaskQueue: r.Queue,
			}, baselineWorkflow, i)
			if err == nil {
				var out int
				err = run.Get(r.Ctx, &out)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkThroughput: 1,000 leads, a one-step sequence, caps off, the
// window always open, local SMTP capture. It reports leads contacted per
// second, from the bulk add of the leads (the campaign already active) to
// the last lead contacted, beside 1,000 trivial one-activity workflows on
// the same server and worker. Goal: at least half the baseline.
func BenchmarkThroughput(b *testing.B) {
	const n = 1000
	for range b.N {
		r := newRig(b, benchDialect(), enginetest.Options{Register: registerBaseline})
		base := runBaseline(b, r, n)

		var camp api.CampaignOut
		r.Call(http.MethodPost, "/campaigns", map[string]any{
			"name": "Throughput", "keywords": []string{"SaaS"},
			"settings": enginetest.FastSettings(0),
		}, http.StatusCreated, &camp)
		r.Launch(camp.ID)
		start := time.Now()
		stopTrace := r.trace(b, camp.ID, start)
		r.AddLeads(camp.ID, 0, n)
		r.WaitMessages(n, 10*time.Minute)
		stopTrace()
		enginetest.WaitFor(b, 5*time.Minute, "leads contacted", func() (bool, string) {
			got := r.Count(&models.Lead{}, "campaign_id = ? AND status = ?", camp.ID, models.StatusContacted)
			return got == n, fmt.Sprintf("%d of %d", got, n)
		})
		ours := float64(n) / time.Since(start).Seconds()
		if r.SMTP.Count() != n || len(r.SMTP.CountByMessageID()) != n {
			b.Fatalf("%d messages, %d distinct", r.SMTP.Count(), len(r.SMTP.CountByMessageID()))
		}
		b.ReportMetric(ours, "leads_contacted/s")
		b.ReportMetric(base, "baseline_workflows/s")
		b.ReportMetric(ours/base, "ratio")
		b.Logf("throughput (%s): %.1f leads contacted/s vs baseline %.1f one-activity workflows/s: %.2fx (goal >= 0.5x)",
			r.Dialect, ours, base, ours/base)
	}
}

// BenchmarkScale starts the lead workflows of a 10,000-lead campaign and
// checks that no execution's history passes 10,240 events and no child was
// refused (every lead has its workflow). It reports the largest history.
func BenchmarkScale(b *testing.B) {
	const n = 10000
	for range b.N {
		r := newRig(b, benchDialect(), enginetest.Options{})
		var camp api.CampaignOut
		r.Call(http.MethodPost, "/campaigns", map[string]any{
			"name": "Scale", "keywords": []string{"SaaS"},
			"settings": enginetest.FastSettings(0),
		}, http.StatusCreated, &camp)
		start := time.Now()
		r.AddLeads(camp.ID, 0, n)
		r.WaitStarted(camp.ID, n, 30*time.Minute)
		elapsed := time.Since(start)

		enginetest.WaitFor(b, 2*time.Minute, "visibility of every lead workflow", func() (bool, string) {
			got := len(r.ListWorkflows(fmt.Sprintf("CampaignId = '%s' AND WorkflowType = '%s'", camp.ID, workflows.LeadWorkflowName)))
			return got == n, fmt.Sprintf("%d of %d", got, n)
		})
		largest, largestID := int64(0), ""
		runs := 0
		var token []byte
		for {
			resp, err := r.Client.ListWorkflow(r.Ctx, &workflowservice.ListWorkflowExecutionsRequest{
				Query: fmt.Sprintf("WorkflowId = '%s'", workflows.CampaignWorkflowID(camp.ID)), NextPageToken: token,
			})
			if err != nil {
				b.Fatal(err)
			}
			for _, e := range resp.GetExecutions() {
				runs++
				if e.GetHistoryLength() > largest {
					largest, largestID = e.GetHistoryLength(), e.GetExecution().GetWorkflowId()+" run "+e.GetExecution().GetRunId()
				}
				if e.GetStatus() == enums.WORKFLOW_EXECUTION_STATUS_FAILED || e.GetStatus() == enums.WORKFLOW_EXECUTION_STATUS_TERMINATED {
					b.Errorf("campaign run %s ended %s", e.GetExecution().GetRunId(), e.GetStatus())
				}
			}
			if token = resp.GetNextPageToken(); len(token) == 0 {
				break
			}
		}
		var leads []string
		if err := r.DB.Model(&models.Lead{}).Where("campaign_id = ?", camp.ID).Order("id").Pluck("id", &leads).Error; err != nil {
			b.Fatal(err)
		}
		for i := 0; i < len(leads); i += len(leads) / 50 {
			d, err := r.Client.DescribeWorkflow(r.Ctx, workflows.LeadWorkflowID(camp.ID, leads[i]), "")
			if err != nil {
				b.Fatal(err)
			}
			if h := d.RawResponse.GetWorkflowExecutionInfo().GetHistoryLength(); h > largest {
				largest, largestID = h, "lead "+leads[i]
			}
		}
		if largest > 10240 {
			b.Errorf("history of %s has %d events, over 10,240", largestID, largest)
		}
		b.ReportMetric(float64(largest), "largest_history_events")
		b.ReportMetric(float64(runs), "campaign_runs")
		b.ReportMetric(float64(n)/elapsed.Seconds(), "lead_workflows_started/s")
		b.Logf("scale (%s): %d lead workflows started in %s over %d campaign runs; largest history %d events (%s), limit 10,240",
			r.Dialect, n, elapsed.Round(time.Second), runs, largest, largestID)
	}
}

// trace logs, every few seconds, how far the campaign has got.
func (r *rig) trace(b *testing.B, campaignID string, start time.Time) func() {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				var started int64
				r.DB.Model(&models.Lead{}).Where("campaign_id = ? AND workflow_started = ?", campaignID, true).Count(&started)
				b.Logf("%5.1fs: %d lead workflows started, %d messages", time.Since(start).Seconds(), started, r.SMTP.Count())
			}
		}
	}()
	return func() { close(done) }
}

package worker_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"

	"github.com/backlinkoutreach/outreach/api"
	"github.com/backlinkoutreach/outreach/internal/enginetest"
	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/internal/storetest"
	"github.com/backlinkoutreach/outreach/models"
	"github.com/backlinkoutreach/outreach/workflows"
)

// A DELETE that died after marking the campaign deleting left it hidden
// with its workflows running; the DeletionFinisher, once the deletion is
// stuck, stops them on the real server and removes the rows, and leaves
// another campaign of the same user running.
func TestDeletionFinisherStopsWorkflows(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			r := newRig(t, d, enginetest.Options{})
			settings := enginetest.FastSettings(0, 2)
			settings["min_gap_seconds"] = 1
			camp, _ := r.CreateCampaign("Interrupted delete", settings, 12)
			other, _ := r.CreateCampaign("Other", enginetest.FastSettings(0), 2)
			r.Launch(camp.ID)
			r.WaitStarted(camp.ID, 12, time.Minute)
			r.WaitStarted(other.ID, 2, time.Minute)
			r.WaitMessages(2, time.Minute)

			// The crash: marked deleting (what DELETE does first), then
			// nothing, ten minutes ago.
			if _, err := store.MarkCampaignDeleting(r.Ctx, r.DB, r.User.ID, camp.ID); err != nil {
				t.Fatal(err)
			}
			if err := r.DB.Model(&models.Campaign{}).Where("id = ?", camp.ID).
				UpdateColumn("updated_at", time.Now().UTC().Add(-11*time.Minute)).Error; err != nil {
				t.Fatal(err)
			}
			r.Call(http.MethodGet, "/campaigns/"+camp.ID, nil, http.StatusNotFound, nil)
			running := func(id string) []string {
				return r.ListWorkflows(fmt.Sprintf("CampaignId = '%s' AND ExecutionStatus = 'Running'", id))
			}
			if st := r.WorkflowStatus(workflows.CampaignWorkflowID(camp.ID)); st != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
				t.Fatalf("before the finisher the campaign workflow is %s, want running (the interrupted state)", st)
			}

			f := &api.DeletionFinisher{DB: r.DB, Engine: r.Engine, Log: enginetest.QuietLog()}
			n, err := f.Finish(r.Ctx)
			if err != nil || n != 1 {
				t.Fatalf("finish: %d, %v", n, err)
			}
			atFinish := r.SMTP.Count()
			if st := r.WorkflowStatus(workflows.CampaignWorkflowID(camp.ID)); st != enums.WORKFLOW_EXECUTION_STATUS_TERMINATED {
				t.Errorf("campaign workflow %s, want terminated", st)
			}
			enginetest.WaitFor(t, time.Minute, "every workflow of the campaign stopped", func() (bool, string) {
				n := len(running(camp.ID))
				return n == 0, fmt.Sprintf("%d still run", n)
			})
			// A lead workflow that tried to send after the mark found its
			// campaign deleting and completed on its own before the
			// finisher reached it: closed either way, never failed.
			enginetest.WaitFor(t, 30*time.Second, "the campaign's and its 12 leads' workflows terminated or completed", func() (bool, string) {
				n := len(r.ListWorkflows(fmt.Sprintf("CampaignId = '%s' AND ExecutionStatus IN ('Terminated', 'Completed')", camp.ID)))
				return n >= 13, fmt.Sprintf("%d closed", n)
			})
			if n := r.Count(&models.Campaign{}, "id = ?", camp.ID); n != 0 {
				t.Errorf("campaign row left")
			}
			if n := r.Count(&models.Lead{}, "campaign_id = ?", camp.ID); n != 0 {
				t.Errorf("%d leads left", n)
			}
			time.Sleep(3 * time.Second)
			if r.SMTP.Count() != atFinish {
				t.Errorf("%d messages arrived after the deletion finished", r.SMTP.Count()-atFinish)
			}
			// The other campaign was never touched.
			if st := r.WorkflowStatus(workflows.CampaignWorkflowID(other.ID)); st != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
				t.Errorf("the other campaign's workflow is %s", st)
			}
			enginetest.WaitFor(t, 30*time.Second, "the other campaign's 3 workflows (campaign and 2 leads) running", func() (bool, string) {
				n := len(running(other.ID))
				return n == 3, fmt.Sprintf("%d running", n)
			})
			// Nothing is left to finish.
			if n, err := f.Finish(r.Ctx); err != nil || n != 0 {
				t.Errorf("second finish: %d, %v", n, err)
			}
		})
	}
}

// `outreach worker` finishes a stuck deletion as soon as it starts.
func TestWorkerProcessFinishesStuckDeletion(t *testing.T) {
	t.Parallel()
	r := newRig(t, store.SQLite, enginetest.Options{External: true})
	camp, _ := r.CreateCampaign("Interrupted delete", enginetest.FastSettings(0), 3)
	if _, err := store.MarkCampaignDeleting(r.Ctx, r.DB, r.User.ID, camp.ID); err != nil {
		t.Fatal(err)
	}
	if err := r.DB.Model(&models.Campaign{}).Where("id = ?", camp.ID).
		UpdateColumn("updated_at", time.Now().UTC().Add(-time.Hour)).Error; err != nil {
		t.Fatal(err)
	}
	logs := &enginetest.LockedBuffer{}
	proc := r.StartWorkerProcess(t, logs)
	t.Cleanup(func() {
		_ = proc.Process.Kill()
		_ = proc.Wait()
		if t.Failed() {
			t.Logf("worker output:\n%s", logs)
		}
	})
	enginetest.WaitFor(t, time.Minute, "the worker to finish the deletion", func() (bool, string) {
		n := r.Count(&models.Campaign{}, "id = ?", camp.ID)
		return n == 0, fmt.Sprintf("%d campaign rows", n)
	})
	if st := r.WorkflowStatus(workflows.CampaignWorkflowID(camp.ID)); st != enums.WORKFLOW_EXECUTION_STATUS_TERMINATED {
		t.Errorf("campaign workflow %s, want terminated", st)
	}
	if n := r.Count(&models.Lead{}, "campaign_id = ?", camp.ID); n != 0 {
		t.Errorf("%d leads left", n)
	}
}

// Package worker wires the engine's workflows and activities to Temporal
// task queues. Binaries and tests call New so every process registers
// exactly the same names.
package worker

import (
	"fmt"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/backlinkoutreach/outreach/activities"
	"github.com/backlinkoutreach/outreach/workflows"
)

// RegisterWorkflows registers every workflow under its contract name; the
// replay tests use it too.
func RegisterWorkflows(r sdkworker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(workflows.CampaignWorkflow, workflow.RegisterOptions{Name: workflows.CampaignWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.LeadWorkflow, workflow.RegisterOptions{Name: workflows.LeadWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.BulkStatusWorkflow, workflow.RegisterOptions{Name: workflows.BulkStatusWorkflowName})
}

// RegisterActivities registers the engine's activities, except the send,
// under the names the workflows call.
func RegisterActivities(r sdkworker.ActivityRegistry, a *activities.Activities) {
	for name, fn := range map[string]any{
		workflows.ActivityCampaignSync:        a.CampaignSync,
		workflows.ActivityCampaignNextLeads:   a.CampaignNextLeads,
		workflows.ActivityCampaignMarkStarted: a.CampaignMarkStarted,
		workflows.ActivityCampaignDispatch:    a.CampaignDispatch,
		workflows.ActivityCampaignWakeParked:  a.CampaignWakeParked,
		workflows.ActivityCampaignReplanLeads: a.CampaignReplanLeads,
		workflows.ActivityLeadTransition:      a.LeadTransition,
		workflows.ActivityLeadEvent:           a.LeadEvent,
		workflows.ActivityLeadDispatched:      a.LeadDispatched,
		workflows.ActivityBulkStatusBatch:     a.BulkStatusBatch,
	} {
		r.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
}

// Options tune a worker; zero values keep the SDK defaults.
type Options struct {
	MaxConcurrentActivities    int
	MaxConcurrentWorkflowTasks int
	// Register adds more workflows and activities (the reply poller) to
	// the main task queue.
	Register []func(w sdkworker.Worker)
}

// Worker serves the engine's two task queues: workflows and their
// activities on the main one, the send activity on its own (at most
// Activities.Settings.SendConcurrency SMTP conversations at a time, plus
// one send fetched ahead).
type Worker struct {
	Main sdkworker.Worker
	Send sdkworker.Worker
}

// New builds the workers with everything registered; Start runs them.
func New(c client.Client, taskQueue string, a *activities.Activities, o Options) *Worker {
	main := sdkworker.New(c, taskQueue, sdkworker.Options{
		MaxConcurrentActivityExecutionSize:     o.MaxConcurrentActivities,
		MaxConcurrentWorkflowTaskExecutionSize: o.MaxConcurrentWorkflowTasks,
	})
	RegisterWorkflows(main)
	RegisterActivities(main, a)
	for _, reg := range o.Register {
		reg(main)
	}
	// One more send than the process talks SMTP at once: the next one is
	// fetched while the current conversation runs, and waits for it (a
	// few milliseconds) before its own policy check.
	send := sdkworker.New(c, workflows.SendTaskQueue(taskQueue), sdkworker.Options{
		MaxConcurrentActivityExecutionSize: a.Settings.SendConcurrency + 1,
		MaxConcurrentActivityTaskPollers:   2,
	})
	send.RegisterActivityWithOptions(a.SendStep, activity.RegisterOptions{Name: workflows.ActivitySendStep})
	return &Worker{Main: main, Send: send}
}

// Start starts both workers.
func (w *Worker) Start() error {
	if err := w.Send.Start(); err != nil {
		return fmt.Errorf("start send worker: %w", err)
	}
	if err := w.Main.Start(); err != nil {
		w.Send.Stop()
		return fmt.Errorf("start worker: %w", err)
	}
	return nil
}

// Stop stops both, letting running activities finish within the SDK's stop
// timeout.
func (w *Worker) Stop() {
	w.Main.Stop()
	w.Send.Stop()
}

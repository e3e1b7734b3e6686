// Package worker wires the engine's workflows and activities to a Temporal
// task queue. Binaries and tests call Run (or New and Register*) so every
// process registers exactly the same names.
package worker

import (
	"context"
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

// RegisterActivities registers the engine's activities under the names the
// workflows call.
func RegisterActivities(r sdkworker.ActivityRegistry, a *activities.Activities) {
	for name, fn := range map[string]any{
		workflows.ActivityCampaignSync:        a.CampaignSync,
		workflows.ActivityCampaignNextLeads:   a.CampaignNextLeads,
		workflows.ActivityCampaignMarkStarted: a.CampaignMarkStarted,
		workflows.ActivityCampaignDispatch:    a.CampaignDispatch,
		workflows.ActivityCampaignWakeParked:  a.CampaignWakeParked,
		workflows.ActivitySendStep:            a.SendStep,
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
	MaxConcurrentActivities      int
	MaxConcurrentWorkflowTasks   int
	MaxConcurrentActivityPollers int
	MaxConcurrentWorkflowPollers int
	// Register adds more workflows and activities (the reply poller).
	Register []func(w sdkworker.Worker)
}

// New builds a worker with everything registered; the caller starts it.
func New(c client.Client, taskQueue string, a *activities.Activities, o Options) sdkworker.Worker {
	w := sdkworker.New(c, taskQueue, sdkworker.Options{
		MaxConcurrentActivityExecutionSize:     o.MaxConcurrentActivities,
		MaxConcurrentWorkflowTaskExecutionSize: o.MaxConcurrentWorkflowTasks,
		MaxConcurrentActivityTaskPollers:       o.MaxConcurrentActivityPollers,
		MaxConcurrentWorkflowTaskPollers:       o.MaxConcurrentWorkflowPollers,
	})
	RegisterWorkflows(w)
	RegisterActivities(w, a)
	for _, reg := range o.Register {
		reg(w)
	}
	return w
}

// Run serves the task queue until ctx ends, then stops the worker (letting
// running activities finish within the SDK's stop timeout).
func Run(ctx context.Context, c client.Client, taskQueue string, a *activities.Activities, o Options) error {
	w := New(c, taskQueue, a, o)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker on %s: %w", taskQueue, err)
	}
	<-ctx.Done()
	w.Stop()
	return nil
}

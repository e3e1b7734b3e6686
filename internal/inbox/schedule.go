package inbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/backlinkoutreach/outreach/workflows"
)

// EnsureSchedule creates the reply-poll schedule of the workers on
// taskQueue, or brings an existing one to the given interval: every worker
// calls it at start, so it must be idempotent. Runs that would overlap a
// running poll are skipped.
func EnsureSchedule(ctx context.Context, c client.Client, taskQueue string, every time.Duration) error {
	if every <= 0 {
		return errors.New("reply poll interval must be positive")
	}
	id := workflows.ReplyPollScheduleID(taskQueue)
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}}
	action := &client.ScheduleWorkflowAction{
		ID:        id,
		Workflow:  workflows.ReplyPollWorkflowName,
		TaskQueue: taskQueue,
		Args:      []any{workflows.ReplyPollInput{Trigger: "schedule"}},
		// A run that cannot finish within a few intervals is stuck.
		WorkflowExecutionTimeout: max(time.Hour, 3*every),
	}
	sc := c.ScheduleClient()
	_, err := sc.Create(ctx, client.ScheduleOptions{
		ID:      id,
		Spec:    spec,
		Action:  action,
		Overlap: enums.SCHEDULE_OVERLAP_POLICY_SKIP,
		Memo:    map[string]any{"purpose": "poll the sending mailbox for replies"},
	})
	if err == nil {
		return nil
	}
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return fmt.Errorf("create reply-poll schedule: %w", err)
	}
	h := sc.GetHandle(ctx, id)
	err = h.Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			s := in.Description.Schedule
			s.Spec = &spec
			s.Action = action
			if s.Policy == nil {
				s.Policy = &client.SchedulePolicies{}
			}
			s.Policy.Overlap = enums.SCHEDULE_OVERLAP_POLICY_SKIP
			return &client.ScheduleUpdate{Schedule: &s}, nil
		},
	})
	if err != nil {
		return fmt.Errorf("update reply-poll schedule: %w", err)
	}
	return nil
}

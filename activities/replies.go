package activities

import (
	"context"
	"fmt"
	"log/slog"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/internal/inbox"
	"github.com/backlinkoutreach/outreach/workflows"
)

// Replies holds the reply poller's dependencies: the IMAP poller (nil when
// IMAP_HOST is empty) and the delivery of reply effects to lead workflows.
type Replies struct {
	DB      *gorm.DB
	Poller  *inbox.Poller
	Effects *inbox.Effects
	Log     *slog.Logger
}

// Register adds the reply-poll workflow and its activities to a worker
// (worker.Options.Register).
func (r *Replies) Register(w sdkworker.Worker) {
	w.RegisterWorkflowWithOptions(workflows.ReplyPollWorkflow, workflow.RegisterOptions{Name: workflows.ReplyPollWorkflowName})
	w.RegisterActivityWithOptions(r.PollReplies, activity.RegisterOptions{Name: workflows.ActivityPollReplies})
	w.RegisterActivityWithOptions(r.DeliverReplyEffects, activity.RegisterOptions{Name: workflows.ActivityDeliverReplyEffects})
}

// PollReplies reads every configured mailbox until caught up, storing new
// replies, and delivers the effects of each stored page while the poll goes
// on (a reply stored early in a long catch-up reaches its lead at once; what
// fails to be delivered stays pending for DeliverReplyEffects). It
// heartbeats every few seconds (a page classified by a slow LLM takes
// minutes); a retry resumes from the checkpoints.
func (r *Replies) PollReplies(ctx context.Context, in workflows.ReplyPollInput) (workflows.PollRepliesResult, error) {
	if r.Poller == nil {
		if in.Trigger == "schedule" {
			// Without IMAP the schedule only delivers pending effects.
			return workflows.PollRepliesResult{}, nil
		}
		return workflows.PollRepliesResult{}, temporal.NewNonRetryableApplicationError(inbox.ErrNotConfigured.Error(),
			workflows.ErrTypeRepliesNotConfigured, inbox.ErrNotConfigured)
	}
	stop := keepAlive(ctx)
	defer stop()
	p := *r.Poller
	if r.Effects != nil {
		owed := make(chan []string, 64)
		delivered := make(chan struct{})
		go func() {
			defer close(delivered)
			for ids := range owed {
				if _, err := r.Effects.Deliver(ctx, len(ids), ids...); err != nil {
					r.log().WarnContext(ctx, "reply effects left pending for the delivery after the poll", "error", err)
				}
			}
		}()
		defer func() { close(owed); <-delivered }()
		p.OnStored = func(out []inbox.Outcome) {
			var ids []string
			for _, o := range out {
				if o.New && o.EffectOwed {
					ids = append(ids, o.Reply.ID)
				}
			}
			if len(ids) > 0 {
				owed <- ids
			}
		}
	}
	st, err := p.Poll(ctx)
	out := workflows.PollRepliesResult{
		Mailboxes: st.Mailboxes, Fetched: st.Fetched, Duplicates: st.Duplicates,
		New: st.New, Unparsed: st.Unparsed, ByUser: st.ByUser,
	}
	r.log().InfoContext(ctx, "reply poll", "trigger", in.Trigger, "fetched", st.Fetched, "new", st.New,
		"unparsed", st.Unparsed, "duplicates", st.Duplicates, "error", err)
	if err != nil {
		return out, fmt.Errorf("poll replies: %w", err)
	}
	return out, nil
}

// DeliverReplyEffects signals lead workflows for stored replies whose
// effect is pending, in rounds of at most 500, until none is left or
// Limit were handled. A signal that fails stays pending and fails the
// activity, so Temporal retries it with backoff.
func (r *Replies) DeliverReplyEffects(ctx context.Context, req workflows.DeliverEffectsRequest) (workflows.DeliverEffectsResult, error) {
	var out workflows.DeliverEffectsResult
	limit := req.Limit
	if limit <= 0 {
		limit = 5000
	}
	for handled := 0; handled < limit; {
		st, err := r.Effects.Deliver(ctx, min(500, limit-handled))
		out.Delivered += st.Delivered
		out.NoWorkflow += st.NoWorkflow
		if activity.IsActivity(ctx) {
			activity.RecordHeartbeat(ctx, out)
		}
		if err != nil {
			return out, err
		}
		n := st.Delivered + st.NoWorkflow
		if n == 0 {
			break
		}
		handled += n
	}
	return out, nil
}

func (r *Replies) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.New(slog.DiscardHandler)
}

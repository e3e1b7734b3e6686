package main

import (
	"context"
	"strings"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/api"
	"github.com/backlinkoutreach/outreach/internal/temporalx"
	"github.com/backlinkoutreach/outreach/worker"
)

func workerCmd(e *env) *cobra.Command {
	var o worker.Options
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "run the Temporal worker: campaign, lead and bulk-status workflows and the sending activities",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			return e.withDB(ctx, false, func(db *gorm.DB) error {
				c, err := temporalx.DialWait(ctx, e.temporalOptions("worker"))
				if err != nil {
					return err
				}
				defer c.Close()
				if !strings.HasPrefix(strings.ToLower(e.cfg.PublicBaseURL), "https://") {
					// Mailbox providers offer one-click unsubscribe only for
					// an https link (RFC 8058), and a loopback default reaches
					// nobody: recipients then have only the mailto link.
					e.log.Warn("PUBLIC_BASE_URL is not an https address: unsubscribe links in e-mails will not offer one-click unsubscribe"+
						" (set it to the public https address of the API)", "public_base_url", e.cfg.PublicBaseURL)
				}
				w, err := e.startWorker(ctx, db, c, o)
				if err != nil {
					return err
				}
				<-ctx.Done()
				w.Stop()
				return nil
			})
		},
	}
	cmd.Flags().IntVar(&o.MaxConcurrentActivities, "max-activities", 0, "activities run at once (0: SDK default)")
	cmd.Flags().IntVar(&o.MaxConcurrentWorkflowTasks, "max-workflow-tasks", 0, "workflow tasks run at once (0: SDK default)")
	return cmd
}

// startWorker starts serving the engine's task queues (workflows,
// activities and the reply poller with its schedule) and the finisher of
// interrupted campaign deletes; `worker` and `dev` share it, so both run
// exactly the same things. Stop the answer when done.
func (e *env) startWorker(ctx context.Context, db *gorm.DB, c client.Client, o worker.Options) (*engineWorker, error) {
	if err := temporalx.EnsureSearchAttributes(ctx, c, e.cfg.TemporalNamespace); err != nil {
		return nil, err
	}
	acts, err := e.newActivities(db, c)
	if err != nil {
		return nil, err
	}
	replies, err := e.replyActivities(ctx, db, c)
	if err != nil {
		return nil, err
	}
	o.Register = append(o.Register, replies.Register)
	w := worker.New(c, e.cfg.TemporalTaskQueue, acts, o)
	if err := w.Start(); err != nil {
		return nil, err
	}
	e.log.Info("worker running", "task_queue", e.cfg.TemporalTaskQueue, "temporal", e.cfg.TemporalAddress,
		"namespace", e.cfg.TemporalNamespace)
	finisher := &api.DeletionFinisher{DB: db, Engine: e.temporalEngine(db, c), Log: e.log.With("component", "delete-finisher")}
	fctx, stop := context.WithCancel(ctx)
	ew := &engineWorker{w: w, stopFinisher: stop, finished: make(chan struct{})}
	go func() {
		defer close(ew.finished)
		finisher.Run(fctx)
	}()
	return ew, nil
}

// engineWorker is the Temporal worker and the delete finisher beside it.
type engineWorker struct {
	w            *worker.Worker
	stopFinisher context.CancelFunc
	finished     chan struct{}
}

// Stop stops the finisher (it uses the database the caller closes next),
// then the worker.
func (ew *engineWorker) Stop() {
	ew.stopFinisher()
	<-ew.finished
	ew.w.Stop()
}

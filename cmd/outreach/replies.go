package main

import (
	"context"

	"go.temporal.io/sdk/client"
	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/activities"
	"github.com/backlinkoutreach/outreach/internal/inbox"
)

// replyActivities builds the reply poller's activities (the IMAP poller
// only when IMAP_HOST is set) and creates or updates the reply-poll
// schedule. The schedule runs even without IMAP: each run also delivers the
// reply effects that could not be delivered at once (a webhook reply, a
// reclassification or an unsubscribe while Temporal was unreachable).
func (e *env) replyActivities(ctx context.Context, db *gorm.DB, c client.Client) (*activities.Replies, error) {
	r := &activities.Replies{
		DB:      db,
		Log:     e.log,
		Effects: &inbox.Effects{DB: db, Notifier: inbox.TemporalNotifier{Client: c}, Log: e.log},
	}
	if e.cfg.IMAPHost != "" {
		r.Poller = &inbox.Poller{
			Config:   inbox.ConfigFrom(e.cfg),
			DB:       db,
			Log:      e.log,
			Pipeline: &inbox.Pipeline{DB: db, Classifier: inbox.NewClassifier(e.cfg, e.log), Log: e.log},
		}
	}
	if err := inbox.EnsureSchedule(ctx, c, e.cfg.TemporalTaskQueue, e.cfg.ReplyPollInterval); err != nil {
		return nil, err
	}
	e.log.Info("reply polling scheduled", "every", e.cfg.ReplyPollInterval, "imap", e.cfg.IMAPHost != "")
	return r, nil
}

// Package activities holds the side effects the workflows ask for: database
// reads and writes, the SMTP send, and signals or updates to other
// workflows through the Temporal client. Activities is a struct holding its
// dependencies, registered on the worker as a pointer under the names of
// workflows/activities.go.
package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/internal/config"
	"github.com/backlinkoutreach/outreach/internal/mail"
	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/internal/unsub"
	"github.com/backlinkoutreach/outreach/models"
	"github.com/backlinkoutreach/outreach/workflows"
)

// Mailer sends one message; *mail.Sender is the real one.
type Mailer interface {
	Send(ctx context.Context, m mail.Message) error
}

// Settings are the configuration values the activities use.
type Settings struct {
	Limits store.SendLimits
	// From and FromName are the sender; From is also the mailto of
	// List-Unsubscribe and its domain the right-hand side of Message-IDs.
	From     string
	FromName string
	// PublicBaseURL prefixes the one-click unsubscribe links.
	PublicBaseURL string
	OOODefault    time.Duration
	// SendConcurrency bounds SMTP conversations in flight per process
	// (default 1, see Activities).
	SendConcurrency int
}

// SettingsFrom reads Settings from the service configuration.
func SettingsFrom(c config.Config) Settings {
	return Settings{
		Limits: store.SendLimits{UserDailyCap: c.UserDailyCap, DomainDailyCap: c.DomainDailyCap},
		From:   c.SMTPFrom, FromName: c.SMTPFromName, PublicBaseURL: c.PublicBaseURL, OOODefault: c.OOODefaultDelay,
	}
}

// Activities holds the dependencies of every activity.
//
// Sends are serialised per process (SendConcurrency 1): from the moment a
// ledger row enters `sending` until its outcome is written, no other send
// of this process is in that window, so a crash (SIGKILL, OOM, power) can
// leave at most one row whose delivery is unknown. A cold-outreach sender
// is bounded by its caps (a hundred mails a day per user) long before one
// SMTP conversation at a time is; scale out with more workers.
type Activities struct {
	DB       *gorm.DB
	Mail     Mailer
	Temporal client.Client
	Unsub    *unsub.Signer
	Settings Settings
	Log      *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	sendSlots chan struct{}
}

// New checks the dependencies and prepares the activities.
func New(db *gorm.DB, mailer Mailer, c client.Client, signer *unsub.Signer, s Settings, log *slog.Logger) (*Activities, error) {
	if db == nil || mailer == nil || c == nil || signer == nil {
		return nil, errors.New("activities: database, mailer, Temporal client and unsubscribe signer are required")
	}
	if _, err := models.NormalizeEmail(s.From); err != nil {
		return nil, fmt.Errorf("activities: sender address %q: %w", s.From, err)
	}
	if s.SendConcurrency <= 0 {
		s.SendConcurrency = 1
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Activities{
		DB: db, Mail: mailer, Temporal: c, Unsub: signer, Settings: s, Log: log,
		sendSlots: make(chan struct{}, s.SendConcurrency),
	}, nil
}

func (a *Activities) now() time.Time {
	if a.Now != nil {
		return a.Now().UTC()
	}
	return time.Now().UTC()
}

// keepAlive heartbeats every two seconds until stopped, so the server
// notices a dead worker within the heartbeat timeout instead of the
// start-to-close timeout. The first beat comes after two seconds: an
// activity that finishes sooner (nearly every send) costs the server no
// heartbeat at all.
func keepAlive(ctx context.Context) func() {
	if !activity.IsActivity(ctx) {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx)
			}
		}
	}()
	return func() { close(done) }
}

// planFrom is the timing a lead workflow needs, from normalised settings.
func (a *Activities) planFrom(s models.CampaignSettings) workflows.LeadPlan {
	s = s.Normalized()
	delays := make([]float64, len(s.Sequence))
	for i, st := range s.Sequence {
		delays[i] = st.DelayDays
	}
	return workflows.LeadPlan{Timezone: s.Timezone, Window: s.Window, Delays: delays, OOODefault: a.Settings.OOODefault}
}

func (a *Activities) messageDomain() string {
	if d := models.EmailDomain(a.Settings.From); d != "" {
		return d
	}
	return "localhost"
}

func (a *Activities) unsubscribeURL(c unsub.Claims) string {
	return strings.TrimRight(a.Settings.PublicBaseURL, "/") + "/u/" + a.Unsub.Token(c)
}

func nonRetryable(msg, typ string, details ...any) error {
	return temporal.NewApplicationErrorWithOptions(msg, typ, temporal.ApplicationErrorOptions{NonRetryable: true, Details: details})
}

// retryDB runs fn a few times with a short backoff. A send's outcome must
// reach the ledger: a row left in `sending` becomes unknown on the next
// try, which is safe but loses information.
func retryDB(ctx context.Context, fn func(ctx context.Context) error) error {
	var err error
	delay := 200 * time.Millisecond
	for i := 0; i < 6; i++ {
		if err = fn(ctx); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(delay):
		}
		delay *= 2
	}
	return err
}

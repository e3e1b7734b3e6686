package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"go.temporal.io/sdk/client"
	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/activities"
	"github.com/backlinkoutreach/outreach/api"
	"github.com/backlinkoutreach/outreach/internal/mail"
	"github.com/backlinkoutreach/outreach/internal/metrics"
	"github.com/backlinkoutreach/outreach/internal/temporalx"
	"github.com/backlinkoutreach/outreach/internal/unsub"
)

// temporalOptions says how this process reaches Temporal.
func (e *env) temporalOptions(role string) temporalx.Options {
	host, _ := os.Hostname()
	return temporalx.Options{
		Address: e.cfg.TemporalAddress, Namespace: e.cfg.TemporalNamespace, Logger: e.log,
		Metrics: metrics.TemporalHandler(), Identity: fmt.Sprintf("outreach-%s@%s:%d", role, host, os.Getpid()),
		TLS: temporalx.TLS{
			Enabled: e.cfg.TemporalTLS, CertFile: e.cfg.TemporalTLSCertFile, KeyFile: e.cfg.TemporalTLSKeyFile,
			CAFile: e.cfg.TemporalTLSCAFile, ServerName: e.cfg.TemporalTLSServerName,
		},
		APIKey: e.cfg.TemporalAPIKey,
	}
}

// temporalEngine is the API's engine on c: the API (`serve`, `dev`) and the
// delete finisher beside the worker share its construction, so both run
// server-side batch jobs in the configured namespace.
func (e *env) temporalEngine(db *gorm.DB, c client.Client) *api.TemporalEngine {
	engine := api.NewTemporalEngine(c, db, e.cfg.TemporalTaskQueue, e.log)
	engine.Namespace = e.cfg.TemporalNamespace
	return engine
}

// registerSearchAttributes keeps trying in the background until Temporal
// answers: the API must start (and answer 503 where it needs Temporal)
// while the server is down.
func (e *env) registerSearchAttributes(ctx context.Context, c client.Client) {
	delay := time.Second
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := temporalx.EnsureSearchAttributes(cctx, c, e.cfg.TemporalNamespace)
		cancel()
		if err == nil {
			return
		}
		e.log.Warn("search attributes not registered yet; retrying", "error", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, time.Minute)
	}
}

// newActivities builds the worker's activities from the configuration.
func (e *env) newActivities(db *gorm.DB, c client.Client) (*activities.Activities, error) {
	sender, err := mail.NewSender(mail.ConfigFrom(e.cfg))
	if err != nil {
		return nil, err
	}
	secret, err := unsub.LoadSecret(e.cfg.UnsubscribeSecret, e.cfg.DataDir)
	if err != nil {
		return nil, err
	}
	signer, err := unsub.New(secret)
	if err != nil {
		return nil, err
	}
	return activities.New(db, sender, c, signer, activities.SettingsFrom(e.cfg), e.log)
}

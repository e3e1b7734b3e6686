package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/api"
	"github.com/backlinkoutreach/outreach/internal/temporalx"
)

func serveCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "run the HTTP API",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.withDB(cmd.Context(), false, func(db *gorm.DB) error {
				// Lazy: the API starts while Temporal is down; routes that
				// need it answer 503 and /readyz says so until it is back.
				tc, err := temporalx.Lazy(e.temporalOptions("api"))
				if err != nil {
					return err
				}
				defer tc.Close()
				go e.registerSearchAttributes(cmd.Context(), tc)
				return serveHTTP(cmd.Context(), e, e.newAPI(db, tc).Handler())
			})
		},
	}
}

// newAPI builds the API on the database and the Temporal client, with the
// process metrics plugged in; `serve` and `dev` (which adds its /dev routes
// through extra) share it.
func (e *env) newAPI(db *gorm.DB, tc client.Client, extra ...func(*api.Server)) *api.Server {
	return api.New(observed(api.Deps{
		DB: db, Config: e.cfg, Log: e.log, Engine: e.temporalEngine(db, tc),
		Ready: []api.Check{{Name: "temporal", Run: temporalx.Check(tc)}}, Extra: extra,
	}))
}

// serveHTTP listens on HTTP_ADDR until ctx ends (SIGINT/SIGTERM), then
// drains in-flight requests for up to 30 s.
func serveHTTP(ctx context.Context, e *env, h http.Handler) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", e.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HTTP_ADDR %s: %w", e.cfg.HTTPAddr, err)
	}
	return serveOn(ctx, e, ln, h)
}

// serveOn serves h on ln until ctx ends, then drains in-flight requests for
// up to 30 s. `dev` listens first (a busy port must fail before anything
// else starts) and serves later.
func serveOn(ctx context.Context, e *env, ln net.Listener, h http.Handler) error {
	hs := api.HTTPServer(ln.Addr().String(), h)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	e.log.Info("API listening", "addr", "http://"+ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	e.log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

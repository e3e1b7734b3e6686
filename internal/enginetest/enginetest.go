// Package enginetest is the integration rig shared by the engine's tests: a
// real Temporal dev server (one per test binary, started by Main), a real
// database (storetest: SQLite, PostgreSQL when TEST_DATABASE_URL is set),
// the capturing SMTP server, the HTTP API with the Temporal engine, and a
// worker (in-process, or the outreach binary as a subprocess). Each rig has
// its own task queue, so tests run side by side on one server.
//
// It also holds the helpers of tests that run the outreach binary: Binary
// builds it once per test process, LockedBuffer collects a subprocess's
// output, WaitFor polls a condition, FreePort finds a port.
//
// Only tests import it.
package enginetest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/backlinkoutreach/outreach/internal/devserver"
)

// The configuration every rig runs with.
const (
	Sender  = "outreach@sender.example"
	Secret  = "0123456789abcdef0123456789abcdef-test-secret"
	BaseURL = "https://outreach.example"
	// SenderDomain is the domain of Sender, the right side of Message-IDs.
	SenderDomain = "sender.example"
)

// SecondsInDay converts a delay in seconds to the API's delay_days.
const SecondsInDay = 86400.0

var temporalAddr string

// MainOptions configure Main.
type MainOptions struct {
	// Temporal starts one dev server for the test binary (TemporalAddress).
	Temporal bool
}

// Main runs a package's tests (call it from TestMain), with a Temporal dev
// server when asked, and removes what the helpers left (the binary Binary
// built). It does not return.
func Main(m *testing.M, o MainOptions) {
	var srv *devserver.Server
	if o.Temporal {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		var err error
		srv, err = devserver.Start(ctx, devserver.Options{Headless: true})
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, "start the Temporal dev server:", err)
			os.Exit(1)
		}
		temporalAddr = srv.Address
	}
	code := m.Run()
	srv.Stop()
	removeBinary()
	os.Exit(code)
}

// TemporalAddress is the dev server Main started.
func TemporalAddress(t testing.TB) string {
	t.Helper()
	if temporalAddr == "" {
		t.Fatal("no Temporal dev server: call enginetest.Main(m, enginetest.MainOptions{Temporal: true}) from TestMain")
	}
	return temporalAddr
}

// QuietLog discards everything.
func QuietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// WaitFor polls cond until it holds, failing the test when timeout passes;
// cond answers whether it holds and a description of the state for the
// failure message.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s (%s)", timeout, what, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

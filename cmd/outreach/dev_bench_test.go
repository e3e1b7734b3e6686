package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/backlinkoutreach/outreach/internal/devserver"
	"github.com/backlinkoutreach/outreach/internal/enginetest"
)

// BenchmarkDevStartToReady measures what a newcomer waits for: from
// starting `outreach dev` to /readyz answering 200, on an empty data
// directory (cold) and again on the data the first run left (warm). The
// baseline is the bare Temporal dev server with the same options (SQLite
// file, Web UI), started and probed the way `outreach dev` does it, in the
// same run: the difference is what the engine adds (database and
// migrations, dev mailbox, worker, schedule, API). The Temporal CLI and the
// outreach binary are built before anything is timed. Goal: under 10 s.
func BenchmarkDevStartToReady(b *testing.B) {
	enginetest.Binary(b)
	var cold, warm, bare time.Duration
	for range b.N {
		s := newDevSetup(b)
		start := time.Now()
		p := s.start(b)
		p.waitReady(2 * time.Minute)
		cold += time.Since(start)
		p.interrupt()

		start = time.Now()
		p = s.start(b)
		p.waitReady(2 * time.Minute)
		warm += time.Since(start)
		p.interrupt()

		start = time.Now()
		srv, err := devserver.Start(context.Background(), devserver.Options{
			Port: enginetest.FreePort(b), UIPort: enginetest.FreePort(b), DBFile: filepath.Join(b.TempDir(), "temporal.db"),
		})
		if err != nil {
			b.Fatal(err)
		}
		bare += time.Since(start)
		srv.Stop()
	}
	n := float64(b.N)
	b.ReportMetric(cold.Seconds()/n, "s/dev-ready-cold")
	b.ReportMetric(warm.Seconds()/n, "s/dev-ready-warm")
	b.ReportMetric(bare.Seconds()/n, "s/temporal-only")
	b.Logf("outreach dev start to /readyz: %.2f s cold, %.2f s warm; bare Temporal dev server: %.2f s (the engine adds %.2f s cold); goal < 10 s",
		cold.Seconds()/n, warm.Seconds()/n, bare.Seconds()/n, (cold-bare).Seconds()/n)
}

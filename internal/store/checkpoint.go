package store

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"time"
)

// SQLite's write-ahead log is copied back into the database file by a
// checkpoint. Left to SQLite, the commit that takes the log past 1,000
// pages runs it inline: that writer (a poll storing replies, say) waits
// while every page written since the last one is copied and the file
// synced, some 15 ms in the middle of a run of 3 ms commits. Here a
// goroutine runs a PASSIVE checkpoint, which waits for no reader or
// writer, several times a second on a connection of its own, beside the
// writers; SQLite's inline checkpoint stays as a backstop at a larger log
// (walBackstopPages) for when writes outrun it.
const (
	walCheckpointEvery = 100 * time.Millisecond
	walBackstopPages   = 10000
)

type checkpointer struct {
	stop chan struct{}
	done chan struct{}
}

// checkpointers are the running checkpointers, by connection pool, for
// Close to stop.
var checkpointers sync.Map

// startCheckpointer starts sqlDB's checkpointer; it runs until Close, past
// ctx (only ctx's values are kept).
func startCheckpointer(ctx context.Context, sqlDB *sql.DB, log *slog.Logger) {
	base := context.WithoutCancel(ctx)
	c := &checkpointer{stop: make(chan struct{}), done: make(chan struct{})}
	checkpointers.Store(sqlDB, c)
	go func() {
		defer close(c.done)
		t := time.NewTicker(walCheckpointEvery)
		defer t.Stop()
		failing := false
		for {
			select {
			case <-c.stop:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(base, 10*time.Second)
			_, err := sqlDB.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
			cancel()
			if err != nil && !failing {
				// Harmless while it lasts (the backstop checkpoints); said
				// once, not five times a second.
				log.Warn("sqlite background checkpoint failed", "error", err)
			}
			failing = err != nil
		}
	}()
}

// stopCheckpointer stops sqlDB's checkpointer, if it has one, and waits
// for it.
func stopCheckpointer(sqlDB *sql.DB) {
	if v, ok := checkpointers.LoadAndDelete(sqlDB); ok {
		c := v.(*checkpointer)
		close(c.stop)
		<-c.done
	}
}

package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// What is committed reaches the database file within moments, copied by the
// background checkpointer (SQLite's own would wait for a log of 10,000
// pages), and Close stops the checkpointer.
func TestBackgroundCheckpoint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "outreach.db")
	db, err := Open(ctx, Options{SQLitePath: path})
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, _ := db.DB()
	if _, ok := checkpointers.Load(sqlDB); !ok {
		t.Fatal("no checkpointer runs for the SQLite database")
	}
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	if err := db.Exec("CREATE TABLE filler (b text)").Error; err != nil {
		t.Fatal(err)
	}
	before := size()
	const n = 2 << 20 // 2 MB: 512 pages, far below the backstop
	if err := db.Exec("INSERT INTO filler VALUES (?)", strings.Repeat("x", n)).Error; err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for size() < before+n {
		if time.Now().After(deadline) {
			t.Fatalf("database file at %d bytes 5 s after a 2 MB commit (was %d): not checkpointed", size(), before)
		}
		time.Sleep(20 * time.Millisecond)
	}
	Close(db)
	if _, ok := checkpointers.Load(sqlDB); ok {
		t.Fatal("Close left the checkpointer running")
	}
}

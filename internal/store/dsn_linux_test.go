//go:build linux

package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/backlinkoutreach/outreach/internal/store"
)

// A data directory the process cannot write to is named as such: SQLite
// reports it as "out of memory" or a "readonly database". (/proc/1 exists
// and refuses new files even to root, as a directory without write
// permission refuses them to a user.)
func TestSQLiteDataDirectoryNotWritable(t *testing.T) {
	t.Parallel()
	_, err := store.Open(context.Background(), store.Options{SQLitePath: "/proc/1/outreach.db"})
	if err == nil || !strings.Contains(err.Error(), "data directory /proc/1 is not writable") {
		t.Fatalf("open in /proc/1: %v", err)
	}
}

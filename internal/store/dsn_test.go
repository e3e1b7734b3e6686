package store_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backlinkoutreach/outreach/internal/store"
)

// A data directory whose name holds URI metacharacters (Go names the temp
// directory of a second subtest "...#01") must open the file at that path,
// not one cut short at the '#'.
func TestSQLitePathWithURICharacters(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data#01?x=%41")
	path := filepath.Join(dir, "outreach.db")
	db, err := store.Open(context.Background(), store.Options{SQLitePath: path})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close(db)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not created at %s: %v", path, err)
	}
	var file string
	if err := db.Raw("SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&file).Error; err != nil {
		t.Fatal(err)
	}
	if file != path {
		t.Fatalf("opened %q, want %q", file, path)
	}
}

// A data directory the process cannot write to is named as such: SQLite
// reports it as "out of memory" or a "readonly database". (/proc/1 exists
// and refuses new files even to root, as a directory without write
// permission refuses them to a user.)
func TestSQLiteDataDirectoryNotWritable(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/1"); err != nil {
		t.Skip("needs Linux's /proc")
	}
	_, err := store.Open(context.Background(), store.Options{SQLitePath: "/proc/1/outreach.db"})
	if err == nil || !strings.Contains(err.Error(), "data directory /proc/1 is not writable") {
		t.Fatalf("open in /proc/1: %v", err)
	}
}

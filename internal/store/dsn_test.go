package store_test

import (
	"context"
	"os"
	"path/filepath"
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

// Package storetest gives each test its own migrated database: a fresh
// SQLite file always, and a fresh PostgreSQL schema when TEST_DATABASE_URL is
// set. With TEST_DATABASE_URL set, an unreachable PostgreSQL fails the test;
// it is never skipped.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/internal/store"
)

// EnvURL names the variable holding the PostgreSQL server used by tests.
const EnvURL = "TEST_DATABASE_URL"

// Dialects lists the databases tests run against: SQLite, and PostgreSQL
// when TEST_DATABASE_URL is set.
func Dialects() []store.Dialect {
	if os.Getenv(EnvURL) != "" {
		return []store.Dialect{store.SQLite, store.Postgres}
	}
	return []store.Dialect{store.SQLite}
}

// Each runs fn as a subtest per database in Dialects, each with its own
// fresh database.
func Each(t *testing.T, fn func(t *testing.T, db *gorm.DB)) {
	t.Helper()
	for _, d := range Dialects() {
		t.Run(string(d), func(t *testing.T) {
			fn(t, New(t, d))
		})
	}
}

// New returns a migrated, empty database of the given dialect, removed when
// the test ends.
func New(tb testing.TB, d store.Dialect) *gorm.DB {
	tb.Helper()
	db, _ := NewWithURL(tb, d)
	return db
}

// NewWithURL is New that also returns how to reach the database from another
// process: a postgres:// URL, or the SQLite file path (as DATABASE_URL "" plus
// OUTREACH_DATA_DIR would name it).
func NewWithURL(tb testing.TB, d store.Dialect) (*gorm.DB, string) {
	tb.Helper()
	ctx := context.Background()
	if d == store.SQLite {
		path := filepath.Join(tb.TempDir(), "outreach.db")
		db, err := store.Open(ctx, store.Options{SQLitePath: path})
		if err != nil {
			tb.Fatalf("open sqlite: %v", err)
		}
		tb.Cleanup(func() { store.Close(db) })
		return db, path
	}
	base := os.Getenv(EnvURL)
	if base == "" {
		tb.Fatalf("%s is not set: PostgreSQL tests need it", EnvURL)
	}
	admin, err := store.Open(ctx, store.Options{URL: base})
	if err != nil {
		tb.Fatalf("%s: %v", EnvURL, err)
	}
	schema := "t_" + randomHex(8)
	if err := admin.Exec("CREATE SCHEMA " + schema).Error; err != nil {
		store.Close(admin)
		tb.Fatalf("create schema: %v", err)
	}
	dsn, err := withSearchPath(base, schema)
	if err != nil {
		tb.Fatal(err)
	}
	db, err := store.Open(ctx, store.Options{URL: dsn, Migrate: true})
	if err != nil {
		_ = admin.Exec("DROP SCHEMA " + schema + " CASCADE").Error
		store.Close(admin)
		tb.Fatalf("open schema: %v", err)
	}
	tb.Cleanup(func() {
		store.Close(db)
		if err := admin.Exec("DROP SCHEMA " + schema + " CASCADE").Error; err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
		store.Close(admin)
	})
	return db, dsn
}

func withSearchPath(base, schema string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

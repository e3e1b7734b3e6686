package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/backlinkoutreach/outreach/api"
	"github.com/backlinkoutreach/outreach/internal/config"
	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/internal/storetest"
)

var keyLine = regexp.MustCompile(`^obk_([0-9a-f]{12})_[A-Za-z0-9_-]{43}\n$`)

// run executes the binary's command line in-process, as the shell would.
func run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRoot(&out, &errOut)
	root.SetArgs(args)
	err = root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// useDatabase points the configuration at a fresh migrated database, the
// way an operator would: DATABASE_URL, or OUTREACH_DATA_DIR for SQLite.
func useDatabase(t *testing.T, d store.Dialect) {
	t.Helper()
	_, where := storetest.NewWithURL(t, d)
	if d == store.SQLite {
		t.Setenv("DATABASE_URL", "")
		t.Setenv("OUTREACH_DATA_DIR", filepath.Dir(where))
		if filepath.Base(where) != "outreach.db" {
			t.Fatalf("storetest SQLite file %s is not where OUTREACH_DATA_DIR points", where)
		}
		return
	}
	t.Setenv("DATABASE_URL", where)
}

// statusWithKey asks the API (on the configured database) for the campaign
// list with key.
func statusWithKey(t *testing.T, key string) int {
	t.Helper()
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), store.Options{URL: cfg.DatabaseURL, SQLitePath: cfg.SQLitePath()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close(db)
	srv := api.New(api.Deps{DB: db, Config: cfg})
	req := httptest.NewRequestWithContext(context.Background(), http.MethodGet, api.BasePath+"/campaigns", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	w := httptest.NewRecorder()
	srv.Handler().ServeHTTP(w, req)
	return w.Code
}

// Not parallel: the commands read their configuration from the process
// environment.
func TestUsersAndKeys(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			useDatabase(t, d)
			t.Setenv("LOG_LEVEL", "debug") // logs must still go to stderr only

			// KEY=$(outreach users create --email me@example.com) works:
			// stdout holds the key and nothing else.
			out, errOut, err := run(t, "users", "create", "--email", "Me@Example.com")
			if err != nil {
				t.Fatalf("users create: %v (stderr %s)", err, errOut)
			}
			m := keyLine.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("stdout is not exactly one key line: %q", out)
			}
			key1, prefix1 := strings.TrimSpace(out), m[1]
			if !strings.Contains(errOut, "created user me@example.com") || strings.Contains(errOut, key1) {
				t.Fatalf("stderr should carry the message and never the key: %q", errOut)
			}
			if code := statusWithKey(t, key1); code != http.StatusOK {
				t.Fatalf("new key: status %d", code)
			}

			out, errOut, err = run(t, "keys", "create", "--email", "me@example.com")
			if err != nil || keyLine.FindString(out) == "" {
				t.Fatalf("keys create: %v, stdout %q, stderr %q", err, out, errOut)
			}
			key2 := strings.TrimSpace(out)
			if key2 == key1 {
				t.Fatal("keys create returned the same key")
			}

			out, errOut, err = run(t, "keys", "revoke", prefix1)
			if err != nil || out != "" || !strings.Contains(errOut, "revoked") {
				t.Fatalf("keys revoke: %v, stdout %q, stderr %q", err, out, errOut)
			}
			if code := statusWithKey(t, key1); code != http.StatusUnauthorized {
				t.Fatalf("revoked key: status %d, want 401", code)
			}
			if code := statusWithKey(t, key2); code != http.StatusOK {
				t.Fatalf("the other key stopped working: status %d", code)
			}
			// Revoking again, or an unknown prefix, is an error.
			if _, _, err := run(t, "keys", "revoke", prefix1); err == nil {
				t.Fatal("revoking a revoked key succeeded")
			}
			if _, _, err := run(t, "keys", "revoke", "000000000000"); err == nil {
				t.Fatal("revoking an unknown key succeeded")
			}
			// Failures print nothing on stdout, so $(...) captures nothing.
			out, _, err = run(t, "users", "create", "--email", "me@example.com")
			if err == nil || out != "" || !strings.Contains(err.Error(), "already exists") {
				t.Fatalf("duplicate user: err %v, stdout %q", err, out)
			}
			out, _, err = run(t, "users", "create", "--email", "not-an-address")
			if err == nil || out != "" {
				t.Fatalf("invalid e-mail: err %v, stdout %q", err, out)
			}
			out, _, err = run(t, "keys", "create", "--email", "nobody@example.com")
			if err == nil || out != "" {
				t.Fatalf("key for an unknown user: err %v, stdout %q", err, out)
			}
		})
	}
}

func TestBadConfigStopsWithOneLine(t *testing.T) {
	t.Setenv("LOG_LEVEL", "loud")
	out, _, err := run(t, "users", "create", "--email", "me@example.com")
	if err == nil || out != "" {
		t.Fatalf("bad LOG_LEVEL: err %v, stdout %q", err, out)
	}
	if msg := err.Error(); !strings.Contains(msg, "LOG_LEVEL") || strings.Contains(msg, "\n") {
		t.Fatalf("error should be one line naming the variable: %q", msg)
	}
}

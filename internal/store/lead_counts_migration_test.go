package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/glebarez/sqlite"
	"github.com/pressly/goose/v3"
	"gorm.io/gorm"
)

// testDialects lists the databases the migration tests run on: SQLite,
// and PostgreSQL when TEST_DATABASE_URL is set (storetest.Dialects, which
// this package cannot import).
func testDialects() []Dialect {
	if os.Getenv("TEST_DATABASE_URL") != "" {
		return []Dialect{SQLite, Postgres}
	}
	return []Dialect{SQLite}
}

// migratedUpTo opens an empty database of dialect d and applies the
// migrations up to version only, so a test can store rows the way an older
// release did before the next migration runs.
func migratedUpTo(t *testing.T, d Dialect, version int64) (*gorm.DB, *goose.Provider) {
	t.Helper()
	ctx := context.Background()
	db := unmigrated(t, d)
	p, err := provider(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, version); err != nil {
		t.Fatal(err)
	}
	return db, p
}

// unmigrated opens an empty database of dialect d (storetest would migrate
// it, and importing it here would be an import cycle).
func unmigrated(t *testing.T, d Dialect) *gorm.DB {
	t.Helper()
	ctx := context.Background()
	if d == SQLite {
		db, err := gorm.Open(sqlite.Open(SQLiteDSN(filepath.Join(t.TempDir(), "m.db"))), &gorm.Config{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { Close(db) })
		return db
	}
	base := os.Getenv("TEST_DATABASE_URL")
	admin, err := Open(ctx, Options{URL: base})
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := "m_" + hex.EncodeToString(b)
	if err := admin.Exec("CREATE SCHEMA " + schema).Error; err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(base)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	db, err := Open(ctx, Options{URL: u.String()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		Close(db)
		_ = admin.Exec("DROP SCHEMA " + schema + " CASCADE").Error
		Close(admin)
	})
	return db
}

// Migration 00004 fills lead_counts from the leads already stored, and its
// down/up round trip rebuilds them.
func TestLeadCountsMigrationBackfills(t *testing.T) {
	t.Parallel()
	for _, d := range testDialects() {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			db, p := migratedUpTo(t, d, 3)
			for _, q := range []string{
				"INSERT INTO users (id, email, created_at) VALUES ('u', 'u@example.com', CURRENT_TIMESTAMP)",
				"INSERT INTO campaigns (id, user_id, name, state, created_at, updated_at) VALUES ('c1', 'u', 'one', 'draft', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
				"INSERT INTO campaigns (id, user_id, name, state, created_at, updated_at) VALUES ('c2', 'u', 'two', 'draft', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
			} {
				if err := db.Exec(q).Error; err != nil {
					t.Fatal(err)
				}
			}
			leads := []struct{ id, campaign, status string }{
				{"l1", "c1", "discovered"}, {"l2", "c1", "discovered"}, {"l3", "c1", "replied"}, {"l4", "c2", "bounced"},
			}
			for _, l := range leads {
				if err := db.Exec("INSERT INTO leads (id, campaign_id, user_id, website_url, normalized_url, source, status, created_at, updated_at, status_changed_at) "+
					"VALUES (?, ?, 'u', ?, ?, 'manual', ?, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
					l.id, l.campaign, "https://"+l.id+".example.com", l.id+".example.com", l.status).Error; err != nil {
					t.Fatal(err)
				}
			}
			check := func(step string) {
				t.Helper()
				type row struct {
					CampaignID, Status string
					N                  int64
				}
				var got []row
				if err := db.Raw("SELECT campaign_id, status, n FROM lead_counts WHERE n <> 0 ORDER BY campaign_id, status").Scan(&got).Error; err != nil {
					t.Fatal(err)
				}
				want := []row{{"c1", "discovered", 2}, {"c1", "replied", 1}, {"c2", "bounced", 1}}
				if len(got) != len(want) {
					t.Fatalf("%s: counts %+v, want %+v", step, got, want)
				}
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("%s: counts %+v, want %+v", step, got, want)
					}
				}
			}
			if _, err := p.UpTo(ctx, 4); err != nil {
				t.Fatal(err)
			}
			check("backfill")
			if _, err := p.Down(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := p.UpTo(ctx, 4); err != nil {
				t.Fatal(err)
			}
			check("down and up again")
		})
	}
}

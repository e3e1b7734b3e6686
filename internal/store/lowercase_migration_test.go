package store

import (
	"context"
	"testing"
	"time"
)

// Migration 00009 brings suppression entries written in mixed case in
// line: of a user's entries equal but for case one is kept (the lower-case
// one if any, else the first by id), whatever the mix; then it goes down
// and up again.
func TestLowercaseMigration(t *testing.T) {
	t.Parallel()
	for _, d := range testDialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, p := migratedUpTo(t, d, 8)
			now := time.Now().UTC()
			for _, u := range []string{"u1", "u2"} {
				if err := db.Exec("INSERT INTO users (id, email, created_at) VALUES (?, ?, ?)", u, u+"@owner.example", now).Error; err != nil {
					t.Fatal(err)
				}
			}
			for _, r := range [][3]string{
				{"a1", "u1", "Jane@X.example"}, {"a2", "u1", "JANE@x.example"}, // no lower-case twin
				{"b1", "u1", "Bob@Y.example"}, {"b2", "u1", "bob@y.example"}, // a lower-case twin
				{"c1", "u2", "Jane@X.example"}, // another user's
				{"d1", "u1", "@Example.ORG"},
			} {
				if err := db.Exec("INSERT INTO suppressions (id, user_id, value, reason, source, created_at) VALUES (?, ?, ?, 'r', 'manual', ?)",
					r[0], r[1], r[2], now).Error; err != nil {
					t.Fatal(err)
				}
			}
			if _, err := p.UpTo(ctx, 9); err != nil {
				t.Fatalf("migration 00009 on mixed-case entries: %v", err)
			}
			var rows []struct{ ID, UserID, Value string }
			if err := db.Raw("SELECT id, user_id, value FROM suppressions ORDER BY id").Scan(&rows).Error; err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, r := range rows {
				got[r.ID] = r.UserID + " " + r.Value
			}
			want := map[string]string{"a1": "u1 jane@x.example", "b2": "u1 bob@y.example", "c1": "u2 jane@x.example", "d1": "u1 @example.org"}
			if len(got) != len(want) {
				t.Fatalf("entries %v, want %v", got, want)
			}
			for id, v := range want {
				if got[id] != v {
					t.Errorf("entry %s: %q, want %q", id, got[id], v)
				}
			}
			if _, err := p.DownTo(ctx, 8); err != nil {
				t.Fatal(err)
			}
			if _, err := p.UpTo(ctx, 9); err != nil {
				t.Fatal(err)
			}
		})
	}
}

package store

import (
	"context"
	"testing"
)

// Migration 00013 gives stored leads the keys NormalizeURL gives now (an
// internationalised host in ASCII, the path escaped afresh); a lead whose
// new key its campaign already holds (the same site stored twice before)
// keeps its old one.
func TestRekeyLeadsMigration(t *testing.T) {
	t.Parallel()
	for _, d := range testDialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, p := migratedUpTo(t, d, 12)
			exec := func(q string, args ...any) {
				t.Helper()
				if err := db.Exec(q, args...).Error; err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			exec("INSERT INTO users (id, email, created_at) VALUES ('u', 'u@example.com', CURRENT_TIMESTAMP)")
			for _, c := range []string{"c1", "c2"} {
				exec("INSERT INTO campaigns (id, user_id, name, state, created_at, updated_at) VALUES (?, 'u', ?, 'active', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)", c, c)
			}
			// Keys as the code before wrote them.
			leads := []struct{ id, campaign, site, key string }{
				{"l1", "c1", "https://bücher.example/", "bücher.example"},
				{"l2", "c1", "https://example.com/caf%c3%a9", "example.com/caf%c3%a9"},
				{"l3", "c1", "https://plain.example/blog", "plain.example/blog"},
				// The same site twice in c2, in both forms: one keeps its key.
				{"l4", "c2", "https://xn--bcher-kva.example", "xn--bcher-kva.example"},
				{"l5", "c2", "https://bücher.example", "bücher.example"},
			}
			for _, l := range leads {
				exec("INSERT INTO leads (id, campaign_id, user_id, website_url, normalized_url, source, status, created_at, updated_at, status_changed_at) "+
					"VALUES (?, ?, 'u', ?, ?, 'manual', 'discovered', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
					l.id, l.campaign, l.site, l.key)
			}
			if _, err := p.UpTo(ctx, 13); err != nil {
				t.Fatalf("migration 00013: %v", err)
			}
			var rows []struct{ ID, NormalizedURL string }
			if err := db.Raw("SELECT id, normalized_url FROM leads ORDER BY id").Scan(&rows).Error; err != nil {
				t.Fatal(err)
			}
			want := map[string]string{
				"l1": "xn--bcher-kva.example", "l2": "example.com/caf%C3%A9", "l3": "plain.example/blog",
				"l4": "xn--bcher-kva.example", "l5": "bücher.example",
			}
			if len(rows) != len(want) {
				t.Fatalf("leads %+v", rows)
			}
			for _, r := range rows {
				if want[r.ID] != r.NormalizedURL {
					t.Errorf("lead %s: key %q, want %q", r.ID, r.NormalizedURL, want[r.ID])
				}
			}
			if _, err := p.DownTo(ctx, 12); err != nil {
				t.Fatal(err)
			}
			if _, err := p.UpTo(ctx, 13); err != nil {
				t.Fatal(err)
			}
		})
	}
}

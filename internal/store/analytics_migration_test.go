package store

import (
	"context"
	"maps"
	"testing"
)

// Migration 00005 fills campaign_stats and lead_reach from the ledger and
// replies already stored, and its down/up round trip rebuilds them;
// migration 00006 changes the triggers and keeps the counters.
func TestAnalyticsMigrationBackfills(t *testing.T) {
	t.Parallel()
	for _, d := range testDialects() {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			db, p := migratedUpTo(t, d, 4)
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
			for _, l := range []struct{ id, campaign string }{{"l1", "c1"}, {"l2", "c1"}, {"l3", "c1"}, {"l4", "c2"}} {
				exec("INSERT INTO leads (id, campaign_id, user_id, website_url, normalized_url, source, status, created_at, updated_at, status_changed_at) "+
					"VALUES (?, ?, 'u', ?, ?, 'manual', 'contacted', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
					l.id, l.campaign, "https://"+l.id+".example.com", l.id+".example.com")
			}
			for _, a := range []struct {
				id, lead, campaign string
				step               int
				state              string
			}{
				{"a1", "l1", "c1", 0, "sent"},
				{"a2", "l1", "c1", 1, "sent"},
				{"a3", "l2", "c1", 0, "sent"},
				{"a4", "l3", "c1", 0, "failed"},
				{"a5", "l4", "c2", 0, "sent"},
			} {
				exec("INSERT INTO attempts (id, user_id, campaign_id, lead_id, step, state, message_id, recipient, recipient_domain, subject, body, created_at, updated_at) "+
					"VALUES (?, 'u', ?, ?, ?, ?, ?, 'e@example.com', 'example.com', 's', 'b', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
					a.id, a.campaign, a.lead, a.step, a.state, "<"+a.id+"@x>")
			}
			for _, r := range []struct{ id, lead, campaign, class string }{
				{"r1", "l1", "c1", "interested"},
				{"r2", "l1", "c1", "replied"},
				{"r3", "l2", "c1", "bounce"},
				{"r4", "l3", "c1", "not_interested"},
				{"r5", "l4", "c2", "unsubscribe"},
			} {
				exec("INSERT INTO replies (id, user_id, campaign_id, lead_id, dedupe_key, classification, source, received_at, created_at, updated_at) "+
					"VALUES (?, 'u', ?, ?, ?, ?, 'imap', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
					r.id, r.campaign, r.lead, "<"+r.id+"@x>", r.class)
			}
			exec("INSERT INTO replies (id, dedupe_key, classification, source, received_at, created_at, updated_at) " +
				"VALUES ('r6', '<r6@x>', 'interested', 'imap', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")
			want := map[string]map[string]int64{
				"c1": {
					"attempts:sent": 3, "attempts:failed": 1, "replies:interested": 1, "replies:replied": 1,
					"replies:bounce": 1, "replies:not_interested": 1, "leads_sent": 2, "leads_responded": 1,
				},
				"c2": {"attempts:sent": 1, "replies:unsubscribe": 1, "leads_sent": 1, "leads_responded": 1},
			}
			check := func(step string) {
				t.Helper()
				var rows []struct {
					CampaignID, Metric string
					N                  int64
				}
				if err := db.Raw("SELECT campaign_id, metric, n FROM campaign_stats WHERE n <> 0").Scan(&rows).Error; err != nil {
					t.Fatal(err)
				}
				got := map[string]map[string]int64{}
				for _, r := range rows {
					if got[r.CampaignID] == nil {
						got[r.CampaignID] = map[string]int64{}
					}
					got[r.CampaignID][r.Metric] = r.N
				}
				for c, w := range want {
					if !maps.Equal(got[c], w) {
						t.Fatalf("%s: %s counters\n got %v\nwant %v", step, c, got[c], w)
					}
				}
				if len(got) != len(want) {
					t.Fatalf("%s: counters for %d campaigns, want %d: %v", step, len(got), len(want), got)
				}
			}
			if _, err := p.UpTo(ctx, 5); err != nil {
				t.Fatal(err)
			}
			check("backfill")
			// The triggers take over from the backfilled values.
			exec("UPDATE attempts SET state = 'sent' WHERE id = 'a4'")
			want["c1"]["attempts:sent"], want["c1"]["leads_sent"], want["c1"]["leads_responded"] = 4, 3, 2
			delete(want["c1"], "attempts:failed")
			check("after a write")
			if _, err := p.DownTo(ctx, 4); err != nil {
				t.Fatal(err)
			}
			if _, err := p.UpTo(ctx, 5); err != nil {
				t.Fatal(err)
			}
			check("down and up again")
			// Migration 00006 swaps the row triggers for statement-level
			// ones (PostgreSQL) and skips campaigns being deleted: the
			// counters carry over unchanged and keep moving.
			if _, err := p.UpTo(ctx, 6); err != nil {
				t.Fatal(err)
			}
			check("00006")
			exec("INSERT INTO replies (id, user_id, campaign_id, lead_id, dedupe_key, classification, source, received_at, created_at, updated_at) " +
				"VALUES ('r7', 'u', 'c2', 'l4', '<r7@x>', 'replied', 'imap', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")
			exec("DELETE FROM replies WHERE id = 'r3'")
			want["c2"]["replies:replied"] = 1
			delete(want["c1"], "replies:bounce")
			check("writes after 00006")
			if _, err := p.DownTo(ctx, 5); err != nil {
				t.Fatal(err)
			}
			check("00006 down")
			if _, err := p.UpTo(ctx, 6); err != nil {
				t.Fatal(err)
			}
			check("00006 down and up again")
		})
	}
}

package store

import (
	"context"
	"strings"
	"testing"
)

// Without replies_user (migration 00010), the search for another refusal
// from an address still starts from the attempts sent to it, by index, on
// both databases, rather than reading every reply.
func TestOtherRefusalQueryUsesIndexes(t *testing.T) {
	t.Parallel()
	for _, d := range testDialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			db, _ := migratedUpTo(t, d, 10)
			explain, want := "EXPLAIN QUERY PLAN ", []string{"attempts_recipient_lower", "replies_attempt"}
			if d == Postgres {
				// Small tables are read whole when that is cheaper: ask
				// for the plan the indexes give.
				if err := db.Exec("SET enable_seqscan = off").Error; err != nil {
					t.Fatal(err)
				}
				explain = "EXPLAIN "
			}
			rows, err := db.WithContext(context.Background()).Raw(explain+otherRefusalQuery, "u", "r", "a@b.example", "unsubscribe", "not_interested", "bounce", "hard").Rows()
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = rows.Close() }()
			cols, _ := rows.Columns()
			var plan []string
			for rows.Next() {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, strings.TrimSpace(strings.ReplaceAll(fmtAll(vals), "\n", " ")))
			}
			joined := strings.Join(plan, "; ")
			for _, w := range want {
				if !strings.Contains(joined, w) {
					t.Errorf("plan %s\n  does not use %s", joined, w)
				}
			}
			if strings.Contains(joined, "replies_user") {
				t.Errorf("plan %s uses the dropped replies_user", joined)
			}
		})
	}
}

func fmtAll(vals []any) string {
	var b strings.Builder
	for _, v := range vals {
		switch v := v.(type) {
		case string:
			b.WriteString(v + " ")
		case []byte:
			b.WriteString(string(v) + " ")
		}
	}
	return b.String()
}

// Matching a page of replies finds its attempts by Message-ID and by
// recipient through their indexes on SQLite, not by reading every attempt
// (with a user, as the webhook matches, the planner preferred the user's
// index: every message read all of the user's attempts); deduplication
// searches the dedupe key.
func TestMatchQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	db, _ := migratedUpTo(t, SQLite, 10)
	var dedupe []struct {
		ID, Parent, Notused int
		Detail              string
	}
	q, arg := inList(false, "dedupe_key", []string{"a", "b"})
	if err := db.Raw("EXPLAIN QUERY PLAN SELECT id FROM replies WHERE "+q, arg).Scan(&dedupe).Error; err != nil {
		t.Fatal(err)
	}
	if len(dedupe) == 0 || !strings.Contains(dedupe[len(dedupe)-1].Detail+dedupe[0].Detail, "(dedupe_key=?)") {
		t.Errorf("dedupe lookup plan %+v, want a search on dedupe_key", dedupe)
	}
	for _, tc := range []struct {
		column, want string
	}{
		{"message_id", "attempts_message_id (message_id=?)"},
		{"lower(recipient)", "attempts_recipient_lower (<expr>=?)"},
	} {
		for _, user := range []string{"", "u"} {
			q, args := matchQuery(db, tc.column, []string{"a@b.example", "c@d.example"}, user)
			var plan []struct {
				ID, Parent, Notused int
				Detail              string
			}
			if err := db.Raw("EXPLAIN QUERY PLAN "+q, args...).Scan(&plan).Error; err != nil {
				t.Fatal(err)
			}
			var details []string
			for _, p := range plan {
				details = append(details, p.Detail)
			}
			if joined := strings.Join(details, "; "); !strings.Contains(joined, tc.want) {
				t.Errorf("match on %s (user %q): plan %s, want a search on %s", tc.column, user, joined, tc.want)
			}
		}
	}
}

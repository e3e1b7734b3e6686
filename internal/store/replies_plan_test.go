package store

import (
	"context"
	"strings"
	"testing"

	"gorm.io/gorm"
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
			want := []string{"attempts_recipient_lower", "replies_attempt"}
			var setup []string
			if d == Postgres {
				// Small tables are read whole when that is cheaper: ask
				// for the plan the indexes give.
				setup = append(setup, "SET enable_seqscan = off")
			}
			plan := explainPlan(t, db, otherRefusalQuery, []any{"u", "r", "a@b.example", "unsubscribe", "not_interested", "bounce", "hard"}, setup...)
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

// explainPlan answers the lines of the plan the database gives q (with ?
// placeholders) and args, asked through database/sql on one connection
// (gorm would expand a []byte argument into a list) after setup there.
func explainPlan(t *testing.T, db *gorm.DB, q string, args []any, setup ...string) []string {
	t.Helper()
	ctx := context.Background()
	pg := DialectOf(db) == Postgres
	explain := "EXPLAIN QUERY PLAN "
	if pg {
		explain = "EXPLAIN "
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	for _, stmt := range setup {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := conn.QueryContext(ctx, explain+rebind(pg, q), args...)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rows.Close() }()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
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
		// The plan's text is the last column (SQLite's detail).
		line, _ := vals[len(vals)-1].(string)
		if b, ok := vals[len(vals)-1].([]byte); ok {
			line = string(b)
		}
		plan = append(plan, strings.TrimSpace(line))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}

// Matching a page of replies finds its attempts by Message-ID and by
// recipient through their indexes on SQLite, not by reading every attempt
// (with a user, as the webhook matches, the planner preferred the user's
// index: every message read all of the user's attempts); deduplication
// searches the dedupe key.
func TestMatchQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	db, _ := migratedUpTo(t, SQLite, 10)
	q, arg := inList(false, "dedupe_key", []string{"a", "b"})
	dedupe := explainPlan(t, db, "SELECT id FROM replies WHERE "+q, []any{arg})
	if len(dedupe) == 0 || !strings.Contains(dedupe[len(dedupe)-1]+dedupe[0], "(dedupe_key=?)") {
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
			if joined := strings.Join(explainPlan(t, db, q, args), "; "); !strings.Contains(joined, tc.want) {
				t.Errorf("match on %s (user %q): plan %s, want a search on %s", tc.column, user, joined, tc.want)
			}
		}
	}
}

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

package store

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backlinkoutreach/outreach/models"
)

// On SQLite the reply insert runs unprepared the first time, is prepared
// after that commit, and runs prepared from then on; Close releases it.
func TestReplyInsertPreparedOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := Open(ctx, Options{SQLitePath: filepath.Join(t.TempDir(), "p.db")})
	if err != nil {
		t.Fatal(err)
	}
	pool, _ := db.DB()
	prepared := func() int {
		n := 0
		preparedStmts.Range(func(k, _ any) bool {
			if key := k.(stmtKey); key.pool == pool && strings.HasPrefix(key.query, "INSERT INTO replies") {
				n++
			}
			return true
		})
		return n
	}
	store := func(key string) {
		t.Helper()
		r := models.Reply{DedupeKey: key, Source: "imap", Classification: models.ReplyNeutral, Parsed: true, ReceivedAt: time.Now()}
		fresh, err := StoreReplies(ctx, db, []NewReply{{Reply: r}}, time.Now())
		if err != nil || !fresh[0] {
			t.Fatalf("store %s: %v %v", key, fresh, err)
		}
	}
	store("a@x")
	if prepared() != 1 {
		t.Fatalf("%d reply inserts prepared after the first store, want 1", prepared())
	}
	store("b@x")
	store("c@x")
	if prepared() != 1 {
		t.Fatalf("%d reply inserts prepared after three, want 1", prepared())
	}
	var n int64
	if err := db.Model(&models.Reply{}).Count(&n).Error; err != nil || n != 3 {
		t.Fatalf("%d replies stored (%v), want 3", n, err)
	}
	Close(db)
	if prepared() != 0 {
		t.Fatal("Close left the pool's statements prepared")
	}
}

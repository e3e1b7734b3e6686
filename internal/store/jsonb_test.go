package store

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/gorm"
)

// SQLite reads back what appendJSONB* write, in every header size class
// (payloads of 0-11 bytes, up to 255, up to 65,535, more), for strings
// that text JSON would have to escape or that are not UTF-8, nulls,
// booleans and times, in an array of arrays as insertRepliesSQLite sends.
func TestJSONBRoundTrip(t *testing.T) {
	t.Parallel()
	db, err := gorm.Open(sqlite.Open(SQLiteDSN(filepath.Join(t.TempDir(), "j.db"))), &gorm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{
		"", "eleven char", "twelve chars", strings.Repeat("é", 127) + "x", strings.Repeat("a", 256),
		strings.Repeat("q\"\\\n\t\x01", 65535/6) + "z", strings.Repeat("b", 65536), strings.Repeat("日本\xff", 40000),
	}
	at := time.Date(2026, 3, 2, 17, 4, 5, 120000000, time.UTC)
	// Built as insertRepliesSQLite builds it: rows after room for the
	// array's header, written in front at the end.
	rows, row := make([]byte, jsonbMaxHeader), []byte(nil)
	for _, s := range texts {
		row = appendJSONBText(row[:0], s)
		row = appendJSONBTextPtr(row, nil)
		row = appendJSONBBool(row, len(s)%2 == 0)
		row = appendJSONBTime(row, at)
		rows = appendJSONBArray(rows, row)
	}
	blob := prependJSONBArrayHeader(rows)
	if small := prependJSONBArrayHeader(appendJSONBArray(make([]byte, jsonbMaxHeader), appendJSONBText(nil, "x"))); len(small) != 4 || small[0] != 3<<4|jsonbArray {
		t.Fatalf("a 3-byte array encoded as % x", small)
	}
	type result struct {
		S    string
		N    *string
		B    int
		T    string
		Kind string
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	// Through database/sql, as insertRepliesSQLite sends it (gorm would
	// expand a []byte argument into a list).
	rs, err := sqlDB.QueryContext(context.Background(), "SELECT value->>0, value->>1, value->>2, value->>3, typeof(value->>2) FROM jsonb_each(?)", blob)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rs.Close() }()
	var got []result
	for rs.Next() {
		var r result
		if err := rs.Scan(&r.S, &r.N, &r.B, &r.T, &r.Kind); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(texts) {
		t.Fatalf("%d rows read back, want %d", len(got), len(texts))
	}
	for i, s := range texts {
		g := got[i]
		wantB := 0
		if len(s)%2 == 0 {
			wantB = 1
		}
		if g.S != s || g.N != nil || g.B != wantB || g.Kind != "integer" || g.T != at.Format(sqliteTime) {
			t.Errorf("row %d (%d bytes): read back %d bytes, null %v, bool %d (%s), time %q", i, len(s), len(g.S), g.N == nil, g.B, g.Kind, g.T)
		}
	}
}

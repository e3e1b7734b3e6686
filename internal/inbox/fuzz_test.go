package inbox

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/backlinkoutreach/outreach/models"
)

// FuzzParse feeds arbitrary bytes to the entry point of inbound mail:
// parsing (MIME, charsets, HTML, DSN) and classification must never panic,
// and what they answer must be storable.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "corpus", "*.eml"))
	for i, file := range files {
		if i%6 != 0 { // a spread of the corpus: every kind, several clients
			continue
		}
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("From: a@b.c\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x\r\n" +
		"Content-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; q@r.s\r\nAction: failed\r\nStatus: 5.1.1\r\n--x--\r\n"))
	f.Add([]byte("Content-Type: text/html; charset=windows-1252\r\n\r\n<blockquote><p>\x93quoted\x94</blockquote><div class=gmail_signature>--</div>"))
	f.Add([]byte("Subject: =?utf-8?B?////?=\r\nContent-Type: multipart/mixed\r\n\r\n"))
	f.Add([]byte("Date: Mon, 10 Mar 2025 23:59:00 +1400\r\nAuto-Submitted: auto-replied\r\n\r\nBack on 31/02, until the 99th, returning 2025-13-45."))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m := Parse(raw)
		for name, s := range map[string]string{"text": m.Text, "reply": m.Reply, "subject": m.Subject, "from": m.From} {
			if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
				t.Fatalf("%s is not storable text: %q", name, s)
			}
		}
		if m.DedupeKey() == "" || m.MessageID == "" && len(m.Hash) != 64 {
			t.Fatal("no dedupe key")
		}
		// Read in place or streamed, a message reads the same.
		if fast, err := parse(raw, true); err == nil {
			if slow, _ := parse(raw, false); !reflect.DeepEqual(fast, slow) {
				t.Fatalf("read in place:\n%+v\nstreamed:\n%+v", fast, slow)
			}
		}
		r := ClassifyRules(m)
		if !slices.Contains(models.ReplyTags, r.Tag) {
			t.Fatalf("tag %q", r.Tag)
		}
		if r.Tag == models.ReplyBounce && r.BounceKind != "" && r.BounceKind != BounceHard && r.BounceKind != BounceSoft {
			t.Fatalf("bounce kind %q", r.BounceKind)
		}
		if r.Until != nil && !m.Date.IsZero() && (!r.Until.After(m.Date.Add(-24*time.Hour)) || r.Until.After(m.Date.AddDate(1, 2, 0))) {
			t.Fatalf("return date %v for a message of %v", r.Until, m.Date)
		}
		if len(m.Text) > maxTotalText+maxStoredRaw+maxReportBytes {
			t.Fatalf("text of %d bytes", len(m.Text))
		}
	})
}

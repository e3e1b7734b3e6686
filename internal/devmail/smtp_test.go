package devmail_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/backlinkoutreach/outreach/internal/devmail"
	outmail "github.com/backlinkoutreach/outreach/internal/mail"
)

func TestCapturedMailSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := start(t, dir)

	// Exact bytes over net/smtp, with a line that SMTP has to dot-stuff.
	raw := rawMessage("raw-1@outreach.test", "Plain one", "Hello.\n.\n..two dots\nBye.\n")
	sendRaw(t, m.SMTPAddr(), "", "bounce@outreach.test", []string{"a@blog.example", "bcc@blog.example"}, raw)
	// The engine's sender, as configured in production with a user name
	// but without TLS (AUTH goes through CRAM-MD5).
	out := outreachMessage("c1", "l1", 0)
	if err := sender(t, m, outmail.TLSNone, "outreach", "pw").Send(t.Context(), out); err != nil {
		t.Fatalf("engine send: %v", err)
	}
	if err := m.Sent().WaitForCount(waitCtx(t), 2); err != nil {
		t.Fatal(err)
	}

	page, err := m.Sent().List(10, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Messages) != 2 || page.Next != "" {
		t.Fatalf("list: %+v", page)
	}
	newest, oldest := page.Messages[0], page.Messages[1]
	if oldest.ID != "1" || newest.ID != "2" {
		t.Fatalf("ids newest first: got %s, %s", newest.ID, oldest.ID)
	}
	if oldest.MessageID != "raw-1@outreach.test" || oldest.Subject != "Plain one" || oldest.From != "bounce@outreach.test" ||
		!slices.Equal(oldest.To, []string{"a@blog.example", "bcc@blog.example"}) || oldest.Size != int64(len(raw)) {
		t.Fatalf("raw message described as %+v", oldest)
	}
	if newest.MessageID != out.MessageID || newest.Subject != out.Subject || newest.From != out.From ||
		!slices.Equal(newest.To, []string{out.To}) {
		t.Fatalf("engine message described as %+v", newest)
	}
	if time.Since(newest.ReceivedAt) > time.Minute || newest.ReceivedAt.Location() != time.UTC {
		t.Fatalf("received at %v", newest.ReceivedAt)
	}
	_, got, err := m.Sent().Get(t.Context(), "1")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, raw) {
		t.Fatalf("stored bytes differ from sent bytes:\n%q\n%q", got, raw)
	}
	_, engineRaw, err := m.Sent().Get(t.Context(), "2")
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := mail.ReadMessage(bytes.NewReader(engineRaw))
	if err != nil {
		t.Fatalf("captured engine message does not parse: %v", err)
	}
	if parsed.Header.Get("Message-Id") != "<"+out.MessageID+">" || parsed.Header.Get("List-Unsubscribe") == "" {
		t.Fatalf("engine message headers: %v", parsed.Header)
	}

	m = restart(t, m, dir)
	if n := m.Sent().Count(); n != 2 {
		t.Fatalf("after restart: %d messages", n)
	}
	again, err := m.Sent().List(10, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range page.Messages {
		a, b := page.Messages[i], again.Messages[i]
		if a.ID != b.ID || a.MessageID != b.MessageID || a.Subject != b.Subject || !a.ReceivedAt.Equal(b.ReceivedAt) || a.Size != b.Size {
			t.Fatalf("after restart %+v, before %+v", b, a)
		}
	}
	for id, want := range map[string][]byte{"1": raw, "2": engineRaw} {
		_, after, err := m.Sent().Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(after, want) {
			t.Fatalf("message %s changed across restart", id)
		}
	}
	// Ids keep counting after a restart.
	sendRaw(t, m.SMTPAddr(), "", "bounce@outreach.test", []string{"b@blog.example"}, rawMessage("raw-2@outreach.test", "Two", "x\n"))
	if got := m.Sent().ByMessageID("<raw-2@outreach.test>"); len(got) != 1 || got[0].ID != "3" {
		t.Fatalf("after restart the next message is %+v", got)
	}
	if _, _, err := m.Sent().Get(t.Context(), "99"); !errors.Is(err, devmail.ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	if _, _, err := m.Sent().Get(t.Context(), "../index.jsonl"); !errors.Is(err, devmail.ErrNotFound) {
		t.Fatalf("malformed id: %v", err)
	}
	if _, err := m.Sent().List(5, "abc"); !errors.Is(err, devmail.ErrBadCursor) {
		t.Fatalf("bad cursor: %v", err)
	}
}

func TestSMTPAuthModes(t *testing.T) {
	t.Parallel()
	m, err := devmail.Start(t.Context(), devmail.Options{DataDir: t.TempDir(), StartTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	cases := []struct {
		name, tls, user string
	}{
		{"none without auth", outmail.TLSNone, ""},
		{"none with auth (CRAM-MD5)", outmail.TLSNone, "outreach"},
		{"starttls with auth (PLAIN)", outmail.TLSStartTLS, "outreach"},
		{"starttls without auth", outmail.TLSStartTLS, ""},
	}
	for i, tc := range cases {
		msg := outreachMessage("auth", "lead"+strconv.Itoa(i), 0)
		if err := sender(t, m, tc.tls, tc.user, "any password").Send(t.Context(), msg); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := m.Sent().ByMessageID(msg.MessageID); len(got) != 1 {
			t.Fatalf("%s: captured %d copies", tc.name, len(got))
		}
	}
	if m.Sent().Count() != len(cases) {
		t.Fatalf("captured %d", m.Sent().Count())
	}
}

func TestSMTPPlainAuthWithoutTLS(t *testing.T) {
	t.Parallel()
	m := start(t, t.TempDir())
	// net/smtp sends AUTH PLAIN without TLS only to a loopback host.
	sendRaw(t, m.SMTPAddr(), "someone", "x@outreach.test", []string{"y@blog.example"}, rawMessage("plain@outreach.test", "p", "p\n"))
	if got := m.Sent().ByMessageID("plain@outreach.test"); len(got) != 1 {
		t.Fatalf("captured %+v", got)
	}
}

func TestConcurrentSendsAndPaging(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := start(t, dir)
	const workers, each = 8, 6
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		s := sender(t, m, outmail.TLSNone, "", "")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := s.Send(t.Context(), outreachMessage("conc", fmt.Sprintf("w%d", w), i)); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent send: %v", err)
	}
	const total = workers * each
	if m.Sent().Count() != total {
		t.Fatalf("captured %d of %d", m.Sent().Count(), total)
	}

	m = restart(t, m, dir)
	var ids []int
	seen := map[string]int{}
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > total {
			t.Fatal("paging does not end")
		}
		page, err := m.Sent().List(7, cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, msg := range page.Messages {
			n, _ := strconv.Atoi(msg.ID)
			ids = append(ids, n)
			seen[msg.MessageID]++
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	if len(ids) != total {
		t.Fatalf("paged through %d of %d", len(ids), total)
	}
	for i := range ids {
		if ids[i] != total-i {
			t.Fatalf("page order: %v", ids)
		}
	}
	for w := range workers {
		for i := range each {
			id := outmail.MessageID("conc", fmt.Sprintf("w%d", w), i, "outreach.test")
			if seen[id] != 1 {
				t.Fatalf("%s captured %d times", id, seen[id])
			}
		}
	}
}

package devmail_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// TestSentBoxRecoversFromCrashes: the .eml files are the truth. A file
// that never made it into the index is indexed at start, an index line
// without a file is dropped, a torn last line is ignored, and leftovers of
// unfinished writes are removed.
func TestSentBoxRecoversFromCrashes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := start(t, dir)
	for _, id := range []string{"a@x", "b@x", "c@x"} {
		sendRaw(t, m.SMTPAddr(), "", "s@outreach.test", []string{"r@blog.example"}, rawMessage(id, "Subject "+id, "b\n"))
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	sent := filepath.Join(dir, "mailbox", "sent")
	index := filepath.Join(sent, "index.jsonl")
	data, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	// Crash 1: message 3 stored, its index line never written. Crash 2:
	// half a line appended. Crash 3: message 2's file lost.
	torn := lines[0] + lines[1] + lines[2][:len(lines[2])/2]
	if err := os.WriteFile(index, []byte(torn), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(sent, "0000000002.eml")); err != nil {
		t.Fatal(err)
	}
	leftover := filepath.Join(sent, "0000000004.eml.tmp")
	if err := os.WriteFile(leftover, []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}

	m = start(t, dir)
	all := m.Sent().All()
	if len(all) != 2 || all[0].ID != "1" || all[1].ID != "3" || all[1].MessageID != "c@x" || all[1].Subject != "Subject c@x" {
		t.Fatalf("after recovery: %+v", all)
	}
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Fatalf("unfinished write left behind: %v", err)
	}
	sendRaw(t, m.SMTPAddr(), "", "s@outreach.test", []string{"r@blog.example"}, rawMessage("d@x", "d", "b\n"))
	if got := m.Sent().ByMessageID("d@x"); len(got) != 1 || got[0].ID != "4" {
		t.Fatalf("next message after recovery: %+v", got)
	}
	m = restart(t, m, dir)
	if n := m.Sent().Count(); n != 3 {
		t.Fatalf("after the rebuilt index: %d messages", n)
	}
}

// TestIMAPStoreRecoversFromCrashes: a torn journal line is an APPEND that
// was never acknowledged; its file is swept and its UID given to the next
// message. Messages acknowledged before stay with their UIDs.
func TestIMAPStoreRecoversFromCrashes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := start(t, dir)
	first, err := m.Inject(t.Context(), rawMessage("one@x", "1", "1\n"), timeZero)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Inject(t.Context(), rawMessage("two@x", "2", "2\n"), timeZero); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	journal := filepath.Join(dir, "mailbox", "imap", "journal.jsonl")
	data, err := os.ReadFile(journal)
	if err != nil {
		t.Fatal(err)
	}
	// Cut the last line (the second APPEND) in half: the process died while
	// writing it, before answering the client.
	cut := bytes.LastIndexByte(data[:len(data)-1], '\n') + 1
	if err := os.WriteFile(journal, data[:cut+(len(data)-cut)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	box := filepath.Join(dir, "mailbox", "imap", itoa(first.UIDValidity))
	stray := filepath.Join(dir, "mailbox", "imap", "12345")
	if err := os.MkdirAll(stray, 0o700); err != nil {
		t.Fatal(err)
	}

	m = start(t, dir)
	c := imapClient(t, m, nil)
	sel, msgs := uidFetch(t, c, "INBOX", true)
	if sel.UIDValidity != first.UIDValidity || len(msgs) != 1 || msgs[0].UID != first.UID || sel.UIDNext != 2 {
		t.Fatalf("after recovery: UIDVALIDITY %d, UIDNEXT %d, %d messages", sel.UIDValidity, sel.UIDNext, len(msgs))
	}
	if _, err := os.Stat(filepath.Join(box, "2.eml")); !os.IsNotExist(err) {
		t.Fatalf("file of the unacknowledged APPEND kept: %v", err)
	}
	if _, err := os.Stat(stray); !os.IsNotExist(err) {
		t.Fatalf("directory of no mailbox kept: %v", err)
	}
	again := rawMessage("three@x", "3", "3\n")
	d, err := m.Inject(t.Context(), again, timeZero)
	if err != nil {
		t.Fatal(err)
	}
	if d.UID != 2 {
		t.Fatalf("next UID %d", d.UID)
	}
	_, msgs = uidFetch(t, c, "INBOX", true)
	if len(msgs) != 2 || !bytes.Equal(body(msgs[1]), again) || msgs[1].UID != imap.UID(2) {
		t.Fatalf("after the next append: %+v", msgs)
	}
}

package devmail_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// TestIMAPFoldersFlagsAndSearch covers the commands a mail client uses
// besides the poller's: RENAME and SUBSCRIBE (kept across a restart),
// LIST with STATUS, STORE answers, read-only refusals, and SEARCH with
// sequence sets, "*", NOT, OR and the saved result "$".
func TestIMAPFoldersFlagsAndSearch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := start(t, dir)
	c := imapClient(t, m, nil)
	if err := c.Create("Leads", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Create("leads", nil).Wait(); err != nil {
		t.Fatalf("names are case-sensitive except INBOX: %v", err)
	}
	if err := c.Create("inbox", nil).Wait(); err == nil {
		t.Fatal("created a second INBOX")
	}
	if err := c.Rename("Leads", "Leads/2025", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename("INBOX", "Old", nil).Wait(); err == nil {
		t.Fatal("INBOX renamed")
	}
	if err := c.Subscribe("Leads/2025").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Unsubscribe("INBOX").Wait(); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		appendIMAP(t, c, "Leads/2025", rawMessage(itoa(uint32(i))+"@x", "Lead "+itoa(uint32(i)), "b\n"), nil)
	}

	m = restart(t, m, dir)
	c = imapClient(t, m, nil)
	subs, err := c.List("", "*", &imap.ListOptions{SelectSubscribed: true, ReturnStatus: &imap.StatusOptions{NumMessages: true, UIDNext: true}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(subs) != 1 || subs[0].Mailbox != "Leads/2025" || subs[0].Status == nil || *subs[0].Status.NumMessages != 4 || subs[0].Status.UIDNext != 5 {
		t.Fatalf("subscribed after restart: %+v", subs)
	}
	ns, err := c.Namespace().Wait()
	if err != nil || len(ns.Personal) != 1 || ns.Personal[0].Delim != '/' {
		t.Fatalf("namespace: %+v %v", ns, err)
	}

	// Read-only: STORE refused, EXPUNGE deletes nothing.
	if _, err := c.Select("Leads/2025", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect(); err == nil {
		t.Fatal("STORE accepted after EXAMINE")
	}

	if _, err := c.Select("Leads/2025", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	got, err := c.Store(imap.SeqSetNum(1, 2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged, "Hot"}}, nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !slices.Contains(got[0].Flags, imap.FlagFlagged) || !slices.Contains(got[1].Flags, "Hot") {
		t.Fatalf("STORE answer: %+v", got)
	}
	if _, err := c.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: []imap.Flag{"hot"}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	search := func(crit *imap.SearchCriteria, o *imap.SearchOptions) []imap.UID {
		t.Helper()
		d, err := c.UIDSearch(crit, o).Wait()
		if err != nil {
			t.Fatal(err)
		}
		return d.AllUIDs()
	}
	if u := search(&imap.SearchCriteria{Flag: []imap.Flag{"HOT"}}, nil); !slices.Equal(u, []imap.UID{1}) {
		t.Fatalf("keyword search (case-insensitive): %v", u)
	}
	if u := search(&imap.SearchCriteria{SeqNum: []imap.SeqSet{{imap.SeqRange{Start: 3, Stop: 0}}}}, nil); !slices.Equal(u, []imap.UID{3, 4}) {
		t.Fatalf("3:*: %v", u)
	}
	if u := search(&imap.SearchCriteria{Not: []imap.SearchCriteria{{Flag: []imap.Flag{imap.FlagFlagged}}}}, nil); !slices.Equal(u, []imap.UID{3, 4}) {
		t.Fatalf("NOT FLAGGED: %v", u)
	}
	or := &imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{
		{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "Lead 3"}}},
		{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: "0@x"}}},
	}}}
	if u := search(or, nil); !slices.Equal(u, []imap.UID{1, 4}) {
		t.Fatalf("OR: %v", u)
	}

	// imapclient cannot ask for SEARCH RETURN (SAVE): speak the protocol.
	conn, err := net.Dial("tcp", m.IMAPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(conn)
	if _, err := r.ReadString('\n'); err != nil { // greeting
		t.Fatal(err)
	}
	cmd := func(tag, line string) []string {
		t.Helper()
		if _, err := fmt.Fprintf(conn, "%s %s\r\n", tag, line); err != nil {
			t.Fatal(err)
		}
		var out []string
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			out = append(out, strings.TrimRight(l, "\r\n"))
			if strings.HasPrefix(l, tag+" ") {
				if !strings.HasPrefix(l, tag+" OK") {
					t.Fatalf("%s: %s", line, l)
				}
				return out
			}
		}
	}
	cmd("a1", "LOGIN "+imapUser+" "+imapPass)
	cmd("a2", `SELECT "Leads/2025"`)
	cmd("a3", `UID SEARCH RETURN (SAVE) OR SUBJECT "Lead 3" HEADER Message-ID "0@x"`)
	var uids []string
	for _, l := range cmd("a4", "UID FETCH $ (UID)") {
		if f := strings.Fields(l); len(f) == 5 && f[2] == "FETCH" {
			uids = append(uids, strings.TrimSuffix(f[4], ")"))
		}
	}
	if !slices.Equal(uids, []string{"1", "4"}) {
		t.Fatalf("UID FETCH $ answered UIDs %v", uids)
	}
	cmd("a5", "LOGOUT")
}

// TestSMTPAuthLogin: AUTH LOGIN with any credentials, over go-smtp's client.
func TestSMTPAuthLogin(t *testing.T) {
	t.Parallel()
	m := start(t, t.TempDir())
	c, err := smtp.Dial(m.SMTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if err := c.Hello("outreach.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewLoginClient("anyone", "anything")); err != nil {
		t.Fatalf("AUTH LOGIN: %v", err)
	}
	raw := rawMessage("login@x", "l", "b\n")
	if err := c.SendMail("a@outreach.test", []string{"b@blog.example"}, bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	if got := m.Sent().ByMessageID("login@x"); len(got) != 1 {
		t.Fatalf("captured %+v", got)
	}
}

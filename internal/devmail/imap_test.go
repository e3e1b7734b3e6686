package devmail_test

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

func TestIMAPLogin(t *testing.T) {
	t.Parallel()
	m := start(t, t.TempDir())
	for _, creds := range [][2]string{{imapUser, "wrong"}, {"other@outreach.test", imapPass}, {"", ""}} {
		c, err := imapclient.DialInsecure(m.IMAPAddr(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Login(creds[0], creds[1]).Wait(); err == nil {
			t.Fatalf("login %q/%q accepted", creds[0], creds[1])
		}
		_ = c.Close()
	}
	c := imapClient(t, m, nil)
	caps, err := c.Capability().Wait()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []imap.Cap{imap.CapIMAP4rev1, imap.CapIMAP4rev2, imap.CapIdle, imap.CapUIDPlus, imap.CapMove} {
		if !caps.Has(want) {
			t.Fatalf("capability %s missing from %v", want, caps)
		}
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestIMAPAnyLoginWhenNoUserIsConfigured(t *testing.T) {
	t.Parallel()
	m := startAnyLogin(t)
	c, err := imapclient.DialInsecure(m.IMAPAddr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if err := c.Login("whoever", "whatever").Wait(); err != nil {
		t.Fatalf("login: %v", err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
}

// TestIMAPStateSurvivesRestart: UIDs, UIDVALIDITY, UIDNEXT, bodies, flags
// and internal dates are the same after a restart, in INBOX and in a
// created folder, and an expunged UID is never handed out again.
func TestIMAPStateSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := start(t, dir)
	c := imapClient(t, m, nil)
	if err := c.Create("Replies/Archive", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 7, 2, 8, 15, 0, 0, time.FixedZone("CEST", 2*3600))
	var raws [][]byte
	var uids []imap.UID
	var validity uint32
	for i := range 4 {
		raw := rawMessage(fmt.Sprintf("reply-%d@blog.example", i), fmt.Sprintf("Re: pitch %d", i), fmt.Sprintf("Sounds good %d.\n", i))
		d := appendIMAP(t, c, "INBOX", raw, &imap.AppendOptions{Time: at.Add(time.Duration(i) * time.Hour), Flags: []imap.Flag{"$Label1"}})
		if validity == 0 {
			validity = d.UIDValidity
		}
		if d.UIDValidity != validity || d.UID != imap.UID(i+1) {
			t.Fatalf("APPENDUID %d %d", d.UIDValidity, d.UID)
		}
		raws, uids = append(raws, raw), append(uids, d.UID)
	}
	archived := rawMessage("old@blog.example", "Old", "Archived.\n")
	ad := appendIMAP(t, c, "Replies/Archive", archived, nil)
	if ad.UIDValidity == validity {
		t.Fatal("two mailboxes share a UIDVALIDITY")
	}
	// Delete a middle and the last INBOX message: the UIDs after the gap
	// stay, and UIDNEXT stays above the last.
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.UIDSetNum(2, 4), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.UIDSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expunge().Collect(); err != nil {
		t.Fatal(err)
	}
	kept := []int{0, 2}
	selBefore, before := uidFetch(t, c, "INBOX", true)
	if len(before) != len(kept) {
		t.Fatalf("before restart: %d messages", len(before))
	}

	// The first start after the changes replays the journal as written;
	// the second reads the journal compacted by the first.
	for round := range 2 {
		t.Logf("restart %d", round+1)
		m = restart(t, m, dir)
		c = imapClient(t, m, nil)
		sel, after := uidFetch(t, c, "INBOX", true)
		if sel.UIDValidity != validity || sel.UIDNext != 5 || sel.UIDNext != selBefore.UIDNext || sel.NumMessages != uint32(len(kept)) {
			t.Fatalf("after restart: UIDVALIDITY %d (was %d), UIDNEXT %d, %d messages", sel.UIDValidity, validity, sel.UIDNext, sel.NumMessages)
		}
		if len(after) != len(kept) {
			t.Fatalf("after restart: %d messages", len(after))
		}
		for k, msg := range after {
			i, b := kept[k], before[k]
			if msg.UID != uids[i] || msg.UID != b.UID {
				t.Fatalf("message %d: UID %d, was %d", i, msg.UID, b.UID)
			}
			if !bytes.Equal(body(msg), raws[i]) || msg.RFC822Size != int64(len(raws[i])) {
				t.Fatalf("message %d: body differs after restart", i)
			}
			if !msg.InternalDate.Equal(at.Add(time.Duration(i)*time.Hour)) || !msg.InternalDate.Equal(b.InternalDate) {
				t.Fatalf("message %d: internal date %v, was %v", i, msg.InternalDate, b.InternalDate)
			}
			if !slices.Equal(msg.Flags, b.Flags) || !slices.Contains(msg.Flags, "$Label1") {
				t.Fatalf("message %d: flags %v, were %v", i, msg.Flags, b.Flags)
			}
			if msg.Envelope == nil || msg.Envelope.MessageID != fmt.Sprintf("reply-%d@blog.example", i) || msg.Envelope.Subject != fmt.Sprintf("Re: pitch %d", i) {
				t.Fatalf("message %d: envelope %+v", i, msg.Envelope)
			}
		}
		if !slices.Contains(after[0].Flags, imap.FlagSeen) || slices.Contains(after[1].Flags, imap.FlagSeen) {
			t.Fatalf("\\Seen flags after restart: %v, %v", after[0].Flags, after[1].Flags)
		}
	}
	d := appendIMAP(t, c, "INBOX", rawMessage("new@blog.example", "New", "n\n"), nil)
	if d.UID != 5 || d.UIDValidity != validity {
		t.Fatalf("append after restart: UID %d UIDVALIDITY %d", d.UID, d.UIDValidity)
	}
	_, arch := uidFetch(t, c, "Replies/Archive", true)
	if len(arch) != 1 || arch[0].UID != ad.UID || !bytes.Equal(body(arch[0]), archived) {
		t.Fatalf("archive after restart: %+v", arch)
	}
	st, err := c.Status("Replies/Archive", &imap.StatusOptions{UIDValidity: true, UIDNext: true, NumMessages: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if st.UIDValidity != ad.UIDValidity || st.UIDNext != 2 || *st.NumMessages != 1 {
		t.Fatalf("status: %+v", st)
	}
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range list {
		names = append(names, l.Mailbox)
	}
	if !slices.Equal(names, []string{"INBOX", "Replies/Archive"}) {
		t.Fatalf("LIST: %v", names)
	}
}

func TestIMAPRecreatedMailboxGetsNewUIDValidity(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := start(t, dir)
	c := imapClient(t, m, nil)
	if err := c.Create("Bounces", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	first := appendIMAP(t, c, "Bounces", rawMessage("b1@x", "b", "b\n"), nil)
	if err := c.Delete("Bounces").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Create("Bounces", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("INBOX").Wait(); err == nil {
		t.Fatal("INBOX deleted")
	}
	m = restart(t, m, dir)
	c = imapClient(t, m, nil)
	st, err := c.Status("Bounces", &imap.StatusOptions{UIDValidity: true, UIDNext: true, NumMessages: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if st.UIDValidity == first.UIDValidity || st.UIDValidity < first.UIDValidity || *st.NumMessages != 0 || st.UIDNext != 1 {
		t.Fatalf("re-created mailbox: %+v (old UIDVALIDITY %d)", st, first.UIDValidity)
	}
}

// TestInjectIsAnAppend: Inject takes the next UID of INBOX, like APPEND
// from a client, and a client idling on INBOX hears of it at once.
func TestInjectIsAnAppend(t *testing.T) {
	t.Parallel()
	m := start(t, t.TempDir())
	c := imapClient(t, m, nil)
	first := appendIMAP(t, c, "INBOX", rawMessage("client@blog.example", "By client", "c\n"), nil)

	exists := make(chan uint32, 4)
	idler := imapClient(t, m, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				exists <- *d.NumMessages
			}
		},
	}})
	if _, err := idler.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := idler.Idle()
	if err != nil {
		t.Fatal(err)
	}
	injected := rawMessage("injected@blog.example", "Re: Guest post", "Yes, interested!\n")
	at := time.Date(2025, 7, 3, 12, 0, 0, 0, time.UTC)
	d, err := m.Inject(t.Context(), injected, at)
	if err != nil {
		t.Fatal(err)
	}
	if d.UID != first.UID+1 || d.UIDValidity != first.UIDValidity {
		t.Fatalf("inject: UID %d UIDVALIDITY %d after %d %d", d.UID, d.UIDValidity, first.UID, first.UIDValidity)
	}
	select {
	case n := <-exists:
		if n != 2 {
			t.Fatalf("EXISTS %d", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("idling client was not told of the injected message")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}

	// The reply poller's conversation: EXAMINE, UID SEARCH above the
	// checkpoint and by date, UID FETCH BODY.PEEK[]; nothing becomes \Seen.
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	res, err := c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{{imap.UIDRange{Start: first.UID + 1, Stop: 0}}}}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if got := res.AllUIDs(); !slices.Equal(got, []imap.UID{d.UID}) {
		t.Fatalf("UID SEARCH above the checkpoint: %v", got)
	}
	res, err = c.UIDSearch(&imap.SearchCriteria{Since: at.AddDate(0, 0, -1)}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if got := res.AllUIDs(); !slices.Contains(got, d.UID) {
		t.Fatalf("UID SEARCH SINCE: %v", got)
	}
	res, err = c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "guest POST"}}}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if got := res.AllUIDs(); !slices.Equal(got, []imap.UID{d.UID}) {
		t.Fatalf("UID SEARCH HEADER: %v", got)
	}
	res, err = c.UIDSearch(&imap.SearchCriteria{Body: []string{"interested"}}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if got := res.AllUIDs(); !slices.Equal(got, []imap.UID{d.UID}) {
		t.Fatalf("UID SEARCH BODY: %v", got)
	}
	msgs, err := c.Fetch(imap.UIDSetNum(d.UID), fetchAll).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || !bytes.Equal(body(msgs[0]), injected) || !msgs[0].InternalDate.Equal(at) || len(msgs[0].Flags) != 0 {
		t.Fatalf("fetch injected: %+v", msgs)
	}

	// BODY[] without PEEK marks \Seen, but only when the mailbox is open
	// read-write.
	nonPeek := &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{}}}
	if _, err := c.Fetch(imap.UIDSetNum(d.UID), nonPeek).Collect(); err != nil {
		t.Fatal(err)
	}
	if _, msgs = uidFetch(t, c, "INBOX", false); slices.Contains(msgs[1].Flags, imap.FlagSeen) {
		t.Fatal("a read-only FETCH set \\Seen")
	}
	if _, err := c.Fetch(imap.UIDSetNum(d.UID), nonPeek).Collect(); err != nil {
		t.Fatal(err)
	}
	if _, msgs = uidFetch(t, c, "INBOX", true); !slices.Contains(msgs[1].Flags, imap.FlagSeen) {
		t.Fatal("FETCH BODY[] in a read-write mailbox did not set \\Seen")
	}
}

func TestIMAPMoveAndCopy(t *testing.T) {
	t.Parallel()
	m := start(t, t.TempDir())
	c := imapClient(t, m, nil)
	for i := range 3 {
		if _, err := m.Inject(t.Context(), rawMessage(fmt.Sprintf("m%d@x", i), "s", "b\n"), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Create("Done", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	cp, err := c.Copy(imap.UIDSetNum(1), "Done").Wait()
	if err != nil {
		t.Fatal(err)
	}
	mv, err := c.Move(imap.UIDSetNum(2, 3), "Done").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if cp.DestUIDs.String() != "1" || mv.DestUIDs.String() != "2:3" {
		t.Fatalf("COPYUID %v, MOVE %v", cp.DestUIDs, mv.DestUIDs)
	}
	_, inbox := uidFetch(t, c, "INBOX", true)
	_, done := uidFetch(t, c, "Done", true)
	if len(inbox) != 1 || inbox[0].UID != 1 || len(done) != 3 {
		t.Fatalf("after move: INBOX %d, Done %d", len(inbox), len(done))
	}
	if _, err := c.Copy(imap.UIDSetNum(1), "Nowhere").Wait(); err == nil {
		t.Fatal("copy to a missing mailbox succeeded")
	}
}

// TestConcurrentAppendsAndInjects: UIDs stay unique and dense under
// concurrent APPENDs from clients and injects from Go.
func TestConcurrentAppendsAndInjects(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := start(t, dir)
	const clients, each = 4, 5
	var wg sync.WaitGroup
	errs := make(chan error, clients*each*2)
	for w := range clients {
		c := imapClient(t, m, nil)
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range each {
				raw := rawMessage(fmt.Sprintf("c%d-%d@x", w, i), "s", "b\n")
				cmd := c.Append("INBOX", int64(len(raw)), nil)
				if _, err := cmd.Write(raw); err != nil {
					errs <- err
					return
				}
				if err := cmd.Close(); err != nil {
					errs <- err
					return
				}
				if _, err := cmd.Wait(); err != nil {
					errs <- err
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := m.Inject(t.Context(), rawMessage(fmt.Sprintf("g%d-%d@x", w, i), "s", "b\n"), time.Time{}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	m = restart(t, m, dir)
	c := imapClient(t, m, nil)
	sel, msgs := uidFetch(t, c, "INBOX", true)
	const total = clients * each * 2
	if len(msgs) != total || sel.UIDNext != total+1 {
		t.Fatalf("%d messages, UIDNEXT %d", len(msgs), sel.UIDNext)
	}
	ids := map[string]bool{}
	for i, msg := range msgs {
		if msg.UID != imap.UID(i+1) {
			t.Fatalf("UIDs not dense: %d at %d", msg.UID, i)
		}
		ids[msg.Envelope.MessageID] = true
	}
	if len(ids) != total {
		t.Fatalf("%d distinct messages of %d", len(ids), total)
	}
}

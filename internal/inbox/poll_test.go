package inbox

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/internal/inbox/imaptest"
	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/internal/storetest"
	"github.com/backlinkoutreach/outreach/models"
)

func newPoller(db *gorm.DB, srv *imaptest.Server, mailboxes ...string) *Poller {
	if len(mailboxes) == 0 {
		mailboxes = []string{"INBOX"}
	}
	return &Poller{
		Config: IMAPConfig{
			Host: srv.Host, Port: srv.Port, Username: srv.Username, Password: srv.Password,
			TLS: "none", Mailboxes: mailboxes, FetchLimit: 50, Timeout: 20 * time.Second,
		},
		Pipeline: &Pipeline{DB: db},
		DB:       db,
	}
}

func dsn(rcpt, origID, action, status, diag string) []byte {
	return crlf(`From: Mail Delivery System <MAILER-DAEMON@mail.agency.example>
To: outreach@agency.example
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn-` + origID + `-` + status + `@mail.agency.example>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="dsnb"

--dsnb
Content-Type: text/plain

Your message to ` + rcpt + ` could not be delivered.

--dsnb
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.agency.example

Final-Recipient: rfc822; ` + rcpt + `
Action: ` + action + `
Status: ` + status + `
Diagnostic-Code: smtp; ` + diag + `

--dsnb
Content-Type: text/rfc822-headers

From: Outreach <outreach@agency.example>
To: ` + rcpt + `
Subject: Guest post idea
Message-ID: <` + origID + `>

--dsnb--
`)
}

func bigAttachment(msgID, from, inReplyTo, text string, size int) []byte {
	var b bytes.Buffer
	b.Write(crlf("Message-ID: <" + msgID + ">\nFrom: " + from + "\nSubject: RE: Guest post idea\nIn-Reply-To: <" + inReplyTo + ">\n" +
		"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"mix\"\n\n--mix\nContent-Type: text/plain; charset=utf-8\n\n" + text +
		"\n--mix\nContent-Type: application/zip; name=\"kit.zip\"\nContent-Disposition: attachment; filename=\"kit.zip\"\nContent-Transfer-Encoding: base64\n\n"))
	chunk := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xA5, 0x5A, 0x33}, 19)) // 76 chars
	for b.Len() < size {
		b.WriteString(chunk + "\r\n")
	}
	b.WriteString("--mix--\r\n")
	return b.Bytes()
}

// TestPollMatchesClassifiesAndStores polls a real IMAP server holding every
// kind of message the issue names and checks each stored row.
func TestPollMatchesClassifiesAndStores(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		w := newWorld(t, db, 8)
		other := newWorld(t, db, 1) // another user's lead must not absorb anything
		srv := imaptest.Start(t, imaptest.Options{})
		c := srv.Client(t)
		l := w.leads
		s := w.sent
		html := "<html><body><p>Thank you for your email.</p><p>I am out of the office until <b>Friday 13 March 2026</b>.</p></body></html>"
		msgs := map[string][]byte{
			"in-reply-to": reply("r1@site0.example", "lead0@site0.example", "Re: Guest post idea", s[0].MessageID, "<"+s[0].MessageID+">",
				"Sounds good, send it over.\n\nOn Mon, Dana wrote:\n> Would you be interested?"),
			"colleague": reply("r2@site0.example", "Sam Editor <editor@site0.example>", "Re: Guest post idea", "r1@site0.example",
				"<"+s[0].MessageID+"> <r1@site0.example>", "Editor here: we'd love the piece, please send the draft to me directly."),
			"by-sender": reply("r3@site1.example", "LEAD1@Site1.Example", "Your e-mail", "", "", "Not interested, thanks."),
			"stranger":  reply("r4@else.example", "someone@else.example", "Hello", "", "", "Who is this?"),
			"hard":      dsn(l[2].ContactEmail, s[2].MessageID, "failed", "5.1.1", "550 5.1.1 User unknown"),
			"soft":      dsn(l[3].ContactEmail, s[3].MessageID, "delayed", "4.4.1", "Connection timed out"),
			"cp1252": append(crlf("Message-ID: <r7@site4.example>\nFrom: lead4@site4.example\nSubject: Re: Guest post idea\nIn-Reply-To: <"+s[4].MessageID+">\n"+
				"MIME-Version: 1.0\nContent-Type: text/plain; charset=windows-1252\nContent-Transfer-Encoding: 8bit\n\n"),
				[]byte("Please don\x92t email me again \x96 unsubscribe.\r\n")...),
			"html-ooo": crlf("Message-ID: <r8@site5.example>\nFrom: lead5@site5.example\nSubject: Automatic reply: Guest post idea\n" +
				"Date: Tue, 10 Mar 2026 08:00:00 +0100\nIn-Reply-To: <" + s[5].MessageID + ">\nAuto-Submitted: auto-replied\n" +
				"MIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n\n" + html),
			"big": bigAttachment("r9@site6.example", "lead6@site6.example", s[6].MessageID,
				"Our fee for a sponsored post is $150, media kit attached.", 10<<20),
			// Broken MIME (the in-memory server cannot serve a message whose
			// header does not parse; that case is TestProcessBrokenHeader):
			// a multipart whose boundary never appears, and a part of binary
			// junk declared base64 under an unreadable Content-Type.
			"broken": crlf("Message-ID: <r10@site7.example>\nFrom: lead7@site7.example\nIn-Reply-To: <" + s[7].MessageID + ">\n" +
				"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"never-used\"\n\nyes please, but this body has no parts"),
			"garbage": append(crlf("Message-ID: <r11@else.example>\nFrom: junk@else.example\nMIME-Version: 1.0\n"+
				"Content-Type: text/plain; charset=\"unterminated\nContent-Transfer-Encoding: base64\n\n"),
				[]byte("\x00\x01\x02\x03 binary \xff\xfe junk")...),
		}
		names := make([]string, 0, len(msgs))
		for k := range msgs {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			srv.Append(t, c, "INBOX", msgs[k], time.Now())
		}
		p := newPoller(db, srv)
		st, err := p.Poll(ctx)
		if err != nil {
			t.Fatalf("poll: %v", err)
		}
		if st.Fetched != len(msgs) || st.New != len(msgs) || st.Unparsed != 2 || st.ByUser[w.user.ID] != 9 {
			t.Fatalf("stats = %+v, want %d fetched and new, 2 unparsed, 9 matched for the user", st, len(msgs))
		}
		got := repliesOf(t, db)
		check := func(key string, lead int, tag, kind string) models.Reply {
			t.Helper()
			r, ok := got[key]
			if !ok {
				t.Fatalf("reply %s not stored", key)
			}
			wantLead := ""
			if lead >= 0 {
				wantLead = l[lead].ID
			}
			if strPtr(r.LeadID) != wantLead || (lead >= 0 && strPtr(r.AttemptID) != s[lead].ID) {
				t.Errorf("%s: lead %q attempt %q, want lead %q", key, strPtr(r.LeadID), strPtr(r.AttemptID), wantLead)
			}
			if r.Classification != tag || r.BounceKind != kind {
				t.Errorf("%s: %s/%s, want %s/%s (body %q)", key, r.Classification, r.BounceKind, tag, kind, clip(r.BodyText, 120))
			}
			return r
		}
		check("r1@site0.example", 0, models.ReplyInterested, "")
		check("r2@site0.example", 0, models.ReplyInterested, "")
		check("r3@site1.example", 1, models.ReplyNotInterested, "")
		check("r4@else.example", -1, models.ReplyNeutral, "")
		hard := check("dsn-"+s[2].MessageID+"-5.1.1@mail.agency.example", 2, models.ReplyBounce, BounceHard)
		if hard.BounceCode != "5.1.1" {
			t.Errorf("hard bounce code %q", hard.BounceCode)
		}
		check("dsn-"+s[3].MessageID+"-4.4.1@mail.agency.example", 3, models.ReplyBounce, BounceSoft)
		cp := check("r7@site4.example", 4, models.ReplyUnsubscribe, "")
		if !strings.Contains(cp.BodyText, "don\u2019t email me again \u2013 unsubscribe") {
			t.Errorf("windows-1252 body = %q", cp.BodyText)
		}
		ooo := check("r8@site5.example", 5, models.ReplyOutOfOffice, "")
		if ooo.OOOUntil == nil || !ooo.OOOUntil.Equal(time.Date(2026, 3, 14, 0, 0, 0, 0, time.FixedZone("", 3600))) {
			t.Errorf("out-of-office until = %v, want 2026-03-14 00:00 +01:00", ooo.OOOUntil)
		}
		big := check("r9@site6.example", 6, models.ReplyAsksPayment, "")
		if !big.Parsed || len(big.BodyText) > 1000 {
			t.Errorf("big message: parsed %v, body of %d bytes", big.Parsed, len(big.BodyText))
		}
		broken := check("r10@site7.example", 7, got["r10@site7.example"].Classification, "")
		if broken.Parsed || broken.ParseError == "" {
			t.Errorf("broken MIME stored as parsed=%v err=%q", broken.Parsed, broken.ParseError)
		}
		if garbage := check("r11@else.example", -1, got["r11@else.example"].Classification, ""); garbage.Parsed {
			t.Errorf("binary junk stored as parsed")
		}
		// Suppression is written by the pipeline itself.
		for lead, src := range map[int]string{1: models.SuppressNotInterested, 2: models.SuppressHardBounce, 4: models.SuppressUnsubscribe} {
			hit, err := store.IsSuppressed(ctx, db, w.user.ID, l[lead].ContactEmail)
			if err != nil || hit == "" {
				t.Errorf("lead %d not suppressed (%v)", lead, err)
			}
			var sup models.Suppression
			db.Where("user_id = ? AND value = ?", w.user.ID, strings.ToLower(l[lead].ContactEmail)).Take(&sup)
			if sup.Source != src {
				t.Errorf("lead %d suppression source %q, want %q", lead, sup.Source, src)
			}
			var flagged models.Lead
			db.Take(&flagged, "id = ?", l[lead].ID)
			if !flagged.Suppressed {
				t.Errorf("lead %d not flagged suppressed", lead)
			}
		}
		for _, lead := range []int{0, 3, 5, 6} {
			if hit, _ := store.IsSuppressed(ctx, db, w.user.ID, l[lead].ContactEmail); hit != "" {
				t.Errorf("lead %d suppressed by %q", lead, hit)
			}
		}
		// Every matched reply owes its lead workflow a signal.
		var pending int64
		db.Model(&store.ReplyEffect{}).Where("state = ?", store.EffectPending).Count(&pending)
		if pending != 9 {
			t.Errorf("%d pending effects, want 9", pending)
		}
		var others int64
		db.Model(&models.Reply{}).Where("user_id = ?", other.user.ID).Count(&others)
		if others != 0 {
			t.Errorf("%d replies matched to an unrelated user", others)
		}
		// Read-only: no flag was set on any message.
		for uid, flags := range srv.Flags(t, c, "INBOX") {
			if len(flags) != 0 {
				t.Errorf("message %d got flags %v", uid, flags)
			}
		}
		// Caught up: the next poll reads nothing.
		st, err = p.Poll(ctx)
		if err != nil || st.Fetched != 0 {
			t.Fatalf("second poll: %+v %v", st, err)
		}
	})
}

func TestPollSameMessageInTwoFolders(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		w := newWorld(t, db, 2)
		srv := imaptest.Start(t, imaptest.Options{Mailboxes: []string{"INBOX", "Archive"}})
		c := srv.Client(t)
		a := reply("same@site0.example", "lead0@site0.example", "Re: Guest post idea", w.sent[0].MessageID, "", "Go ahead!")
		srv.Append(t, c, "INBOX", a, time.Now())
		srv.Append(t, c, "INBOX", reply("b@site1.example", "lead1@site1.example", "Re: x", w.sent[1].MessageID, "", "No thanks."), time.Now())
		srv.Append(t, c, "Archive", a, time.Now())
		// The same message again without a Message-ID is recognised by content.
		noID := reply("", "lead1@site1.example", "Re: x", w.sent[1].MessageID, "", "Who is this?")
		srv.Append(t, c, "Archive", noID, time.Now())
		srv.Append(t, c, "INBOX", noID, time.Now())
		st, err := newPoller(db, srv, "INBOX", "Archive").Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Fetched != 5 || st.New != 3 || st.Duplicates != 2 {
			t.Fatalf("stats %+v, want 5 fetched, 3 new, 2 duplicates", st)
		}
		var n int64
		db.Model(&models.Reply{}).Count(&n)
		if n != 3 {
			t.Fatalf("%d replies stored, want 3", n)
		}
		var effects int64
		db.Model(&store.ReplyEffect{}).Count(&effects)
		if effects != 3 {
			t.Fatalf("%d effects, want 3 (one per stored reply)", effects)
		}
	})
}

// A mailbox that cannot be read (deleted, misspelt) does not keep the
// others from being polled: their replies are stored and the poll's error
// names the failing one.
func TestPollMissingMailboxDoesNotBlockOthers(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		w := newWorld(t, db, 1)
		srv := imaptest.Start(t, imaptest.Options{})
		c := srv.Client(t)
		srv.Append(t, c, "INBOX", reply("one@site0.example", "lead0@site0.example", "Re: x", w.sent[0].MessageID, "", "Sounds good!"), time.Now())
		st, err := newPoller(db, srv, "Replies", "INBOX", "Gone").Poll(context.Background())
		if err == nil || !strings.Contains(err.Error(), "mailbox Replies") || !strings.Contains(err.Error(), "mailbox Gone") {
			t.Fatalf("error %v, want both missing mailboxes named", err)
		}
		if st.Mailboxes != 1 || st.New != 1 {
			t.Fatalf("stats %+v: INBOX, between the missing ones, must be read", st)
		}
		// The server gone after the first failure: the reconnection fails,
		// and the poll says so (it used to panic on the nil client).
		p := newPoller(db, srv, "Gone", "INBOX")
		dials := 0
		p.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if dials++; dials > 1 {
				return nil, errors.New("connection refused")
			}
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}
		if _, err := p.Poll(context.Background()); err == nil || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("failed reconnection: %v", err)
		}
	})
}

// backlogBehindProxy stores n replies of about 2 KB from <prefix>-<i>@…,
// each answering a sent pitch, and answers a poller that reaches the IMAP
// server through a proxy the test can cut.
func backlogBehindProxy(t *testing.T, db *gorm.DB, n int, prefix string) (*Poller, *imaptest.Proxy) {
	t.Helper()
	w := newWorld(t, db, n)
	srv := imaptest.Start(t, imaptest.Options{})
	c := srv.Client(t)
	for i := range n {
		body := fmt.Sprintf("Reply %d. Sounds good, send it over.\n%s", i, strings.Repeat("Some padding text. ", 100))
		srv.Append(t, c, "INBOX", reply(fmt.Sprintf("%s-%d@site.example", prefix, i), w.leads[i].ContactEmail, "Re: Guest post idea",
			w.sent[i].MessageID, "", body), time.Now())
	}
	proxy := imaptest.StartProxy(t, srv.Addr)
	p := newPoller(db, srv)
	dialThrough(p, proxy)
	return p, proxy
}

// dialThrough makes p connect through proxy.
func dialThrough(p *Poller, proxy *imaptest.Proxy) {
	p.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, proxy.Addr)
	}
}

// wantStored fails unless n replies are stored and p's INBOX checkpoint is
// at uid.
func wantStored(t *testing.T, db *gorm.DB, p *Poller, n int64, uid uint32) {
	t.Helper()
	var got int64
	if err := db.Model(&models.Reply{}).Count(&got).Error; err != nil {
		t.Fatal(err)
	}
	cp, _, _ := store.Checkpoint(context.Background(), db, p.CheckpointKey("INBOX"))
	if got != n || cp.LastUID != uid {
		t.Fatalf("%d replies stored, checkpoint at %d; want %d and %d", got, cp.LastUID, n, uid)
	}
}

// TestPollResumesAfterDroppedConnection cuts the connection in the middle
// of a FETCH: the messages read are stored, the checkpoint stops below the
// first one missing, and the next poll stores the rest: nothing is lost,
// nothing is counted twice.
func TestPollResumesAfterDroppedConnection(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		p, proxy := backlogBehindProxy(t, db, 30, "drop")
		proxy.CutAfter(25 << 10) // about a third of the 30 x 2 KB page
		first, err := p.Poll(ctx)
		if err == nil || proxy.Cuts() != 1 {
			t.Fatalf("first poll: err %v, cuts %d: the connection was not cut", err, proxy.Cuts())
		}
		if first.New == 0 || first.New >= 30 {
			t.Fatalf("first poll stored %d messages, want some but not all", first.New)
		}
		cp, _, _ := store.Checkpoint(ctx, db, p.CheckpointKey("INBOX"))
		if int(cp.LastUID) != first.New {
			t.Fatalf("checkpoint at UID %d after storing %d messages", cp.LastUID, first.New)
		}
		second, err := p.Poll(ctx)
		if err != nil {
			t.Fatalf("second poll: %v", err)
		}
		if first.New+second.New != 30 || second.Duplicates != 0 {
			t.Fatalf("first %+v second %+v: want 30 new in total and no duplicates", first, second)
		}
		var n int64
		db.Model(&models.Reply{}).Count(&n)
		if n != 30 {
			t.Fatalf("%d replies stored, want 30", n)
		}
		cp, _, _ = store.Checkpoint(ctx, db, p.CheckpointKey("INBOX"))
		if cp.LastUID != 30 {
			t.Fatalf("checkpoint at %d, want 30", cp.LastUID)
		}
	})
}

// A backlog read in many pages, stored in groups while the store lags
// behind (OnPage is slow here), with the connection cut a few pages in:
// the complete messages of every page read are stored once and the
// checkpoint sits just below the first one missing; the next poll reads
// the rest.
func TestPollPagesStoredInGroupsResumeAfterCut(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		p, proxy := backlogBehindProxy(t, db, 40, "group")
		p.Config.FetchLimit = 3
		stores := 0
		p.OnPage = func(PollStats) {
			stores++
			time.Sleep(20 * time.Millisecond)
		}
		proxy.CutAfter(50 << 10) // some 22 messages of 2 KB in, pages of 3
		first, err := p.Poll(ctx)
		if err == nil || proxy.Cuts() != 1 {
			t.Fatalf("first poll: err %v, cuts %d: the connection was not cut", err, proxy.Cuts())
		}
		if first.New < 9 || first.New >= 40 {
			t.Fatalf("first poll stored %d messages, want the pages before the cut", first.New)
		}
		cp, _, _ := store.Checkpoint(ctx, db, p.CheckpointKey("INBOX"))
		if int(cp.LastUID) != first.New {
			t.Fatalf("checkpoint at UID %d after storing %d messages", cp.LastUID, first.New)
		}
		p.OnPage = nil
		second, err := p.Poll(ctx)
		if err != nil {
			t.Fatalf("second poll: %v", err)
		}
		if first.New+second.New != 40 || second.Duplicates != 0 {
			t.Fatalf("first %+v second %+v: want 40 new in total and no duplicates", first, second)
		}
		var n int64
		db.Model(&models.Reply{}).Count(&n)
		cp, _, _ = store.Checkpoint(ctx, db, p.CheckpointKey("INBOX"))
		if n != 40 || cp.LastUID != 40 {
			t.Fatalf("%d replies stored, checkpoint at %d; want 40 and 40", n, cp.LastUID)
		}
		t.Logf("first poll: %d messages in %d transactions", first.New, stores)
	})
}

// The store takes the pages waiting, up to a bound, and stops after a page
// that failed.
func TestNextGroup(t *testing.T) {
	page := func(n int, err error) stage {
		s := stage{got: make([]imap.UID, n)}
		s.err = err
		return s
	}
	ch := make(chan stage, 20)
	for range 12 {
		ch <- page(50, nil)
	}
	g := nextGroup(page(50, nil), ch)
	if len(g) != maxGroupMessages/50 {
		t.Fatalf("group of %d pages of 50, want %d", len(g), maxGroupMessages/50)
	}
	if g = nextGroup(<-ch, ch); len(g) != 3 {
		t.Fatalf("group of %d pages, want the 3 waiting", len(g))
	}
	if g = nextGroup(page(50, nil), ch); len(g) != 1 {
		t.Fatalf("group of %d pages with none waiting", len(g))
	}
	ch <- page(2, io.ErrUnexpectedEOF)
	ch <- page(50, nil)
	if g = nextGroup(page(50, nil), ch); len(g) != 2 || g[1].err == nil {
		t.Fatalf("group %+v: want it to end with the failed page", g)
	}
	failed := page(50, nil)
	failed.perr = context.Canceled
	if g = nextGroup(failed, ch); len(g) != 1 {
		t.Fatalf("a failed page took %d pages", len(g))
	}
	close(ch)
	if g = nextGroup(<-ch, ch); len(g) != 1 {
		t.Fatalf("group %d after close", len(g))
	}
}

func TestPollUIDValidityChange(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		w := newWorld(t, db, 5)
		srv := imaptest.Start(t, imaptest.Options{})
		c := srv.Client(t)
		msgs := make([][]byte, 5)
		for i := range msgs {
			msgs[i] = reply(fmt.Sprintf("v-%d@site.example", i), w.leads[i].ContactEmail, "Re: Guest post idea", w.sent[i].MessageID, "", "Go for it.")
		}
		for _, m := range msgs[:3] {
			srv.Append(t, c, "INBOX", m, time.Now())
		}
		p := newPoller(db, srv)
		if st, err := p.Poll(ctx); err != nil || st.New != 3 {
			t.Fatalf("first poll %+v %v", st, err)
		}
		before, _, _ := store.Checkpoint(ctx, db, p.CheckpointKey("INBOX"))
		// The server rebuilds the mailbox: same messages, new UIDs, new
		// UIDVALIDITY; two messages are new.
		srv.Recreate(t, "INBOX")
		for _, m := range msgs {
			srv.Append(t, c, "INBOX", m, time.Now())
		}
		st, err := p.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Fetched != 5 || st.New != 2 || st.Duplicates != 3 {
			t.Fatalf("after UIDVALIDITY change: %+v, want 5 fetched, 2 new, 3 duplicates", st)
		}
		after, _, _ := store.Checkpoint(ctx, db, p.CheckpointKey("INBOX"))
		if after.UIDValidity == before.UIDValidity || after.LastUID != 5 {
			t.Fatalf("checkpoint %+v after %+v", after, before)
		}
	})
}

func TestPollPagesAndFirstPoll(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		srv := imaptest.Start(t, imaptest.Options{})
		c := srv.Client(t)
		// Mail that arrived before anything was ever sent cannot be a reply:
		// the first poll only notes where the mailbox is.
		srv.Append(t, c, "INBOX", reply("old@x.example", "x@x.example", "Newsletter", "", "", "Hello"), time.Now())
		p := newPoller(db, srv)
		p.Config.FetchLimit = 4
		if st, err := p.Poll(ctx); err != nil || st.Fetched != 0 {
			t.Fatalf("poll before any send: %+v %v", st, err)
		}
		w := newWorld(t, db, 10)
		for i := range 10 {
			srv.Append(t, c, "INBOX", reply(fmt.Sprintf("p-%d@x.example", i), w.leads[i].ContactEmail, "Re: hi", w.sent[i].MessageID, "", "Sure."), time.Now())
		}
		st, err := p.Poll(ctx)
		if err != nil || st.New != 10 || st.Fetched != 10 {
			t.Fatalf("paged poll %+v %v", st, err)
		}
		cp, _, _ := store.Checkpoint(ctx, db, p.CheckpointKey("INBOX"))
		if cp.LastUID != 11 {
			t.Fatalf("checkpoint %d, want 11", cp.LastUID)
		}
		srv.Append(t, c, "INBOX", reply("late@x.example", w.leads[0].ContactEmail, "Re: hi", "", "", "One more thing."), time.Now())
		if st, err := p.Poll(ctx); err != nil || st.Fetched != 1 || st.New != 1 {
			t.Fatalf("incremental poll %+v %v", st, err)
		}
	})
}

func TestPollTLSModes(t *testing.T) {
	t.Parallel()
	db := storetest.New(t, store.SQLite)
	w := newWorld(t, db, 1)
	for _, mode := range []string{"tls", "starttls"} {
		t.Run(mode, func(t *testing.T) {
			opts := imaptest.Options{}
			if mode == "tls" {
				opts.TLS = "tls"
			}
			srv := imaptest.Start(t, opts)
			srv.Append(t, srv.Client(t), "INBOX", reply(mode+"@site0.example", "lead0@site0.example", "Re: x", w.sent[0].MessageID, "", "Yes please."), time.Now())
			p := newPoller(db, srv)
			p.Config.TLS = mode
			// Certificate checks are on: a self-signed server is refused.
			if _, err := p.Poll(context.Background()); err == nil || !strings.Contains(err.Error(), "certificate") {
				t.Fatalf("self-signed certificate accepted: %v", err)
			}
			p.Config.SkipVerify = true
			st, err := p.Poll(context.Background())
			if err != nil || st.New != 1 {
				t.Fatalf("poll with verification off: %+v %v", st, err)
			}
		})
	}
	// Wrong password: a clear error.
	srv := imaptest.Start(t, imaptest.Options{})
	p := newPoller(db, srv)
	p.Config.Password = "wrong"
	if _, err := p.Poll(context.Background()); err == nil || !strings.Contains(err.Error(), "login") {
		t.Fatalf("bad login: %v", err)
	}
	_ = imap.UID(0)
}

// appendReplies appends replies to the world's e-mails from..to-1 (2 KB
// each) and answers the UID of the last.
func appendReplies(t *testing.T, w *world, srv *imaptest.Server, c *imapclient.Client, from, to int, prefix string) imap.UID {
	t.Helper()
	var uid imap.UID
	for i := from; i < to; i++ {
		body := fmt.Sprintf("Reply %d. Sounds good, send it over.\n%s", i, strings.Repeat("Some padding text. ", 100))
		uid = srv.Append(t, c, "INBOX", reply(fmt.Sprintf("%s-%d@site.example", prefix, i), w.leads[i].ContactEmail, "Re: Guest post idea",
			w.sent[i].MessageID, "", body), time.Now())
	}
	return uid
}

// checkpointedMailbox is a mailbox with two replies to the world's first
// e-mails (n leads), polled once: the checkpoint is at UID 2.
func checkpointedMailbox(t *testing.T, db *gorm.DB, n int, prefix string) (*world, *imaptest.Server, *imapclient.Client, *Poller) {
	t.Helper()
	w := newWorld(t, db, n)
	srv := imaptest.Start(t, imaptest.Options{})
	c := srv.Client(t)
	appendReplies(t, w, srv, c, 0, 2, prefix)
	p := newPoller(db, srv)
	if st, err := p.Poll(context.Background()); err != nil || st.New != 2 {
		t.Fatalf("first poll: %+v %v", st, err)
	}
	return w, srv, c, p
}

// After a checkpoint, new messages are read by UID range while ranges come
// back full; after one with a gap, the UIDs after the ranges already sent
// are listed. Messages expunged inside ranges are skipped, nothing is read
// twice, and the checkpoint moves to the last UID.
func TestPollAfterCheckpointReadsRangeThenList(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		w, srv, c, p := checkpointedMailbox(t, db, 20, "range")
		p.Config.FetchLimit = 3
		if last := appendReplies(t, w, srv, c, 2, 12, "range"); last != 12 {
			t.Fatalf("last UID %d, want 12", last)
		}
		// Pages of 3: the range 3:5 lacks UID 4, so once it is read (with
		// 6:8 and 9:11 sent after it, 10 missing there too) UID 12 comes
		// from a listing.
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		del := c.Store(imap.UIDSetNum(4, 10), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil)
		if err := del.Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.Expunge().Close(); err != nil {
			t.Fatal(err)
		}
		st, err := p.Poll(ctx)
		if err != nil || st.New != 8 || st.Duplicates != 0 {
			t.Fatalf("second poll: %+v %v, want 8 new", st, err)
		}
		wantStored(t, db, p, 10, 12)
		appendReplies(t, w, srv, c, 12, 14, "range")
		if st, err := p.Poll(ctx); err != nil || st.New != 2 {
			t.Fatalf("third poll: %+v %v, want 2 new", st, err)
		}
		wantStored(t, db, p, 12, 14)
	})
}

// A connection cut inside the range read first after a checkpoint: the
// messages read are stored, the checkpoint moves only over those read one
// after the other, and the next poll stores the rest, none twice.
func TestPollResumesAfterCutInRange(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		w, srv, c, p := checkpointedMailbox(t, db, 32, "cut")
		proxy := imaptest.StartProxy(t, srv.Addr)
		dialThrough(p, proxy)
		appendReplies(t, w, srv, c, 2, 32, "cut") // UIDs 3-32: one range of 50
		proxy.CutAfter(25 << 10)
		first, err := p.Poll(ctx)
		if err == nil || proxy.Cuts() != 1 {
			t.Fatalf("poll: err %v, cuts %d: the connection was not cut", err, proxy.Cuts())
		}
		if first.New == 0 || first.New >= 30 {
			t.Fatalf("poll stored %d messages, want some but not all", first.New)
		}
		// UIDs 3 on were read one after the other until the cut.
		wantStored(t, db, p, int64(2+first.New), uint32(2+first.New)) //nolint:gosec // at most 32
		second, err := p.Poll(ctx)
		if err != nil {
			t.Fatalf("next poll: %v", err)
		}
		if first.New+second.New != 30 || second.Duplicates != 0 {
			t.Fatalf("first %+v second %+v: want 30 new in total and no duplicates", first, second)
		}
		wantStored(t, db, p, 32, 32)
	})
}

// safeUID on a range cut short moves only over the UIDs read one after the
// other from its first, whatever order they came in.
func TestSafeUIDOfRange(t *testing.T) {
	cut := errors.New("cut")
	for _, tc := range []struct {
		got  []imap.UID
		want uint32
	}{
		{nil, 0},
		{[]imap.UID{11, 10}, 11},
		{[]imap.UID{10, 12}, 10},
		{[]imap.UID{11, 12}, 0},
	} {
		s := stage{uids: []imap.UID{10, 20}, ranged: true, got: tc.got, err: cut}
		if got := s.safeUID(); got != tc.want {
			t.Errorf("range 10:20 read %v: safe %d, want %d", tc.got, got, tc.want)
		}
	}
	if got := (stage{uids: []imap.UID{10, 20}, ranged: true}).safeUID(); got != 20 {
		t.Errorf("range 10:20 read whole: safe %d, want 20", got)
	}
	// A message answered without its body holds the checkpoint below it.
	if got := (stage{uids: []imap.UID{10, 20}, ranged: true, bodiless: []imap.UID{15, 12}}).safeUID(); got != 11 {
		t.Errorf("range 10:20 with 12 and 15 bodiless: safe %d, want 11", got)
	}
	if got := (stage{uids: []imap.UID{3, 4, 5}, bodiless: []imap.UID{3}}).safeUID(); got != 2 {
		t.Errorf("page 3,4,5 with 3 bodiless: safe %d, want 2", got)
	}
}

// A flag changed by another client while the poll runs comes back as an
// unsolicited FETCH with the message's UID, which go-imap hands to the
// page command sent ahead that holds that UID, dropping the real answer as
// a repeat: that message is not read this time, and the checkpoint stays
// below it so the next poll reads it; the messages after it are stored
// once.
func TestPollKeepsMessageAnsweredWithoutBody(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		w, srv, c, p := checkpointedMailbox(t, db, 12, "flag")
		proxy := imaptest.StartProxy(t, srv.Addr)
		p.Config.FetchLimit = 3
		dialThrough(p, proxy)
		appendReplies(t, w, srv, c, 2, 11, "flag") // UIDs 3-11: pages 3:5, 6:8, 9:11
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		var once sync.Once
		proxy.OnClient(func(b []byte) {
			if !bytes.Contains(b, []byte("UID FETCH")) {
				return
			}
			once.Do(func() {
				// Before the server reads the first page's command: it
				// tells the poll's session of the change when that command
				// ends, while the second page's is pending.
				seen := c.Store(imap.UIDSetNum(7), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}}, nil)
				if err := seen.Close(); err != nil {
					t.Error(err)
				}
			})
		})
		st, err := p.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		proxy.OnClient(nil)
		if st.New != 8 {
			t.Fatalf("poll stored %d new, want 8 (all but UID 7)", st.New)
		}
		wantStored(t, db, p, 10, 6)
		st, err = p.Poll(ctx)
		if err != nil || st.New != 1 {
			t.Fatalf("next poll: %+v %v, want UID 7 new", st, err)
		}
		wantStored(t, db, p, 11, 11)
	})
}

// The checkpoint passes no UID the poll has not read, even when a range
// read whole ends above it (at UIDNEXT-1): a message expunged at the end
// of the mailbox, or one a server counted in UIDNEXT before it could be
// read, keeps it at the last message read.
func TestPollCheckpointsOnlyUIDsRead(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		w, srv, c, p := checkpointedMailbox(t, db, 6, "tail")
		appendReplies(t, w, srv, c, 2, 5, "tail") // UIDs 3-5
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		if err := c.Store(imap.UIDSetNum(5), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.Expunge().Close(); err != nil {
			t.Fatal(err)
		}
		var written time.Time
		for i := range 2 { // the range 3:5, then 5:5 again: nothing past UID 4
			if _, err := p.Poll(ctx); err != nil {
				t.Fatal(err)
			}
			wantStored(t, db, p, 4, 4)
			cp, _, _ := store.Checkpoint(ctx, db, p.CheckpointKey("INBOX"))
			if i == 1 && !cp.UpdatedAt.Equal(written) {
				t.Fatalf("a poll that read nothing wrote the checkpoint again (%v, then %v)", written, cp.UpdatedAt)
			}
			written = cp.UpdatedAt
		}
		appendReplies(t, w, srv, c, 5, 6, "tail") // UID 6
		if st, err := p.Poll(ctx); err != nil || st.New != 1 {
			t.Fatalf("poll after UID 6: %+v %v", st, err)
		}
		wantStored(t, db, p, 5, 6)
	})
}

// readFetch tells a message answered with no body at all (an unsolicited
// FETCH go-imap handed to this command: held below, read again next poll)
// from one whose body the server answered NIL (it cannot serve it:
// skipped, or the checkpoint would wait for it forever).
func TestReadFetchBodilessAndNilBody(t *testing.T) {
	client, server := net.Pipe()
	defer func() { _ = client.Close() }()
	go func() {
		defer func() { _ = server.Close() }()
		r := bufio.NewReader(server)
		_, _ = io.WriteString(server, "* OK [CAPABILITY IMAP4rev1] ready\r\n")
		line, err := r.ReadString('\n') // the UID FETCH
		if err != nil {
			return
		}
		tag := strings.Fields(line)[0]
		_, _ = io.WriteString(server, "* 1 FETCH (UID 5 BODY[] NIL)\r\n"+
			"* 2 FETCH (UID 6 FLAGS (\\Seen))\r\n"+
			"* 3 FETCH (UID 7 BODY[] {2}\r\nhi)\r\n"+
			tag+" OK done\r\n")
		_, _ = io.Copy(io.Discard, r)
	}()
	c := imapclient.New(client, nil)
	defer func() { _ = c.Close() }()
	got, err := readFetch(sendFetch(c, imap.UIDSetNum(5, 6, 7)))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.msgs) != 1 || got.msgs[0].uid != 7 || string(got.msgs[0].raw) != "hi" ||
		!slices.Equal(got.bodiless, []imap.UID{6}) || !slices.Equal(got.nilBody, []imap.UID{5}) {
		t.Fatalf("read %+v", got)
	}
}

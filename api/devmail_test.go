package api

import (
	"context"
	"fmt"
	"net/http"
	"net/smtp"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/internal/devmail"
	"github.com/backlinkoutreach/outreach/internal/inbox"
	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/internal/storetest"
	"github.com/backlinkoutreach/outreach/models"
)

// devRig is a server with the /dev routes over a real dev mailbox, and two
// users each with a campaign, a lead and a pitch that went through the
// mailbox's SMTP server.
type devRig struct {
	ts       *testServer
	box      *devmail.Mailbox
	dir      string
	a, b     *testClient
	campA    CampaignOut
	campB    CampaignOut
	leadA    LeadOut
	leadB    LeadOut
	pitchA   models.Attempt
	rawA     string
	captureA string // capture id of A's pitch
	captureB string
	stray    string // a captured message no attempt carries
}

func newDevRig(t *testing.T, db *gorm.DB) *devRig {
	t.Helper()
	dir := t.TempDir()
	box, err := devmail.Start(context.Background(), devmail.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = box.Close() })
	r := &devRig{box: box, dir: dir}
	r.ts = newTestServer(t, db, func(d *Deps) { d.Extra = append(d.Extra, DevMailboxRoutes(box)) })
	r.a, r.b = r.ts.newUser("a@example.com"), r.ts.newUser("b@example.com")
	r.campA, r.campB = r.a.createCampaign("Dev A"), r.b.createCampaign("Dev B")
	r.leadA = r.a.addLead(r.campA.ID, map[string]any{"website_url": "https://blog-a.example.org", "contact_email": "editor@blog-a.example.org", "contact_name": "Ed"})
	r.leadB = r.b.addLead(r.campB.ID, map[string]any{"website_url": "https://blog-b.example.net", "contact_email": "editor@blog-b.example.net"})
	r.pitchA = r.attempt(t, r.a, r.campA, r.leadA, 0, "Guest post for Blog A", "Hello Ed,\nA guest post?\nAnn")
	pitchB := r.attempt(t, r.b, r.campB, r.leadB, 0, "Guest post for Blog B", "Hello,\nA guest post?\nBo")
	r.rawA = r.send(t, r.pitchA.Recipient, r.pitchA.MessageID, r.pitchA.Subject)
	r.send(t, pitchB.Recipient, pitchB.MessageID, pitchB.Subject)
	r.send(t, "someone@else.example", "stray.1@else.example", "Not from the engine")
	all := box.Sent().All()
	if len(all) != 3 {
		t.Fatalf("captured %d messages, want 3", len(all))
	}
	r.captureA, r.captureB, r.stray = all[0].ID, all[1].ID, all[2].ID
	return r
}

// attempt stores a sent e-mail as the engine would.
func (r *devRig) attempt(t *testing.T, c *testClient, camp CampaignOut, lead LeadOut, step int, subject, body string) models.Attempt {
	t.Helper()
	now := time.Now().UTC()
	a := models.Attempt{
		ID: models.NewID(), UserID: c.User.ID, CampaignID: camp.ID, LeadID: lead.ID, Step: step, State: models.AttemptSent,
		MessageID: fmt.Sprintf("outreach.%s.%s.s%d@dev.localhost", camp.ID, lead.ID, step), Recipient: lead.ContactEmail,
		RecipientDomain: models.EmailDomain(lead.ContactEmail), Subject: subject, Body: body,
		LegalBasis: models.LegalBasisLegitimateInterest, CreatedAt: now, UpdatedAt: now, SentAt: &now,
	}
	if err := r.ts.DB.Create(&a).Error; err != nil {
		t.Fatal(err)
	}
	return a
}

// send talks SMTP to the mailbox and answers the bytes sent.
func (r *devRig) send(t *testing.T, to, msgID, subject string) string {
	t.Helper()
	raw := "From: Ann <outreach@dev.localhost>\r\nTo: " + to + "\r\nSubject: " + subject + "\r\nMessage-ID: <" + msgID + ">\r\n" +
		"Date: " + time.Now().UTC().Format(time.RFC1123Z) + "\r\n\r\nHello,\r\nthis is " + subject + ".\r\n"
	if err := smtp.SendMail(r.box.SMTPAddr(), nil, "outreach@dev.localhost", []string{to}, []byte(raw)); err != nil {
		t.Fatal(err)
	}
	return raw
}

// injected reads a message the inject routes put in INBOX.
func (r *devRig) injected(t *testing.T, out DevInjectOut) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.dir, "mailbox", "imap", strconv.FormatUint(uint64(out.UIDValidity), 10),
		strconv.FormatUint(uint64(out.UID), 10)+".eml"))
	if err != nil {
		t.Fatalf("injected message %+v: %v", out, err)
	}
	return b
}

func ids(ms []DevMessage) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

func TestDevMailboxList(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		r := newDevRig(t, db)
		var page DevMessageList
		r.a.do(http.MethodGet, "/dev/mailbox/messages", nil).expect(http.StatusOK).decode(&page)
		// Newest first; B's pitch is hidden from A, the stray one is shown.
		if got, want := ids(page.Items), []string{r.stray, r.captureA}; !slices.Equal(got, want) || page.NextCursor != nil {
			t.Fatalf("A sees %v (next %v), want %v", got, page.NextCursor, want)
		}
		mine, stray := page.Items[1], page.Items[0]
		if mine.CampaignID == nil || *mine.CampaignID != r.campA.ID || *mine.LeadID != r.leadA.ID || *mine.AttemptID != r.pitchA.ID ||
			*mine.Step != 0 || mine.MessageID != r.pitchA.MessageID || mine.Subject != r.pitchA.Subject ||
			!slices.Equal(mine.To, []string{r.pitchA.Recipient}) || mine.From != "outreach@dev.localhost" || mine.Size != int64(len(r.rawA)) {
			t.Errorf("A's pitch listed as %+v", mine)
		}
		if stray.CampaignID != nil || stray.LeadID != nil || stray.Step != nil {
			t.Errorf("a message no e-mail carries is attributed: %+v", stray)
		}
		r.b.do(http.MethodGet, "/dev/mailbox/messages", nil).expect(http.StatusOK).decode(&page)
		if got, want := ids(page.Items), []string{r.stray, r.captureB}; !slices.Equal(got, want) {
			t.Fatalf("B sees %v, want %v", got, want)
		}

		// Paging: one at a time, the cursor continues below the last id.
		r.a.do(http.MethodGet, "/dev/mailbox/messages?limit=1", nil).expect(http.StatusOK).decode(&page)
		if len(page.Items) != 1 || page.Items[0].ID != r.stray || page.NextCursor == nil {
			t.Fatalf("first page %+v", page)
		}
		r.a.do(http.MethodGet, "/dev/mailbox/messages?limit=1&cursor="+*page.NextCursor, nil).expect(http.StatusOK).decode(&page)
		if len(page.Items) != 1 || page.Items[0].ID != r.captureA || page.NextCursor != nil {
			t.Fatalf("second page %+v", page)
		}

		// Filters.
		r.a.do(http.MethodGet, "/dev/mailbox/messages?campaign_id="+r.campA.ID, nil).expect(http.StatusOK).decode(&page)
		if got := ids(page.Items); !slices.Equal(got, []string{r.captureA}) {
			t.Errorf("campaign filter: %v", got)
		}
		r.a.do(http.MethodGet, "/dev/mailbox/messages?lead_id="+r.leadA.ID, nil).expect(http.StatusOK).decode(&page)
		if got := ids(page.Items); !slices.Equal(got, []string{r.captureA}) {
			t.Errorf("lead filter: %v", got)
		}
		r.a.do(http.MethodGet, "/dev/mailbox/messages?lead_id="+r.leadB.ID, nil).expect(http.StatusOK).decode(&page)
		if len(page.Items) != 0 {
			t.Errorf("A filtering on B's lead sees %v", ids(page.Items))
		}
		r.a.do(http.MethodGet, "/dev/mailbox/messages?campaign_id="+r.campB.ID, nil).expectError(http.StatusNotFound, CodeCampaignNotFound)

		// Bad query parameters are refused, not ignored.
		r.a.do(http.MethodGet, "/dev/mailbox/messages?limit=0", nil).expectFields("limit")
		r.a.do(http.MethodGet, "/dev/mailbox/messages?cursor=abc", nil).expectFields("cursor")
		r.a.do(http.MethodGet, "/dev/mailbox/messages?lead_id=x", nil).expectFields("lead_id")
		r.a.do(http.MethodGet, "/dev/mailbox/messages?staus=sent", nil).expectFields("staus")
		r.ts.anonymous().do(http.MethodGet, "/dev/mailbox/messages", nil).expectError(http.StatusUnauthorized, CodeUnauthorized)
	})
}

func TestDevMailboxRaw(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		r := newDevRig(t, db)
		res := r.a.do(http.MethodGet, "/dev/mailbox/messages/"+r.captureA, nil).expect(http.StatusOK)
		if string(res.Body) != r.rawA {
			t.Errorf("raw message differs from what was sent:\n%q\nwant\n%q", res.Body, r.rawA)
		}
		if ct := res.Header.Get("Content-Type"); ct != "message/rfc822" {
			t.Errorf("content type %q", ct)
		}
		r.a.do(http.MethodGet, "/dev/mailbox/messages/"+r.stray, nil).expect(http.StatusOK)
		for _, id := range []string{r.captureB, "999", "abc"} {
			r.a.do(http.MethodGet, "/dev/mailbox/messages/"+id, nil).expectError(http.StatusNotFound, CodeNotFound)
		}
	})
}

func TestDevMailboxInjectReply(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		r := newDevRig(t, db)
		follow := r.attempt(t, r.a, r.campA, r.leadA, 1, "Re: Guest post for Blog A", "Hello again Ed,\nfollowing up.\nAnn")

		var out DevInjectOut
		r.a.do(http.MethodPost, "/dev/mailbox/replies?poll=false", map[string]any{
			"lead_id": r.leadA.ID, "body": "Hi Ann,\n\nSounds great, we would love a guest post. Send me your topic ideas.\n\nEd",
		}).expect(http.StatusCreated).decode(&out)
		if out.UID == 0 || out.MessageID == "" || out.InReplyTo != "<"+follow.MessageID+">" || out.Polled || out.Poll != nil || out.Reply != nil {
			t.Fatalf("inject answer %+v", out)
		}
		m := inbox.Parse(r.injected(t, out))
		if m.MessageID != out.MessageID || !slices.Equal(m.InReplyTo, []string{follow.MessageID}) ||
			!slices.Equal(m.References, []string{r.pitchA.MessageID, follow.MessageID}) ||
			m.From != r.leadA.ContactEmail || m.FromName != "Ed" || m.Subject != "Re: Guest post for Blog A" ||
			!strings.Contains(m.Text, "> following up.") {
			t.Fatalf("injected reply parsed as %+v", m)
		}
		if res := inbox.ClassifyRules(m); res.Tag != models.ReplyInterested {
			t.Errorf("reply classified %s, want interested (reply text %q)", res.Tag, m.Reply)
		}

		r.a.do(http.MethodPost, "/dev/mailbox/replies?poll=false", map[string]any{
			"lead_id": r.leadA.ID, "kind": "auto_reply", "body": "I am out of the office until further notice.",
		}).expect(http.StatusCreated).decode(&out)
		m = inbox.Parse(r.injected(t, out))
		if !m.Signals.Automatic() || !strings.HasPrefix(m.Subject, "Automatic reply: ") {
			t.Errorf("auto reply parsed as %+v", m)
		}
		if res := inbox.ClassifyRules(m); res.Tag != models.ReplyOutOfOffice {
			t.Errorf("auto reply classified %s, want out_of_office", res.Tag)
		}

		r.a.do(http.MethodPost, "/dev/mailbox/replies?poll=false", map[string]any{"lead_id": r.leadA.ID, "kind": "bounce"}).
			expect(http.StatusCreated).decode(&out)
		m = inbox.Parse(r.injected(t, out))
		if m.DSN == nil || len(m.DSN.Recipients) != 1 || m.DSN.Recipients[0].Recipient != r.leadA.ContactEmail ||
			!slices.Contains(m.EmbeddedIDs, follow.MessageID) {
			t.Fatalf("bounce parsed as %+v (DSN %+v)", m, m.DSN)
		}
		if res := inbox.ClassifyRules(m); res.Tag != models.ReplyBounce || res.BounceKind != "hard" {
			t.Errorf("bounce classified %+v, want a hard bounce", res)
		}

		// Without an engine the poll cannot run: the message is in the inbox
		// all the same, and the answer says so.
		r.a.do(http.MethodPost, "/dev/mailbox/replies", map[string]any{"lead_id": r.leadA.ID, "body": "Yes please."}).
			expect(http.StatusCreated).decode(&out)
		if out.Polled || out.PollError == "" {
			t.Errorf("poll without an engine: %+v", out)
		}
		r.injected(t, out)
	})
}

func TestDevMailboxInjectRefusals(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		r := newDevRig(t, db)
		r.a.do(http.MethodPost, "/dev/mailbox/replies", map[string]any{}).expectFields("lead_id", "body")
		r.a.do(http.MethodPost, "/dev/mailbox/replies", map[string]any{"lead_id": r.leadA.ID, "body": "x", "kind": "sms"}).expectFields("kind")
		r.a.do(http.MethodPost, "/dev/mailbox/replies", map[string]any{"lead_id": r.leadA.ID, "body": "x", "subject": "y"}).expectFields("subject")
		r.a.do(http.MethodPost, "/dev/mailbox/replies", map[string]any{"lead_id": r.leadA.ID, "body": strings.Repeat("x", maxDevReplyBody+1)}).expectFields("body")
		r.a.do(http.MethodPost, "/dev/mailbox/replies?poll=maybe", map[string]any{"lead_id": r.leadA.ID, "body": "x"}).expectFields("poll")
		r.a.do(http.MethodPost, "/dev/mailbox/replies", "{").expectError(http.StatusBadRequest, CodeMalformedJSON)
		r.a.do(http.MethodPost, "/dev/mailbox/replies", map[string]any{"lead_id": r.leadB.ID, "body": "x"}).expectError(http.StatusNotFound, CodeLeadNotFound)
		r.a.do(http.MethodPost, "/dev/mailbox/replies", map[string]any{"lead_id": "nope", "body": "x"}).expectError(http.StatusNotFound, CodeLeadNotFound)
		fresh := r.a.addLead(r.campA.ID, map[string]any{"website_url": "https://fresh.example.org", "contact_email": "a@fresh.example.org"})
		env := r.a.do(http.MethodPost, "/dev/mailbox/replies", map[string]any{"lead_id": fresh.ID, "body": "x"}).expectError(http.StatusConflict, CodeConflict)
		if !strings.Contains(env.Error.Message, "nothing to reply to") {
			t.Errorf("409 message %q", env.Error.Message)
		}

		raw := func(ct, body string) *testResponse {
			return r.a.rawPost(BasePath+"/dev/mailbox/inbox?poll=false", ct, []byte(body))
		}
		raw("application/json", `{"x":1}`).expectError(http.StatusUnsupportedMediaType, CodeUnsupportedContent)
		raw("message/rfc822", "not a message at all").expectFields("body")
		raw("message/rfc822", "").expectFields("body")

		// A raw message goes in with CRLF line ends.
		var out DevInjectOut
		raw("message/rfc822", "From: Ed <editor@blog-a.example.org>\nTo: outreach@dev.localhost\nSubject: Re: hello\n"+
			"Message-ID: <raw.1@blog-a.example.org>\nIn-Reply-To: <"+r.pitchA.MessageID+">\n\nYes, interested!\n").
			expect(http.StatusCreated).decode(&out)
		if out.MessageID != "raw.1@blog-a.example.org" || out.InReplyTo != "<"+r.pitchA.MessageID+">" {
			t.Fatalf("raw inject answer %+v", out)
		}
		stored := string(r.injected(t, out))
		if !strings.Contains(stored, "Subject: Re: hello\r\n") || strings.Count(stored, "\n") != strings.Count(stored, "\r\n") {
			t.Errorf("stored raw message %q should have CRLF line ends", stored)
		}
	})
}

// The /dev routes are documented like every other route.
func TestDevMailboxRoutesDocumented(t *testing.T) {
	t.Parallel()
	r := newDevRig(t, storetest.New(t, store.SQLite))
	doc := fetchOpenAPI(t, r.ts)
	if missing := undocumented(r.ts.Srv.Engine(), doc); len(missing) > 0 {
		t.Fatalf("routes missing from /openapi.json: %v", missing)
	}
	paths, _ := doc["paths"].(map[string]any)
	for _, p := range []string{"/dev/mailbox/messages", "/dev/mailbox/messages/{capture_id}", "/dev/mailbox/replies", "/dev/mailbox/inbox"} {
		if _, ok := paths[BasePath+p]; !ok {
			t.Errorf("%s not in /openapi.json", p)
		}
	}
	// Only dev mode has them.
	plain := newTestServer(t, storetest.New(t, store.SQLite))
	plain.newUser("c@example.com").do(http.MethodGet, "/dev/mailbox/messages", nil).expectError(http.StatusNotFound, CodeNotFound)
}

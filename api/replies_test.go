package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/internal/inbox"
	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/internal/storetest"
	"github.com/backlinkoutreach/outreach/internal/unsub"
	"github.com/backlinkoutreach/outreach/models"
	"github.com/backlinkoutreach/outreach/workflows"
)

// rawPost sends body with the given Content-Type as the client.
func (c *testClient) rawPost(path, ctype string, body []byte) *testResponse {
	c.ts.t.Helper()
	req := httptest.NewRequestWithContext(context.Background(), http.MethodPost, path, strings.NewReader(string(body)))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.Key != "" {
		req.Header.Set("Authorization", "Bearer "+c.Key)
	}
	return c.ts.serve(req)
}

// sentTo records a sent step-0 e-mail to a lead, as the send step would.
func (ts *testServer) sentTo(t *testing.T, user models.User, campaignID string, lead LeadOut) models.Attempt {
	t.Helper()
	now := time.Now().UTC().Add(-time.Hour)
	a := models.Attempt{
		ID: models.NewID(), UserID: user.ID, CampaignID: campaignID, LeadID: lead.ID, Step: 0,
		State: models.AttemptSent, MessageID: lead.ID + ".s0@sender.example", Recipient: lead.ContactEmail,
		RecipientDomain: models.EmailDomain(lead.ContactEmail), Subject: "Guest post idea", Body: "Interested?",
		CreatedAt: now, UpdatedAt: now, SentAt: &now,
	}
	if err := ts.DB.Create(&a).Error; err != nil {
		t.Fatal(err)
	}
	return a
}

func rawReply(msgID, from, inReplyTo, body string) []byte {
	h := "Message-ID: <" + msgID + ">\r\nFrom: " + from + "\r\nTo: outreach@sender.example\r\nSubject: Re: Guest post idea\r\n" +
		"Date: Wed, 12 Mar 2025 10:00:00 +0000\r\n"
	if inReplyTo != "" {
		h += "In-Reply-To: <" + inReplyTo + ">\r\n"
	}
	return []byte(h + "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n")
}

func TestInboundWebhook(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		owner := ts.newUser("owner@agency.example")
		other := ts.newUser("other@agency.example")
		camp := owner.createCampaign("Replies")
		lead := owner.addLead(camp.ID, map[string]any{"website_url": "https://garden.example", "contact_email": "editor@garden.example"})
		att := ts.sentTo(t, owner.User, camp.ID, lead)
		path := BasePath + "/replies/inbound"

		// Wrong media type, empty body.
		owner.rawPost(path, "application/json", []byte(`{"x":1}`)).expectError(http.StatusUnsupportedMediaType, CodeUnsupportedContent)
		owner.rawPost(path, "message/rfc822", []byte("  \r\n")).expectFields("body")
		ts.anonymous().rawPost(path, "message/rfc822", rawReply("a@x", "a@x.example", "", "hi")).expectError(http.StatusUnauthorized, CodeUnauthorized)

		// Another user's webhook cannot match the owner's e-mail, even by
		// its thread header.
		msg := rawReply("r1@garden.example", "editor@garden.example", att.MessageID, "No thanks, we're all set.")
		var out InboundOut
		other.rawPost(path, "message/rfc822", msg).expect(http.StatusCreated).decode(&out)
		if out.Matched || out.Reply.LeadID != nil || out.Reply.Effect != "none" {
			t.Fatalf("another user's webhook matched the owner's lead: %+v", out)
		}
		// The owner's webhook matches, classifies and suppresses; without an
		// engine the lead's signal waits as a pending effect.
		owner.rawPost(path, "message/rfc822; charset=utf-8", msg).expect(http.StatusCreated).decode(&out)
		if !out.Matched || *out.Reply.LeadID != lead.ID || *out.Reply.AttemptID != att.ID ||
			out.Reply.Classification != models.ReplyNotInterested || out.Reply.Effect != store.EffectPending || out.Duplicate {
			t.Fatalf("owner's webhook: %+v", out)
		}
		if hit, _ := store.IsSuppressed(context.Background(), ts.DB, owner.User.ID, "editor@garden.example"); hit == "" {
			t.Fatal("not_interested reply did not suppress the address")
		}
		// The provider retries: stored once.
		var again InboundOut
		owner.rawPost(path, "message/rfc822", msg).expect(http.StatusOK).decode(&again)
		if !again.Duplicate || again.Reply.ID != out.Reply.ID {
			t.Fatalf("retry stored twice: %+v", again)
		}
		// Broken MIME is stored for review, not refused.
		var broken InboundOut
		owner.rawPost(path, "text/plain", []byte("Message-ID: <b@x>\r\nthis is not a header\r\n\r\nyes please")).
			expect(http.StatusCreated).decode(&broken)
		if broken.Reply.Parsed || broken.Reply.ParseError == "" {
			t.Fatalf("broken message: %+v", broken.Reply)
		}

		// The campaign's replies: only matched ones, filterable, paged.
		for i := range 3 {
			owner.rawPost(path, "message/rfc822", rawReply(fmt.Sprintf("r%d@more.example", i+2), "editor@garden.example", att.MessageID,
				"Sounds good, send it over!")).expect(http.StatusCreated)
		}
		var page ReplyList
		owner.do(http.MethodGet, "/campaigns/"+camp.ID+"/replies?limit=2", nil).expect(http.StatusOK).decode(&page)
		if len(page.Items) != 2 || page.NextCursor == nil || page.Items[0].MessageID != "r4@more.example" {
			t.Fatalf("first page: %+v", page)
		}
		var rest ReplyList
		owner.do(http.MethodGet, "/campaigns/"+camp.ID+"/replies?limit=2&cursor="+url.QueryEscape(*page.NextCursor), nil).expect(http.StatusOK).decode(&rest)
		if len(rest.Items) != 2 || rest.NextCursor != nil || rest.Items[1].ID != out.Reply.ID {
			t.Fatalf("second page: %+v", rest)
		}
		var only ReplyList
		owner.do(http.MethodGet, "/campaigns/"+camp.ID+"/replies?classification=not_interested", nil).expect(http.StatusOK).decode(&only)
		if len(only.Items) != 1 || only.Items[0].ID != out.Reply.ID || only.Items[0].Effect != store.EffectPending {
			t.Fatalf("filtered: %+v", only)
		}
		owner.do(http.MethodGet, "/campaigns/"+camp.ID+"/replies?classification=maybe&lead_id=x&limit=0&color=red", nil).
			expectFields("classification", "lead_id", "limit", "color")
		other.do(http.MethodGet, "/campaigns/"+camp.ID+"/replies", nil).expectError(http.StatusNotFound, CodeCampaignNotFound)
	})
}

func TestReclassifyReply(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		ctx := context.Background()
		owner := ts.newUser("owner@agency.example")
		other := ts.newUser("other@agency.example")
		camp := owner.createCampaign("Replies")
		lead := owner.addLead(camp.ID, map[string]any{"website_url": "https://b.example", "contact_email": "Ed@B.example"})
		att := ts.sentTo(t, owner.User, camp.ID, lead)
		var in InboundOut
		owner.rawPost(BasePath+"/replies/inbound", "message/rfc822", rawReply("q@b.example", "Ed@b.example", att.MessageID, "Who is this?")).
			expect(http.StatusCreated).decode(&in)
		if in.Reply.Classification != models.ReplyNeutral {
			t.Fatalf("classified %s", in.Reply.Classification)
		}
		var stray InboundOut
		owner.rawPost(BasePath+"/replies/inbound", "message/rfc822", rawReply("s@z.example", "nobody@z.example", "", "Hello")).
			expect(http.StatusCreated).decode(&stray)
		p := "/replies/" + in.Reply.ID

		// Another user's reply and an unmatched one are 404 before the body
		// is read (this body is not even JSON).
		other.do(http.MethodPatch, p, "{not json").expectError(http.StatusNotFound, CodeReplyNotFound)
		owner.do(http.MethodPatch, "/replies/"+stray.Reply.ID, "{not json").expectError(http.StatusNotFound, CodeReplyNotFound)
		owner.do(http.MethodPatch, "/replies/not-an-id", map[string]any{"classification": "interested"}).expectError(http.StatusNotFound, CodeReplyNotFound)

		owner.do(http.MethodPatch, p, map[string]any{"classification": "maybe", "bounce_kind": "hard", "ooo_until": "soon"}).
			expectFields("classification", "bounce_kind", "ooo_until")
		owner.do(http.MethodPatch, p, map[string]any{"classification": "bounce", "bounce_kind": "permanent"}).expectFields("bounce_kind")
		owner.do(http.MethodPatch, p, map[string]any{"classification": "out_of_office", "ooo_until": "next week"}).expectFields("ooo_until")
		owner.do(http.MethodPatch, p, map[string]any{}).expectFields("classification")
		owner.do(http.MethodPatch, p, map[string]any{"classification": "interested", "note": "x"}).expectFields("note")

		var out ReplyOut
		owner.do(http.MethodPatch, p, map[string]any{"classification": "out_of_office", "ooo_until": "2030-04-01"}).expect(http.StatusOK).decode(&out)
		if out.Classification != models.ReplyOutOfOffice || out.OOOUntil == nil || !out.OOOUntil.Equal(time.Date(2030, 4, 1, 0, 0, 0, 0, time.UTC)) {
			t.Fatalf("reclassified: %+v", out)
		}
		e, _, _ := store.EffectOf(ctx, ts.DB, in.Reply.ID)
		if e.State != store.EffectPending || !e.Reclassified {
			t.Fatalf("effect after reclassification: %+v", e)
		}
		if hit, _ := store.IsSuppressed(ctx, ts.DB, owner.User.ID, "Ed@b.example"); hit != "" {
			t.Fatal("out_of_office must not suppress")
		}
		owner.do(http.MethodPatch, p, map[string]any{"classification": "bounce"}).expect(http.StatusOK).decode(&out)
		if out.BounceKind != "hard" {
			t.Fatalf("bounce without a kind is hard: %+v", out)
		}
		var sup models.Suppression
		if err := ts.DB.Where("user_id = ? AND value = ?", owner.User.ID, "ed@b.example").Take(&sup).Error; err != nil || sup.Source != models.SuppressHardBounce {
			t.Fatalf("hard bounce suppression: %+v %v", sup, err)
		}
		var l LeadOut
		owner.do(http.MethodGet, "/campaigns/"+camp.ID+"/leads/"+lead.ID, nil).expect(http.StatusOK).decode(&l)
		if !l.Suppressed {
			t.Fatal("the lead is not flagged suppressed")
		}
	})
}

func TestSuppressionList(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		ctx := context.Background()
		owner := ts.newUser("owner@agency.example")
		other := ts.newUser("other@agency.example")
		camp := owner.createCampaign("Suppress")
		l1 := owner.addLead(camp.ID, map[string]any{"website_url": "https://one.example", "contact_email": "Jane@Blocked.example"})
		l2 := owner.addLead(camp.ID, map[string]any{"website_url": "https://two.example", "contact_email": "bob@blocked.example"})

		owner.do(http.MethodPost, "/suppression", map[string]any{}).expectFields("value")
		owner.do(http.MethodPost, "/suppression", map[string]any{"value": "not an address", "source": "spam", "reason": strings.Repeat("x", 501)}).
			expectFields("value", "source", "reason")
		owner.do(http.MethodPost, "/suppression", map[string]any{"value": "@nodot"}).expectFields("value")
		owner.do(http.MethodPost, "/suppression", map[string]any{"value": "Jane Doe <jane@blocked.example>"}).expectFields("value")

		var a SuppressionOut
		owner.do(http.MethodPost, "/suppression", map[string]any{"value": "JANE@blocked.example", "reason": "asked by phone"}).
			expect(http.StatusCreated).decode(&a)
		if a.Value != "jane@blocked.example" || a.Kind != "address" || a.Source != models.SuppressManual || !a.Created {
			t.Fatalf("added %+v", a)
		}
		var again SuppressionOut
		owner.do(http.MethodPost, "/suppression", map[string]any{"value": "jane@BLOCKED.example", "source": "unsubscribe"}).
			expect(http.StatusOK).decode(&again)
		if again.ID != a.ID || again.Created || again.Source != models.SuppressManual {
			t.Fatalf("re-adding kept the first entry? %+v", again)
		}
		var dom SuppressionOut
		owner.do(http.MethodPost, "/suppression", map[string]any{"value": "@Blocked.Example", "source": "hard_bounce"}).
			expect(http.StatusCreated).decode(&dom)
		if dom.Value != "@blocked.example" || dom.Kind != "domain" {
			t.Fatalf("domain entry %+v", dom)
		}
		for _, l := range []LeadOut{l1, l2} {
			var got LeadOut
			owner.do(http.MethodGet, "/campaigns/"+camp.ID+"/leads/"+l.ID, nil).expect(http.StatusOK).decode(&got)
			if !got.Suppressed {
				t.Fatalf("lead %s not flagged", l.ContactEmail)
			}
		}
		// The other user's list is separate.
		var theirs SuppressionList
		other.do(http.MethodGet, "/suppression", nil).expect(http.StatusOK).decode(&theirs)
		if len(theirs.Items) != 0 {
			t.Fatalf("another user sees %d entries", len(theirs.Items))
		}
		other.do(http.MethodDelete, "/suppression/"+a.ID, nil).expectError(http.StatusNotFound, CodeSuppressionNotFound)

		var list SuppressionList
		owner.do(http.MethodGet, "/suppression?limit=1", nil).expect(http.StatusOK).decode(&list)
		if len(list.Items) != 1 || list.Items[0].ID != dom.ID || list.NextCursor == nil {
			t.Fatalf("page 1: %+v", list)
		}
		owner.do(http.MethodGet, "/suppression?limit=1&cursor="+url.QueryEscape(*list.NextCursor), nil).expect(http.StatusOK).decode(&list)
		if len(list.Items) != 1 || list.Items[0].ID != a.ID || list.NextCursor != nil {
			t.Fatalf("page 2: %+v", list)
		}
		owner.do(http.MethodGet, "/suppression?source=hard_bounce&q=blocked", nil).expect(http.StatusOK).decode(&list)
		if len(list.Items) != 1 || list.Items[0].ID != dom.ID {
			t.Fatalf("filtered: %+v", list)
		}
		owner.do(http.MethodGet, "/suppression?source=x&limit=5000", nil).expectFields("source", "limit")

		// Delete the domain by value: bob is no longer covered, jane still
		// is (by her address).
		var removed SuppressionOut
		owner.do(http.MethodDelete, "/suppression/@blocked.example", nil).expect(http.StatusOK).decode(&removed)
		if removed.ID != dom.ID {
			t.Fatalf("removed %+v", removed)
		}
		flags := map[string]bool{}
		for _, l := range []LeadOut{l1, l2} {
			var got LeadOut
			owner.do(http.MethodGet, "/campaigns/"+camp.ID+"/leads/"+l.ID, nil).expect(http.StatusOK).decode(&got)
			flags[l.ID] = got.Suppressed
		}
		if !flags[l1.ID] || flags[l2.ID] {
			t.Fatalf("after deleting the domain: %v", flags)
		}
		owner.do(http.MethodDelete, "/suppression/"+a.ID, nil).expect(http.StatusOK)
		owner.do(http.MethodDelete, "/suppression/"+a.ID, nil).expectError(http.StatusNotFound, CodeSuppressionNotFound)
		owner.do(http.MethodDelete, "/suppression/nobody@nowhere.example", nil).expectError(http.StatusNotFound, CodeSuppressionNotFound)
		if hit, _ := store.IsSuppressed(ctx, ts.DB, owner.User.ID, "jane@blocked.example"); hit != "" {
			t.Fatalf("still suppressed by %q", hit)
		}

		// A value with "/" (valid in a local part) is deleted by its value,
		// encoded.
		var slash, gone SuppressionOut
		owner.do(http.MethodPost, "/suppression", map[string]any{"value": "sales/uk@shop.example"}).expect(http.StatusCreated).decode(&slash)
		owner.do(http.MethodDelete, "/suppression/"+url.PathEscape("sales/uk@shop.example"), nil).expect(http.StatusOK).decode(&gone)
		if gone.ID != slash.ID || gone.Value != "sales/uk@shop.example" {
			t.Fatalf("deleted %+v, want %+v", gone, slash)
		}

		// Adding leads reports the suppressed ones; they are kept.
		owner.do(http.MethodPost, "/suppression", map[string]any{"value": "@spamtrap.example"}).expect(http.StatusCreated)
		owner.do(http.MethodPost, "/suppression", map[string]any{"value": "no@thanks.example"}).expect(http.StatusCreated)
		var bulk BulkAddResult
		owner.do(http.MethodPost, "/campaigns/"+camp.ID+"/leads/bulk", []map[string]any{
			{"website_url": "https://a.example", "contact_email": "x@spamtrap.example"},
			{"website_url": "https://b.example", "contact_email": "ok@fine.example"},
			{"website_url": "https://c.example", "contact_email": "No@Thanks.example"},
			{"website_url": "https://d.example"},
		}).expect(http.StatusOK).decode(&bulk)
		if bulk.Added != 4 || len(bulk.Suppressed) != 2 || bulk.Suppressed[0].Index != 0 || bulk.Suppressed[1].Index != 2 {
			t.Fatalf("bulk add: %+v", bulk)
		}
		var n int64
		ts.DB.Model(&models.Lead{}).Where("campaign_id = ? AND suppressed = ?", camp.ID, true).Count(&n)
		if n != 2 {
			t.Fatalf("%d leads flagged after the bulk add, want the 2 reported", n)
		}
		single := owner.addLead(camp.ID, map[string]any{"website_url": "https://e.example", "contact_email": "y@spamtrap.example"})
		if !single.Suppressed {
			t.Fatal("a single added lead on a suppressed domain is not flagged")
		}
	})
}

// An address with a capital outside ASCII (RFC 6532) is suppressed and
// unsuppressed like any other: SQLite's lower() folded ASCII only, so the
// lead was not flagged, or stayed flagged (never dispatched) once its entry
// was removed.
func TestSuppressionNonASCIIAddress(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		owner := ts.newUser("owner@agency.example")
		camp := owner.createCampaign("Umlaut")
		flagged := func(l LeadOut) bool {
			var got LeadOut
			owner.do(http.MethodGet, "/campaigns/"+camp.ID+"/leads/"+l.ID, nil).expect(http.StatusOK).decode(&got)
			return got.Suppressed
		}
		first := owner.addLead(camp.ID, map[string]any{"website_url": "https://u.example", "contact_email": "Ünal@u.example"})
		owner.do(http.MethodPost, "/suppression", map[string]any{"value": "Ünal@u.example"}).expect(http.StatusCreated)
		if !flagged(first) {
			t.Fatal("a lead whose address the list holds is not flagged")
		}
		owner.do(http.MethodDelete, "/suppression/"+url.PathEscape("ünal@u.example"), nil).expect(http.StatusOK)
		if flagged(first) {
			t.Fatal("the lead is still flagged after its entry was removed: it would never be dispatched")
		}
		owner.do(http.MethodPost, "/suppression", map[string]any{"value": "ÉLODIE@u.example"}).expect(http.StatusCreated)
		second := owner.addLead(camp.ID, map[string]any{"website_url": "https://v.example", "contact_email": "Élodie@u.example"})
		if !second.Suppressed {
			t.Fatal("a lead added after its entry is not flagged")
		}
	})
}

// An internationalised domain is one domain in either of its forms: an
// entry written one way covers an address written the other (lists are
// copied from bounce reports and DNS tools in the ASCII form).
func TestSuppressionInternationalisedDomain(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		ctx := context.Background()
		owner := ts.newUser("owner@agency.example")
		camp := owner.createCampaign("IDN")
		owner.do(http.MethodPost, "/suppression", map[string]any{"value": "@xn--mnchen-3ya.de"}).expect(http.StatusCreated)
		owner.do(http.MethodPost, "/suppression", map[string]any{"value": "redaktion@bücher.example"}).expect(http.StatusCreated)
		for _, addr := range []string{"redaktion@münchen.de", "Redaktion@MÜNCHEN.de", "redaktion@xn--bcher-kva.example"} {
			if hit, err := store.IsSuppressed(ctx, ts.DB, owner.User.ID, addr); err != nil || hit == "" {
				t.Errorf("%s is not covered (%v): it would be mailed", addr, err)
			}
		}
		if hit, _ := store.IsSuppressed(ctx, ts.DB, owner.User.ID, "info@bücher.example"); hit != "" {
			t.Errorf("info@bücher.example covered by %q, only redaktion@ is listed", hit)
		}
		l := owner.addLead(camp.ID, map[string]any{"website_url": "https://münchen.de", "contact_email": "redaktion@münchen.de"})
		if !l.Suppressed {
			t.Error("a lead added on the listed domain, in its other form, is not flagged")
		}
	})
}

func testSigner(t *testing.T) *unsub.Signer {
	t.Helper()
	s, err := unsub.New([]byte(unsubTestSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const unsubTestSecret = "an-unsubscribe-secret-of-32-bytes-or-more"

func withUnsubSecret(d *Deps) { d.Config.UnsubscribeSecret = unsubTestSecret }

func TestUnsubscribeOneClick(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		ctx := context.Background()
		owner := ts.newUser("owner@agency.example")
		camp := owner.createCampaign("Unsub")
		lead := owner.addLead(camp.ID, map[string]any{"website_url": "https://u.example", "contact_email": "dana@u.example"})
		tok := testSigner(t).Token(unsub.Claims{UserID: owner.User.ID, CampaignID: camp.ID, LeadID: lead.ID, Email: "dana@u.example"})
		anon := ts.anonymous()

		// The page shows a confirmation and changes nothing.
		page := anon.doFull(http.MethodGet, "/u/"+tok, nil).expect(http.StatusOK)
		body := string(page.Body)
		if !strings.Contains(page.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "d***@u.example") ||
			!strings.Contains(body, `name="List-Unsubscribe" value="One-Click"`) || strings.Contains(body, "dana@u.example") {
			t.Fatalf("page: %s", body)
		}
		if hit, _ := store.IsSuppressed(ctx, ts.DB, owner.User.ID, "dana@u.example"); hit != "" {
			t.Fatal("GET unsubscribed")
		}
		// A forged or altered token: 404, nothing changes.
		altered := tok[:len(tok)-2] + map[bool]string{true: "AA", false: "BB"}[!strings.HasSuffix(tok, "AA")]
		forged := unsub.Claims{UserID: owner.User.ID, Email: "dana@u.example"}
		other, _ := unsub.New([]byte("another-secret-that-is-long-enough-yes"))
		for _, bad := range []string{altered, other.Token(forged), "not-a-token", tok + "x"} {
			anon.doFull(http.MethodGet, "/u/"+bad, nil).expectError(http.StatusNotFound, CodeNotFound)
			anon.rawPost("/u/"+bad, "application/x-www-form-urlencoded", []byte("List-Unsubscribe=One-Click")).
				expectError(http.StatusNotFound, CodeNotFound)
		}
		var n int64
		ts.DB.Model(&models.Suppression{}).Count(&n)
		if n != 0 {
			t.Fatalf("a bad token wrote %d suppressions", n)
		}
		// An address whose first letter is not ASCII is masked by letters,
		// not bytes.
		intl := testSigner(t).Token(unsub.Claims{UserID: owner.User.ID, Email: "élodie@x.example"})
		if page := anon.doFull(http.MethodGet, "/u/"+intl, nil).expect(http.StatusOK); !utf8.Valid(page.Body) ||
			!strings.Contains(string(page.Body), "é*****@x.example") {
			t.Fatalf("page for élodie@x.example: %q", page.Body)
		}
		// The one-click body is required.
		anon.rawPost("/u/"+tok, "application/x-www-form-urlencoded", []byte("List-Unsubscribe=Yes")).expectFields("List-Unsubscribe")
		anon.rawPost("/u/"+tok, "application/json", []byte(`{"List-Unsubscribe":"One-Click"}`)).
			expectError(http.StatusUnsupportedMediaType, CodeUnsupportedContent)

		done := anon.rawPost("/u/"+tok, "application/x-www-form-urlencoded", []byte("List-Unsubscribe=One-Click")).expect(http.StatusOK)
		if !strings.Contains(string(done.Body), "You are unsubscribed") {
			t.Fatalf("done page: %s", done.Body)
		}
		var sup models.Suppression
		if err := ts.DB.Where("user_id = ? AND value = ?", owner.User.ID, "dana@u.example").Take(&sup).Error; err != nil || sup.Source != models.SuppressUnsubscribe {
			t.Fatalf("suppression: %+v %v", sup, err)
		}
		var l LeadOut
		owner.do(http.MethodGet, "/campaigns/"+camp.ID+"/leads/"+lead.ID, nil).expect(http.StatusOK).decode(&l)
		if !l.Suppressed {
			t.Fatal("lead not flagged")
		}
		// Again (a client retrying, the page reloaded): same outcome.
		anon.rawPost("/u/"+tok, "multipart/form-data; boundary=xx", []byte("--xx\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--xx--\r\n")).
			expect(http.StatusOK)
		if page := anon.doFull(http.MethodGet, "/u/"+tok, nil).expect(http.StatusOK); !strings.Contains(string(page.Body), "You are unsubscribed") {
			t.Fatalf("page after unsubscribing: %s", page.Body)
		}
	}, withUnsubSecret)
}

// A one-click unsubscribe from an address a refusal already suppressed
// stays when that refusal is reclassified (the entry becomes the
// unsubscribe's).
func TestOneClickAfterRefusalSurvivesReclassification(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		ctx := context.Background()
		owner := ts.newUser("owner@agency.example")
		camp := owner.createCampaign("Unsubscribe after a refusal")
		lead := owner.addLead(camp.ID, map[string]any{"website_url": "https://r.example", "contact_email": "ed@r.example"})
		att := ts.sentTo(t, owner.User, camp.ID, lead)
		var in InboundOut
		owner.rawPost(BasePath+"/replies/inbound", "message/rfc822", rawReply("n@r.example", "ed@r.example", att.MessageID, "No thanks, we're all set.")).
			expect(http.StatusCreated).decode(&in)
		if in.Reply.Classification != models.ReplyNotInterested {
			t.Fatalf("classified %s", in.Reply.Classification)
		}
		tok := testSigner(t).Token(unsub.Claims{UserID: owner.User.ID, CampaignID: camp.ID, LeadID: lead.ID, Email: "ed@r.example"})
		ts.anonymous().rawPost("/u/"+tok, "application/x-www-form-urlencoded", []byte("List-Unsubscribe=One-Click")).expect(http.StatusOK)
		owner.do(http.MethodPatch, "/replies/"+in.Reply.ID, map[string]any{"classification": "interested"}).expect(http.StatusOK)
		var sup models.Suppression
		if err := ts.DB.Where("user_id = ? AND value = ?", owner.User.ID, "ed@r.example").Take(&sup).Error; err != nil ||
			sup.Source != models.SuppressUnsubscribe || sup.ReplyID != nil {
			t.Fatalf("the unsubscribe's entry after the refusal was corrected: %+v %v", sup, err)
		}
		if hit, _ := store.IsSuppressed(ctx, ts.DB, owner.User.ID, "ed@r.example"); hit == "" {
			t.Fatal("the address that unsubscribed can be mailed again")
		}
	}, withUnsubSecret)
}

// signallingEngine is a recordingEngine that is also a ReplyEngine: it
// records the reply signals it is given and fails them while down.
type signallingEngine struct {
	recordingEngine
	down bool
	sigs []workflows.ReplySignal
}

func (e *signallingEngine) PollReplies(context.Context) (workflows.ReplyPollResult, error) {
	return workflows.ReplyPollResult{}, nil
}

func (e *signallingEngine) SignalLead(_ context.Context, _, _ string, sig workflows.ReplySignal) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sigs = append(e.sigs, sig)
	if e.down {
		return errTemporalDown
	}
	return nil
}

func (e *signallingEngine) signals() []workflows.ReplySignal {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.sigs)
}

// A one-click unsubscribe whose signal meets a Temporal outage is queued
// and delivered by the next sweep of pending effects (the reply poll's
// schedule), under the same id, retried while the outage lasts.
func TestOneClickDuringOutageIsDeliveredLater(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		eng := &signallingEngine{down: true}
		ts := newTestServer(t, db, withUnsubSecret, withEngine(eng))
		ctx := context.Background()
		owner := ts.newUser("owner@agency.example")
		camp := owner.createCampaign("Unsubscribe during an outage")
		lead := owner.addLead(camp.ID, map[string]any{"website_url": "https://o.example", "contact_email": "ed@o.example"})
		tok := testSigner(t).Token(unsub.Claims{UserID: owner.User.ID, CampaignID: camp.ID, LeadID: lead.ID, Email: "ed@o.example"})
		ts.anonymous().rawPost("/u/"+tok, "application/x-www-form-urlencoded", []byte("List-Unsubscribe=One-Click")).expect(http.StatusOK)
		sent := eng.signals()
		if len(sent) != 1 || sent[0].Tag != models.ReplyUnsubscribe {
			t.Fatalf("signals tried: %+v", sent)
		}
		fx := &inbox.Effects{DB: ts.DB, Notifier: eng}
		// Still down: the try is recorded, the signal kept.
		if st, err := fx.Deliver(ctx, 100); err == nil || st.Failed != 1 {
			t.Fatalf("delivery during the outage: %+v, %v", st, err)
		}
		var queued []store.LeadSignal
		if err := ts.DB.Find(&queued).Error; err != nil || len(queued) != 1 || queued[0].LeadID != lead.ID ||
			queued[0].Tries != 1 || queued[0].LastError == "" {
			t.Fatalf("queued signals: %+v %v", queued, err)
		}
		eng.mu.Lock()
		eng.down = false
		eng.mu.Unlock()
		if st, err := fx.Deliver(ctx, 100); err != nil || st.Delivered != 1 {
			t.Fatalf("delivery after the outage: %+v, %v", st, err)
		}
		all := eng.signals()
		if last := all[len(all)-1]; last.ReplyID != sent[0].ReplyID || last.Tag != models.ReplyUnsubscribe {
			t.Fatalf("delivered %+v, want the signal first tried (%s)", last, sent[0].ReplyID)
		}
		var left int64
		ts.DB.Model(&store.LeadSignal{}).Count(&left)
		if left != 0 {
			t.Fatalf("%d signals left after delivery", left)
		}
	})
}

func TestAuditList(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		owner := ts.newUser("owner@agency.example")
		other := ts.newUser("other@agency.example")
		c1 := owner.createCampaign("One")
		c2 := owner.createCampaign("Two")
		theirs := other.createCampaign("Theirs")
		step := 0
		now := time.Now().UTC()
		var ids []string
		for i, e := range []struct{ camp, result, reason string }{
			{c1.ID, store.AuditApproved, ""},
			{c1.ID, store.AuditBlocked, store.ReasonSuppressed},
			{c2.ID, store.AuditDeferred, "user_cap"},
			{c1.ID, store.AuditApproved, ""},
		} {
			a := models.AuditEntry{
				ID: models.NewID(), UserID: owner.User.ID, CampaignID: e.camp, LeadID: models.NewID(), Step: &step,
				Recipient: fmt.Sprintf("r%d@x.example", i), Result: e.result, Reason: e.reason, LegalBasis: models.LegalBasisConsent,
				CreatedAt: now.Add(time.Duration(i) * time.Second),
			}
			if err := ts.DB.Create(&a).Error; err != nil {
				t.Fatal(err)
			}
			ids = append(ids, a.ID)
		}
		if err := ts.DB.Create(&models.AuditEntry{
			ID: models.NewID(), UserID: other.User.ID, CampaignID: theirs.ID, Result: store.AuditApproved,
			CreatedAt: now,
		}).Error; err != nil {
			t.Fatal(err)
		}
		var all AuditList
		owner.do(http.MethodGet, "/audit", nil).expect(http.StatusOK).decode(&all)
		if len(all.Items) != 4 || all.Items[0].ID != ids[3] || all.Items[3].ID != ids[0] || all.Items[1].LegalBasis != models.LegalBasisConsent {
			t.Fatalf("all: %+v", all.Items)
		}
		var f AuditList
		owner.do(http.MethodGet, "/audit?campaign_id="+c1.ID+"&result=approved&limit=1", nil).expect(http.StatusOK).decode(&f)
		if len(f.Items) != 1 || f.Items[0].ID != ids[3] || f.NextCursor == nil {
			t.Fatalf("filtered page 1: %+v", f)
		}
		owner.do(http.MethodGet, "/audit?campaign_id="+c1.ID+"&result=approved&limit=1&cursor="+url.QueryEscape(*f.NextCursor), nil).
			expect(http.StatusOK).decode(&f)
		if len(f.Items) != 1 || f.Items[0].ID != ids[0] || f.NextCursor != nil {
			t.Fatalf("filtered page 2: %+v", f)
		}
		owner.do(http.MethodGet, "/audit?result=blocked", nil).expect(http.StatusOK).decode(&f)
		if len(f.Items) != 1 || f.Items[0].Reason != store.ReasonSuppressed {
			t.Fatalf("blocked: %+v", f)
		}
		owner.do(http.MethodGet, "/audit?campaign_id="+theirs.ID, nil).expectError(http.StatusNotFound, CodeCampaignNotFound)
		owner.do(http.MethodGet, "/audit?result=maybe&limit=0&campaign=1", nil).expectFields("result", "limit", "campaign")
	})
}

func TestPollRepliesNeedsIMAP(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		u := ts.newUser("owner@agency.example")
		env := u.do(http.MethodPost, "/replies/poll", nil).expectError(http.StatusConflict, CodeConflict)
		if !strings.Contains(env.Error.Message, "IMAP_HOST") {
			t.Fatalf("message %q does not say what to set", env.Error.Message)
		}
	})
	// With IMAP configured but no engine (Temporal not wired): 503.
	eachServer(t, func(t *testing.T, ts *testServer) {
		u := ts.newUser("owner@agency.example")
		u.do(http.MethodPost, "/replies/poll", nil).expectError(http.StatusServiceUnavailable, CodeUnavailable)
	}, func(d *Deps) { d.Config.IMAPHost = "imap.example" })
}

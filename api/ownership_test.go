package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/models"
)

// ownedParams maps each path parameter naming an owned row to the 404 code
// answered when the row is not the caller's. A route with a parameter not
// listed here fails TestOwnershipEveryRoute until the walker learns it.
var ownedParams = map[string]string{
	"id":          CodeCampaignNotFound,
	"lead_id":     CodeLeadNotFound,
	"template_id": CodeTemplateNotFound,
	"reply_id":    CodeReplyNotFound,
	"entry":       CodeSuppressionNotFound,
}

// publicParams may appear only in public routes (the unsubscribe token).
var publicParams = map[string]bool{"token": true}

// ownedSet is one user's rows, by path parameter name.
type ownedSet map[string]string

func seedOwned(t *testing.T, ts *testServer, c *testClient, tag string) ownedSet {
	t.Helper()
	camp := c.createCampaign(tag + " campaign")
	lead := c.addLead(camp.ID, map[string]any{"website_url": "https://" + tag + ".example.com", "contact_email": "editor@" + tag + ".example.com"})
	tpl := c.createTemplate(tag+" template", "Subject", "Body {name}")
	now := time.Now().UTC()
	reply := models.Reply{
		ID: models.NewID(), UserID: &c.User.ID, CampaignID: &camp.ID, LeadID: &lead.ID,
		DedupeKey: "<" + tag + "@example.com>", MessageID: "<" + tag + "@example.com>", FromAddress: "editor@" + tag + ".example.com",
		Subject: "Re: Subject", BodyText: "Yes please", Classification: models.ReplyInterested, Source: "webhook",
		ReceivedAt: now, CreatedAt: now, UpdatedAt: now,
	}
	if err := ts.DB.Create(&reply).Error; err != nil {
		t.Fatal(err)
	}
	sup := models.Suppression{
		ID: models.NewID(), UserID: c.User.ID, Value: "blocked@" + tag + ".example.com",
		Source: models.SuppressManual, CreatedAt: now,
	}
	if err := ts.DB.Create(&sup).Error; err != nil {
		t.Fatal(err)
	}
	return ownedSet{"id": camp.ID, "lead_id": lead.ID, "template_id": tpl.ID, "reply_id": reply.ID, "entry": sup.ID}
}

// substitute fills a gin path's parameters from the given sets: the first
// set that has a parameter wins.
func substitute(path string, sets ...ownedSet) string {
	return ginParam.ReplaceAllStringFunc(path, func(m string) string {
		name := m[1:]
		for _, s := range sets {
			if v, ok := s[name]; ok {
				return v
			}
		}
		return m
	})
}

func isWrite(method string) bool {
	return method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch
}

// TestOwnershipEveryRoute walks every route registered on the router with a
// second user's key and the first user's ids. Routes added later are
// covered without anyone remembering to add them here.
func TestOwnershipEveryRoute(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		owner := ts.newUser("owner@example.com")
		intruder := ts.newUser("intruder@example.com")
		mine := seedOwned(t, ts, owner, "owner")
		theirs := seedOwned(t, ts, intruder, "intruder")
		leakable := []string{owner.User.ID, mine["id"], mine["lead_id"], mine["template_id"], mine["reply_id"]}
		before := snapshotUser(t, ts.DB, owner.User.ID)

		documented := map[string]Route{}
		for _, r := range ts.Srv.Routes() {
			documented[r.Method+" "+r.FullPath()] = r
		}
		checked := 0
		for _, gr := range ts.Srv.Engine().Routes() {
			name := gr.Method + " " + gr.Path
			route, ok := documented[name]
			if !ok {
				t.Errorf("%s is registered on the router but not through Server.handle", name)
				continue
			}
			var params []string
			for _, m := range ginParam.FindAllStringSubmatch(gr.Path, -1) {
				params = append(params, m[1])
			}
			if route.Public() {
				for _, p := range params {
					if !publicParams[p] {
						t.Errorf("%s: public route with parameter :%s; teach the walker about :%s", name, p, p)
					}
				}
				continue
			}
			unknown := false
			for _, p := range params {
				if publicParams[p] {
					t.Errorf("%s: :%s belongs on a public route", name, p)
					unknown = true
				} else if _, ok := ownedParams[p]; !ok {
					t.Errorf("%s: teach the walker about :%s (which 404 code, which row to substitute)", name, p)
					unknown = true
				}
			}
			if unknown {
				continue
			}
			var body any
			if isWrite(gr.Method) {
				body = "{}"
			}
			checked++
			if len(params) > 0 {
				// Every owned parameter the owner's: the first one answers.
				r := intruder.doFull(gr.Method, substitute(gr.Path, mine), body)
				expectOwned404(t, r, name, ownedParams[params[0]], leakable)
				// The intruder's own campaign with the owner's lead (etc.):
				// the inner parameter answers.
				if len(params) > 1 {
					path := substitute(gr.Path, ownedSet{params[0]: theirs[params[0]]}, mine)
					r := intruder.doFull(gr.Method, path, body)
					expectOwned404(t, r, name+" (own :"+params[0]+")", ownedParams[params[1]], leakable)
				}
				continue
			}
			// No owned parameter: whatever it answers must not reveal the
			// owner's rows, with an empty body or one naming them.
			for _, b := range []any{body, map[string]any{
				"campaign_id": mine["id"], "lead_id": mine["lead_id"], "template_id": mine["template_id"],
				"reply_id": mine["reply_id"], "lead_ids": []string{mine["lead_id"]},
			}} {
				if b != nil && !isWrite(gr.Method) {
					continue
				}
				r := intruder.doFull(gr.Method, gr.Path, b)
				for _, id := range leakable {
					if bytes.Contains(r.Body, []byte(id)) {
						t.Errorf("%s: response reveals the owner's id %s: %s", name, id, truncate(r.Body, 500))
					}
				}
				if r.Code >= 500 {
					t.Errorf("%s: status %d: %s", name, r.Code, truncate(r.Body, 500))
				}
			}
		}
		if checked < 15 {
			t.Fatalf("only %d authenticated routes walked; is the route table empty?", checked)
		}
		if after := snapshotUser(t, ts.DB, owner.User.ID); after != before {
			t.Fatalf("the owner's data changed:\nbefore %s\nafter  %s", before, after)
		}
	})
}

func expectOwned404(t *testing.T, r *testResponse, name, code string, leakable []string) {
	t.Helper()
	if r.Code != http.StatusNotFound {
		t.Errorf("%s: status %d, want 404 %s: %s", name, r.Code, code, truncate(r.Body, 500))
		return
	}
	var env Envelope
	if err := json.Unmarshal(r.Body, &env); err != nil || env.Error.Code != code {
		t.Errorf("%s: body %s, want code %s", name, truncate(r.Body, 500), code)
	}
	for _, id := range leakable {
		if strings.Contains(string(r.Body), id) {
			t.Errorf("%s: 404 reveals id %s", name, id)
		}
	}
}

// snapshotUser serialises every row the user owns, so a test can tell
// whether anything changed.
func snapshotUser(t *testing.T, db *gorm.DB, userID string) string {
	t.Helper()
	var out bytes.Buffer
	for _, q := range []string{
		"SELECT * FROM campaigns WHERE user_id = ? ORDER BY id",
		"SELECT * FROM leads WHERE user_id = ? ORDER BY id",
		"SELECT * FROM templates WHERE user_id = ? ORDER BY id",
		"SELECT * FROM replies WHERE user_id = ? ORDER BY id",
		"SELECT * FROM api_keys WHERE user_id = ? AND revoked_at IS NULL ORDER BY id",
		"SELECT lc.* FROM lead_counts lc JOIN campaigns c ON c.id = lc.campaign_id WHERE c.user_id = ? ORDER BY lc.campaign_id, lc.status",
	} {
		var rows []map[string]any
		if err := db.Raw(q, userID).Scan(&rows).Error; err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		for _, r := range rows {
			delete(r, "last_used_at") // touched by authentication, not by a change
		}
		b, err := json.Marshal(rows)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(b)
		out.WriteByte('\n')
	}
	return out.String()
}

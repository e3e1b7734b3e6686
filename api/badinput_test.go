package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/models"
)

// TestBadInput sends every kind of bad input the issue names to the routes
// that take it, on SQLite and PostgreSQL: each gets the right status and an
// envelope naming the field, and nothing valid is lost.
func TestBadInput(t *testing.T) {
	t.Parallel()
	const bodyLimit = 64 << 10
	eachServer(t, func(t *testing.T, ts *testServer) {
		u := ts.newUser("owner@example.com")
		camp := u.createCampaign("Bad input")
		leads := "/campaigns/" + camp.ID + "/leads"
		lead := func(fields map[string]any) map[string]any {
			out := map[string]any{"website_url": "https://ok.example.com"}
			for k, v := range fields {
				out[k] = v
			}
			return out
		}
		type tc struct {
			name    string
			method  string
			path    string
			body    any
			status  int
			code    string
			fields  []string // for 422: the detail fields, exactly
			message string   // a substring of the message or of a detail reason
		}
		cases := []tc{
			{"malformed JSON", "POST", "/campaigns", `{"name": "x"`, 400, CodeMalformedJSON, nil, "not valid JSON"},
			{"not JSON at all", "POST", "/campaigns", `name=x`, 400, CodeMalformedJSON, nil, "not valid JSON"},
			{"empty body", "POST", "/campaigns", ``, 400, CodeMalformedJSON, nil, "empty"},
			{"trailing data", "POST", "/campaigns", `{"name": "x"} {"name": "y"}`, 400, CodeMalformedJSON, nil, "single JSON value"},
			{"array instead of object", "POST", "/campaigns", `[]`, 422, CodeValidation, []string{"body"}, "object"},
			{"wrong type name", "POST", "/campaigns", map[string]any{"name": 5}, 422, CodeValidation, []string{"name"}, "must be a string"},
			{"wrong type keywords", "POST", "/campaigns", map[string]any{"name": "x", "keywords": "SaaS"}, 422, CodeValidation, []string{"keywords"}, "array"},
			{"wrong type in settings", "POST", "/campaigns", map[string]any{"name": "x", "settings": map[string]any{"daily_cap": "ten"}}, 422, CodeValidation, []string{"settings.daily_cap"}, "number"},
			{"long sender name", "POST", "/campaigns", map[string]any{"name": "x", "settings": map[string]any{"sender": map[string]any{"name": strings.Repeat("s", 201)}}}, 422, CodeValidation, []string{"settings.sender.name"}, "200"},
			{"NUL in settings", "POST", "/campaigns", map[string]any{"name": "x", "settings": map[string]any{"topic": "a\x00", "sender": map[string]any{"site": "b\x00"}}}, 422, CodeValidation, []string{"settings.topic", "settings.sender.site"}, "NUL"},
			{"unknown setting", "POST", "/campaigns", map[string]any{"name": "x", "settings": map[string]any{"colour": "red"}}, 422, CodeValidation, []string{"settings"}, "colour"},
			{"missing name", "POST", "/campaigns", map[string]any{"description": "no name"}, 422, CodeValidation, []string{"name"}, "required"},
			{"blank name", "POST", "/campaigns", map[string]any{"name": "   "}, 422, CodeValidation, []string{"name"}, "required"},
			{"201-character name", "POST", "/campaigns", map[string]any{"name": strings.Repeat("é", 201)}, 422, CodeValidation, []string{"name"}, "at most 200"},
			{"NUL in name", "POST", "/campaigns", map[string]any{"name": "a\x00b"}, 422, CodeValidation, []string{"name"}, "NUL"},
			{"long description", "POST", "/campaigns", map[string]any{"name": "x", "description": strings.Repeat("d", 5001)}, 422, CodeValidation, []string{"description"}, "5000"},
			{"51 keywords", "POST", "/campaigns", map[string]any{"name": "x", "keywords": make([]string, 51)}, 422, CodeValidation, []string{"keywords"}, "at most 50"},
			{"bad keywords", "POST", "/campaigns", map[string]any{"name": "x", "keywords": []string{"", strings.Repeat("k", 101)}}, 422, CodeValidation, []string{"keywords[0]", "keywords[1]"}, ""},
			{"unknown field", "POST", "/campaigns", map[string]any{"name": "x", "colour": "red"}, 422, CodeValidation, []string{"colour"}, "unknown field"},
			{"several bad fields at once", "POST", "/campaigns", map[string]any{"name": "", "description": strings.Repeat("d", 5001), "settings": map[string]any{"timezone": "Nowhere/Land", "window": map[string]any{"start": "25:00"}}}, 422, CodeValidation, []string{"name", "description", "settings.timezone", "settings.window.start"}, ""},
			{"wrong content type", "POST", "/campaigns", nil, 415, CodeUnsupportedContent, nil, "application/json"},
			{"bad patch type", "PATCH", "/campaigns/" + camp.ID, map[string]any{"keywords": []int{1}}, 422, CodeValidation, []string{"keywords"}, "string"},
			{"patch settings not an object", "PATCH", "/campaigns/" + camp.ID, map[string]any{"settings": []string{"x"}}, 422, CodeValidation, []string{"settings"}, "object"},

			{"javascript URL", "POST", leads, map[string]any{"website_url": "javascript:alert(1)"}, 422, CodeValidation, []string{"website_url"}, "http"},
			{"host-less URL", "POST", leads, map[string]any{"website_url": "https://"}, 422, CodeValidation, []string{"website_url"}, "host"},
			{"host-less path URL", "POST", leads, map[string]any{"website_url": "http:///path/only"}, 422, CodeValidation, []string{"website_url"}, "host"},
			{"scheme-less URL", "POST", leads, map[string]any{"website_url": "example.com"}, 422, CodeValidation, []string{"website_url"}, "http"},
			{"mailto URL", "POST", leads, map[string]any{"website_url": "mailto:editor@example.com"}, 422, CodeValidation, []string{"website_url"}, ""},
			{"missing URL", "POST", leads, map[string]any{"website_title": "x"}, 422, CodeValidation, []string{"website_url"}, "required"},
			{"invalid email", "POST", leads, lead(map[string]any{"contact_email": "editor at example.com"}), 422, CodeValidation, []string{"contact_email"}, "e-mail"},
			{"email with display name", "POST", leads, lead(map[string]any{"contact_email": "Ed <editor@example.com>"}), 422, CodeValidation, []string{"contact_email"}, ""},
			{"score -0.1", "POST", leads, lead(map[string]any{"quality_score": -0.1}), 422, CodeValidation, []string{"quality_score"}, "0 to 1"},
			{"score 1.1", "POST", leads, lead(map[string]any{"relevance_score": 1.1}), 422, CodeValidation, []string{"relevance_score"}, "0 to 1"},
			{"score NaN string", "POST", leads, lead(map[string]any{"guest_post_likelihood": "NaN"}), 422, CodeValidation, []string{"guest_post_likelihood"}, "must be a number, not string"},
			{"score NaN literal", "POST", leads, `{"website_url": "https://ok.example.com", "quality_score": NaN}`, 400, CodeMalformedJSON, nil, "not valid JSON"},
			{"score Infinity literal", "POST", leads, `{"website_url": "https://ok.example.com", "quality_score": 1e999}`, 422, CodeValidation, []string{"quality_score"}, "number"},
			{"unknown source", "POST", leads, lead(map[string]any{"source": "scraper"}), 422, CodeValidation, []string{"source"}, "manual"},
			{"lead unknown field", "POST", leads, lead(map[string]any{"phone": "123"}), 422, CodeValidation, []string{"phone"}, "unknown field"},
			{"long title", "POST", leads, lead(map[string]any{"website_title": strings.Repeat("t", 501)}), 422, CodeValidation, []string{"website_title"}, "500"},
			{"bulk not an array", "POST", leads + "/bulk", map[string]any{"website_url": "https://x.example.com"}, 422, CodeValidation, []string{"body"}, "array"},
			{"bulk of 10,001", "POST", leads + "/bulk", bulkRows(MaxBulkLeads + 1), 422, CodeValidation, []string{"body"}, "at most 10000"},

			{"template missing fields", "POST", "/emails/templates", map[string]any{}, 422, CodeValidation, []string{"name", "subject", "body"}, ""},
			{"template subject too long", "POST", "/emails/templates", map[string]any{"name": "n", "subject": strings.Repeat("s", 999), "body": "b"}, 422, CodeValidation, []string{"subject"}, "998"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var r *testResponse
				if c.code == CodeUnsupportedContent {
					req, _ := http.NewRequestWithContext(context.Background(), c.method, BasePath+c.path, strings.NewReader("name=x"))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.Header.Set("Authorization", "Bearer "+u.Key)
					r = ts.serve(req)
				} else {
					r = u.do(c.method, c.path, c.body)
				}
				var env Envelope
				if c.fields != nil {
					env = r.expectFields(c.fields...)
				} else {
					env = r.expectError(c.status, c.code)
				}
				if r.Code != c.status {
					t.Fatalf("status %d, want %d", r.Code, c.status)
				}
				if c.message != "" && !strings.Contains(string(r.Body), c.message) {
					t.Fatalf("envelope does not say %q: %+v", c.message, env)
				}
			})
		}
		// Nothing was stored by any refused request.
		var campaigns, storedLeads int64
		ts.DB.Model(&models.Campaign{}).Count(&campaigns)
		ts.DB.Model(&models.Lead{}).Count(&storedLeads)
		if campaigns != 1 || storedLeads != 0 {
			t.Fatalf("refused requests stored rows: %d campaigns, %d leads", campaigns, storedLeads)
		}

		// Boundaries are accepted.
		var ok CampaignOut
		u.do(http.MethodPost, "/campaigns", map[string]any{
			"name": strings.Repeat("é", 200), "description": strings.Repeat("d", 5000), "keywords": make50(),
		}).expect(http.StatusCreated).decode(&ok)
		u.addLead(camp.ID, map[string]any{"website_url": "https://edge.example.com", "quality_score": 0, "relevance_score": 1})
		// A bulk of exactly 10,000 rows is taken. On SQLite the rows repeat
		// one site (tracking parameters differ), which checks the limit
		// without 10,000 inserts: the pure-Go SQLite is slow under -race.
		rows, wantAdded := bulkRows(MaxBulkLeads), MaxBulkLeads
		if ts.Dialect == store.SQLite {
			for i := range rows {
				rows[i]["website_url"] = fmt.Sprintf("https://same.example.com/?utm_source=%d", i)
			}
			wantAdded = 1
		}
		var res BulkAddResult
		u.do(http.MethodPost, leads+"/bulk", rows).expect(http.StatusOK).decode(&res)
		if res.Added != wantAdded || res.Added+res.Skipped != MaxBulkLeads || len(res.Failed) != 0 {
			t.Fatalf("a 10,000-row bulk: added %d, skipped %d, failed %d", res.Added, res.Skipped, len(res.Failed))
		}

		// SQL-looking strings are stored and returned verbatim.
		sqlish := []string{`Robert'); DROP TABLE campaigns;--`, `1 OR 1=1`, `" OR ""="`, `%_\`, `$1; SELECT pg_sleep(10)`}
		for _, s := range sqlish {
			var got CampaignOut
			u.do(http.MethodPost, "/campaigns", map[string]any{"name": s, "description": s, "keywords": []string{s}}).
				expect(http.StatusCreated).decode(&got)
			u.do(http.MethodGet, "/campaigns/"+got.ID, nil).expect(http.StatusOK).decode(&got)
			if got.Name != s || got.Description != s || got.Keywords[0] != s {
				t.Fatalf("stored %q as %+v", s, got)
			}
			l := u.addLead(camp.ID, map[string]any{"website_url": "https://sql.example.com/?q=" + fmt.Sprint(len(s)), "website_title": s, "contact_name": s})
			if l.WebsiteTitle != s || l.ContactName != s {
				t.Fatalf("lead stored %q as %+v", s, l)
			}
			tpl := u.createTemplate(s, s, s)
			if tpl.Name != s || tpl.Subject != s || tpl.Body != s {
				t.Fatalf("template stored %q as %+v", s, tpl)
			}
		}
		var list LeadList
		u.do(http.MethodGet, leads+"?q="+strings.ReplaceAll(`%_\`, "%", "%25"), nil).expect(http.StatusOK).decode(&list)
		if len(list.Items) != 1 || list.Items[0].WebsiteTitle != `%_\` {
			t.Fatalf("search for LIKE metacharacters: %d items", len(list.Items))
		}
	}, func(d *Deps) { d.Config.MaxBodyBytes = 4 << 20 })

	// Oversize bodies: declared (Content-Length) and streamed (chunked).
	eachServer(t, func(t *testing.T, ts *testServer) {
		u := ts.newUser("owner@example.com")
		camp := u.createCampaign("Big")
		big := `{"name": "` + strings.Repeat("x", bodyLimit) + `"}`
		u.do(http.MethodPost, "/campaigns", big).expectError(http.StatusRequestEntityTooLarge, CodeTooLarge)
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, BasePath+"/campaigns/"+camp.ID+"/leads/bulk",
			io.MultiReader(strings.NewReader("["), strings.NewReader(strings.Repeat(`{"website_url": "https://x.example.com"},`, bodyLimit/20)), strings.NewReader("{}]")))
		req.ContentLength = -1
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+u.Key)
		ts.serve(req).expectError(http.StatusRequestEntityTooLarge, CodeTooLarge)
		var n int64
		ts.DB.Model(&models.Lead{}).Count(&n)
		if n != 0 {
			t.Fatalf("an oversize bulk stored %d leads", n)
		}
	}, func(d *Deps) { d.Config.MaxBodyBytes = bodyLimit })
}

func bulkRows(n int) []map[string]string {
	rows := make([]map[string]string, n)
	for i := range rows {
		rows[i] = map[string]string{"website_url": fmt.Sprintf("https://site%d.example.com", i)}
	}
	return rows
}

func make50() []string {
	out := make([]string, 50)
	for i := range out {
		out[i] = strings.Repeat("k", 100)
	}
	return out
}

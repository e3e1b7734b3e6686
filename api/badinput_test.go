package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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
			// A Latin-1 client's "Café": refused, not stored as "Caf\uFFFD".
			{"invalid UTF-8", "POST", "/campaigns", "{\"name\": \"Caf\xe9 blog\"}", 400, CodeMalformedJSON, nil, "UTF-8"},
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
			{"bad patch type", "PATCH", "/campaigns/" + camp.ID, map[string]any{"keywords": []int{1}}, 422, CodeValidation, []string{"keywords[0]"}, "string"},
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

// badCase is one bad request of the tests below: a 422 naming exactly
// fields, with message in the body when set.
type badCase struct {
	name, method, path string
	body               any
	fields             []string
	message            string
}

// expectBad sends each case and checks its 422.
func expectBad(t *testing.T, u *testClient, cases []badCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := u.do(c.method, c.path, c.body)
			r.t = t // a failing case fails alone; the others still run
			r.expectFields(c.fields...)
			if c.message != "" && !strings.Contains(string(r.Body), c.message) {
				t.Fatalf("envelope does not say %q: %s", c.message, r.Body)
			}
		})
	}
}

// TestBadInputUnstorableText: a NUL or invalid UTF-8 in a value that
// reaches SQL is a 422 naming the field, never the 500 PostgreSQL's refusal
// would make it; a malformed lead_id filter is refused as listReplies
// refuses it, not answered with an empty page.
func TestBadInputUnstorableText(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		u := ts.newUser("owner@example.com")
		camp := u.createCampaign("Unstorable")
		attempts := "/campaigns/" + camp.ID + "/attempts"
		expectBad(t, u, []badCase{
			{"NUL lead_id", "GET", attempts + "?lead_id=%00", nil, []string{"lead_id"}, "not a lead id"},
			{"invalid UTF-8 lead_id", "GET", attempts + "?lead_id=%FF", nil, []string{"lead_id"}, "not a lead id"},
			{"malformed lead_id", "GET", attempts + "?lead_id=zzz", nil, []string{"lead_id"}, "not a lead id"},
			{"empty lead_id", "GET", attempts + "?lead_id=", nil, []string{"lead_id"}, "not a lead id"},
			{"NUL in policy subject", "POST", "/policy/validate", map[string]any{"recipient": "x@example.com", "subject": "hi\x00"}, []string{"subject"}, "NUL"},
			{"long policy subject", "POST", "/policy/validate", map[string]any{"recipient": "x@example.com", "subject": strings.Repeat("s", maxSubject+1)}, []string{"subject"}, "998"},
		})
		var page AttemptList
		u.do(http.MethodGet, attempts+"?lead_id="+models.NewID(), nil).expect(http.StatusOK).decode(&page)
		if len(page.Items) != 0 {
			t.Fatalf("attempts of an unknown lead: %+v", page.Items)
		}
		u.do(http.MethodPost, "/policy/validate", map[string]any{"recipient": "x@example.com", "subject": strings.Repeat("é", maxSubject)}).
			expect(http.StatusOK)

		// A CSV cell is not JSON: invalid UTF-8 reaches the URL check as is.
		req := httptest.NewRequestWithContext(context.Background(), http.MethodPost,
			BasePath+"/campaigns/"+camp.ID+"/leads/import", strings.NewReader("website_url\nhttps://bad.example.com/\xff\nhttps://good.example.com/\n"))
		req.Header.Set("Content-Type", "text/csv")
		req.Header.Set("Authorization", "Bearer "+u.Key)
		var res struct {
			Added  int           `json:"added"`
			Failed []BulkRowNote `json:"failed"`
		}
		ts.serve(req).expect(http.StatusOK).decode(&res)
		if res.Added != 1 || len(res.Failed) != 1 || len(res.Failed[0].Fields) != 1 ||
			res.Failed[0].Fields[0].Field != "website_url" || !strings.Contains(res.Failed[0].Reason, "UTF-8") {
			t.Fatalf("CSV row with invalid UTF-8 in its URL: %+v", res)
		}
	})
}

// TestBadInputSettingsBounds: every numeric setting has a maximum, and the
// timezone is an IANA name ("Local", the server's zone, is not).
func TestBadInputSettingsBounds(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		u := ts.newUser("owner@example.com")
		camp := u.createCampaign("Bounds")
		path := "/campaigns/" + camp.ID
		set := func(k string, val any) map[string]any { return map[string]any{"settings": map[string]any{k: val}} }
		expectBad(t, u, []badCase{
			{"gap overflowing a Duration", "PATCH", path, set("min_gap_seconds", 10_000_000_000), []string{"settings.min_gap_seconds"}, "86400"},
			{"gap of a century", "PATCH", path, set("min_gap_seconds", 100*365*86400), []string{"settings.min_gap_seconds"}, "86400"},
			{"gap over a day", "PATCH", path, set("min_gap_seconds", models.MaxGapSeconds+1), []string{"settings.min_gap_seconds"}, "86400"},
			{"jitter over a day", "PATCH", path, set("jitter_seconds", models.MaxGapSeconds+1), []string{"settings.jitter_seconds"}, "86400"},
			{"negative jitter", "PATCH", path, set("jitter_seconds", -1), []string{"settings.jitter_seconds"}, "from 0"},
			{"daily cap too high", "PATCH", path, set("daily_cap", models.MaxDailyCap+1), []string{"settings.daily_cap"}, "100000"},
			{"delay over a year", "PATCH", path, set("sequence", []any{map[string]any{"subject": "s", "body": "b", "delay_days": 366}}), []string{"settings.sequence[0].delay_days"}, "365"},
			{"Local timezone", "PATCH", path, set("timezone", "Local"), []string{"settings.timezone"}, "IANA"},
			{
				"on create too", "POST", "/campaigns",
				map[string]any{"name": "x", "settings": map[string]any{"min_gap_seconds": 10_000_000_000, "timezone": "Local"}},
				[]string{"settings.min_gap_seconds", "settings.timezone"},
				"",
			},
		})
		var got CampaignOut
		u.do(http.MethodPatch, path, map[string]any{"settings": map[string]any{
			"min_gap_seconds": models.MaxGapSeconds, "jitter_seconds": models.MaxGapSeconds, "daily_cap": models.MaxDailyCap, "timezone": "",
		}}).expect(http.StatusOK).decode(&got)
		st := got.Settings
		if *st.MinGapSeconds != models.MaxGapSeconds || *st.JitterSeconds != models.MaxGapSeconds || *st.DailyCap != models.MaxDailyCap || st.Timezone != "UTC" {
			t.Fatalf("the maxima and the default timezone: %+v", st)
		}
	})
}

// TestBadInputBulkNull: a bulk add of null is not an empty batch.
func TestBadInputBulkNull(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		u := ts.newUser("owner@example.com")
		camp := u.createCampaign("Bulk null")
		bulk := "/campaigns/" + camp.ID + "/leads/bulk"
		expectBad(t, u, []badCase{{"null", "POST", bulk, `null`, []string{"body"}, "array"}})
		var res BulkAddResult
		u.do(http.MethodPost, bulk, `[]`).expect(http.StatusOK).decode(&res)
		if res.Added != 0 || len(res.Failed) != 0 {
			t.Fatalf("empty bulk: %+v", res)
		}
	})
}

// TestBadInputPreviewLead: a preview's inline lead is validated as a lead
// add validates it, except that no field is required.
func TestBadInputPreviewLead(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		u := ts.newUser("owner@example.com")
		camp := u.createCampaign("Preview")
		preview := func(lead map[string]any) map[string]any {
			return map[string]any{"campaign_id": camp.ID, "subject": "Hi {name}", "body": "About {website_title}", "lead": lead}
		}
		expectBad(t, u, []badCase{
			{"bad e-mail", "POST", "/emails/preview", preview(map[string]any{"contact_email": "not-an-email"}), []string{"lead.contact_email"}, "e-mail"},
			{"score out of range", "POST", "/emails/preview", preview(map[string]any{"quality_score": 1.5}), []string{"lead.quality_score"}, "0 to 1"},
			{"unknown source", "POST", "/emails/preview", preview(map[string]any{"source": "scraper"}), []string{"lead.source"}, "manual"},
			{"NUL in title", "POST", "/emails/preview", preview(map[string]any{"website_title": "a\x00"}), []string{"lead.website_title"}, "NUL"},
			{"bad URL", "POST", "/emails/preview", preview(map[string]any{"website_url": "javascript:alert(1)"}), []string{"lead.website_url"}, "http"},
			{
				"several", "POST", "/emails/preview", preview(map[string]any{"contact_email": "x", "relevance_score": -1}),
				[]string{"lead.contact_email", "lead.relevance_score"},
				"",
			},
		})
		var p PreviewOut
		u.do(http.MethodPost, "/emails/preview", preview(map[string]any{"contact_name": " Ann ", "contact_email": "ann@example.com"})).
			expect(http.StatusOK).decode(&p)
		if p.Subject != "Hi Ann" {
			t.Fatalf("partial inline lead: %+v", p)
		}
	})
}

// TestBadInputJSONKeys: encoding/json matches keys to fields whatever their
// case and keeps the last of a repeated key; the API takes neither, so no
// value is silently dropped or replaced.
func TestBadInputJSONKeys(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		u := ts.newUser("owner@example.com")
		camp := u.createCampaign("Keys")
		path := "/campaigns/" + camp.ID
		tpl := u.createTemplate("n", "s", "b")
		expectBad(t, u, []badCase{
			{"settings key of another case", "PATCH", path, map[string]any{"settings": map[string]any{"Timezone": "America/New_York"}}, []string{"settings.Timezone"}, `use \"timezone\"`},
			{"null settings key of another case", "PATCH", path, `{"settings": {"Timezone": null}}`, []string{"settings.Timezone"}, "case-sensitive"},
			{"null unknown settings key", "PATCH", path, `{"settings": {"colour": null}}`, []string{"settings.colour"}, "unknown field"},
			{"repeated settings key", "PATCH", path, `{"settings": {"timezone": "UTC", "timezone": "Europe/Berlin"}}`, []string{"settings.timezone"}, "more than once"},
			{"nested key of another case", "PATCH", path, map[string]any{"settings": map[string]any{"window": map[string]any{"Start": "08:00"}}}, []string{"settings.window.Start"}, "case-sensitive"},
			{"nested repeated key", "PATCH", path, `{"settings": {"window": {"start": "08:00", "start": "10:00"}}}`, []string{"settings.window.start"}, "more than once"},
			{"field of another case", "POST", "/campaigns", `{"name": "x", "NAME": "y"}`, []string{"NAME"}, `use \"name\"`},
			{"repeated field", "POST", "/campaigns", `{"name": "x", "name": "y"}`, []string{"name"}, "more than once"},
			{"create settings of another case", "POST", "/campaigns", `{"name": "x", "settings": {"Topic": "y"}}`, []string{"settings.Topic"}, "case-sensitive"},
			{"lead field of another case", "POST", path + "/leads", `{"website_url": "https://a.example.com", "Website_URL": "https://b.example.com"}`, []string{"Website_URL"}, "case-sensitive"},
			{"template field of another case", "PUT", "/emails/templates/" + tpl.ID, `{"name": "n", "subject": "s", "Subject": "t", "body": "b"}`, []string{"Subject"}, "case-sensitive"},
			{"sequence step key of another case", "PUT", path + "/sequence", `{"steps": [{"subject": "s", "body": "b", "Delay_Days": 3}]}`, []string{"steps[0].Delay_Days"}, "case-sensitive"},
			{"preview lead key of another case", "POST", "/emails/preview", `{"campaign_id": "` + camp.ID + `", "subject": "s", "body": "b", "lead": {"Contact_Name": "x"}}`, []string{"lead.Contact_Name"}, "case-sensitive"},
		})
		var got CampaignOut
		u.do(http.MethodGet, path, nil).expect(http.StatusOK).decode(&got)
		if got.Settings.Timezone != "UTC" || got.Settings.Window.Start != models.DefaultWindowStart || got.Name != "Keys" {
			t.Fatalf("refused requests changed the campaign: %+v", got)
		}

		// In a bulk add a bad row fails alone.
		var res BulkAddResult
		u.do(http.MethodPost, path+"/leads/bulk", `[{"website_url": "https://ok.example.com"}, {"WEBSITE_URL": "https://x.example.com"},
			{"website_url": "https://d.example.com", "website_url": "https://e.example.com"}]`).expect(http.StatusOK).decode(&res)
		if res.Added != 1 || len(res.Failed) != 2 || res.Failed[0].Fields[0].Field != "WEBSITE_URL" || res.Failed[1].Fields[0].Field != "website_url" {
			t.Fatalf("bulk with bad keys: %+v", res)
		}
	})
}

// Every wrong JSON type is reported, each named by its path with array
// indexes: encoding/json stops at the first, and names a field inside an
// array without its index.
func TestBadInputEveryWrongType(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		u := ts.newUser("owner@example.com")
		camp := u.createCampaign("Types")
		leads := "/campaigns/" + camp.ID + "/leads"
		seq := "/campaigns/" + camp.ID + "/sequence"
		expectBad(t, u, []badCase{
			{"two wrong types", "POST", leads, `{"website_url": "https://a.example.com", "quality_score": "high", "contact_name": 7}`, []string{"quality_score", "contact_name"}, "must be a number, not string"},
			{"sequence step: two wrong types", "PUT", seq, `{"steps": [{"subject": 1, "body": 2, "delay_days": 1}]}`, []string{"steps[0].subject", "steps[0].body"}, ""},
			{"sequence step 2", "PUT", seq, `{"steps": [{"subject": "s", "body": "b"}, {"body": "b", "delay_days": 1}, {"body": "b", "delay_days": "3"}]}`, []string{"steps[2].delay_days"}, ""},
			{"fraction for a whole number", "PATCH", "/campaigns/" + camp.ID, `{"settings": {"daily_cap": 1.5}}`, []string{"settings.daily_cap"}, "number 1.5"},
			{"settings.sequence step 1", "PATCH", "/campaigns/" + camp.ID, `{"settings": {"sequence": [{"subject": "s", "body": "b"}, {"body": "b", "delay_days": "3"}]}}`, []string{"settings.sequence[1].delay_days"}, ""},
			{"template: two wrong types", "POST", "/emails/templates", `{"name": 1, "subject": 2, "body": "b"}`, []string{"name", "subject"}, ""},
			{"object for a string, array for an object", "POST", "/campaigns", `{"name": {"x": 1}, "settings": []}`, []string{"name", "settings"}, ""},
		})
		// A bulk row with two wrong types fails alone, naming both.
		var bulk BulkAddResult
		u.do(http.MethodPost, leads+"/bulk", []any{
			map[string]any{"website_url": "https://ok.example.com"},
			map[string]any{"website_url": 5, "quality_score": "x"},
		}).expect(http.StatusOK).decode(&bulk)
		if bulk.Added != 1 || len(bulk.Failed) != 1 || !strings.Contains(bulk.Failed[0].Reason, "website_url") || !strings.Contains(bulk.Failed[0].Reason, "quality_score") {
			t.Fatalf("bulk: %+v", bulk)
		}
	})
}

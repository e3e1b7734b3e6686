package api

import (
	"database/sql"
	"encoding/csv"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"golang.org/x/text/unicode/norm"

	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/models"
)

// CSV exports. Each streams rows from a database cursor straight into the
// response, flushing every exportFlushRows rows, so memory stays flat
// whatever the campaign's size. Every cell is neutralised against formula
// injection (neutralizeCell); the lead import undoes exactly that prefix,
// so an exported leads file imports back unchanged.

const exportFlushRows = 1000

// Export headers: fixed, in this order. The leads export names its columns
// like the import, so the file can be imported into another campaign.
var (
	leadsExportHeader = []string{
		"id", "website_url", "normalized_url", "website_title", "contact_email", "contact_name",
		"quality_score", "relevance_score", "guest_post_likelihood", "source", "status", "suppressed",
		"dispatched_at", "created_at", "updated_at", "status_changed_at",
	}
	attemptsExportHeader = []string{
		"id", "lead_id", "website_url", "step", "state", "recipient", "subject", "message_id",
		"legal_basis", "error", "created_at", "sending_at", "sent_at", "body",
	}
	repliesExportHeader = []string{
		"id", "lead_id", "website_url", "attempt_id", "from_address", "subject", "classification",
		"bounce_kind", "bounce_code", "ooo_until", "received_at", "body_text",
	}
)

// formulaTriggers are the first characters that make a spreadsheet read a
// cell as a formula (OWASP "CSV injection").
const formulaTriggers = "=+-@\t\r"

// neutralizeCell prefixes a single quote to a cell a spreadsheet would
// evaluate, so it is shown as text; and to a cell that already starts with
// quotes before such a character, so that unneutralizeCell gives back every
// value as it was (a value '=x exports with a second quote in front).
func neutralizeCell(s string) string {
	if quotedTrigger(s) {
		return "'" + s
	}
	return s
}

// unneutralizeCell undoes neutralizeCell: of quotes before a trigger
// character one is dropped (a spreadsheet's text marker, in a file written
// by hand too).
func unneutralizeCell(s string) string {
	if s != "" && s[0] == '\'' && quotedTrigger(s[1:]) {
		return s[1:]
	}
	return s
}

// quotedTrigger reports whether s is a trigger character after any number
// of single quotes.
func quotedTrigger(s string) bool {
	t := strings.TrimLeft(s, "'")
	return t != "" && strings.IndexByte(formulaTriggers, t[0]) >= 0
}

func (s *Server) exportLeads(c *gin.Context) {
	rec := make([]string, len(leadsExportHeader))
	s.streamCSV(c, "leads", leadsExportHeader, func(emit func([]string) error) error {
		return store.ExportLeads(c.Request.Context(), s.db, currentCampaign(c).ID, func(l *store.ExportLead) error {
			rec[0], rec[1], rec[2], rec[3], rec[4], rec[5] = l.ID, l.WebsiteURL, l.NormalizedURL, l.WebsiteTitle, l.ContactEmail, l.ContactName
			rec[6], rec[7], rec[8] = csvFloat(l.QualityScore), csvFloat(l.RelevanceScore), csvFloat(l.GuestPostChance)
			rec[9], rec[10], rec[11] = l.Source, l.Status, strconv.FormatBool(l.Suppressed)
			rec[12], rec[13], rec[14], rec[15] = csvNullTime(l.DispatchedAt), csvTime(l.CreatedAt), csvTime(l.UpdatedAt), csvTime(l.StatusChangedAt)
			return emit(rec)
		})
	})
}

func (s *Server) exportAttempts(c *gin.Context) {
	rec := make([]string, len(attemptsExportHeader))
	s.streamCSV(c, "attempts", attemptsExportHeader, func(emit func([]string) error) error {
		return store.ExportAttempts(c.Request.Context(), s.db, currentCampaign(c).ID, func(a *store.ExportAttempt) error {
			rec[0], rec[1], rec[2], rec[3], rec[4] = a.ID, a.LeadID, a.WebsiteURL, strconv.Itoa(a.Step), a.State
			rec[5], rec[6], rec[7], rec[8], rec[9] = a.Recipient, a.Subject, a.MessageID, a.LegalBasis, a.Error
			rec[10], rec[11], rec[12], rec[13] = csvTime(a.CreatedAt), csvNullTime(a.SendingAt), csvNullTime(a.SentAt), a.Body
			return emit(rec)
		})
	})
}

func (s *Server) exportReplies(c *gin.Context) {
	rec := make([]string, len(repliesExportHeader))
	s.streamCSV(c, "replies", repliesExportHeader, func(emit func([]string) error) error {
		return store.ExportReplies(c.Request.Context(), s.db, currentCampaign(c).ID, func(r *store.ExportReply) error {
			rec[0], rec[1], rec[2], rec[3] = r.ID, r.LeadID.String, r.WebsiteURL.String, r.AttemptID.String
			rec[4], rec[5], rec[6], rec[7], rec[8] = r.FromAddress, r.Subject, r.Classification, r.BounceKind, r.BounceCode
			rec[9], rec[10], rec[11] = csvNullTime(r.OOOUntil), csvTime(r.ReceivedAt), r.BodyText
			return emit(rec)
		})
	})
}

// streamCSV answers a CSV file. Nothing is written until run produces its
// first row (or ends), so a query that fails at once still gets the JSON
// error envelope. A failure after rows went out cannot change the status:
// the connection is aborted instead, so the client sees a broken transfer
// rather than a file that looks complete.
func (s *Server) streamCSV(c *gin.Context, kind string, header []string, run func(emit func([]string) error) error) {
	v := &models.ValidationError{}
	checkQuery(c, v, "bom")
	bom := queryBool(c, v, "bom")
	if err := v.Err(); err != nil {
		fail(c, err)
		return
	}
	camp := currentCampaign(c)
	w := csv.NewWriter(c.Writer)
	w.UseCRLF = true // RFC 4180
	started, rows := false, 0
	cells := make([]string, len(header))
	start := func() error {
		started = true
		c.Header("Content-Type", "text/csv; charset=utf-8")
		c.Header("Content-Disposition", contentDisposition(exportFileName(camp.Name, kind, s.now())))
		c.Header("Cache-Control", "no-store")
		c.Header("X-Content-Type-Options", "nosniff")
		c.Status(http.StatusOK)
		if bom {
			if _, err := c.Writer.WriteString("\uFEFF"); err != nil {
				return err
			}
		}
		return w.Write(header)
	}
	emit := func(rec []string) error {
		if !started {
			if err := start(); err != nil {
				return err
			}
		}
		for i, cell := range rec {
			cells[i] = neutralizeCell(cell)
		}
		if err := w.Write(cells); err != nil {
			return err
		}
		rows++
		if rows%exportFlushRows == 0 {
			w.Flush()
			if err := w.Error(); err != nil {
				return err
			}
			c.Writer.Flush()
		}
		return nil
	}
	err := run(emit)
	if err == nil && !started {
		err = start()
	}
	if err == nil {
		w.Flush()
		err = w.Error()
	}
	if err == nil {
		return
	}
	if !started {
		fail(c, err)
		return
	}
	loggerFrom(c).ErrorContext(c.Request.Context(), "csv export aborted after rows were sent",
		"campaign_id", camp.ID, "export", kind, "rows", rows, "error", err)
	// net/http closes the connection without the final chunk, so the file
	// cannot be mistaken for a complete one.
	panic(http.ErrAbortHandler)
}

func csvTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func csvNullTime(t sql.NullTime) string {
	if !t.Valid {
		return ""
	}
	return csvTime(t.Time)
}

func csvFloat(f sql.NullFloat64) string {
	if !f.Valid {
		return ""
	}
	return strconv.FormatFloat(f.Float64, 'f', -1, 64)
}

// exportFileName is "<campaign name>-<kind>-<YYYY-MM-DD>.csv", the name
// cleaned of anything a file system or a header would choke on.
func exportFileName(campaign, kind string, now time.Time) string {
	name := cleanFileName(campaign, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) })
	if name == "" {
		name = "campaign"
	}
	return name + "-" + kind + "-" + now.UTC().Format(time.DateOnly) + ".csv"
}

// cleanFileName keeps the runes keep accepts plus '.', '_' and '-', turns
// every other run of runes into one '-', trims separators at the ends and
// bounds the length to 80 runes.
func cleanFileName(s string, keep func(rune) bool) string {
	var b strings.Builder
	dash := false
	n := 0
	for _, r := range s {
		if n >= 80 {
			break
		}
		if keep(r) || r == '.' || r == '_' || r == '-' {
			b.WriteRune(r)
			dash = r == '-'
			n++
			continue
		}
		if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
			n++
		}
	}
	return strings.Trim(b.String(), "-._")
}

// contentDisposition builds an attachment header for name. A non-ASCII
// name goes in filename* (RFC 6266 with RFC 5987 encoding), with an ASCII
// rendering (accents stripped) in filename for old clients.
func contentDisposition(name string) string {
	ascii := asciiFileName(name)
	h := `attachment; filename="` + ascii + `"`
	if ascii != name {
		h += "; filename*=UTF-8''" + rfc5987Escape(name)
	}
	return h
}

func asciiFileName(name string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(name) {
		if r < utf8.RuneSelf {
			b.WriteRune(r)
		}
	}
	out := cleanFileName(b.String(), func(r rune) bool {
		return r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r))
	})
	if !strings.HasSuffix(out, ".csv") {
		return "export.csv"
	}
	return out
}

// rfc5987Escape percent-encodes every byte outside RFC 5987's attr-char.
func rfc5987Escape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch < utf8.RuneSelf && (unicode.IsLetter(rune(ch)) || unicode.IsDigit(rune(ch)) || strings.IndexByte("!#$&+-.^_`|~", ch) >= 0) {
			b.WriteByte(ch)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[ch>>4])
		b.WriteByte(hex[ch&15])
	}
	return b.String()
}

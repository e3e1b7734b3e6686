package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/models"
)

// CSV lead import (POST /campaigns/{id}/leads/import).
//
// The body is the CSV file itself (Content-Type text/csv, application/csv,
// text/plain or application/vnd.ms-excel) or a multipart/form-data form
// whose only field, file, holds it. The upload is first copied to a
// temporary file, so no database lock waits on a slow client; the file is
// then read record by record and its rows validated (ValidateLead, like
// every other add) and inserted in batches of importBatch (InsertLeads)
// inside one transaction. The import is all or nothing at the file level: a
// file over the body limit (413) or over MaxImportRows data rows (422,
// counted in a first pass over the spooled file, before any row is
// validated) or that cannot be stored leaves the campaign unchanged;
// within a good file, invalid rows are reported with their line and the
// others kept.

// MaxImportRows is the most data rows (header and blank rows excluded) one
// import may carry.
const MaxImportRows = 100_000

// importBatch rows go into one InsertLeads call: its own batch size, so one
// call is one statement.
const importBatch = 1000

// importFields are the lead fields a column can hold, and the header names
// (compared case-insensitively, spaces and hyphens read as underscores)
// that select each.
var importFields = []struct {
	field   string
	aliases []string
}{
	{"website_url", []string{"website_url", "url", "website", "site", "domain", "website_address"}},
	{"contact_email", []string{"contact_email", "email", "e_mail", "email_address"}},
	{"contact_name", []string{"contact_name", "name", "contact"}},
	{"website_title", []string{"website_title", "title"}},
	{"quality_score", []string{"quality_score", "quality"}},
	{"relevance_score", []string{"relevance_score", "relevance"}},
	{"guest_post_likelihood", []string{"guest_post_likelihood", "likelihood"}},
}

// ImportColumn tells how one header was read.
type ImportColumn struct {
	Header string `json:"header"`
	Field  string `json:"field" doc:"the lead field the column fills"`
}

// ImportRowNote names one row of the file and what happened to it.
type ImportRowNote struct {
	Line       int                 `json:"line" doc:"the file line the row starts on (the header is line 1)"`
	WebsiteURL string              `json:"website_url"`
	Reason     string              `json:"reason"`
	Fields     []models.FieldError `json:"fields,omitempty" doc:"one entry per bad field"`
}

// ImportResult answers an import. Every data row is accounted for: rows =
// added + skipped + len(failed).
type ImportResult struct {
	Rows           int             `json:"rows" doc:"data rows read (the header and blank rows excluded)"`
	Added          int             `json:"added"`
	Skipped        int             `json:"skipped"`
	Failed         []ImportRowNote `json:"failed" doc:"rows not imported: invalid fields, a wrong number of cells, or CSV that cannot be parsed"`
	SkippedRows    []ImportRowNote `json:"skipped_rows" doc:"rows skipped: the same website as an earlier line, or a site the campaign already has"`
	Suppressed     []ImportRowNote `json:"suppressed" doc:"rows added whose contact address (or its domain) is on your suppression list: kept, flagged suppressed, never e-mailed"`
	BlankRows      int             `json:"blank_rows" doc:"rows whose every cell is empty (spreadsheets append them); skipped, not in rows"`
	Columns        []ImportColumn  `json:"columns" doc:"the recognised headers and the lead field each fills"`
	IgnoredColumns []string        `json:"ignored_columns" doc:"headers that match no lead field: their cells were not imported"`
}

// csvContentTypes are the media types a raw CSV upload may declare.
var csvContentTypes = map[string]bool{
	"text/csv": true, "application/csv": true, "text/plain": true, "application/vnd.ms-excel": true,
}

func (s *Server) importLeads(c *gin.Context) {
	v := &models.ValidationError{}
	checkQuery(c, v)
	if err := v.Err(); err != nil {
		fail(c, err)
		return
	}
	f, err := spoolUpload(c)
	if err != nil {
		fail(c, err)
		return
	}
	defer removeSpool(f)
	res, err := s.importCSV(c.Request.Context(), currentCampaign(c), f)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

// spoolUpload copies the CSV file of the request into a temporary file and
// rewinds it.
func spoolUpload(c *gin.Context) (*os.File, error) {
	ct := c.GetHeader("Content-Type")
	media, params, err := mime.ParseMediaType(ct)
	unsupported := &httpError{
		status: http.StatusUnsupportedMediaType, code: CodeUnsupportedContent, details: []any{},
		message: "send the CSV file as the body (Content-Type: text/csv) or as the field file of a multipart/form-data form",
	}
	if err != nil {
		return nil, unsupported
	}
	var src io.Reader
	switch {
	case csvContentTypes[media]:
		if cs := strings.ToLower(params["charset"]); cs != "" && cs != "utf-8" && cs != "utf8" && cs != "us-ascii" {
			unsupported.message = "the CSV file must be UTF-8 (got charset " + cs + "); save it as \"CSV UTF-8\""
			return nil, unsupported
		}
		src = c.Request.Body
	case media == "multipart/form-data":
		if params["boundary"] == "" {
			return nil, badRequest(CodeMalformedJSON, "the multipart body has no boundary")
		}
		return spoolMultipart(multipart.NewReader(c.Request.Body, params["boundary"]))
	default:
		return nil, unsupported
	}
	return spool(src)
}

// spoolMultipart spools the form's field file. Any other field is refused
// rather than ignored: nothing sent is silently dropped.
func spoolMultipart(mr *multipart.Reader) (*os.File, error) {
	var f *os.File
	abandon := func(err error) (*os.File, error) {
		if f != nil {
			removeSpool(f)
		}
		return nil, err
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var mb *http.MaxBytesError
			if errors.As(err, &mb) {
				return abandon(err)
			}
			return abandon(badRequest(CodeMalformedJSON, "the multipart/form-data body cannot be read: "+err.Error()))
		}
		name := part.FormName()
		if name != "file" {
			_ = part.Close()
			if name == "" {
				name = "(a part without a name)"
			}
			return abandon(unprocessable(name, "unexpected form field; send only the CSV file, as the field file"))
		}
		if f != nil {
			_ = part.Close()
			return abandon(unprocessable("file", "send one file per import"))
		}
		f, err = spool(part)
		_ = part.Close()
		if err != nil {
			return abandon(err)
		}
	}
	if f == nil {
		return nil, unprocessable("file", "is required: the multipart form has no field named file")
	}
	return f, nil
}

func spool(src io.Reader) (*os.File, error) {
	f, err := os.CreateTemp("", "outreach-import-*.csv")
	if err != nil {
		return nil, fmt.Errorf("import: temporary file: %w", err)
	}
	in := &readErrs{r: src}
	if _, err := io.Copy(f, in); err != nil {
		removeSpool(f)
		var mb *http.MaxBytesError
		switch {
		case errors.As(err, &mb):
			return nil, err
		case in.err != nil:
			// The client's upload broke off (or its multipart framing
			// did): nothing was read into the campaign.
			return nil, badRequest(CodeMalformedJSON, "the upload could not be read to its end: "+in.err.Error())
		default:
			return nil, fmt.Errorf("import: spool upload: %w", err)
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		removeSpool(f)
		return nil, fmt.Errorf("import: rewind: %w", err)
	}
	return f, nil
}

// removeSpool closes and deletes a spooled upload.
func removeSpool(f *os.File) {
	_ = f.Close()
	_ = os.Remove(f.Name())
}

// readErrs remembers a read error, telling a broken upload (the client's
// doing) from a failing temporary file (ours).
type readErrs struct {
	r   io.Reader
	err error
}

func (e *readErrs) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		e.err = err
	}
	return n, err
}

// errTooManyRows rolls an import back; the handler answers it as 422.
var errTooManyRows = unprocessable("file", fmt.Sprintf("at most %d data rows per import; nothing was imported (split the file)", MaxImportRows))

// csvColumns maps a header onto lead fields: col[i] is the field of column
// i, "" for an ignored column.
type csvColumns struct {
	col     []string
	website int
}

func readHeader(r *csv.Reader, res *ImportResult) (csvColumns, error) {
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return csvColumns{}, unprocessable("file", "is empty; its first line must be a header naming the columns (website_url, contact_email, ...)")
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return csvColumns{}, unprocessable("file", "line 1 (the header) is not valid CSV: "+pe.Err.Error())
	}
	if err != nil {
		return csvColumns{}, fmt.Errorf("import: read header: %w", err)
	}
	cols := csvColumns{col: make([]string, len(header)), website: -1}
	byField := map[string]string{}
	v := &models.ValidationError{}
	for i, h := range header {
		name := normalizeHeader(h)
		field := ""
		for _, f := range importFields {
			for _, a := range f.aliases {
				if name == a {
					field = f.field
				}
			}
		}
		if field == "" {
			label := strings.TrimSpace(h)
			if label == "" {
				label = "(column " + strconv.Itoa(i+1) + ", no name)"
			}
			res.IgnoredColumns = append(res.IgnoredColumns, label)
			continue
		}
		if prev, dup := byField[field]; dup {
			v.Add("file", fmt.Sprintf("columns %q and %q both hold %s; keep one", prev, strings.TrimSpace(h), field))
			continue
		}
		byField[field] = strings.TrimSpace(h)
		cols.col[i] = field
		res.Columns = append(res.Columns, ImportColumn{Header: strings.TrimSpace(h), Field: field})
		if field == "website_url" {
			cols.website = i
		}
	}
	if cols.website < 0 {
		if len(header) == 1 && strings.Contains(header[0], ";") {
			v.Add("file", "the header is one column holding semicolons: the file looks semicolon-separated (Excel in some languages); save it as CSV with commas")
		} else {
			v.Add("file", "the header has no website column; name one website_url (or url, website, site, domain)")
		}
	}
	return cols, v.Err()
}

func normalizeHeader(h string) string {
	h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\uFEFF")))
	h = strings.NewReplacer(" ", "_", "-", "_").Replace(h)
	for strings.Contains(h, "__") {
		h = strings.ReplaceAll(h, "__", "_")
	}
	return h
}

// newCSVReader reads f from its start, past a UTF-8 byte order mark.
func newCSVReader(f io.ReadSeeker) (*csv.Reader, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("import: rewind: %w", err)
	}
	br := bufio.NewReaderSize(f, 64<<10)
	if bom, err := br.Peek(3); err == nil && string(bom) == "\uFEFF" {
		_, _ = br.Discard(3)
	}
	r := csv.NewReader(&loneCRReader{r: br})
	r.FieldsPerRecord = -1 // a row with the wrong number of cells fails alone
	r.ReuseRecord = true
	return r, nil
}

// loneCRReader turns a carriage return not followed by a line feed into a
// line feed: files saved as "CSV (Macintosh)" end their lines with CR
// alone, which encoding/csv reads as one endless line (the whole file was
// one header, and nothing imported). CRLF passes unchanged.
type loneCRReader struct{ r *bufio.Reader }

func (l *loneCRReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for i := 0; i < n; {
		j := bytes.IndexByte(p[i:n], '\r')
		if j < 0 {
			break
		}
		i += j
		if i+1 < n {
			if p[i+1] != '\n' {
				p[i] = '\n'
			}
		} else if next, perr := l.r.Peek(1); perr != nil || next[0] != '\n' {
			p[i] = '\n'
		}
		i++
	}
	return n, err
}

// tooManyRows counts the file's data rows as the import will (blank rows
// aside, a record that does not parse counting as one), stopping past the
// limit: a file that is too long is refused before any row is validated or
// written.
func tooManyRows(f io.ReadSeeker) (bool, error) {
	r, err := newCSVReader(f)
	if err != nil {
		return false, err
	}
	rows := -1 // the header
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		var pe *csv.ParseError
		if err != nil && !errors.As(err, &pe) {
			return false, fmt.Errorf("import: count rows: %w", err)
		}
		if err == nil && rows >= 0 && blankRecord(rec) {
			continue
		}
		rows++
		if rows > MaxImportRows {
			return true, nil
		}
	}
}

// importCSV reads the spooled file and stores its rows.
func (s *Server) importCSV(ctx context.Context, camp models.Campaign, f io.ReadSeeker) (ImportResult, error) {
	res := ImportResult{
		Failed: []ImportRowNote{}, SkippedRows: []ImportRowNote{}, Suppressed: []ImportRowNote{},
		Columns: []ImportColumn{}, IgnoredColumns: []string{},
	}
	r, err := newCSVReader(f)
	if err != nil {
		return res, err
	}
	r.ReuseRecord = false // the header is kept
	cols, err := readHeader(r, &res)
	if err != nil {
		return res, err
	}
	if over, err := tooManyRows(f); err != nil || over {
		if err == nil {
			err = errTooManyRows
		}
		return res, err
	}
	if r, err = newCSVReader(f); err != nil {
		return res, err
	}
	if _, err := r.Read(); err != nil { // the header, read above
		return res, fmt.Errorf("import: reread header: %w", err)
	}
	b := newLeadBatch(camp, models.SourceCSV, s.now(), importBatch)
	b.unit = "line"
	var added []importedLead
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		flush := func() error {
			stored, err := b.flush(ctx, tx)
			if err != nil {
				return err
			}
			for i, ok := range stored {
				if ok && b.leads[i].ContactEmail != "" {
					l := b.leads[i]
					added = append(added, importedLead{id: l.ID, url: l.WebsiteURL, email: l.ContactEmail, line: b.index[i]})
				}
			}
			b.leads, b.index = b.leads[:0], b.index[:0]
			return nil
		}
		for {
			rec, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			var pe *csv.ParseError
			switch {
			case errors.As(err, &pe):
				res.Rows++
				b.fail(pe.StartLine, "", errors.New(csvErrorReason(pe)))
			case err != nil:
				return fmt.Errorf("import: read: %w", err)
			case blankRecord(rec):
				res.BlankRows++
				continue
			default:
				res.Rows++
				line, _ := r.FieldPos(0)
				importRow(b, cols, rec, line)
			}
			if res.Rows > MaxImportRows {
				return errTooManyRows
			}
			if len(b.leads) >= importBatch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return flush()
	})
	if err != nil {
		return res, err
	}
	res.Added, res.Skipped = b.res.Added, b.res.Skipped
	sortNotes(b.res.SkippedRows)
	res.Failed = rowNotes(b.res.Failed)
	res.SkippedRows = rowNotes(b.res.SkippedRows)
	res.Suppressed = rowNotes(s.importSuppressed(ctx, camp, added))
	s.leadsAdded(ctx, camp, res.Added)
	return res, nil
}

// importedLead is what the suppression check needs of a stored row.
type importedLead struct {
	id, url, email string
	line           int
}

// importSuppressed flags the imported leads whose address the owner's list
// covers, after the import committed (the flags are written outside its
// transaction, as for a bulk add).
func (s *Server) importSuppressed(ctx context.Context, camp models.Campaign, added []importedLead) []BulkRowNote {
	var out []BulkRowNote
	for start := 0; start < len(added); start += importBatch {
		chunk := added[start:min(start+importBatch, len(added))]
		b := &leadBatch{camp: camp, leads: make([]models.Lead, len(chunk)), index: make([]int, len(chunk))}
		stored := make([]bool, len(chunk))
		for i, a := range chunk {
			b.leads[i] = models.Lead{ID: a.id, CampaignID: camp.ID, UserID: camp.UserID, WebsiteURL: a.url, ContactEmail: a.email}
			b.index[i], stored[i] = a.line, true
		}
		s.reportSuppressed(ctx, b, stored)
		out = append(out, b.res.Suppressed...)
	}
	return out
}

// importRow turns one record into a lead input and adds it to the batch.
func importRow(b *leadBatch, cols csvColumns, rec []string, line int) {
	rawURL := ""
	if cols.website < len(rec) {
		rawURL = strings.TrimSpace(rec[cols.website])
	}
	if len(rec) != len(cols.col) {
		b.fail(line, rawURL, fmt.Errorf("has %d cells; the header has %d", len(rec), len(cols.col)))
		return
	}
	var in LeadInput
	v := &models.ValidationError{}
	score := func(field, cell string) *float64 {
		cell = strings.TrimSpace(cell)
		if cell == "" {
			return nil
		}
		f, err := strconv.ParseFloat(cell, 64)
		if err != nil {
			v.Add(field, "must be a number from 0 to 1 (got "+strconv.Quote(cell)+")")
			return nil
		}
		return &f
	}
	for i, field := range cols.col {
		cell := unneutralizeCell(rec[i])
		switch field {
		case "website_url":
			in.WebsiteURL = withScheme(cell)
		case "contact_email":
			in.ContactEmail = cell
		case "contact_name":
			in.ContactName = cell
		case "website_title":
			in.WebsiteTitle = cell
		case "quality_score":
			in.QualityScore = score(field, cell)
		case "relevance_score":
			in.RelevanceScore = score(field, cell)
		case "guest_post_likelihood":
			in.GuestPostLikelihood = score(field, cell)
		}
	}
	if len(v.Fields) > 0 {
		// Report every bad field of the row at once: the number cells that
		// did not parse and whatever ValidateLead finds in the rest.
		_, err := ValidateLead(in, models.SourceCSV)
		var ve *models.ValidationError
		if errors.As(err, &ve) {
			v.Fields = append(ve.Fields, v.Fields...)
		}
		b.fail(line, rawURL, v)
		return
	}
	b.add(line, in)
}

// withScheme reads a bare site (example.com, example.com/blog) as https;
// anything naming a scheme is left for validation to judge.
func withScheme(cell string) string {
	v := strings.TrimSpace(cell)
	host := v
	if i := strings.IndexAny(v, "/?#"); i >= 0 {
		host = v[:i]
	}
	if v == "" || strings.Contains(v, "://") || strings.Contains(host, ":") || strings.HasPrefix(v, "/") {
		return cell
	}
	return "https://" + v
}

func blankRecord(rec []string) bool {
	for _, c := range rec {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

func csvErrorReason(pe *csv.ParseError) string {
	if errors.Is(pe.Err, csv.ErrQuote) && pe.Line > pe.StartLine {
		return fmt.Sprintf("a quoted cell opened on line %d is never closed; lines %d to %d could not be read", pe.StartLine, pe.StartLine, pe.Line)
	}
	return fmt.Sprintf("not valid CSV (line %d, column %d): %v", pe.Line, pe.Column, pe.Err)
}

func rowNotes(in []BulkRowNote) []ImportRowNote {
	out := make([]ImportRowNote, len(in))
	for i, n := range in {
		out[i] = ImportRowNote{Line: n.Index, WebsiteURL: n.WebsiteURL, Reason: n.Reason, Fields: n.Fields}
	}
	return out
}

package api

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/models"
)

// Lead field limits.
const (
	maxWebsiteTitle = 500
	maxContactName  = 200
	// MaxBulkLeads is the most leads one bulk request may carry.
	MaxBulkLeads = 10_000
)

// LeadInput is one lead as a client sends it: the body of POST .../leads,
// one element of POST .../leads/bulk, one row of a CSV import.
type LeadInput struct {
	WebsiteURL          string   `json:"website_url" required:"true" doc:"absolute http(s) URL with a host; duplicates are detected on its normalised form"`
	WebsiteTitle        string   `json:"website_title,omitempty" doc:"at most 500 characters"`
	ContactEmail        string   `json:"contact_email,omitempty" doc:"a bare address; optional (discovery may not have found one yet)"`
	ContactName         string   `json:"contact_name,omitempty" doc:"at most 200 characters; fills {name}"`
	QualityScore        *float64 `json:"quality_score,omitempty" doc:"0 to 1"`
	RelevanceScore      *float64 `json:"relevance_score,omitempty" doc:"0 to 1"`
	GuestPostLikelihood *float64 `json:"guest_post_likelihood,omitempty" doc:"0 to 1"`
	Source              string   `json:"source,omitempty" doc:"manual, bulk, csv, discovery or api; defaults to manual for a single add and bulk for a bulk add"`
}

// leadRow is how a lead is decoded: LeadInput's fields plus those a client
// may expect to set but may not, so they get an explanation rather than a
// bare "unknown field". (Not an embedded LeadInput: decode errors would then
// name fields "LeadInput.quality_score".)
type leadRow struct {
	WebsiteURL          string          `json:"website_url"`
	WebsiteTitle        string          `json:"website_title"`
	ContactEmail        string          `json:"contact_email"`
	ContactName         string          `json:"contact_name"`
	QualityScore        *float64        `json:"quality_score"`
	RelevanceScore      *float64        `json:"relevance_score"`
	GuestPostLikelihood *float64        `json:"guest_post_likelihood"`
	Source              string          `json:"source"`
	Status              json.RawMessage `json:"status"`
	ID                  json.RawMessage `json:"id"`
}

func (r leadRow) input() LeadInput {
	return LeadInput{
		WebsiteURL: r.WebsiteURL, WebsiteTitle: r.WebsiteTitle, ContactEmail: r.ContactEmail, ContactName: r.ContactName,
		QualityScore: r.QualityScore, RelevanceScore: r.RelevanceScore, GuestPostLikelihood: r.GuestPostLikelihood,
		Source: r.Source,
	}
}

// validate checks a decoded row; see ValidateLead.
func (r leadRow) validate(defaultSource models.LeadSource) (models.Lead, error) {
	l, err := ValidateLead(r.input(), defaultSource)
	if !present(r.Status) && !present(r.ID) {
		return l, err
	}
	v := &models.ValidationError{}
	var ve *models.ValidationError
	if errors.As(err, &ve) {
		v.Fields = append(v.Fields, ve.Fields...)
	}
	if present(r.ID) {
		v.Add("id", "is assigned by the server")
	}
	if present(r.Status) {
		v.Add("status", "new leads start as discovered; change a status through the lead status endpoint")
	}
	return l, v
}

// ValidateLead checks one lead and returns the row to store, without its
// ids and times (see leadBatch.add): URL checked and normalised, e-mail
// validated and normalised, text trimmed and bounded, scores finite in 0..1,
// source known (defaultSource when empty). The error is a
// *models.ValidationError naming every bad field. It is the one lead
// validation of the engine: single add, bulk add and CSV import all use it.
func ValidateLead(in LeadInput, defaultSource models.LeadSource) (models.Lead, error) {
	return validateLead(in, defaultSource, true)
}

// validateLead is ValidateLead; without requireURL an empty website_url is
// left empty (a preview's inline lead needs no field).
func validateLead(in LeadInput, defaultSource models.LeadSource, requireURL bool) (models.Lead, error) {
	v := &models.ValidationError{}
	l := models.Lead{Status: models.StatusDiscovered, Source: defaultSource}
	switch {
	case strings.TrimSpace(in.WebsiteURL) == "":
		if requireURL {
			v.Add("website_url", "is required")
		}
	case !checkStorable(v, "website_url", in.WebsiteURL):
		// A CSV cell can hold bytes url.Parse lets through.
	default:
		if u, err := models.CheckWebsiteURL(in.WebsiteURL); err != nil {
			v.Add("website_url", strings.TrimPrefix(err.Error(), models.ErrInvalidURL.Error()+": "))
		} else if norm, err := models.NormalizeURL(u); err != nil {
			v.Add("website_url", strings.TrimPrefix(err.Error(), models.ErrInvalidURL.Error()+": "))
		} else if checkStorable(v, "website_url", norm) {
			l.WebsiteURL, l.NormalizedURL = u, norm
		}
	}
	l.WebsiteTitle = checkText(v, "website_title", in.WebsiteTitle, 0, maxWebsiteTitle)
	l.ContactName = checkText(v, "contact_name", in.ContactName, 0, maxContactName)
	if strings.TrimSpace(in.ContactEmail) != "" {
		addr, err := models.NormalizeEmail(in.ContactEmail)
		if err != nil {
			v.Add("contact_email", "is not a valid e-mail address (expected a bare address like editor@example.com)")
		} else {
			l.ContactEmail = addr
		}
	}
	checkScore(v, "quality_score", in.QualityScore)
	checkScore(v, "relevance_score", in.RelevanceScore)
	checkScore(v, "guest_post_likelihood", in.GuestPostLikelihood)
	l.QualityScore, l.RelevanceScore, l.GuestPostLikelihood = in.QualityScore, in.RelevanceScore, in.GuestPostLikelihood
	if src := strings.TrimSpace(in.Source); src != "" {
		if s := models.LeadSource(src); s.Valid() {
			l.Source = s
		} else {
			v.Add("source", "must be one of manual, bulk, csv, discovery, api")
		}
	}
	return l, v.Err()
}

// BulkAddResult answers a bulk add or an import. Every row sent is
// accounted for: added, skipped (with the row and why) or failed (with the
// row and why).
type BulkAddResult struct {
	Added       int           `json:"added"`
	Skipped     int           `json:"skipped"`
	Failed      []BulkRowNote `json:"failed"`
	SkippedRows []BulkRowNote `json:"skipped_rows" doc:"which rows were skipped: a duplicate within the request, or a site the campaign already has"`
	Suppressed  []BulkRowNote `json:"suppressed" doc:"rows added whose contact address (or its domain) is on your suppression list: kept, flagged suppressed, never e-mailed"`
}

// BulkRowNote names one row of a bulk request and what happened to it.
type BulkRowNote struct {
	Index      int                 `json:"index" doc:"0-based position in the request (or data row in a CSV file)"`
	WebsiteURL string              `json:"website_url"`
	Reason     string              `json:"reason"`
	Fields     []models.FieldError `json:"fields,omitempty" doc:"one entry per bad field"`
}

// leadBatch collects the rows of one request, validated and de-duplicated,
// until storeLeads writes them. A CSV import feeds it row by row too.
type leadBatch struct {
	camp   models.Campaign
	source models.LeadSource
	now    time.Time
	leads  []models.Lead
	index  []int // request index of each entry of leads
	seen   map[string]int
	res    BulkAddResult
	// unit names what an index counts in notes: "row" (a request's
	// 0-based position) when empty, "line" for a CSV file.
	unit string
}

func newLeadBatch(camp models.Campaign, source models.LeadSource, now time.Time, sizeHint int) *leadBatch {
	return &leadBatch{
		camp: camp, source: source, now: now.UTC(),
		leads: make([]models.Lead, 0, sizeHint), index: make([]int, 0, sizeHint),
		seen: make(map[string]int, sizeHint),
		res:  BulkAddResult{Failed: []BulkRowNote{}, SkippedRows: []BulkRowNote{}, Suppressed: []BulkRowNote{}},
	}
}

// add validates row index; invalid rows are recorded as failed, repeats of
// an earlier row as skipped.
func (b *leadBatch) add(index int, in LeadInput) {
	b.addRow(index, leadRow{
		WebsiteURL: in.WebsiteURL, WebsiteTitle: in.WebsiteTitle, ContactEmail: in.ContactEmail, ContactName: in.ContactName,
		QualityScore: in.QualityScore, RelevanceScore: in.RelevanceScore, GuestPostLikelihood: in.GuestPostLikelihood,
		Source: in.Source,
	})
}

func (b *leadBatch) addRow(index int, r leadRow) {
	l, err := r.validate(b.source)
	if err != nil {
		b.fail(index, r.WebsiteURL, err)
		return
	}
	if first, dup := b.seen[l.NormalizedURL]; dup {
		b.res.Skipped++
		b.res.SkippedRows = append(b.res.SkippedRows, BulkRowNote{
			Index: index, WebsiteURL: r.WebsiteURL, Reason: "same website as " + b.unitName() + " " + itoa(first) + " of this request",
		})
		return
	}
	b.seen[l.NormalizedURL] = index
	l.ID = models.NewID()
	l.CampaignID, l.UserID = b.camp.ID, b.camp.UserID
	l.CreatedAt, l.UpdatedAt, l.StatusChangedAt = b.now, b.now, b.now
	b.leads = append(b.leads, l)
	b.index = append(b.index, index)
}

// fail records a row that could not be used.
func (b *leadBatch) fail(index int, websiteURL string, err error) {
	note := BulkRowNote{Index: index, WebsiteURL: websiteURL, Reason: err.Error()}
	var ve *models.ValidationError
	if errors.As(err, &ve) {
		note.Fields = ve.Fields
		parts := make([]string, len(ve.Fields))
		for i, f := range ve.Fields {
			parts[i] = f.Error()
		}
		note.Reason = strings.Join(parts, "; ")
	}
	b.res.Failed = append(b.res.Failed, note)
}

func (b *leadBatch) unitName() string {
	if b.unit == "" {
		return "row"
	}
	return b.unit
}

// flush writes the rows collected so far through db (the server's pool, or
// the transaction of a CSV import, which flushes every few thousand rows)
// and accounts for each: added, or skipped because the campaign already
// has its site. It answers which rows of b.leads were stored.
func (b *leadBatch) flush(ctx context.Context, db *gorm.DB) ([]bool, error) {
	stored, err := store.InsertLeads(ctx, db, b.leads)
	if err != nil {
		return nil, err
	}
	for i, ok := range stored {
		if ok {
			b.res.Added++
			continue
		}
		b.res.Skipped++
		b.res.SkippedRows = append(b.res.SkippedRows, BulkRowNote{
			Index: b.index[i], WebsiteURL: b.leads[i].WebsiteURL, Reason: "the campaign already has this website",
		})
	}
	return stored, nil
}

// storeLeads writes the batch and wakes the campaign workflow. Rows whose
// site the campaign already has are skipped and reported.
func (s *Server) storeLeads(ctx context.Context, b *leadBatch) (BulkAddResult, error) {
	stored, err := b.flush(ctx, s.db)
	if err != nil {
		return BulkAddResult{}, err
	}
	sortNotes(b.res.SkippedRows)
	s.reportSuppressed(ctx, b, stored)
	s.leadsAdded(ctx, b.camp, b.res.Added)
	return b.res, nil
}

// leadsAdded wakes the campaign workflow. The leads are stored whatever the
// engine answers, so a failure is logged, not returned: answering an error
// would make the client retry an add that already happened.
func (s *Server) leadsAdded(ctx context.Context, camp models.Campaign, n int) {
	if s.deps.Engine == nil || n == 0 {
		return
	}
	if err := s.deps.Engine.LeadsAdded(ctx, camp, n); err != nil {
		s.log.ErrorContext(ctx, "leads stored but the campaign workflow was not told", "campaign_id", camp.ID, "leads", n, "error", err)
	}
}

// rawWebsiteURL digs the website_url out of a row that did not decode, so the
// failure can still name the row's site.
func rawWebsiteURL(raw json.RawMessage) string {
	var probe struct {
		WebsiteURL any `json:"website_url"`
	}
	if json.Unmarshal(raw, &probe) != nil {
		return ""
	}
	s, _ := probe.WebsiteURL.(string)
	return s
}

package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/models"
)

// leadInsertBatch rows go into one INSERT statement: 16 parameters a row
// keeps a batch under both PostgreSQL's 65,535 and SQLite's 32,766
// parameter limits.
const leadInsertBatch = 1000

// sqliteLeadInsertBatch is the batch on SQLite, much smaller: the driver
// (glebarez/go-sqlite) binds each parameter by scanning the argument list,
// so a statement costs the square of its parameters. 16,000 parameters
// made a 100,000-row import spend 10 s in binding alone; 800 cost nothing
// noticeable, and SQLite statements are cheap to run.
const sqliteLeadInsertBatch = 50

// leadInsertColumns are the columns a new lead is written with; the rest
// keep their defaults (not suppressed, no workflow yet, not dispatched).
var leadInsertColumns = []string{
	"id", "campaign_id", "user_id", "website_url", "normalized_url", "website_title",
	"contact_email", "contact_name", "quality_score", "relevance_score", "guest_post_likelihood",
	"source", "status", "created_at", "updated_at", "status_changed_at",
}

func leadInsertArgs(l *models.Lead, args []any) []any {
	return append(args,
		l.ID, l.CampaignID, l.UserID, l.WebsiteURL, l.NormalizedURL, l.WebsiteTitle,
		l.ContactEmail, l.ContactName, l.QualityScore, l.RelevanceScore, l.GuestPostLikelihood,
		string(l.Source), string(l.Status), l.CreatedAt.UTC(), l.UpdatedAt.UTC(), l.StatusChangedAt.UTC(),
	)
}

// InsertLeads stores leads (all of one campaign, with distinct normalised
// URLs) in batches inside one transaction, skipping any whose normalised URL
// the campaign already has: ON CONFLICT DO NOTHING, so concurrent adds of the
// same site never fail and exactly one of them stores it. It returns which
// leads were stored, by index into leads.
func InsertLeads(ctx context.Context, db *gorm.DB, leads []models.Lead) ([]bool, error) {
	stored := make([]bool, len(leads))
	if len(leads) == 0 {
		return stored, nil
	}
	// Which rows went in is read back by normalised URL, unique within the
	// campaign and within leads (the caller removed in-batch duplicates).
	index := make(map[string]int, len(leads))
	for i := range leads {
		index[leads[i].NormalizedURL] = i
	}
	pg := DialectOf(db) == Postgres
	batch := leadInsertBatch
	if !pg {
		batch = sqliteLeadInsertBatch
	}
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// Concurrent adds to one campaign take turns on PostgreSQL. Each
		// waits for the other's uncommitted rows of the same site (ON
		// CONFLICT must know whether they commit) and for the campaign's
		// lead counters its trigger updates: two adds of overlapping sites
		// in different orders, or in several statements, deadlocked.
		// SQLite already runs one writer at a time.
		if pg {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(hashtext(?))", "leads:"+leads[0].CampaignID).Error; err != nil {
				return fmt.Errorf("insert leads: %w", err)
			}
		}
		for start := 0; start < len(leads); start += batch {
			end := min(start+batch, len(leads))
			query, args := leadInsertSQL(leads[start:end], pg)
			rows, err := tx.Statement.ConnPool.QueryContext(ctx, query, args...)
			if err != nil {
				return fmt.Errorf("insert leads: %w", err)
			}
			if err := markInserted(rows, index, stored); err != nil {
				return fmt.Errorf("insert leads: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return stored, nil
}

// leadInsertSQL builds one multi-row INSERT. It goes to the connection
// directly rather than through gorm, whose expression builder would walk
// 16,000 placeholders per batch for nothing.
func leadInsertSQL(leads []models.Lead, pg bool) (string, []any) {
	var b strings.Builder
	cols := len(leadInsertColumns)
	b.Grow(64 + len(leads)*cols*5)
	b.WriteString("INSERT INTO leads (")
	b.WriteString(strings.Join(leadInsertColumns, ", "))
	b.WriteString(") VALUES ")
	args := make([]any, 0, len(leads)*cols)
	n := 0
	for i := range leads {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for j := range cols {
			if j > 0 {
				b.WriteByte(',')
			}
			n++
			if pg {
				b.WriteByte('$')
				b.WriteString(strconv.Itoa(n))
			} else {
				b.WriteByte('?')
			}
		}
		b.WriteByte(')')
		args = leadInsertArgs(&leads[i], args)
	}
	b.WriteString(" ON CONFLICT (campaign_id, normalized_url) DO NOTHING RETURNING normalized_url")
	return b.String(), args
}

// InsertLead stores one lead, or answers models.ErrDuplicateLead when the
// campaign already has its normalised URL.
func InsertLead(ctx context.Context, db *gorm.DB, l models.Lead) error {
	stored, err := InsertLeads(ctx, db, []models.Lead{l})
	if err != nil {
		return err
	}
	if !stored[0] {
		return models.ErrDuplicateLead
	}
	return nil
}

// LeadInCampaign loads a lead of the campaign. A lead of another campaign
// (and so of another user), a malformed id and a missing lead all answer
// models.ErrLeadNotFound.
func LeadInCampaign(ctx context.Context, db *gorm.DB, campaignID, leadID string) (models.Lead, error) {
	q := db.WithContext(ctx).Where("campaign_id = ?", campaignID)
	return takeByID[models.Lead](q, leadID, models.ErrLeadNotFound, "lead")
}

// LeadSort orders a lead list.
type LeadSort string

// Lead sort orders. Creation order is id order (ids are UUIDv7). By quality,
// a lead without a score counts as lower than any score.
const (
	LeadsOldestFirst  LeadSort = "created_at"
	LeadsNewestFirst  LeadSort = "-created_at"
	LeadsQualityAsc   LeadSort = "quality_score"
	LeadsQualityDesc  LeadSort = "-quality_score"
	qualitySortColumn          = "COALESCE(quality_score, -1)"
)

// LeadSorts lists the accepted sort orders.
var LeadSorts = []LeadSort{LeadsOldestFirst, LeadsNewestFirst, LeadsQualityAsc, LeadsQualityDesc}

func (s LeadSort) desc() bool    { return strings.HasPrefix(string(s), "-") }
func (s LeadSort) quality() bool { return s == LeadsQualityAsc || s == LeadsQualityDesc }

// LeadCursor is where a page of leads stops: the last lead's sort key (the
// quality sort key, for quality orders) and id.
type LeadCursor struct {
	Quality float64
	ID      string
}

// LeadFilter selects one page of a campaign's leads.
type LeadFilter struct {
	CampaignID string
	// Statuses keeps leads in any of them; empty keeps all.
	Statuses []models.LeadStatus
	// MinQuality keeps leads whose quality_score is at least this.
	MinQuality *float64
	// Text keeps leads whose URL, title, e-mail or contact name contains it,
	// ignoring case.
	Text  string
	Sort  LeadSort
	After *LeadCursor
	Limit int
}

// ListLeads returns one page of leads and the cursor of the next page (nil on
// the last page), by keyset pagination: the cost of a page does not grow
// with how deep it is.
func ListLeads(ctx context.Context, db *gorm.DB, f LeadFilter) ([]models.Lead, *LeadCursor, error) {
	q := db.WithContext(ctx).Where("campaign_id = ?", f.CampaignID)
	if len(f.Statuses) > 0 {
		names := make([]string, len(f.Statuses))
		for i, st := range f.Statuses {
			names[i] = string(st)
		}
		q = q.Where("status IN ?", names)
	}
	if f.MinQuality != nil {
		q = q.Where("quality_score >= ?", *f.MinQuality)
	}
	if t := strings.TrimSpace(f.Text); t != "" {
		like := "%" + escapeLike(strings.ToLower(t)) + "%"
		q = q.Where(`(LOWER(website_url) LIKE ? ESCAPE '\' OR LOWER(website_title) LIKE ? ESCAPE '\' OR `+
			`LOWER(contact_email) LIKE ? ESCAPE '\' OR LOWER(contact_name) LIKE ? ESCAPE '\')`, like, like, like, like)
	}
	sort := f.Sort
	if sort == "" {
		sort = LeadsOldestFirst
	}
	cmp, dir := ">", "ASC"
	if sort.desc() {
		cmp, dir = "<", "DESC"
	}
	if f.After != nil {
		if sort.quality() {
			// A row-value comparison, which both databases turn into a range
			// on the (campaign_id, quality key, id) index; the equivalent OR
			// would scan from the start of the order to the cursor.
			q = q.Where("("+qualitySortColumn+", id) "+cmp+" (?, ?)", f.After.Quality, f.After.ID)
		} else {
			q = q.Where("id "+cmp+" ?", f.After.ID)
		}
	}
	if sort.quality() {
		q = q.Order(qualitySortColumn + " " + dir)
	}
	q = q.Order("id " + dir)
	var out []models.Lead
	if err := q.Limit(f.Limit + 1).Find(&out).Error; err != nil {
		return nil, nil, fmt.Errorf("list leads: %w", err)
	}
	if len(out) <= f.Limit {
		return out, nil, nil
	}
	out = out[:f.Limit]
	last := out[len(out)-1]
	next := &LeadCursor{ID: last.ID, Quality: -1}
	if last.QualityScore != nil {
		next.Quality = *last.QualityScore
	}
	return out, next, nil
}

// escapeLike makes s match literally inside a LIKE pattern with ESCAPE '\'.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// LeadHistory is everything that happened to a lead: the e-mails sent to it,
// the replies matched to it, and its timeline.
type LeadHistory struct {
	Attempts []models.Attempt
	Replies  []models.Reply
	Events   []models.LeadEvent
}

// LeadHistoryOf reads a lead's attempts (by step), replies (by arrival) and
// timeline events (by time).
func LeadHistoryOf(ctx context.Context, db *gorm.DB, l models.Lead) (LeadHistory, error) {
	var h LeadHistory
	q := db.WithContext(ctx)
	if err := q.Where("lead_id = ?", l.ID).Order("step, id").Find(&h.Attempts).Error; err != nil {
		return h, fmt.Errorf("lead attempts: %w", err)
	}
	if err := q.Where("lead_id = ?", l.ID).Order("received_at, id").Find(&h.Replies).Error; err != nil {
		return h, fmt.Errorf("lead replies: %w", err)
	}
	if err := q.Where("lead_id = ?", l.ID).Order("at, id").Find(&h.Events).Error; err != nil {
		return h, fmt.Errorf("lead timeline: %w", err)
	}
	return h, nil
}

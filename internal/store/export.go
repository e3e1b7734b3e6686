package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Exports stream a campaign's rows from a database cursor, one row at a
// time, into a callback that reuses one row value: memory stays flat however
// large the campaign. Scanning is done by hand rather than through gorm's
// reflection, which costs more per row than the query itself at 100,000
// rows. On SQLite (WAL) the cursor's snapshot does not block writers.

// ExportLead is one row of the leads export.
type ExportLead struct {
	ID, WebsiteURL, NormalizedURL, WebsiteTitle   string
	ContactEmail, ContactName, Source, Status     string
	QualityScore, RelevanceScore, GuestPostChance sql.NullFloat64
	Suppressed                                    bool
	DispatchedAt                                  sql.NullTime
	CreatedAt, UpdatedAt, StatusChangedAt         time.Time
}

// ExportLeads streams the campaign's leads in creation order.
func ExportLeads(ctx context.Context, db *gorm.DB, campaignID string, emit func(*ExportLead) error) error {
	var r ExportLead
	return exportRows(ctx, db, "leads",
		`SELECT id, website_url, normalized_url, website_title, contact_email, contact_name,
			quality_score, relevance_score, guest_post_likelihood, source, status, suppressed,
			dispatched_at, created_at, updated_at, status_changed_at
		FROM leads WHERE campaign_id = ? ORDER BY id`, []any{campaignID},
		func(rows *sql.Rows) error {
			if err := rows.Scan(&r.ID, &r.WebsiteURL, &r.NormalizedURL, &r.WebsiteTitle, &r.ContactEmail, &r.ContactName,
				&r.QualityScore, &r.RelevanceScore, &r.GuestPostChance, &r.Source, &r.Status, &r.Suppressed,
				&r.DispatchedAt, &r.CreatedAt, &r.UpdatedAt, &r.StatusChangedAt); err != nil {
				return err
			}
			return emit(&r)
		})
}

// ExportAttempt is one row of the send ledger export.
type ExportAttempt struct {
	ID, LeadID, WebsiteURL          string
	Step                            int
	State, Recipient, Subject, Body string
	MessageID, LegalBasis, Error    string
	CreatedAt                       time.Time
	SendingAt, SentAt               sql.NullTime
}

// ExportAttempts streams the campaign's send ledger in creation order, each
// row with its lead's website.
func ExportAttempts(ctx context.Context, db *gorm.DB, campaignID string, emit func(*ExportAttempt) error) error {
	var r ExportAttempt
	return exportRows(ctx, db, "attempts",
		`SELECT a.id, a.lead_id, l.website_url, a.step, a.state, a.recipient, a.subject, a.body,
			a.message_id, a.legal_basis, a.error, a.created_at, a.sending_at, a.sent_at
		FROM attempts a JOIN leads l ON l.id = a.lead_id
		WHERE a.campaign_id = ? ORDER BY a.id`, []any{campaignID},
		func(rows *sql.Rows) error {
			if err := rows.Scan(&r.ID, &r.LeadID, &r.WebsiteURL, &r.Step, &r.State, &r.Recipient, &r.Subject, &r.Body,
				&r.MessageID, &r.LegalBasis, &r.Error, &r.CreatedAt, &r.SendingAt, &r.SentAt); err != nil {
				return err
			}
			return emit(&r)
		})
}

// ExportReply is one row of the replies export.
type ExportReply struct {
	ID                                   string
	LeadID, WebsiteURL, AttemptID        sql.NullString
	FromAddress, Subject, Classification string
	BounceKind, BounceCode, BodyText     string
	OOOUntil                             sql.NullTime
	ReceivedAt                           time.Time
}

// ExportReplies streams the replies matched to the campaign in order of
// arrival.
func ExportReplies(ctx context.Context, db *gorm.DB, campaignID string, emit func(*ExportReply) error) error {
	var r ExportReply
	return exportRows(ctx, db, "replies",
		`SELECT r.id, r.lead_id, l.website_url, r.attempt_id, r.from_address, r.subject, r.classification,
			r.bounce_kind, r.bounce_code, r.body_text, r.ooo_until, r.received_at
		FROM replies r LEFT JOIN leads l ON l.id = r.lead_id
		WHERE r.campaign_id = ? ORDER BY r.received_at, r.id`, []any{campaignID},
		func(rows *sql.Rows) error {
			if err := rows.Scan(&r.ID, &r.LeadID, &r.WebsiteURL, &r.AttemptID, &r.FromAddress, &r.Subject, &r.Classification,
				&r.BounceKind, &r.BounceCode, &r.BodyText, &r.OOOUntil, &r.ReceivedAt); err != nil {
				return err
			}
			return emit(&r)
		})
}

// exportRows runs query and hands each row to each until the rows end or
// each fails; a failure of each (the client went away) stops the query.
func exportRows(ctx context.Context, db *gorm.DB, what, query string, args []any, each func(*sql.Rows) error) error {
	if err := queryEach(ctx, db, rebind(DialectOf(db) == Postgres, query), args, each); err != nil {
		return fmt.Errorf("export %s: %w", what, err)
	}
	return nil
}

package store

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/models"
)

// AuditFilter selects a page of the user's send decisions.
type AuditFilter struct {
	UserID     string
	CampaignID string
	// Result is approved, blocked or deferred.
	Result string
	// After is the last id of the previous page.
	After string
	Limit int
}

// ListAudit pages through the user's audit log, newest first (ids are
// time-ordered), answering the next cursor, empty on the last page.
func ListAudit(ctx context.Context, db *gorm.DB, f AuditFilter) ([]models.AuditEntry, string, error) {
	q := db.WithContext(ctx).Where("user_id = ?", f.UserID)
	if f.CampaignID != "" {
		q = q.Where("campaign_id = ?", f.CampaignID)
	}
	if f.Result != "" {
		q = q.Where("result = ?", f.Result)
	}
	if f.After != "" {
		q = q.Where("id < ?", f.After)
	}
	var out []models.AuditEntry
	if err := q.Order("id DESC").Limit(f.Limit + 1).Find(&out).Error; err != nil {
		return nil, "", fmt.Errorf("list audit entries: %w", err)
	}
	next := ""
	if len(out) > f.Limit {
		out = out[:f.Limit]
		next = out[len(out)-1].ID
	}
	return out, next, nil
}

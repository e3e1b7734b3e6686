package store

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/models"
)

// Queries of the dev mailbox routes (`outreach dev`): a lead named by id
// alone, and the e-mails a reply to it would answer.

// LeadForUser loads one of the user's leads by id, whatever its campaign. A
// missing lead, another user's, a malformed id and a lead of a campaign
// being deleted all answer models.ErrLeadNotFound.
func LeadForUser(ctx context.Context, db *gorm.DB, userID, leadID string) (models.Lead, error) {
	q := db.WithContext(ctx).Where("user_id = ?", userID).
		Where("campaign_id IN (?)", db.Model(&models.Campaign{}).Select("id").Where("state <> ?", models.CampaignDeleting))
	return takeByID[models.Lead](q, leadID, models.ErrLeadNotFound, "lead")
}

// DeliveredAttempts answers the lead's e-mails that may have reached it
// (sent, or unknown: the server may have taken it), in sequence order.
func DeliveredAttempts(ctx context.Context, db *gorm.DB, leadID string) ([]models.Attempt, error) {
	var out []models.Attempt
	err := db.WithContext(ctx).
		Where("lead_id = ? AND state IN ?", leadID, []models.AttemptState{models.AttemptSent, models.AttemptUnknown}).
		Order("step").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("lead attempts: %w", err)
	}
	return out, nil
}

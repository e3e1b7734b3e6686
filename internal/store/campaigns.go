package store

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/models"
)

// CampaignForUser loads a campaign the user owns. A missing campaign, another
// user's campaign, a malformed id and one being deleted all answer
// models.ErrCampaignNotFound.
func CampaignForUser(ctx context.Context, db *gorm.DB, userID, campaignID string) (models.Campaign, error) {
	var c models.Campaign
	if !models.ValidID(campaignID) {
		return c, models.ErrCampaignNotFound
	}
	err := db.WithContext(ctx).
		Where("id = ? AND user_id = ? AND state <> ?", campaignID, userID, models.CampaignDeleting).
		Take(&c).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return c, models.ErrCampaignNotFound
	}
	if err != nil {
		return c, fmt.Errorf("load campaign: %w", err)
	}
	return c, nil
}

package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/backlinkoutreach/outreach/models"
)

// CampaignForUser loads a campaign the user owns. A missing campaign, another
// user's campaign, a malformed id and one being deleted all answer
// models.ErrCampaignNotFound.
func CampaignForUser(ctx context.Context, db *gorm.DB, userID, campaignID string) (models.Campaign, error) {
	q := db.WithContext(ctx).Where("user_id = ? AND state <> ?", userID, models.CampaignDeleting)
	return takeByID[models.Campaign](q, campaignID, models.ErrCampaignNotFound, "campaign")
}

// CreateCampaign inserts c; the caller fills every field.
func CreateCampaign(ctx context.Context, db *gorm.DB, c *models.Campaign) error {
	if err := db.WithContext(ctx).Create(c).Error; err != nil {
		return fmt.Errorf("create campaign: %w", err)
	}
	return nil
}

// CampaignCursor is where a page of the campaign list stops: the list is
// ordered by (created_at, id) descending, newest first.
type CampaignCursor struct {
	CreatedAt time.Time
	ID        string
}

// CampaignFilter selects one page of a user's campaigns.
type CampaignFilter struct {
	UserID string
	// State keeps only campaigns in that state; empty means every state
	// except archived, unless IncludeArchived.
	State           models.CampaignState
	IncludeArchived bool
	After           *CampaignCursor
	Limit           int
}

// ListCampaigns returns a page of the user's campaigns, newest first, and
// the cursor of the next page (nil on the last page). Campaigns being deleted
// are never listed.
func ListCampaigns(ctx context.Context, db *gorm.DB, f CampaignFilter) ([]models.Campaign, *CampaignCursor, error) {
	q := db.WithContext(ctx).Where("user_id = ? AND state <> ?", f.UserID, models.CampaignDeleting)
	switch {
	case f.State != "":
		q = q.Where("state = ?", f.State)
	case !f.IncludeArchived:
		q = q.Where("state <> ?", models.CampaignArchived)
	}
	if f.After != nil {
		at := f.After.CreatedAt.UTC()
		q = q.Where("(created_at < ? OR (created_at = ? AND id < ?))", at, at, f.After.ID)
	}
	var out []models.Campaign
	if err := q.Order("created_at DESC, id DESC").Limit(f.Limit + 1).Find(&out).Error; err != nil {
		return nil, nil, fmt.Errorf("list campaigns: %w", err)
	}
	if len(out) <= f.Limit {
		return out, nil, nil
	}
	out = out[:f.Limit]
	last := out[len(out)-1]
	return out, &CampaignCursor{CreatedAt: last.CreatedAt, ID: last.ID}, nil
}

// LeadCounts are a campaign's leads per status; every status is present.
type LeadCounts map[models.LeadStatus]int64

// Total is the number of leads.
func (lc LeadCounts) Total() int64 {
	var n int64
	for _, v := range lc {
		n += v
	}
	return n
}

func emptyCounts() LeadCounts {
	lc := make(LeadCounts, len(models.LeadStatuses))
	for _, s := range models.LeadStatuses {
		lc[s] = 0
	}
	return lc
}

// CampaignLeadCounts reads the per-status counts of the given campaigns from
// lead_counts, which database triggers keep exact (migration 00004): no
// request ever counts leads row by row.
func CampaignLeadCounts(ctx context.Context, db *gorm.DB, campaignIDs []string) (map[string]LeadCounts, error) {
	out := make(map[string]LeadCounts, len(campaignIDs))
	for _, id := range campaignIDs {
		out[id] = emptyCounts()
	}
	if len(campaignIDs) == 0 {
		return out, nil
	}
	var rows []struct {
		CampaignID string
		Status     models.LeadStatus
		N          int64
	}
	err := db.WithContext(ctx).Table("lead_counts").Select("campaign_id, status, n").
		Where("campaign_id IN ?", campaignIDs).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("lead counts: %w", err)
	}
	for _, r := range rows {
		if lc, ok := out[r.CampaignID]; ok && r.N != 0 {
			lc[r.Status] = r.N
		}
	}
	return out, nil
}

// UpdateCampaign applies change to the user's campaign inside a transaction
// that holds the row, so two concurrent patches cannot lose each other's
// settings. change edits c (it may read other rows through tx) and returns
// the columns it changed; only those are written, so a state change made by
// the engine meanwhile is never overwritten with a stale value.
func UpdateCampaign(ctx context.Context, db *gorm.DB, userID, campaignID string,
	change func(tx *gorm.DB, c *models.Campaign) ([]string, error),
) (models.Campaign, error) {
	var out models.Campaign
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		c, err := lockCampaign(tx, userID, campaignID)
		if err != nil {
			return err
		}
		cols, err := change(tx, &c)
		if err != nil {
			return err
		}
		if len(cols) > 0 {
			c.UpdatedAt = time.Now().UTC()
			cols = append(cols, "updated_at")
			if err := tx.Model(&models.Campaign{}).Where("id = ?", c.ID).Select(cols).Updates(&c).Error; err != nil {
				return fmt.Errorf("update campaign: %w", err)
			}
			// As stored (gorm may set its own time, the database rounds
			// it): callers compare it to tell whether the row changed since.
			if err := tx.Model(&models.Campaign{}).Where("id = ?", c.ID).Select("updated_at").Take(&c.UpdatedAt).Error; err != nil {
				return fmt.Errorf("read campaign: %w", err)
			}
		}
		out = c
		return nil
	})
	return out, err
}

// lockCampaign reads the campaign FOR NO KEY UPDATE on PostgreSQL (SQLite
// transactions are IMMEDIATE, which serialises writers anyway). NO KEY
// UPDATE does not conflict with the KEY SHARE lock that inserting a lead
// takes on its campaign, so a patch never waits for a bulk add.
func lockCampaign(tx *gorm.DB, userID, campaignID string) (models.Campaign, error) {
	q := tx.Clauses(clause.Locking{Strength: "NO KEY UPDATE"}).
		Where("user_id = ? AND state <> ?", userID, models.CampaignDeleting)
	return takeByID[models.Campaign](q, campaignID, models.ErrCampaignNotFound, "campaign")
}

// ArchiveCampaign archives the campaign and remembers its state for
// unarchive. Archiving an archived campaign changes nothing.
func ArchiveCampaign(ctx context.Context, db *gorm.DB, userID, campaignID string, now time.Time) (models.Campaign, error) {
	return UpdateCampaign(ctx, db, userID, campaignID, func(_ *gorm.DB, c *models.Campaign) ([]string, error) {
		if c.State == models.CampaignArchived {
			return nil, nil
		}
		at := now.UTC()
		c.StateBeforeArchive = c.State
		c.State = models.CampaignArchived
		c.ArchivedAt = &at
		return []string{"state", "state_before_archive", "archived_at"}, nil
	})
}

// UnarchiveCampaign restores the state the campaign had before it was
// archived, except that an active campaign comes back paused: sending never
// resumes by surprise, the user resumes it on purpose. Unarchiving a
// campaign that is not archived changes nothing.
func UnarchiveCampaign(ctx context.Context, db *gorm.DB, userID, campaignID string) (models.Campaign, error) {
	return UpdateCampaign(ctx, db, userID, campaignID, func(_ *gorm.DB, c *models.Campaign) ([]string, error) {
		if c.State != models.CampaignArchived {
			return nil, nil
		}
		switch c.StateBeforeArchive {
		case models.CampaignActive:
			c.State = models.CampaignPaused
		case models.CampaignDraft, models.CampaignPaused:
			c.State = c.StateBeforeArchive
		default:
			c.State = models.CampaignDraft
		}
		c.StateBeforeArchive = ""
		c.ArchivedAt = nil
		return []string{"state", "state_before_archive", "archived_at"}, nil
	})
}

// MarkCampaignDeleting hides the campaign from every read and makes sends
// refuse it while its workflows are stopped. It returns the state to restore
// if stopping them fails.
func MarkCampaignDeleting(ctx context.Context, db *gorm.DB, userID, campaignID string) (models.CampaignState, error) {
	var prev models.CampaignState
	_, err := UpdateCampaign(ctx, db, userID, campaignID, func(_ *gorm.DB, c *models.Campaign) ([]string, error) {
		prev = c.State
		c.State = models.CampaignDeleting
		return []string{"state"}, nil
	})
	return prev, err
}

// DeleteCampaign removes the campaign row; foreign keys cascade to its
// leads, attempts, replies, timeline and counters in the same transaction.
func DeleteCampaign(ctx context.Context, db *gorm.DB, campaignID string) error {
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return tx.Where("id = ?", campaignID).Delete(&models.Campaign{}).Error
	})
	if err != nil {
		return fmt.Errorf("delete campaign: %w", err)
	}
	return nil
}

// StuckDeletions answers campaigns marked deleting before before, oldest
// first, at most limit: deletions a crash (or a failed engine call nobody
// retried) left unfinished. Marking a campaign deleting is the last write
// its row gets, so updated_at is when that happened.
func StuckDeletions(ctx context.Context, db *gorm.DB, before time.Time, limit int) ([]models.Campaign, error) {
	var out []models.Campaign
	err := db.WithContext(ctx).Where("state = ? AND updated_at < ?", models.CampaignDeleting, before.UTC()).
		Order("updated_at, id").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("stuck deletions: %w", err)
	}
	return out, nil
}

// FinishCampaignDelete removes the campaign row, as DeleteCampaign does,
// only while the campaign is deleting: a delete whose engine call failed
// restores the previous state, and a campaign restored meanwhile must
// survive a concurrent finisher. It answers whether the row was removed.
func FinishCampaignDelete(ctx context.Context, db *gorm.DB, campaignID string) (bool, error) {
	var n int64
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Where("id = ? AND state = ?", campaignID, models.CampaignDeleting).Delete(&models.Campaign{})
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return false, fmt.Errorf("delete campaign: %w", err)
	}
	return n == 1, nil
}

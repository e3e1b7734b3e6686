package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// LeadSignal is a signal owed to a lead workflow that no reply carries (a
// one-click unsubscribe that met an outage), kept until it is delivered.
type LeadSignal struct {
	ID         string `gorm:"primaryKey"`
	CampaignID string
	LeadID     string
	Tag        string
	Tries      int
	LastError  string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// TableName names the table.
func (LeadSignal) TableName() string { return "lead_signals" }

// SignalID is the id the signal goes to the workflow under, the same at
// every try (the workflow applies an id once).
func (s LeadSignal) SignalID() string { return s.Tag + "-" + s.ID }

// QueueLeadSignal records that s (its id, campaign, lead and tag) must
// still be delivered. A lead that no longer exists (its campaign deleted)
// has nothing to be told: ok is false and nothing is written.
func QueueLeadSignal(ctx context.Context, db *gorm.DB, s LeadSignal, now time.Time) (ok bool, err error) {
	s.CreatedAt, s.UpdatedAt = now.UTC(), now.UTC()
	err = db.WithContext(ctx).Create(&s).Error
	if errors.Is(err, gorm.ErrForeignKeyViolated) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("queue lead signal: %w", err)
	}
	return true, nil
}

// PendingLeadSignals lists up to limit queued signals, oldest first.
func PendingLeadSignals(ctx context.Context, db *gorm.DB, limit int) ([]LeadSignal, error) {
	var out []LeadSignal
	if err := db.WithContext(ctx).Order("created_at, id").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("pending lead signals: %w", err)
	}
	return out, nil
}

// FinishLeadSignal removes a signal that was delivered (or found no
// workflow to deliver to), or records a failed try (lastErr set).
func FinishLeadSignal(ctx context.Context, db *gorm.DB, s LeadSignal, lastErr string, now time.Time) error {
	q := db.WithContext(ctx)
	var err error
	if lastErr == "" {
		err = q.Delete(&LeadSignal{}, "id = ?", s.ID).Error
	} else {
		err = q.Model(&LeadSignal{}).Where("id = ?", s.ID).
			Updates(map[string]any{"tries": gorm.Expr("tries + 1"), "last_error": truncate(lastErr, 500), "updated_at": now.UTC()}).Error
	}
	if err != nil {
		return fmt.Errorf("finish lead signal: %w", err)
	}
	return nil
}

package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/backlinkoutreach/outreach/models"
)

// Reply effect states (table reply_effects).
const (
	EffectPending    = "pending"
	EffectDelivered  = "delivered"
	EffectNoWorkflow = "no_workflow"
)

// ReplyEffect is the signal a matched reply owes its lead workflow. It is
// written with the reply and delivered afterwards, so a Temporal outage
// delays the effect but never loses it.
type ReplyEffect struct {
	ReplyID      string `gorm:"primaryKey"`
	State        string
	Reclassified bool
	Tries        int
	LastError    string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// TableName names the table.
func (ReplyEffect) TableName() string { return "reply_effects" }

// NewReply is a reply to store with what storing it implies.
type NewReply struct {
	Reply models.Reply
	// Suppress, when set, is the address added to the reply's user's
	// suppression list in the same transaction (not_interested,
	// unsubscribe, hard bounce), so the address is never mailed again even
	// if the lead workflow is gone.
	Suppress       string
	SuppressSource string
	SuppressReason string
	// Effect records that the lead workflow must be signalled.
	Effect bool
}

// StoreReplies inserts the replies in one transaction. A reply whose dedupe
// key is already stored is skipped with its suppression and effect: the
// first copy already carried them. It answers, per input, whether it was
// new.
func StoreReplies(ctx context.Context, db *gorm.DB, in []NewReply, now time.Time) ([]bool, error) {
	now = now.UTC()
	fresh := make([]bool, len(in))
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for i := range in {
			r := in[i].Reply
			if r.ID == "" {
				r.ID = models.NewID()
			}
			r.CreatedAt, r.UpdatedAt = now, now
			r.ReceivedAt = r.ReceivedAt.UTC()
			res := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "dedupe_key"}}, DoNothing: true}).Create(&r)
			if res.Error != nil {
				return fmt.Errorf("insert reply: %w", res.Error)
			}
			if res.RowsAffected == 0 {
				continue
			}
			fresh[i] = true
			in[i].Reply = r
			if in[i].Suppress != "" && r.UserID != nil {
				if err := suppressTx(tx, *r.UserID, in[i].Suppress, in[i].SuppressSource, in[i].SuppressReason, now); err != nil {
					return err
				}
			}
			if in[i].Effect {
				if err := tx.Create(&ReplyEffect{ReplyID: r.ID, State: EffectPending, CreatedAt: now, UpdatedAt: now}).Error; err != nil {
					return fmt.Errorf("record reply effect: %w", err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store replies: %w", err)
	}
	return fresh, nil
}

// ReplyByDedupeKey finds a stored reply by its dedupe key.
func ReplyByDedupeKey(ctx context.Context, db *gorm.DB, key string) (models.Reply, bool, error) {
	var r models.Reply
	err := db.WithContext(ctx).Where("dedupe_key = ?", key).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("find reply: %w", err)
	}
	return r, true, nil
}

// matchableStates are the ledger states of a message that may have reached
// its recipient, and so may be answered or bounced.
var matchableStates = []models.AttemptState{models.AttemptSent, models.AttemptUnknown, models.AttemptSending, models.AttemptFailed}

// AttemptByMessageIDs finds the attempt a reply refers to. ids are in order
// of preference (In-Reply-To first, then References from the newest); the
// first id that names an attempt wins. userID, when set, limits the search
// to that user's attempts (the inbound webhook).
func AttemptByMessageIDs(ctx context.Context, db *gorm.DB, userID string, ids []string) (models.Attempt, bool, error) {
	var a models.Attempt
	if len(ids) == 0 {
		return a, false, nil
	}
	if len(ids) > 100 {
		ids = ids[:100]
	}
	q := db.WithContext(ctx).Where("message_id IN ? AND state IN ?", ids, matchableStates)
	if userID != "" {
		q = q.Where("user_id = ?", userID)
	}
	var found []models.Attempt
	if err := q.Find(&found).Error; err != nil {
		return a, false, fmt.Errorf("match reply by message id: %w", err)
	}
	for _, id := range ids {
		for _, f := range found {
			if f.MessageID == id {
				return f, true, nil
			}
		}
	}
	return a, false, nil
}

// LatestAttemptTo finds the most recent attempt sent to addr (compared
// case-insensitively), limited to userID's when set.
func LatestAttemptTo(ctx context.Context, db *gorm.DB, userID, addr string) (models.Attempt, bool, error) {
	var a models.Attempt
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return a, false, nil
	}
	variants := []string{addr}
	if l := strings.ToLower(addr); l != addr {
		variants = append(variants, l)
	}
	q := db.WithContext(ctx).Where("recipient IN ? AND state IN ?", variants, matchableStates)
	if userID != "" {
		q = q.Where("user_id = ?", userID)
	}
	err := q.Order("created_at DESC, id DESC").Take(&a).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return a, false, nil
	}
	if err != nil {
		return a, false, fmt.Errorf("match reply by sender: %w", err)
	}
	return a, true, nil
}

// ReplyForUser loads a reply matched to one of the user's leads. A reply of
// another user, an unmatched one and a malformed id answer
// models.ErrReplyNotFound.
func ReplyForUser(ctx context.Context, db *gorm.DB, userID, replyID string) (models.Reply, error) {
	var r models.Reply
	if !models.ValidID(replyID) {
		return r, models.ErrReplyNotFound
	}
	err := db.WithContext(ctx).Where("id = ? AND user_id = ? AND lead_id IS NOT NULL", replyID, userID).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return r, models.ErrReplyNotFound
	}
	if err != nil {
		return r, fmt.Errorf("load reply: %w", err)
	}
	return r, nil
}

// ReplyFilter selects a page of a campaign's replies.
type ReplyFilter struct {
	CampaignID     string
	Classification string
	LeadID         string
	// After is the last id of the previous page (ids are time-ordered).
	After string
	Limit int
}

// ListReplies pages through a campaign's replies, newest first. It answers
// the cursor of the next page, empty on the last.
func ListReplies(ctx context.Context, db *gorm.DB, f ReplyFilter) ([]models.Reply, string, error) {
	q := db.WithContext(ctx).Where("campaign_id = ?", f.CampaignID)
	if f.Classification != "" {
		q = q.Where("classification = ?", f.Classification)
	}
	if f.LeadID != "" {
		q = q.Where("lead_id = ?", f.LeadID)
	}
	if f.After != "" {
		q = q.Where("id < ?", f.After)
	}
	var out []models.Reply
	if err := q.Order("id DESC").Limit(f.Limit + 1).Find(&out).Error; err != nil {
		return nil, "", fmt.Errorf("list replies: %w", err)
	}
	next := ""
	if len(out) > f.Limit {
		out = out[:f.Limit]
		next = out[len(out)-1].ID
	}
	return out, next, nil
}

// Reclassification is a user's correction of a reply's tag.
type Reclassification struct {
	Tag        string
	BounceKind string
	OOOUntil   *time.Time
	// Suppress and its source are written when the new tag suppresses.
	Suppress       string
	SuppressSource string
}

// Reclassify changes a reply's tag, writes the suppression the new tag
// implies, and sets its effect back to pending (marked reclassified) in one
// transaction. It answers the updated reply.
func Reclassify(ctx context.Context, db *gorm.DB, r models.Reply, rc Reclassification, now time.Time) (models.Reply, error) {
	now = now.UTC()
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var until any
		if rc.OOOUntil != nil {
			until = rc.OOOUntil.UTC()
		}
		err := tx.Model(&models.Reply{}).Where("id = ?", r.ID).Updates(map[string]any{
			"classification": rc.Tag, "bounce_kind": rc.BounceKind, "ooo_until": until, "updated_at": now,
		}).Error
		if err != nil {
			return fmt.Errorf("update reply: %w", err)
		}
		if rc.Suppress != "" && r.UserID != nil {
			if err := suppressTx(tx, *r.UserID, rc.Suppress, rc.SuppressSource, "reply reclassified as "+rc.Tag, now); err != nil {
				return err
			}
		}
		return tx.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "reply_id"}},
			DoUpdates: clause.Assignments(map[string]any{"state": EffectPending, "reclassified": true, "tries": 0, "last_error": "", "updated_at": now}),
		}).Create(&ReplyEffect{ReplyID: r.ID, State: EffectPending, Reclassified: true, CreatedAt: now, UpdatedAt: now}).Error
	})
	if err != nil {
		return r, fmt.Errorf("reclassify reply: %w", err)
	}
	if err := db.WithContext(ctx).Take(&r, "id = ?", r.ID).Error; err != nil {
		return r, fmt.Errorf("reload reply: %w", err)
	}
	return r, nil
}

// PendingEffect is a reply whose signal has not landed yet.
type PendingEffect struct {
	Reply  models.Reply
	Effect ReplyEffect
}

// PendingEffects lists up to limit undelivered effects, oldest first;
// replyIDs, when given, limits the list to those replies.
func PendingEffects(ctx context.Context, db *gorm.DB, limit int, replyIDs ...string) ([]PendingEffect, error) {
	q := db.WithContext(ctx).Where("state = ?", EffectPending)
	if len(replyIDs) > 0 {
		q = q.Where("reply_id IN ?", replyIDs)
	}
	var effects []ReplyEffect
	if err := q.Order("updated_at, reply_id").Limit(limit).Find(&effects).Error; err != nil {
		return nil, fmt.Errorf("pending reply effects: %w", err)
	}
	if len(effects) == 0 {
		return nil, nil
	}
	ids := make([]string, len(effects))
	for i, e := range effects {
		ids[i] = e.ReplyID
	}
	var replies []models.Reply
	if err := db.WithContext(ctx).Where("id IN ?", ids).Find(&replies).Error; err != nil {
		return nil, fmt.Errorf("pending reply effects: %w", err)
	}
	byID := make(map[string]models.Reply, len(replies))
	for _, r := range replies {
		byID[r.ID] = r
	}
	out := make([]PendingEffect, 0, len(effects))
	for _, e := range effects {
		if r, ok := byID[e.ReplyID]; ok {
			out = append(out, PendingEffect{Reply: r, Effect: e})
		}
	}
	return out, nil
}

// FinishEffect records the outcome of delivering an effect: delivered,
// no_workflow, or (with state pending) a failed try to be retried. A
// reclassification that happened meanwhile is not overwritten: only the
// effect as it was read (its updated_at) is finished.
func FinishEffect(ctx context.Context, db *gorm.DB, e ReplyEffect, state, lastErr string, now time.Time) error {
	updates := map[string]any{"state": state, "last_error": truncate(lastErr, 500), "tries": gorm.Expr("tries + 1"), "updated_at": now.UTC()}
	err := db.WithContext(ctx).Model(&ReplyEffect{}).
		Where("reply_id = ? AND state = ? AND updated_at = ?", e.ReplyID, EffectPending, e.UpdatedAt).
		Updates(updates).Error
	if err != nil {
		return fmt.Errorf("finish reply effect: %w", err)
	}
	return nil
}

// EffectOf reads a reply's effect row.
func EffectOf(ctx context.Context, db *gorm.DB, replyID string) (ReplyEffect, bool, error) {
	var e ReplyEffect
	err := db.WithContext(ctx).Where("reply_id = ?", replyID).Take(&e).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return e, false, nil
	}
	if err != nil {
		return e, false, fmt.Errorf("reply effect: %w", err)
	}
	return e, true, nil
}

// EffectsOf answers the effect state of each of the replies that has one.
func EffectsOf(ctx context.Context, db *gorm.DB, replyIDs []string) (map[string]string, error) {
	out := make(map[string]string, len(replyIDs))
	if len(replyIDs) == 0 {
		return out, nil
	}
	var rows []ReplyEffect
	if err := db.WithContext(ctx).Select("reply_id", "state").Where("reply_id IN ?", replyIDs).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("reply effects: %w", err)
	}
	for _, e := range rows {
		out[e.ReplyID] = e.State
	}
	return out, nil
}

// IMAPCheckpoint is where polling of one mailbox stopped.
type IMAPCheckpoint struct {
	Mailbox     string `gorm:"primaryKey"`
	UIDValidity uint32 `gorm:"column:uid_validity"`
	LastUID     uint32 `gorm:"column:last_uid"`
	UpdatedAt   time.Time
}

// TableName names the table.
func (IMAPCheckpoint) TableName() string { return "imap_checkpoints" }

// Checkpoint reads a mailbox's checkpoint; ok is false for a mailbox never
// polled.
func Checkpoint(ctx context.Context, db *gorm.DB, mailbox string) (IMAPCheckpoint, bool, error) {
	var c IMAPCheckpoint
	err := db.WithContext(ctx).Where("mailbox = ?", mailbox).Take(&c).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return c, false, nil
	}
	if err != nil {
		return c, false, fmt.Errorf("read imap checkpoint: %w", err)
	}
	return c, true, nil
}

// SaveCheckpoint records that every message of mailbox up to lastUID (under
// uidValidity) is stored. Under the same UIDVALIDITY it only moves forward,
// so two polls racing cannot move it back and refetch.
func SaveCheckpoint(ctx context.Context, db *gorm.DB, mailbox string, uidValidity, lastUID uint32, now time.Time) error {
	now = now.UTC()
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&IMAPCheckpoint{}).Where("mailbox = ? AND uid_validity = ? AND last_uid < ?", mailbox, uidValidity, lastUID).
			Updates(map[string]any{"last_uid": lastUID, "updated_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected > 0 {
			return nil
		}
		var cur IMAPCheckpoint
		err := tx.Where("mailbox = ?", mailbox).Take(&cur).Error
		switch {
		case errors.Is(err, gorm.ErrRecordNotFound):
			return tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&IMAPCheckpoint{
				Mailbox: mailbox, UIDValidity: uidValidity, LastUID: lastUID, UpdatedAt: now,
			}).Error
		case err != nil:
			return err
		case cur.UIDValidity != uidValidity:
			// The mailbox was rebuilt: its old UIDs mean nothing now.
			return tx.Model(&IMAPCheckpoint{}).Where("mailbox = ?", mailbox).
				Updates(map[string]any{"uid_validity": uidValidity, "last_uid": lastUID, "updated_at": now}).Error
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save imap checkpoint: %w", err)
	}
	return nil
}

// EarliestAttempt is when the first e-mail of any user was created; ok is
// false when nothing was ever sent. A mailbox polled for the first time is
// read from the day before it, since nothing older can be a reply.
func EarliestAttempt(ctx context.Context, db *gorm.DB) (time.Time, bool, error) {
	var a models.Attempt
	err := db.WithContext(ctx).Order("created_at").Take(&a).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("earliest attempt: %w", err)
	}
	return a.CreatedAt, true, nil
}

package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
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

// replyColumns are the columns a new reply is written with.
var replyColumns = []string{
	"id", "user_id", "campaign_id", "lead_id", "attempt_id", "dedupe_key", "message_id", "in_reply_to",
	"from_address", "to_address", "subject", "body_text", "classification", "bounce_kind", "bounce_code",
	"ooo_until", "parsed", "parse_error", "source", "mailbox", "received_at", "created_at", "updated_at",
}

// replyInsertBatch keeps one INSERT under SQLite's parameter limit.
const replyInsertBatch = 500

// StoreReplies inserts the replies in one transaction, with multi-row
// INSERTs. A reply whose dedupe key is already stored is skipped with its
// suppression and effect: the first copy already carried them. It answers,
// per input, whether it was new. The caller gives distinct dedupe keys.
// also runs in the same transaction (the poller saves its checkpoint
// there, so replies and the mark of having read them commit together).
func StoreReplies(ctx context.Context, db *gorm.DB, in []NewReply, now time.Time, also ...func(tx *gorm.DB) error) ([]bool, error) {
	now = now.UTC()
	fresh := make([]bool, len(in))
	for i := range in {
		r := &in[i].Reply
		if r.ID == "" {
			r.ID = models.NewID()
		}
		r.CreatedAt, r.UpdatedAt, r.ReceivedAt = now, now, r.ReceivedAt.UTC()
	}
	pg := DialectOf(db) == Postgres
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		index := make(map[string]int, len(in))
		for i := range in {
			index[in[i].Reply.ID] = i
		}
		for start := 0; start < len(in); start += replyInsertBatch {
			end := min(start+replyInsertBatch, len(in))
			query, args := replyInsertSQL(in[start:end], pg)
			rows, err := tx.Statement.ConnPool.QueryContext(ctx, query, args...)
			if err != nil {
				return fmt.Errorf("insert replies: %w", err)
			}
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					_ = rows.Close()
					return fmt.Errorf("insert replies: %w", err)
				}
				if i, ok := index[id]; ok {
					fresh[i] = true
				}
			}
			if err := rows.Close(); err != nil {
				return fmt.Errorf("insert replies: %w", err)
			}
			if err := rows.Err(); err != nil {
				return fmt.Errorf("insert replies: %w", err)
			}
		}
		var effects []ReplyEffect
		sup := map[string][]suppressEntry{}
		for i := range in {
			if !fresh[i] {
				continue
			}
			r := in[i].Reply
			if in[i].Suppress != "" && r.UserID != nil {
				sup[*r.UserID] = append(sup[*r.UserID], suppressEntry{value: in[i].Suppress, source: in[i].SuppressSource, reason: in[i].SuppressReason})
			}
			if in[i].Effect {
				effects = append(effects, ReplyEffect{ReplyID: r.ID, State: EffectPending, CreatedAt: now, UpdatedAt: now})
			}
		}
		for userID, entries := range sup {
			if err := suppressManyTx(tx, userID, entries, now); err != nil {
				return err
			}
		}
		for start := 0; start < len(effects); start += replyInsertBatch {
			end := min(start+replyInsertBatch, len(effects))
			query, args := effectInsertSQL(effects[start:end], pg)
			if _, err := tx.Statement.ConnPool.ExecContext(ctx, query, args...); err != nil {
				return fmt.Errorf("record reply effects: %w", err)
			}
		}
		for _, fn := range also {
			if err := fn(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store replies: %w", err)
	}
	return fresh, nil
}

func replyInsertSQL(in []NewReply, pg bool) (string, []any) {
	var b strings.Builder
	cols := len(replyColumns)
	b.WriteString("INSERT INTO replies (")
	b.WriteString(strings.Join(replyColumns, ", "))
	b.WriteString(") VALUES ")
	args := make([]any, 0, len(in)*cols)
	n := 0
	for i := range in {
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
				b.WriteString("$" + strconv.Itoa(n))
			} else {
				b.WriteByte('?')
			}
		}
		b.WriteByte(')')
		r := &in[i].Reply
		var until any
		if r.OOOUntil != nil {
			until = r.OOOUntil.UTC()
		}
		args = append(args, r.ID, r.UserID, r.CampaignID, r.LeadID, r.AttemptID, r.DedupeKey, r.MessageID, r.InReplyTo,
			r.FromAddress, r.ToAddress, r.Subject, r.BodyText, r.Classification, r.BounceKind, r.BounceCode,
			until, r.Parsed, r.ParseError, r.Source, r.Mailbox, r.ReceivedAt, r.CreatedAt, r.UpdatedAt)
	}
	b.WriteString(" ON CONFLICT (dedupe_key) DO NOTHING RETURNING id")
	return b.String(), args
}

func effectInsertSQL(effects []ReplyEffect, pg bool) (string, []any) {
	var b strings.Builder
	b.WriteString("INSERT INTO reply_effects (reply_id, state, reclassified, tries, last_error, created_at, updated_at) VALUES ")
	args := make([]any, 0, len(effects)*7)
	for i, e := range effects {
		if i > 0 {
			b.WriteByte(',')
		}
		if pg {
			n := i * 7
			fmt.Fprintf(&b, "($%d,$%d,$%d,$%d,$%d,$%d,$%d)", n+1, n+2, n+3, n+4, n+5, n+6, n+7)
		} else {
			b.WriteString("(?,?,?,?,?,?,?)")
		}
		args = append(args, e.ReplyID, e.State, e.Reclassified, e.Tries, e.LastError, e.CreatedAt, e.UpdatedAt)
	}
	return b.String(), args
}

type suppressEntry struct{ value, source, reason string }

// suppressManyTx adds addresses to a user's list (idempotent: an address
// already listed keeps its first entry) and flags the user's leads with
// them, in a few statements whatever the number.
func suppressManyTx(tx *gorm.DB, userID string, entries []suppressEntry, now time.Time) error {
	seen := map[string]bool{}
	var rows []models.Suppression
	var values []string
	for _, e := range entries {
		v := strings.ToLower(strings.TrimSpace(e.value))
		if v == "" || seen[v] {
			continue
		}
		seen[v] = true
		values = append(values, v)
		rows = append(rows, models.Suppression{ID: models.NewID(), UserID: userID, Value: v, Reason: e.reason, Source: e.source, CreatedAt: now})
	}
	if len(rows) == 0 {
		return nil
	}
	if err := tx.Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(&rows, 500).Error; err != nil {
		return fmt.Errorf("suppress addresses: %w", err)
	}
	if err := tx.Exec("UPDATE leads SET suppressed = ?, updated_at = ? WHERE user_id = ? AND suppressed = ? AND lower(contact_email) IN ?",
		true, now, userID, false, values).Error; err != nil {
		return fmt.Errorf("flag suppressed leads: %w", err)
	}
	return nil
}

// ExistingReplies answers the stored replies among the dedupe keys (their
// identity and match, not their text).
func ExistingReplies(ctx context.Context, db *gorm.DB, keys []string) (map[string]models.Reply, error) {
	out := make(map[string]models.Reply, len(keys))
	for len(keys) > 0 {
		n := min(len(keys), 500)
		rows, err := db.WithContext(ctx).Model(&models.Reply{}).
			Select("id", "dedupe_key", "user_id", "campaign_id", "lead_id", "attempt_id", "message_id", "classification", "parsed").
			Where("dedupe_key IN ?", keys[:n]).Rows()
		if err != nil {
			return nil, fmt.Errorf("find stored replies: %w", err)
		}
		for rows.Next() {
			var r models.Reply
			if err := rows.Scan(&r.ID, &r.DedupeKey, &r.UserID, &r.CampaignID, &r.LeadID, &r.AttemptID, &r.MessageID,
				&r.Classification, &r.Parsed); err != nil {
				_ = rows.Close()
				return nil, fmt.Errorf("find stored replies: %w", err)
			}
			out[r.DedupeKey] = r
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("find stored replies: %w", err)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("find stored replies: %w", err)
		}
		keys = keys[n:]
	}
	return out, nil
}

// matchableStates are the ledger states of a message that may have reached
// its recipient, and so may be answered or bounced.
var matchableStates = []models.AttemptState{models.AttemptSent, models.AttemptUnknown, models.AttemptSending, models.AttemptFailed}

// matchColumns are what matching needs of an attempt (not its body).
var matchColumns = []string{"id", "user_id", "campaign_id", "lead_id", "step", "state", "message_id", "recipient", "created_at"}

// AttemptsByMessageIDs answers the attempts whose Message-ID is among ids,
// keyed by Message-ID; userID, when set, limits them to that user's (the
// inbound webhook).
func AttemptsByMessageIDs(ctx context.Context, db *gorm.DB, userID string, ids []string) (map[string]models.Attempt, error) {
	out := make(map[string]models.Attempt, len(ids))
	for len(ids) > 0 {
		n := min(len(ids), 500)
		q := db.WithContext(ctx).Model(&models.Attempt{}).Select(matchColumns).Where("message_id IN ? AND state IN ?", ids[:n], matchableStates)
		if userID != "" {
			q = q.Where("user_id = ?", userID)
		}
		if err := scanAttempts(q, func(a models.Attempt) { out[a.MessageID] = a }); err != nil {
			return nil, fmt.Errorf("match replies by message id: %w", err)
		}
		ids = ids[n:]
	}
	return out, nil
}

// scanAttempts reads matchColumns rows without gorm's reflection: matching
// runs for every page of every poll.
func scanAttempts(q *gorm.DB, fn func(models.Attempt)) error {
	rows, err := q.Rows()
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var a models.Attempt
		if err := rows.Scan(&a.ID, &a.UserID, &a.CampaignID, &a.LeadID, &a.Step, &a.State, &a.MessageID, &a.Recipient, &a.CreatedAt); err != nil {
			return err
		}
		fn(a)
	}
	return rows.Err()
}

// LatestAttemptsTo answers, for each address (compared case-insensitively,
// keyed lower-cased), the most recent attempt sent to it; userID, when set,
// limits them to that user's.
func LatestAttemptsTo(ctx context.Context, db *gorm.DB, userID string, addrs []string) (map[string]models.Attempt, error) {
	out := map[string]models.Attempt{}
	var variants []string
	seen := map[string]bool{}
	for _, a := range addrs {
		a = strings.TrimSpace(a)
		for _, v := range []string{a, strings.ToLower(a)} {
			if v != "" && !seen[v] {
				seen[v] = true
				variants = append(variants, v)
			}
		}
	}
	for len(variants) > 0 {
		n := min(len(variants), 500)
		q := db.WithContext(ctx).Model(&models.Attempt{}).Select(matchColumns).Where("recipient IN ? AND state IN ?", variants[:n], matchableStates)
		if userID != "" {
			q = q.Where("user_id = ?", userID)
		}
		err := scanAttempts(q, func(a models.Attempt) {
			k := strings.ToLower(a.Recipient)
			if cur, ok := out[k]; !ok || a.CreatedAt.After(cur.CreatedAt) || (a.CreatedAt.Equal(cur.CreatedAt) && a.ID > cur.ID) {
				out[k] = a
			}
		})
		if err != nil {
			return nil, fmt.Errorf("match replies by sender: %w", err)
		}
		variants = variants[n:]
	}
	return out, nil
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
	return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return SaveCheckpointTx(tx, mailbox, uidValidity, lastUID, now)
	})
}

// SaveCheckpointTx is SaveCheckpoint inside the caller's transaction.
func SaveCheckpointTx(tx *gorm.DB, mailbox string, uidValidity, lastUID uint32, now time.Time) error {
	now = now.UTC()
	res := tx.Model(&IMAPCheckpoint{}).Where("mailbox = ? AND uid_validity = ? AND last_uid < ?", mailbox, uidValidity, lastUID).
		Updates(map[string]any{"last_uid": lastUID, "updated_at": now})
	if res.Error != nil {
		return fmt.Errorf("save imap checkpoint: %w", res.Error)
	}
	if res.RowsAffected > 0 {
		return nil
	}
	var cur IMAPCheckpoint
	err := tx.Where("mailbox = ?", mailbox).Take(&cur).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		err = tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&IMAPCheckpoint{
			Mailbox: mailbox, UIDValidity: uidValidity, LastUID: lastUID, UpdatedAt: now,
		}).Error
	case err != nil:
	case cur.UIDValidity != uidValidity:
		// The mailbox was rebuilt: its old UIDs mean nothing now.
		err = tx.Model(&IMAPCheckpoint{}).Where("mailbox = ?", mailbox).
			Updates(map[string]any{"uid_validity": uidValidity, "last_uid": lastUID, "updated_at": now}).Error
	}
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

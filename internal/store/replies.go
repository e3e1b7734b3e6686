package store

import (
	"context"
	"database/sql"
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

// replyInsertBatch bounds the rows of one SQLite INSERT (their JSON is one
// parameter).
const replyInsertBatch = 500

// StoreReplies inserts the replies in one transaction. A reply whose dedupe
// key is already stored is skipped with its suppression and effect: the
// first copy already carried them. It answers, per input, whether it was
// new. The caller gives distinct dedupe keys. also runs in the same
// transaction (the poller saves its checkpoint there, so replies and the
// mark of having read them commit together).
//
// Replies and effects are written with one statement whatever their number
// (on SQLite one per 500 replies), suppressions with two per user: the rows
// go as arrays on PostgreSQL and as JSON on SQLite (see insertRepliesPG and
// insertRepliesSQLite).
func StoreReplies(ctx context.Context, db *gorm.DB, in []NewReply, now time.Time, also ...func(tx *gorm.DB) error) ([]bool, error) {
	now = now.UTC()
	fresh := make([]bool, len(in))
	index := make(map[string]int, len(in))
	for i := range in {
		r := &in[i].Reply
		if r.ID == "" {
			r.ID = models.NewID()
		}
		r.CreatedAt, r.UpdatedAt, r.ReceivedAt = now, now, r.ReceivedAt.UTC()
		index[r.ID] = i
	}
	pg := DialectOf(db) == Postgres
	insert := insertRepliesSQLite
	if pg {
		insert = insertRepliesPG
	}
	err := inWriteTx(ctx, db, func(tx *gorm.DB) error {
		conn := tx.Statement.ConnPool
		if err := insert(ctx, conn, in, index, fresh); err != nil {
			return fmt.Errorf("insert replies: %w", err)
		}
		var effects []string
		sup := map[string][]suppressEntry{}
		var users []string
		for i := range in {
			if !fresh[i] {
				continue
			}
			r := in[i].Reply
			if in[i].Suppress != "" && r.UserID != nil {
				if _, ok := sup[*r.UserID]; !ok {
					users = append(users, *r.UserID)
				}
				sup[*r.UserID] = append(sup[*r.UserID], suppressEntry{value: in[i].Suppress, source: in[i].SuppressSource, reason: in[i].SuppressReason, replyID: r.ID})
			}
			if in[i].Effect {
				effects = append(effects, r.ID)
			}
		}
		for _, userID := range users {
			if err := suppressManyTx(ctx, tx, userID, sup[userID], now); err != nil {
				return err
			}
		}
		if err := insertPendingEffects(ctx, conn, pg, effects, now); err != nil {
			return fmt.Errorf("record reply effects: %w", err)
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

// inWriteTx runs fn in a transaction. On SQLite the connection first gets
// its statement journals in memory: a multi-row INSERT inside a
// transaction keeps the pages it changes in one, so that a failing row can
// be undone alone, and past 64 KB (a few replies' worth) SQLite spills it
// to a temporary file, written and read back page by page.
func inWriteTx(ctx context.Context, db *gorm.DB, fn func(tx *gorm.DB) error) error {
	db = db.WithContext(ctx)
	if _, pooled := db.Statement.ConnPool.(*sql.DB); !pooled || DialectOf(db) == Postgres {
		return db.Transaction(fn)
	}
	return db.Connection(func(conn *gorm.DB) error {
		if err := conn.Exec("PRAGMA temp_store = MEMORY").Error; err != nil {
			return fmt.Errorf("sqlite temp store: %w", err)
		}
		return conn.Transaction(fn)
	})
}

// insertRepliesPG inserts the replies with one statement whose parameters
// are one array per column, unnested into rows: the same text whatever the
// number of rows, so PostgreSQL parses and plans it once per connection (a
// VALUES list of 50 rows has 1,150 parameters and was planned afresh for
// every size of page).
func insertRepliesPG(ctx context.Context, conn gorm.ConnPool, in []NewReply, index map[string]int, fresh []bool) error {
	if len(in) == 0 {
		return nil
	}
	n := len(in)
	var (
		ids, dedupe, messageIDs, inReplyTo, from, to, subjects, bodies, classes = make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		kinds, codes, parseErrs, sources, mailboxes = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		users, campaigns, leads, attempts           = make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n)
		until                                       = make([]*time.Time, n)
		parsed                                      = make([]bool, n)
		received, created, updated                  = make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
	)
	for i := range in {
		r := &in[i].Reply
		ids[i], users[i], campaigns[i], leads[i], attempts[i] = r.ID, r.UserID, r.CampaignID, r.LeadID, r.AttemptID
		dedupe[i], messageIDs[i], inReplyTo[i], from[i], to[i] = r.DedupeKey, r.MessageID, r.InReplyTo, r.FromAddress, r.ToAddress
		subjects[i], bodies[i], classes[i], kinds[i], codes[i] = r.Subject, r.BodyText, r.Classification, r.BounceKind, r.BounceCode
		if r.OOOUntil != nil {
			u := r.OOOUntil.UTC()
			until[i] = &u
		}
		parsed[i], parseErrs[i], sources[i], mailboxes[i] = r.Parsed, r.ParseError, r.Source, r.Mailbox
		received[i], created[i], updated[i] = r.ReceivedAt, r.CreatedAt, r.UpdatedAt
	}
	rows, err := conn.QueryContext(ctx, "INSERT INTO replies ("+strings.Join(replyColumns, ", ")+`) SELECT * FROM unnest(
		$1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
		$11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::timestamptz[], $17::boolean[], $18::text[], $19::text[],
		$20::text[], $21::timestamptz[], $22::timestamptz[], $23::timestamptz[]) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`,
		ids, users, campaigns, leads, attempts, dedupe, messageIDs, inReplyTo, from, to, subjects, bodies, classes, kinds, codes,
		until, parsed, parseErrs, sources, mailboxes, received, created, updated)
	if err != nil {
		return err
	}
	return markInserted(rows, index, fresh)
}

// insertRepliesSQLite inserts the replies with one statement per 500 rows
// whose only parameter is the rows as a JSONB array of arrays (jsonb.go),
// expanded by jsonb_each: the statement is parsed once, SQLite keeps one
// statement journal for it, and the driver binds one parameter. The driver
// binds a statement's parameters in quadratic time (a 50-row VALUES list
// has 1,150 of them), and one statement per row needs a statement journal,
// a temporary file, per row.
func insertRepliesSQLite(ctx context.Context, conn gorm.ConnPool, in []NewReply, index map[string]int, fresh []bool) error {
	var sel strings.Builder
	for i := range replyColumns {
		if i > 0 {
			sel.WriteString(", ")
		}
		sel.WriteString("value->>" + strconv.Itoa(i))
	}
	query := "INSERT INTO replies (" + strings.Join(replyColumns, ", ") + ") SELECT " + sel.String() +
		" FROM jsonb_each(?) WHERE true ON CONFLICT (dedupe_key) DO NOTHING RETURNING id"
	var row []byte
	for start := 0; start < len(in); start += replyInsertBatch {
		end := min(start+replyInsertBatch, len(in))
		// One buffer, sized for the rows: the array's header (up to 9
		// bytes) goes in front once their size is known.
		size := jsonbMaxHeader
		for i := start; i < end; i++ {
			r := &in[i].Reply
			size += 400 + len(r.BodyText) + len(r.Subject) + len(r.ParseError) + len(r.DedupeKey) + len(r.MessageID) + len(r.InReplyTo)
		}
		buf := make([]byte, jsonbMaxHeader, size)
		for i := start; i < end; i++ {
			row = appendReplyJSONB(row[:0], &in[i].Reply)
			buf = appendJSONBArray(buf, row)
		}
		res, err := conn.QueryContext(ctx, query, prependJSONBArrayHeader(buf))
		if err != nil {
			return err
		}
		if err := markInserted(res, index, fresh); err != nil {
			return err
		}
	}
	return nil
}

// appendReplyJSONB appends the elements of r's replyColumns, each value as
// the SQLite driver would bind it: strings as text, booleans as 1/0, times
// in its format, nil pointers as null.
func appendReplyJSONB(b []byte, r *models.Reply) []byte {
	b = appendJSONBText(b, r.ID)
	for _, p := range []*string{r.UserID, r.CampaignID, r.LeadID, r.AttemptID} {
		b = appendJSONBTextPtr(b, p)
	}
	for _, s := range []string{
		r.DedupeKey, r.MessageID, r.InReplyTo, r.FromAddress, r.ToAddress, r.Subject, r.BodyText,
		r.Classification, r.BounceKind, r.BounceCode,
	} {
		b = appendJSONBText(b, s)
	}
	if r.OOOUntil == nil {
		b = append(b, jsonbNull)
	} else {
		b = appendJSONBTime(b, r.OOOUntil.UTC())
	}
	b = appendJSONBBool(b, r.Parsed)
	for _, s := range []string{r.ParseError, r.Source, r.Mailbox} {
		b = appendJSONBText(b, s)
	}
	b = appendJSONBTime(b, r.ReceivedAt)
	b = appendJSONBTime(b, r.CreatedAt)
	return appendJSONBTime(b, r.UpdatedAt)
}

// sqliteTime is how the SQLite driver writes a time.Time (and reads it
// back): what a time sent inside JSON must look like.
const sqliteTime = "2006-01-02 15:04:05.999999999-07:00"

// insertPendingEffects records a pending effect for each reply.
func insertPendingEffects(ctx context.Context, conn gorm.ConnPool, pg bool, replyIDs []string, now time.Time) error {
	if len(replyIDs) == 0 {
		return nil
	}
	const insert = "INSERT INTO reply_effects (reply_id, state, reclassified, tries, last_error, created_at, updated_at) "
	var err error
	if pg {
		_, err = conn.ExecContext(ctx, insert+"SELECT id, $2, false, 0, '', $3, $3 FROM unnest($1::text[]) AS id", replyIDs, EffectPending, now)
	} else {
		// The ids as one JSONB parameter (see insertRepliesSQLite).
		_, err = conn.ExecContext(ctx, insert+"SELECT value, ?, 0, 0, '', ?, ? FROM jsonb_each(?)", EffectPending, now, now, jsonbStrings(replyIDs))
	}
	return err
}

// suppressEntry is one address to suppress; replyID names the reply whose
// tag asks for it.
type suppressEntry struct{ value, source, reason, replyID string }

// suppressManyTx adds addresses to a user's list (idempotent: an address
// already listed keeps its first entry) and flags the user's leads with
// them, in a few statements whatever the number.
func suppressManyTx(ctx context.Context, tx *gorm.DB, userID string, entries []suppressEntry, now time.Time) error {
	seen := map[string]bool{}
	var values []string
	var rows []suppressEntry
	for _, e := range entries {
		v := strings.ToLower(strings.TrimSpace(e.value))
		if v == "" || seen[v] {
			continue
		}
		seen[v] = true
		values = append(values, v)
		e.value = v
		rows = append(rows, e)
	}
	if len(rows) == 0 {
		return nil
	}
	const insert = "INSERT INTO suppressions (id, user_id, value, reason, source, reply_id, created_at) "
	const onConflict = " ON CONFLICT (user_id, value) DO NOTHING"
	conn := tx.Statement.ConnPool
	pg := DialectOf(tx) == Postgres
	var err error
	if pg {
		ids, reasons, sources, replies := make([]string, len(rows)), make([]string, len(rows)), make([]string, len(rows)), make([]string, len(rows))
		for i, e := range rows {
			ids[i], reasons[i], sources[i], replies[i] = models.NewID(), e.reason, e.source, e.replyID
		}
		_, err = conn.ExecContext(ctx, insert+"SELECT u.id, $2, u.value, u.reason, u.source, NULLIF(u.reply_id, ''), $6 "+
			"FROM unnest($1::text[], $3::text[], $4::text[], $5::text[], $7::text[]) AS u(id, value, reason, source, reply_id)"+onConflict,
			ids, userID, values, reasons, sources, now, replies)
	} else {
		buf, row := make([]byte, jsonbMaxHeader), []byte(nil)
		for _, e := range rows {
			row = row[:0]
			for _, v := range []string{models.NewID(), e.value, e.reason, e.source, e.replyID} {
				row = appendJSONBText(row, v)
			}
			buf = appendJSONBArray(buf, row)
		}
		_, err = conn.ExecContext(ctx, insert+"SELECT value->>0, ?, value->>1, value->>2, value->>3, NULLIF(value->>4, ''), ? FROM jsonb_each(?) WHERE true"+onConflict,
			userID, now, prependJSONBArrayHeader(buf))
	}
	if err != nil {
		return fmt.Errorf("suppress addresses: %w", err)
	}
	q, arg := inList(pg, "lower(contact_email)", values)
	if _, err := conn.ExecContext(ctx, rebind(pg, "UPDATE leads SET suppressed = ?, updated_at = ? WHERE user_id = ? AND suppressed = ? AND "+q),
		true, now, userID, false, arg); err != nil {
		return fmt.Errorf("flag suppressed leads: %w", err)
	}
	return nil
}

// inList is "column is one of values" for a query outside gorm (with ?
// placeholders, see rebind), and the one argument it takes: an array on
// PostgreSQL (one statement text whatever the number of values, planned
// once), a JSONB array on SQLite (its driver binds parameters in quadratic
// time). Through gorm the SQLite argument would be expanded as a list.
func inList(pg bool, column string, values []string) (string, any) {
	if pg {
		return column + " = ANY(?::text[])", values
	}
	return column + " IN (SELECT value FROM jsonb_each(?))", jsonbStrings(values)
}

// rebind numbers the ? placeholders of q for PostgreSQL.
func rebind(pg bool, q string) string {
	if !pg {
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// ExistingReplies answers the stored replies among the dedupe keys (their
// identity and match, not their text).
func ExistingReplies(ctx context.Context, db *gorm.DB, keys []string) (map[string]models.Reply, error) {
	out := make(map[string]models.Reply, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	pg := DialectOf(db) == Postgres
	q, arg := inList(pg, "dedupe_key", comparable(keys))
	err := queryEach(ctx, db, rebind(pg, "SELECT id, dedupe_key, user_id, campaign_id, lead_id, attempt_id, message_id, classification, parsed FROM replies WHERE "+q),
		[]any{arg}, func(rows *sql.Rows) error {
			var r models.Reply
			if err := rows.Scan(&r.ID, &r.DedupeKey, &r.UserID, &r.CampaignID, &r.LeadID, &r.AttemptID, &r.MessageID,
				&r.Classification, &r.Parsed); err != nil {
				return err
			}
			out[r.DedupeKey] = r
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("find stored replies: %w", err)
	}
	return out, nil
}

// queryEach runs a query outside gorm's statement builder (matching and
// deduplication run for every page of every poll) and calls fn per row.
func queryEach(ctx context.Context, db *gorm.DB, query string, args []any, fn func(*sql.Rows) error) error {
	rows, err := db.WithContext(ctx).Statement.ConnPool.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// matchableStates are the ledger states of a message that may have reached
// its recipient, and so may be answered or bounced.
var matchableStates = []models.AttemptState{models.AttemptSent, models.AttemptUnknown, models.AttemptSending, models.AttemptFailed}

// comparable drops the values no stored text can equal (invalid UTF-8, NUL:
// what is stored is cleaned of both) and that PostgreSQL refuses even to
// compare: mail headers carry any bytes.
func comparable(values []string) []string {
	out := values[:0:0]
	for _, v := range values {
		if models.StorableText(v) {
			out = append(out, v)
		}
	}
	return out
}

// matchColumns are what matching needs of an attempt (not its body).
const matchColumns = "id, user_id, campaign_id, lead_id, step, state, message_id, recipient, created_at"

// matchQuery selects the matchable attempts whose column is one of values,
// of one user when userID is set.
func matchQuery(db *gorm.DB, column string, values []string, userID string) (string, []any) {
	values = comparable(values)
	pg := DialectOf(db) == Postgres
	in, arg := inList(pg, column, values)
	q := "SELECT " + matchColumns + " FROM attempts WHERE " + in + " AND state IN (" +
		strings.TrimSuffix(strings.Repeat("?, ", len(matchableStates)), ", ") + ")"
	args := []any{arg}
	for _, st := range matchableStates {
		args = append(args, string(st))
	}
	if userID != "" {
		if pg {
			q += " AND user_id = ?"
		} else {
			// Unary + keeps SQLite's planner off attempts_user_recipient,
			// which it preferred to the Message-ID and recipient indexes:
			// every webhook message read all its user's attempts.
			q += " AND +user_id = ?"
		}
		args = append(args, userID)
	}
	return rebind(pg, q), args
}

func scanAttempt(rows *sql.Rows) (models.Attempt, error) {
	var a models.Attempt
	err := rows.Scan(&a.ID, &a.UserID, &a.CampaignID, &a.LeadID, &a.Step, &a.State, &a.MessageID, &a.Recipient, &a.CreatedAt)
	return a, err
}

// AttemptsByMessageIDs answers the attempts whose Message-ID is among ids,
// keyed by Message-ID; userID, when set, limits them to that user's (the
// inbound webhook).
func AttemptsByMessageIDs(ctx context.Context, db *gorm.DB, userID string, ids []string) (map[string]models.Attempt, error) {
	out := make(map[string]models.Attempt, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	q, args := matchQuery(db, "message_id", ids, userID)
	err := queryEach(ctx, db, q, args, func(rows *sql.Rows) error {
		a, err := scanAttempt(rows)
		if err != nil {
			return err
		}
		out[a.MessageID] = a
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("match replies by message id: %w", err)
	}
	return out, nil
}

// LatestAttemptsTo answers, for each address (compared case-insensitively,
// keyed lower-cased), the most recent attempt sent to it; userID, when set,
// limits them to that user's. Both sides are lower-cased (the stored
// recipient by the database's lower(), served by attempts_recipient_lower):
// the local part of a lead's address keeps the case it was entered with,
// and a reply may come from the same address spelt otherwise.
func LatestAttemptsTo(ctx context.Context, db *gorm.DB, userID string, addrs []string) (map[string]models.Attempt, error) {
	out := map[string]models.Attempt{}
	var variants []string
	seen := map[string]bool{}
	for _, a := range addrs {
		if v := strings.ToLower(strings.TrimSpace(a)); v != "" && !seen[v] {
			seen[v] = true
			variants = append(variants, v)
		}
	}
	if len(variants) == 0 {
		return out, nil
	}
	q, args := matchQuery(db, "lower(recipient)", variants, userID)
	err := queryEach(ctx, db, q, args, func(rows *sql.Rows) error {
		a, err := scanAttempt(rows)
		if err != nil {
			return err
		}
		k := strings.ToLower(a.Recipient)
		if cur, ok := out[k]; !ok || a.CreatedAt.After(cur.CreatedAt) || (a.CreatedAt.Equal(cur.CreatedAt) && a.ID > cur.ID) {
			out[k] = a
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("match replies by sender: %w", err)
	}
	return out, nil
}

// ReplyForUser loads a reply matched to one of the user's leads. A reply of
// another user, an unmatched one and a malformed id answer
// models.ErrReplyNotFound.
func ReplyForUser(ctx context.Context, db *gorm.DB, userID, replyID string) (models.Reply, error) {
	return takeByID[models.Reply](db.WithContext(ctx).Where("user_id = ? AND lead_id IS NOT NULL", userID), replyID, models.ErrReplyNotFound, "reply")
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
// implies, lifts the one the old tag wrote when the new tag writes none, and
// sets its effect back to pending (marked reclassified) in one transaction:
// the lead reacts as if the new tag had been the first. It answers the
// updated reply.
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
		if r.UserID != nil {
			reason := "reply reclassified as " + rc.Tag
			switch {
			case rc.Suppress != "":
				if err := suppressTx(tx, *r.UserID, rc.Suppress, rc.SuppressSource, reason, &r.ID, now); err != nil {
					return err
				}
				// The reply's own entry follows its tag.
				if err := tx.Exec("UPDATE suppressions SET source = ?, reason = ? WHERE user_id = ? AND reply_id = ?",
					rc.SuppressSource, reason, *r.UserID, r.ID).Error; err != nil {
					return fmt.Errorf("update suppression: %w", err)
				}
			case models.ReplySuppressionSource(r.Classification, r.BounceKind) != "":
				if err := liftReplySuppressionTx(tx, *r.UserID, r.ID); err != nil {
					return err
				}
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

// otherRefusalQuery finds the user's first other refusal from an address
// (unsubscribe, not interested, hard bounce): through the attempts sent to
// it (attempts_recipient_lower), then their replies (replies_attempt).
const otherRefusalQuery = `SELECT r.id, r.classification, r.bounce_kind FROM replies r JOIN attempts a ON a.id = r.attempt_id
		WHERE r.user_id = ? AND r.id <> ? AND lower(a.recipient) = ?
		AND (r.classification IN (?, ?) OR (r.classification = ? AND r.bounce_kind = ?))
		ORDER BY r.received_at, r.id LIMIT 1`

// liftReplySuppressionTx removes the suppression entry a reply's old tag
// wrote, unless another reply of the user to the same address still asks
// for it (a second refusal): the entry then becomes that reply's. An entry
// the reply did not write (added by hand, by one-click unsubscribe, by an
// SMTP 5xx, or there before the reply) is left alone.
func liftReplySuppressionTx(tx *gorm.DB, userID, replyID string) error {
	var s models.Suppression
	if err := tx.Where("user_id = ? AND reply_id = ?", userID, replyID).Take(&s).Error; errors.Is(err, gorm.ErrRecordNotFound) {
		return nil
	} else if err != nil {
		return fmt.Errorf("find the reply's suppression: %w", err)
	}
	var other struct {
		ID             string
		Classification string
		BounceKind     string
	}
	err := tx.Raw(otherRefusalQuery, userID, replyID, s.Value, models.ReplyUnsubscribe, models.ReplyNotInterested, models.ReplyBounce, "hard").Scan(&other).Error
	if err != nil {
		return fmt.Errorf("find other refusals: %w", err)
	}
	if other.ID != "" {
		src := models.ReplySuppressionSource(other.Classification, other.BounceKind)
		if err := tx.Exec("UPDATE suppressions SET reply_id = ?, source = ?, reason = ? WHERE id = ?",
			other.ID, src, "reply classified as "+other.Classification, s.ID).Error; err != nil {
			return fmt.Errorf("hand the suppression over: %w", err)
		}
		return nil
	}
	if err := tx.Delete(&models.Suppression{}, "id = ?", s.ID).Error; err != nil {
		return fmt.Errorf("lift suppression: %w", err)
	}
	return unflagLeadsTx(tx, userID, s.Value)
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
// so two polls racing cannot move it back and refetch. It is one
// statement, so it needs no transaction of its own.
func SaveCheckpoint(ctx context.Context, db *gorm.DB, mailbox string, uidValidity, lastUID uint32, now time.Time) error {
	return SaveCheckpointTx(db.WithContext(ctx), mailbox, uidValidity, lastUID, now)
}

// SaveCheckpointTx is SaveCheckpoint inside the caller's transaction: one
// upsert that moves last_uid forward under the same UIDVALIDITY and
// replaces both when the mailbox was rebuilt (its old UIDs mean nothing
// now).
func SaveCheckpointTx(tx *gorm.DB, mailbox string, uidValidity, lastUID uint32, now time.Time) error {
	err := tx.Exec(`INSERT INTO imap_checkpoints (mailbox, uid_validity, last_uid, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (mailbox) DO UPDATE SET uid_validity = excluded.uid_validity, last_uid = excluded.last_uid, updated_at = excluded.updated_at
		WHERE imap_checkpoints.uid_validity <> excluded.uid_validity OR imap_checkpoints.last_uid < excluded.last_uid`,
		mailbox, int64(uidValidity), int64(lastUID), now.UTC()).Error
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

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/backlinkoutreach/outreach/internal/mail"
	"github.com/backlinkoutreach/outreach/models"
)

// The send ledger. Every e-mail the engine sends goes through BeginSend, one
// SMTP conversation, then exactly one of FinishSent, FinishRetry,
// FinishFailed or FinishUnknown. BeginSend is one transaction that checks
// the whole policy, reserves the cap slots and moves the (lead, step) row to
// `sending`; a row already in `sending` when BeginSend runs again belongs to
// a conversation whose outcome nobody recorded (a crash), so it becomes
// `unknown` and is never sent again.

// SendLimits are the configured caps; 0 disables one.
type SendLimits struct {
	UserDailyCap   int
	DomainDailyCap int
}

// Counter scopes of send_counters.
const (
	scopeUser     = "user"
	scopeDomain   = "domain"
	scopeCampaign = "campaign"
)

// SendRequest asks to send one step of one lead's sequence now.
type SendRequest struct {
	CampaignID string
	LeadID     string
	Step       int
	Now        time.Time
	Limits     SendLimits
	// IgnoreDue sends a follow-up before its delay is over (a manual
	// send); every other rule still holds.
	IgnoreDue bool
	// Replan: asked again after a change of the campaign's plan; a step
	// not yet due, or due outside the window, answers when it may go and
	// writes nothing (a campaign's contacted leads all ask at once, and
	// nothing was decided).
	Replan bool
	// MessageDomain is the right-hand side of Message-IDs.
	MessageDomain string
	// Jitter returns a random fraction in [0, 1); nil uses math/rand.
	Jitter func() float64
}

// SendOutcome is what BeginSend decided.
type SendOutcome string

// Send outcomes.
const (
	// OutcomeApproved: the row is in sending; the caller talks SMTP now.
	OutcomeApproved SendOutcome = "approved"
	// OutcomeSent, OutcomeFailed, OutcomeUnknown: the step was already
	// decided by an earlier try; nothing is sent.
	OutcomeSent    SendOutcome = "sent"
	OutcomeFailed  SendOutcome = "failed"
	OutcomeUnknown SendOutcome = "unknown"
	// OutcomeDeferred: try again at Until (caps, window, min gap, not due).
	OutcomeDeferred SendOutcome = "deferred"
	// OutcomePaused: the campaign is not active; the lead is parked until
	// the campaign resumes.
	OutcomePaused SendOutcome = "paused"
	// OutcomeBlocked: the policy refuses this step for good.
	OutcomeBlocked SendOutcome = "blocked"
	// OutcomeDone: the sequence has no such step (it was shortened).
	OutcomeDone SendOutcome = "done"
	// OutcomeGone: the campaign or lead no longer exists, or is being
	// deleted.
	OutcomeGone SendOutcome = "gone"
)

// Reasons of deferred and blocked decisions (also the audit reasons and
// the PolicyBlocksTotal labels).
const (
	ReasonUserCap          = "user_cap"
	ReasonDomainCap        = "domain_cap"
	ReasonCampaignCap      = "campaign_cap"
	ReasonMinGap           = "min_gap"
	ReasonWindow           = "window"
	ReasonNotDue           = "not_due"
	ReasonSuppressed       = "suppressed"
	ReasonDuplicate        = "duplicate_subject"
	ReasonPlaceholders     = "unfilled_placeholders"
	ReasonNoEmail          = "no_contact_email"
	ReasonLeadStatus       = "lead_status"
	ReasonTemplateMissing  = "template_missing"
	ReasonPreviousNotSent  = "previous_step_not_sent"
	ReasonCampaignInactive = "campaign_inactive"
	ReasonReplyPending     = "reply_pending"
)

// replyPendingRecheck is how long a follow-up waits when the lead has a
// stored reply that stops its sequence but the lead's workflow has not
// applied it yet (the reply's signal is delivered after the poll): the
// signal wakes the wait sooner.
const replyPendingRecheck = 15 * time.Minute

// Audit results.
const (
	AuditApproved = "approved"
	AuditBlocked  = "blocked"
	AuditDeferred = "deferred"
)

// SendDecision is BeginSend's answer.
type SendDecision struct {
	Outcome SendOutcome
	Reason  string
	Until   time.Time
	// Attempt is the ledger row (approved: now in sending).
	Attempt models.Attempt
	// Thread holds the Message-IDs of the earlier steps, oldest first.
	Thread []string
	// HTML is the rendered HTML alternative of an approved step.
	HTML string
	// FreshUnknown is true when this call turned a sending row unknown.
	FreshUnknown bool
	LeadStatus   models.LeadStatus
	Lead         models.Lead
	Campaign     models.Campaign
	// Settings are the campaign's normalised settings at decision time.
	Settings models.CampaignSettings
	// Steps is the length of the effective sequence.
	Steps int
}

// attemptRow is the ledger row with the columns the domain model leaves
// out.
type attemptRow struct {
	models.Attempt `gorm:"embedded"`
	SlotAt         *time.Time
	Tries          int
}

func (attemptRow) TableName() string { return "attempts" }

// BeginSend decides, in one transaction, whether step r.Step of the lead
// may be sent now, and if so reserves everything the send consumes.
func BeginSend(ctx context.Context, db *gorm.DB, r SendRequest) (SendDecision, error) {
	var d SendDecision
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		d, err = beginSendTx(tx, r)
		return err
	})
	if err != nil {
		return SendDecision{}, fmt.Errorf("begin send: %w", err)
	}
	return d, nil
}

//nolint:gocyclo // one linear policy; splitting it would hide the order of the checks
func beginSendTx(tx *gorm.DB, r SendRequest) (SendDecision, error) {
	now := r.Now.UTC()
	var d SendDecision

	// The campaign row is held until commit: DELETE and pause update it, so
	// once they have committed no new send can pass this point, and a send
	// that passed it is visible as a sending row to whoever waits for them.
	var c models.Campaign
	q := tx
	if DialectOf(tx) == Postgres {
		q = q.Clauses(clause.Locking{Strength: "NO KEY UPDATE"})
	}
	if err := q.Where("id = ?", r.CampaignID).Take(&c).Error; errors.Is(err, gorm.ErrRecordNotFound) {
		return SendDecision{Outcome: OutcomeGone, Reason: "campaign_deleted"}, nil
	} else if err != nil {
		return d, fmt.Errorf("load campaign: %w", err)
	}
	d.Campaign = c
	// Every answer carries the campaign's settings: the lead workflow takes
	// its plan (delays, window) from them, also when the step was decided
	// before (a retry after a crash) and is only reported again.
	settings := c.Settings.Normalized()
	d.Settings = settings

	var row attemptRow
	found := true
	if err := tx.Where("lead_id = ? AND step = ?", r.LeadID, r.Step).Take(&row).Error; errors.Is(err, gorm.ErrRecordNotFound) {
		found = false
	} else if err != nil {
		return d, fmt.Errorf("load attempt: %w", err)
	}
	if found {
		switch row.State {
		case models.AttemptSent:
			d.Outcome, d.Attempt = OutcomeSent, row.Attempt
		case models.AttemptFailed:
			d.Outcome, d.Attempt = OutcomeFailed, row.Attempt
		case models.AttemptUnknown:
			d.Outcome, d.Attempt = OutcomeUnknown, row.Attempt
		case models.AttemptSending:
			fresh, err := markUnknownTx(tx, row.Attempt, now, "the send was interrupted before its outcome was recorded; it is never sent again")
			if err != nil {
				return d, err
			}
			row.State = models.AttemptUnknown
			d.Outcome, d.Attempt, d.FreshUnknown = OutcomeUnknown, row.Attempt, fresh
		}
		if d.Outcome != "" {
			st, err := leadStatus(tx, r.LeadID)
			d.LeadStatus = st
			return d, err
		}
	}
	if c.State == models.CampaignDeleting {
		return SendDecision{Outcome: OutcomeGone, Reason: "campaign_deleting"}, nil
	}

	var l models.Lead
	if err := tx.Where("id = ? AND campaign_id = ?", r.LeadID, r.CampaignID).Take(&l).Error; errors.Is(err, gorm.ErrRecordNotFound) {
		return SendDecision{Outcome: OutcomeGone, Reason: "lead_deleted"}, nil
	} else if err != nil {
		return d, fmt.Errorf("load lead: %w", err)
	}
	d.Lead, d.LeadStatus = l, l.Status
	steps, err := sequenceSteps(tx, c.UserID, settings)
	if err != nil {
		return d, err
	}
	d.Steps = len(steps)

	if c.State != models.CampaignActive {
		if err := tx.Exec("UPDATE leads SET parked_at = ? WHERE id = ? AND parked_at IS NULL", now, l.ID).Error; err != nil {
			return d, fmt.Errorf("park lead: %w", err)
		}
		d.Outcome, d.Reason = OutcomePaused, "campaign_"+string(c.State)
		return d, nil
	}
	step := r.Step
	audit := func(result, reason, legal string) error {
		return addAudit(tx, models.AuditEntry{
			UserID: c.UserID, CampaignID: c.ID, LeadID: l.ID, Step: &step, Recipient: l.ContactEmail,
			Result: result, Reason: reason, LegalBasis: legal, CreatedAt: now,
		})
	}
	block := func(reason, detail string, flag bool) (SendDecision, error) {
		if err := audit(AuditBlocked, reason, models.LegalBasisFor(l.ContactEmail)); err != nil {
			return d, err
		}
		if flag {
			if err := tx.Exec("UPDATE leads SET blocked_reason = ?, updated_at = ? WHERE id = ?", reason, now, l.ID).Error; err != nil {
				return d, fmt.Errorf("flag lead: %w", err)
			}
		}
		text := reason
		if detail != "" {
			text += ": " + detail
		}
		if err := addEvent(tx, models.LeadEvent{LeadID: l.ID, CampaignID: c.ID, At: now, Kind: EventBlocked, Step: &step, Detail: text}); err != nil {
			return d, err
		}
		d.Outcome, d.Reason = OutcomeBlocked, text
		return d, nil
	}

	if step >= len(steps) {
		d.Outcome, d.Reason = OutcomeDone, "sequence_ended"
		return d, nil
	}
	want := models.StatusContacted
	if step == 0 {
		want = models.StatusDiscovered
	}
	if l.Status != want {
		return block(ReasonLeadStatus, string(l.Status), false)
	}
	if steps[step].Missing != "" {
		return block(ReasonTemplateMissing, steps[step].Missing, step == 0)
	}
	if l.ContactEmail == "" {
		return block(ReasonNoEmail, "", step == 0)
	}

	// "Not yet" for timing (not due, window closed). Asked only because
	// the plan changed (a replan), it decides nothing: answered, not
	// recorded.
	deferTiming := func(until time.Time, reason string) (SendDecision, error) {
		if r.Replan {
			d.Outcome, d.Reason, d.Until = OutcomeDeferred, reason, until.UTC()
			return d, nil
		}
		return defer1(tx, &d, c, l, step, now, until, reason, audit)
	}

	// The thread: earlier steps that went out (or may have).
	var prev []models.Attempt
	if step > 0 {
		if err := tx.Where("lead_id = ? AND step < ? AND state IN ?", l.ID, step,
			[]models.AttemptState{models.AttemptSent, models.AttemptUnknown}).Order("step").Find(&prev).Error; err != nil {
			return d, fmt.Errorf("load thread: %w", err)
		}
		if len(prev) == 0 || prev[len(prev)-1].Step != step-1 {
			return block(ReasonPreviousNotSent, fmt.Sprintf("step %d", step-1), false)
		}
		if !r.IgnoreDue {
			last := prev[len(prev)-1]
			base := last.SentAt
			if base == nil {
				base = last.SendingAt
			}
			if base != nil {
				due := base.Add(time.Duration(steps[step].DelayDays * float64(24*time.Hour)))
				if now.Before(due.Add(-time.Second)) {
					return deferTiming(due, ReasonNotDue)
				}
			}
		}
	}
	w, err := models.ResolveWindow(settings)
	if err != nil {
		return d, fmt.Errorf("campaign window: %w", err)
	}
	if open := w.NextOpen(now); open.After(now) {
		return deferTiming(open, ReasonWindow)
	}

	if step > 0 {
		// A stored human answer stops the sequence (SPEC §8) from the
		// moment it is stored, not only once the lead's workflow hears of
		// it; a refusal, an unsubscribe and a hard bounce are suppressed
		// with the reply and caught below.
		var tag string
		err := tx.Raw("SELECT classification FROM replies WHERE lead_id = ? AND classification IN ? LIMIT 1",
			l.ID, []string{models.ReplyInterested, models.ReplyNeutral, models.ReplyAsksPayment}).Scan(&tag).Error
		if err != nil {
			return d, fmt.Errorf("look for replies: %w", err)
		}
		if tag != "" {
			return defer1(tx, &d, c, l, step, now, now.Add(replyPendingRecheck), ReasonReplyPending, audit)
		}
	}
	recipient := l.ContactEmail
	legal := models.LegalBasisFor(recipient)
	if value, err := suppressionHit(tx, c.UserID, recipient); err != nil {
		return d, err
	} else if value != "" {
		if err := tx.Exec("UPDATE leads SET suppressed = ?, updated_at = ? WHERE id = ?", true, now, l.ID).Error; err != nil {
			return d, fmt.Errorf("flag lead suppressed: %w", err)
		}
		dec, err := block(ReasonSuppressed, value, true)
		if err != nil {
			return dec, err
		}
		if l.Status == models.StatusContacted {
			res, err := transitionTx(tx, Transition{
				LeadID: l.ID, To: models.StatusBounced, Source: "policy",
				Detail: "address suppressed", Step: &step, At: now,
			})
			if err != nil {
				return dec, err
			}
			dec.LeadStatus = res.Status
		}
		return dec, nil
	}

	threadSubject := ""
	if step > 0 {
		threadSubject = prev[0].Subject
		if prev[0].Step != 0 {
			threadSubject = ""
		}
	}
	rendered := RenderStep(c, l, steps, step, threadSubject)
	if len(rendered.Problems) > 0 {
		return block(ReasonPlaceholders, strings.Join(rendered.Problems, ", "), step == 0)
	}

	if DialectOf(tx) == Postgres {
		// Sends to one address from two campaigns hold different campaign
		// rows: without this lock both could pass the duplicate check
		// before either commits. Taken after the campaign row and before
		// the counters, in the same order by every send.
		if err := tx.Exec("SELECT pg_advisory_xact_lock(hashtext(?))", "recipient:"+c.UserID+":"+strings.ToLower(recipient)).Error; err != nil {
			return d, fmt.Errorf("lock recipient: %w", err)
		}
	}
	var dup int64
	if err := tx.Model(&models.Attempt{}).
		Where("user_id = ? AND lower(recipient) = lower(?) AND subject = ? AND lead_id <> ? AND state IN ? AND sending_at > ?",
			c.UserID, recipient, rendered.Subject, l.ID,
			[]models.AttemptState{models.AttemptSending, models.AttemptSent, models.AttemptUnknown}, now.Add(-24*time.Hour)).
		Count(&dup).Error; err != nil {
		return d, fmt.Errorf("duplicate check: %w", err)
	}
	if dup > 0 {
		return block(ReasonDuplicate, "", step == 0)
	}

	msgID := mail.MessageID(c.ID, l.ID, step, r.MessageDomain)
	inReplyTo := ""
	var thread []string
	for _, p := range prev {
		thread = append(thread, p.MessageID)
	}
	if len(thread) > 0 {
		inReplyTo = thread[len(thread)-1]
	}
	row.UserID, row.CampaignID, row.LeadID, row.Step = c.UserID, c.ID, l.ID, step
	row.MessageID, row.InReplyTo = msgID, inReplyTo
	row.Recipient, row.RecipientDomain = recipient, models.EmailDomain(recipient)
	row.Subject, row.Body, row.LegalBasis = rendered.Subject, rendered.Text, legal

	// Minimum gap: each send takes the campaign's next slot and moves it on
	// by the gap plus jitter. A lead whose slot lies ahead keeps it (on its
	// ledger row) and comes back then; a slot long past is stale.
	gap := time.Duration(*settings.MinGapSeconds) * time.Second
	jitter := time.Duration(*settings.JitterSeconds) * time.Second
	if gap+jitter > 0 {
		own := found && row.SlotAt != nil && !row.SlotAt.After(now.Add(time.Second)) &&
			now.Sub(*row.SlotAt) <= max(gap+jitter, time.Minute)
		if !own {
			var next sql.NullTime
			if err := tx.Raw("SELECT next_send_at FROM campaigns WHERE id = ?", c.ID).Row().Scan(&next); err != nil {
				return d, fmt.Errorf("read next send slot: %w", err)
			}
			slot := now
			if next.Valid && next.Time.After(now) {
				slot = next.Time.UTC()
			}
			rnd := r.Jitter
			if rnd == nil {
				rnd = rand.Float64 //nolint:gosec // jitter, not a secret
			}
			after := slot.Add(gap + time.Duration(rnd()*float64(jitter)))
			if err := tx.Exec("UPDATE campaigns SET next_send_at = ? WHERE id = ?", after, c.ID).Error; err != nil {
				return d, fmt.Errorf("reserve send slot: %w", err)
			}
			if slot.After(now.Add(time.Second)) {
				row.SlotAt = &slot
				row.State = models.AttemptPending
				if err := saveAttempt(tx, &row, found, now); err != nil {
					return d, err
				}
				d.Attempt = row.Attempt
				return defer1(tx, &d, c, l, step, now, slot, ReasonMinGap, audit)
			}
		}
	}

	loc := w.Loc
	over, err := reserveCounters(tx, c, row.RecipientDomain, now, loc, r.Limits)
	if err != nil {
		return d, err
	}
	if over != "" {
		until := models.StartOfNextDay(now, time.UTC)
		if over == ReasonCampaignCap {
			until = models.StartOfNextDay(now, loc)
		}
		row.SlotAt = nil
		row.State = models.AttemptPending
		if err := saveAttempt(tx, &row, found, now); err != nil {
			return d, err
		}
		d.Attempt = row.Attempt
		return defer1(tx, &d, c, l, step, now, until, over, audit)
	}

	row.State = models.AttemptSending
	row.SendingAt = &now
	row.SlotAt = nil
	row.Error = ""
	row.Tries++
	if err := saveAttempt(tx, &row, found, now); err != nil {
		return d, err
	}
	if err := audit(AuditApproved, "", legal); err != nil {
		return d, err
	}
	if err := tx.Exec("UPDATE leads SET parked_at = NULL WHERE id = ? AND parked_at IS NOT NULL", l.ID).Error; err != nil {
		return d, fmt.Errorf("unpark lead: %w", err)
	}
	d.Outcome, d.Attempt, d.Thread, d.HTML = OutcomeApproved, row.Attempt, thread, rendered.HTML
	return d, nil
}

// defer1 records a deferral (audit and timeline) and answers it.
func defer1(tx *gorm.DB, d *SendDecision, c models.Campaign, l models.Lead, step int, now, until time.Time,
	reason string, audit func(result, reason, legal string) error,
) (SendDecision, error) {
	if err := audit(AuditDeferred, reason, models.LegalBasisFor(l.ContactEmail)); err != nil {
		return *d, err
	}
	if err := addEvent(tx, models.LeadEvent{
		LeadID: l.ID, CampaignID: c.ID, At: now, Kind: EventDeferred, Step: &step,
		Detail: reason + " until " + until.UTC().Format(time.RFC3339),
	}); err != nil {
		return *d, err
	}
	d.Outcome, d.Reason, d.Until = OutcomeDeferred, reason, until.UTC()
	return *d, nil
}

func saveAttempt(tx *gorm.DB, row *attemptRow, exists bool, now time.Time) error {
	row.UpdatedAt = now
	if !exists {
		row.ID = models.NewID()
		row.CreatedAt = now
		if err := tx.Create(row).Error; err != nil {
			return fmt.Errorf("create attempt: %w", err)
		}
		return nil
	}
	err := tx.Model(&attemptRow{}).Where("id = ?", row.ID).Select(
		"state", "message_id", "in_reply_to", "recipient", "recipient_domain", "subject", "body",
		"legal_basis", "error", "updated_at", "sending_at", "slot_at", "tries",
	).Updates(row).Error
	if err != nil {
		return fmt.Errorf("update attempt: %w", err)
	}
	return nil
}

func addAudit(tx *gorm.DB, e models.AuditEntry) error {
	if e.ID == "" {
		e.ID = models.NewID()
	}
	e.CreatedAt = e.CreatedAt.UTC()
	if err := tx.Create(&e).Error; err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

type counterKey struct {
	scope, key, day string
	limit           int
	reason          string
}

func counterKeys(c models.Campaign, domain string, at time.Time, loc *time.Location, lim SendLimits) []counterKey {
	campaignCap := 0
	if c.Settings.DailyCap != nil {
		campaignCap = *c.Settings.DailyCap
	}
	utcDay := models.DayKey(at, time.UTC)
	return []counterKey{
		{scopeUser, "", utcDay, lim.UserDailyCap, ReasonUserCap},
		{scopeDomain, strings.ToLower(domain), utcDay, lim.DomainDailyCap, ReasonDomainCap},
		{scopeCampaign, c.ID, models.DayKey(at, loc), campaignCap, ReasonCampaignCap},
	}
}

// reserveCounters takes one slot of each daily counter. Every counter
// counts; only an enabled cap (limit > 0) can refuse. The increment is
// conditional (count < limit) in the same statement, so concurrent sends
// can never push a counter past its cap. It answers the reason of the
// first full cap, after giving back the slots it took.
func reserveCounters(tx *gorm.DB, c models.Campaign, domain string, at time.Time, loc *time.Location, lim SendLimits) (string, error) {
	keys := counterKeys(c, domain, at, loc, lim)
	for i, k := range keys {
		q := `INSERT INTO send_counters (user_id, scope, scope_key, day, count) VALUES (?, ?, ?, ?, 1)
ON CONFLICT (user_id, scope, scope_key, day) DO UPDATE SET count = send_counters.count + 1`
		args := []any{c.UserID, k.scope, k.key, k.day}
		if k.limit > 0 {
			q += " WHERE send_counters.count < ?"
			args = append(args, k.limit)
		}
		res := tx.Exec(q, args...)
		if res.Error != nil {
			return "", fmt.Errorf("reserve %s counter: %w", k.scope, res.Error)
		}
		if res.RowsAffected == 0 {
			if err := releaseCounters(tx, c.UserID, keys[:i]); err != nil {
				return "", err
			}
			return k.reason, nil
		}
	}
	return "", nil
}

func releaseCounters(tx *gorm.DB, userID string, keys []counterKey) error {
	for _, k := range keys {
		err := tx.Exec(`UPDATE send_counters SET count = count - 1
WHERE user_id = ? AND scope = ? AND scope_key = ? AND day = ? AND count > 0`, userID, k.scope, k.key, k.day).Error
		if err != nil {
			return fmt.Errorf("release %s counter: %w", k.scope, err)
		}
	}
	return nil
}

// suppressionHit answers the suppression entry (the address or "@domain")
// that forbids mail to addr for the user, or "".
func suppressionHit(tx *gorm.DB, userID, addr string) (string, error) {
	var vals []string
	// Values are stored lower-cased (migration 00009): the unique index
	// answers.
	err := tx.Model(&models.Suppression{}).Where("user_id = ? AND value IN ?", userID,
		suppressionKeys(addr)).Limit(1).Pluck("value", &vals).Error
	if err != nil {
		return "", fmt.Errorf("suppression check: %w", err)
	}
	if len(vals) == 0 {
		return "", nil
	}
	return vals[0], nil
}

func leadStatus(tx *gorm.DB, leadID string) (models.LeadStatus, error) {
	var st []string
	if err := tx.Model(&models.Lead{}).Where("id = ?", leadID).Pluck("status", &st).Error; err != nil {
		return "", fmt.Errorf("lead status: %w", err)
	}
	if len(st) == 0 {
		return "", nil
	}
	return models.LeadStatus(st[0]), nil
}

// markUnknownTx moves a sending row to unknown, writes the timeline, and
// (for the first step) the lead to contacted: the pitch may have reached
// the recipient, so the lead must be treated as contacted and never be
// pitched again.
func markUnknownTx(tx *gorm.DB, a models.Attempt, now time.Time, why string) (bool, error) {
	return settleTx(tx, a, now, settlement{
		from:      []models.AttemptState{models.AttemptSending},
		set:       map[string]any{"state": models.AttemptUnknown, "error": why, "updated_at": now},
		event:     EventSendUnknown,
		detail:    why,
		contacted: "first e-mail may have been delivered",
	})
}

// settlement is how a send ends for its ledger row.
type settlement struct {
	from      []models.AttemptState // the row moves only from one of these
	set       map[string]any        // the columns it gets, state included
	event     string                // the timeline event written when it moved
	detail    string
	contacted string // for the first step, the detail of the move to contacted
}

// settleTx moves a's ledger row as s says and, when it moved, writes the
// timeline event and, for the first step, moves the lead to contacted:
// the pitch reached, or may have reached, the recipient, so the lead is
// never pitched again. A lead already past contacted stays where it is.
// It answers whether the row moved (false: another outcome was recorded
// first).
func settleTx(tx *gorm.DB, a models.Attempt, at time.Time, s settlement) (bool, error) {
	res := tx.Model(&models.Attempt{}).Where("id = ? AND state IN ?", a.ID, s.from).Updates(s.set)
	if res.Error != nil {
		return false, fmt.Errorf("mark attempt %s: %w", s.set["state"], res.Error)
	}
	if res.RowsAffected == 0 {
		return false, nil
	}
	step := a.Step
	if err := addEvent(tx, models.LeadEvent{
		LeadID: a.LeadID, CampaignID: a.CampaignID, At: at, Kind: s.event,
		Step: &step, Detail: s.detail,
	}); err != nil {
		return false, err
	}
	if step == 0 {
		if _, err := transitionTx(tx, Transition{
			LeadID: a.LeadID, To: models.StatusContacted, Source: "send",
			Detail: s.contacted, Step: &step, At: at,
		}); err != nil && !isTransitionErr(err) {
			return false, err
		}
	}
	return true, nil
}

// finishTx runs settle in a transaction and answers the lead's status
// after it.
func finishTx(ctx context.Context, db *gorm.DB, leadID, what string, settle func(tx *gorm.DB) error) (models.LeadStatus, error) {
	var status models.LeadStatus
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := settle(tx); err != nil {
			return err
		}
		var err error
		status, err = leadStatus(tx, leadID)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	return status, nil
}

func isTransitionErr(err error) bool {
	var te *models.TransitionError
	return errors.As(err, &te)
}

// FinishSent records that the server accepted the message. For the first
// step the lead becomes contacted in the same transaction. It answers the
// lead's status.
func FinishSent(ctx context.Context, db *gorm.DB, a models.Attempt, at time.Time) (models.LeadStatus, error) {
	at = at.UTC()
	return finishTx(ctx, db, a.LeadID, "finish send", func(tx *gorm.DB) error {
		_, err := settleTx(tx, a, at, settlement{
			// unknown -> sent: a late conversation that did finish knows better.
			from:      []models.AttemptState{models.AttemptSending, models.AttemptUnknown},
			set:       map[string]any{"state": models.AttemptSent, "sent_at": at, "updated_at": at, "error": ""},
			event:     EventSent,
			detail:    a.Subject,
			contacted: "first e-mail sent",
		})
		return err
	})
}

// FinishRetry records that the message certainly did not reach the server:
// the row goes back to pending and the cap slots are given back.
func FinishRetry(ctx context.Context, db *gorm.DB, a models.Attempt, cause string, now time.Time) error {
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&attemptRow{}).Where("id = ? AND state = ?", a.ID, models.AttemptSending).
			Updates(map[string]any{"state": models.AttemptPending, "error": truncate(cause, 500), "updated_at": now.UTC(), "slot_at": nil})
		if res.Error != nil {
			return fmt.Errorf("mark attempt pending: %w", res.Error)
		}
		if res.RowsAffected == 0 || a.SendingAt == nil {
			return nil
		}
		var c models.Campaign
		if err := tx.Select("id", "user_id", "settings").Where("id = ?", a.CampaignID).Take(&c).Error; err != nil {
			return fmt.Errorf("load campaign: %w", err)
		}
		w, err := models.ResolveWindow(c.Settings)
		if err != nil {
			return fmt.Errorf("campaign window: %w", err)
		}
		return releaseCounters(tx, c.UserID, counterKeys(c, a.RecipientDomain, *a.SendingAt, w.Loc, SendLimits{}))
	})
	if err != nil {
		return fmt.Errorf("retry send: %w", err)
	}
	return nil
}

// FinishFailed records a permanent refusal (5xx): the row fails, the
// address is suppressed for the user (source hard_bounce) and the lead
// bounces (through contacted for the first step). The cap slots stay
// consumed: the message reached the server. It answers the lead's status.
func FinishFailed(ctx context.Context, db *gorm.DB, a models.Attempt, cause string, now time.Time) (models.LeadStatus, error) {
	now = now.UTC()
	return finishTx(ctx, db, a.LeadID, "finish failed send", func(tx *gorm.DB) error {
		moved, err := settleTx(tx, a, now, settlement{
			from:      []models.AttemptState{models.AttemptSending},
			set:       map[string]any{"state": models.AttemptFailed, "error": truncate(cause, 500), "updated_at": now},
			event:     EventSendFailed,
			detail:    truncate(cause, 500),
			contacted: "first e-mail reached the server",
		})
		if err != nil || !moved {
			return err
		}
		if err := suppressTx(tx, a.UserID, a.Recipient, models.SuppressHardBounce, "permanent SMTP failure", nil, now); err != nil {
			return err
		}
		step := a.Step
		if _, err := transitionTx(tx, Transition{
			LeadID: a.LeadID, To: models.StatusBounced, Source: "smtp",
			Detail: "permanent failure", Step: &step, At: now,
		}); err != nil && !isTransitionErr(err) {
			return err
		}
		return nil
	})
}

// FinishUnknown records a conversation that broke after the message was
// handed over: it may have been delivered, so it is never sent again.
func FinishUnknown(ctx context.Context, db *gorm.DB, a models.Attempt, cause string, now time.Time) (models.LeadStatus, error) {
	return finishTx(ctx, db, a.LeadID, "finish unknown send", func(tx *gorm.DB) error {
		_, err := markUnknownTx(tx, a, now.UTC(), truncate("delivery not confirmed: "+cause, 500))
		return err
	})
}

// suppressTx adds addr to the user's suppression list (idempotent) and
// flags the user's leads with that address. Without a reply (an SMTP 5xx)
// it claims an entry a reply's tag wrote (claimSuppressionTx).
func suppressTx(tx *gorm.DB, userID, addr, source, reason string, replyID *string, now time.Time) error {
	value := strings.ToLower(strings.TrimSpace(addr))
	res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&models.Suppression{
		ID: models.NewID(), UserID: userID, Value: value, Reason: reason, Source: source, ReplyID: replyID, CreatedAt: now,
	})
	if res.Error != nil {
		return fmt.Errorf("suppress address: %w", res.Error)
	}
	if res.RowsAffected == 0 && replyID == nil {
		if err := claimSuppressionTx(tx, userID, value, source, reason); err != nil {
			return err
		}
	}
	if err := tx.Exec("UPDATE leads SET suppressed = ? WHERE user_id = ? AND lower(contact_email) = ? AND suppressed = ?",
		true, userID, value, false).Error; err != nil {
		return fmt.Errorf("flag suppressed leads: %w", err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

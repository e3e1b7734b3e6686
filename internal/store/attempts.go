package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/models"
)

// AttemptFilter selects a page of a campaign's send ledger.
type AttemptFilter struct {
	CampaignID string
	State      models.AttemptState
	LeadID     string
	// After is the last id of the previous page.
	After string
	Limit int
}

// ListAttempts pages through the ledger in creation order. It answers the
// cursor of the next page, empty on the last.
func ListAttempts(ctx context.Context, db *gorm.DB, f AttemptFilter) ([]models.Attempt, string, error) {
	q := db.WithContext(ctx).Where("campaign_id = ?", f.CampaignID)
	if f.State != "" {
		q = q.Where("state = ?", f.State)
	}
	if f.LeadID != "" {
		q = q.Where("lead_id = ?", f.LeadID)
	}
	if f.After != "" {
		q = q.Where("id > ?", f.After)
	}
	var out []models.Attempt
	if err := q.Order("id").Limit(f.Limit + 1).Find(&out).Error; err != nil {
		return nil, "", fmt.Errorf("list attempts: %w", err)
	}
	next := ""
	if len(out) > f.Limit {
		out = out[:f.Limit]
		next = out[len(out)-1].ID
	}
	return out, next, nil
}

// Follow-up states.
const (
	FollowUpScheduled     = "scheduled"
	FollowUpWaitingWindow = "waiting_window"
	FollowUpPaused        = "paused"
	FollowUpParked        = "parked"
	FollowUpCancelled     = "cancelled"
)

// FollowUp is the next automatic e-mail of one lead.
type FollowUp struct {
	LeadID string    `json:"lead_id"`
	Step   int       `json:"step"`
	DueAt  time.Time `json:"due_at"`
	State  string    `json:"state"`
	// Reason explains parked and cancelled follow-ups.
	Reason string `json:"reason,omitempty"`
}

// FollowUpFilter selects a page of follow-ups.
type FollowUpFilter struct {
	Campaign models.Campaign
	// State keeps only follow-ups in that state (the page may then hold
	// fewer than Limit; the cursor still advances).
	State string
	After string
	Limit int
	Now   time.Time
	// OOODefault is the pause after an out-of-office reply without a date.
	OOODefault time.Duration
}

// ListFollowUps computes, from the ledger, the settings and the replies,
// the next follow-up of each contacted lead (and, marked cancelled, of
// leads whose sequence a reply, bounce or block stopped). It pages by lead
// id and answers the next cursor, empty on the last page. The lead
// workflow owns the real timer; this view derives the same due time from
// the same rules: previous send + delay, no earlier than an out-of-office
// return, then the next window opening.
func ListFollowUps(ctx context.Context, db *gorm.DB, f FollowUpFilter) ([]FollowUp, string, error) {
	tx := db.WithContext(ctx)
	c := f.Campaign
	settings := c.Settings.Normalized()
	steps, err := sequenceSteps(tx, c.UserID, settings)
	if err != nil {
		return nil, "", err
	}
	w, err := models.ResolveWindow(settings)
	if err != nil {
		return nil, "", fmt.Errorf("campaign window: %w", err)
	}
	var leads []struct {
		ID            string
		Status        models.LeadStatus
		Suppressed    bool
		BlockedReason string
	}
	q := tx.Table("leads").Select("id", "status", "suppressed", "blocked_reason").
		Where("campaign_id = ? AND status <> ?", c.ID, models.StatusDiscovered)
	if f.After != "" {
		q = q.Where("id > ?", f.After)
	}
	if err := q.Order("id").Limit(f.Limit + 1).Scan(&leads).Error; err != nil {
		return nil, "", fmt.Errorf("list follow-up leads: %w", err)
	}
	next := ""
	if len(leads) > f.Limit {
		leads = leads[:f.Limit]
		next = leads[len(leads)-1].ID
	}
	if len(leads) == 0 {
		return []FollowUp{}, "", nil
	}
	ids := make([]string, len(leads))
	for i, l := range leads {
		ids[i] = l.ID
	}
	var rows []attemptRow
	if err := tx.Where("lead_id IN ?", ids).Order("step").Find(&rows).Error; err != nil {
		return nil, "", fmt.Errorf("follow-up attempts: %w", err)
	}
	byLead := map[string][]attemptRow{}
	for _, r := range rows {
		byLead[r.LeadID] = append(byLead[r.LeadID], r)
	}
	var ooo []struct {
		LeadID     string
		OOOUntil   *time.Time `gorm:"column:ooo_until"`
		ReceivedAt time.Time
	}
	if err := tx.Table("replies").Select("lead_id", "ooo_until", "received_at").
		Where("lead_id IN ? AND classification = ?", ids, models.ReplyOutOfOffice).Scan(&ooo).Error; err != nil {
		return nil, "", fmt.Errorf("follow-up out-of-office replies: %w", err)
	}
	notBefore := map[string]time.Time{}
	for _, o := range ooo {
		until := o.ReceivedAt.Add(f.OOODefault)
		if o.OOOUntil != nil {
			until = *o.OOOUntil
		}
		if until.After(notBefore[o.LeadID]) {
			notBefore[o.LeadID] = until.UTC()
		}
	}
	now := f.Now.UTC()
	out := []FollowUp{}
	for _, l := range leads {
		atts := byLead[l.ID]
		last := -1
		var lastAt time.Time
		var pending *attemptRow
		for i := range atts {
			a := &atts[i]
			switch a.State {
			case models.AttemptSent, models.AttemptUnknown:
				if a.Step > last {
					last = a.Step
					if a.SentAt != nil {
						lastAt = *a.SentAt
					} else if a.SendingAt != nil {
						lastAt = *a.SendingAt
					}
				}
			case models.AttemptPending:
				pending = a
			}
		}
		step := last + 1
		if last < 0 || step >= len(steps) {
			continue
		}
		fu := FollowUp{LeadID: l.ID, Step: step}
		due := lastAt.Add(time.Duration(steps[step].DelayDays * float64(24*time.Hour)))
		if nb := notBefore[l.ID]; nb.After(due) {
			due = nb
		}
		switch {
		case l.Status != models.StatusContacted:
			fu.State, fu.Reason = FollowUpCancelled, "lead is "+string(l.Status)
		case l.Suppressed || l.BlockedReason != "":
			fu.State, fu.Reason = FollowUpCancelled, "blocked: "+firstNonEmpty(l.BlockedReason, ReasonSuppressed)
		case c.State != models.CampaignActive:
			fu.State = FollowUpPaused
		case pending != nil && pending.Step == step:
			fu.State, fu.Reason = FollowUpParked, firstNonEmpty(pending.Error, "waiting for a send slot or cap room")
			if pending.SlotAt != nil && pending.SlotAt.After(due) {
				due = *pending.SlotAt
			}
		case !due.After(now) && !w.IsOpen(now):
			fu.State = FollowUpWaitingWindow
			due = w.NextOpen(now)
		default:
			fu.State = FollowUpScheduled
			due = w.NextOpen(due)
		}
		fu.DueAt = due.UTC()
		if f.State == "" || f.State == fu.State {
			out = append(out, fu)
		}
	}
	return out, next, nil
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

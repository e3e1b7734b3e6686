package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/models"
)

// The campaign workflow's queries. Leads are selected in id order (UUIDv7:
// creation order) through partial indexes (00002_sending.sql), so a query
// touches only the leads it returns, however large the campaign. The SQL
// keeps the index predicates literal so SQLite's planner can match them.

const (
	sqlUnstarted = "campaign_id = ? AND workflow_started = false"
	// sqlReady: a first touch that can be dispatched.
	sqlReady = "campaign_id = ? AND dispatched_at IS NULL AND status = 'discovered' AND workflow_started = true" +
		" AND contact_email <> '' AND suppressed = false AND blocked_reason = ''"
)

// CampaignSnapshot is what the campaign workflow needs to know about its
// campaign.
type CampaignSnapshot struct {
	Exists    bool
	State     models.CampaignState
	UserID    string
	Settings  models.CampaignSettings
	Unstarted int64
	Ready     int64
}

// SnapshotCampaign reads the campaign's state and its lead backlog. A
// missing campaign answers Exists false.
func SnapshotCampaign(ctx context.Context, db *gorm.DB, campaignID string) (CampaignSnapshot, error) {
	var s CampaignSnapshot
	var c models.Campaign
	q := db.WithContext(ctx)
	err := q.Where("id = ?", campaignID).Take(&c).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("load campaign: %w", err)
	}
	s.Exists, s.State, s.UserID, s.Settings = true, c.State, c.UserID, c.Settings.Normalized()
	if err := q.Model(&models.Lead{}).Where(sqlUnstarted, campaignID).Count(&s.Unstarted).Error; err != nil {
		return s, fmt.Errorf("count unstarted leads: %w", err)
	}
	if err := q.Model(&models.Lead{}).Where(sqlReady, campaignID).Count(&s.Ready).Error; err != nil {
		return s, fmt.Errorf("count ready leads: %w", err)
	}
	return s, nil
}

// Room is how many first touches may still be dispatched today.
type Room struct {
	N         int
	Unlimited bool
	// Next is when room can next appear if there is none now: the next
	// reset of a full cap.
	Next time.Time
}

// DispatchRoom computes today's room under the user cap and the campaign
// cap: the cap minus what was sent today minus first touches dispatched
// and not yet sent (of active campaigns, so a paused campaign does not
// starve the user's others). Follow-ups count through the counters. The
// recipient-domain cap is not part of it: it depends on the lead and is
// enforced at send time.
func DispatchRoom(ctx context.Context, db *gorm.DB, c models.Campaign, lim SendLimits, now time.Time) (Room, error) {
	return dispatchRoom(db.WithContext(ctx), c, lim, now)
}

func dispatchRoom(tx *gorm.DB, c models.Campaign, lim SendLimits, now time.Time) (Room, error) {
	room := Room{Unlimited: true}
	w, err := models.ResolveWindow(c.Settings)
	if err != nil {
		return room, fmt.Errorf("campaign window: %w", err)
	}
	take := func(capacity int, used int64, inflight int64, next time.Time) {
		left := max(capacity-int(used)-int(inflight), 0)
		if room.Unlimited || left < room.N {
			room.N = left
		}
		room.Unlimited = false
		if left == 0 && (room.Next.IsZero() || next.Before(room.Next)) {
			room.Next = next
		}
	}
	// The counter and the first touches in flight are read in one
	// statement, so one snapshot: a send committing between two reads would
	// otherwise leave the lead counted in neither.
	const roomSQL = `SELECT
(SELECT coalesce(max(count), 0) FROM send_counters WHERE user_id = ? AND scope = ? AND scope_key = ? AND day = ?),
(SELECT count(*) FROM leads l JOIN campaigns c ON c.id = l.campaign_id
 WHERE l.user_id = ? AND l.dispatched_at IS NOT NULL AND l.status = 'discovered'
 AND l.blocked_reason = '' AND l.suppressed = false AND c.state = 'active' %s
 AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.lead_id = l.id AND a.step = 0 AND a.state = 'sending'))`
	if lim.UserDailyCap > 0 {
		var used, inflight int64
		if err := tx.Raw(fmt.Sprintf(roomSQL, ""), c.UserID, scopeUser, "", models.DayKey(now, time.UTC), c.UserID).
			Row().Scan(&used, &inflight); err != nil {
			return room, fmt.Errorf("user room: %w", err)
		}
		take(lim.UserDailyCap, used, inflight, models.StartOfNextDay(now, time.UTC))
	}
	if c.Settings.DailyCap != nil && *c.Settings.DailyCap > 0 {
		var used, inflight int64
		if err := tx.Raw(fmt.Sprintf(roomSQL, "AND l.campaign_id = ?"), c.UserID, scopeCampaign, c.ID, models.DayKey(now, w.Loc),
			c.UserID, c.ID).Row().Scan(&used, &inflight); err != nil {
			return room, fmt.Errorf("campaign room: %w", err)
		}
		take(*c.Settings.DailyCap, used, inflight, models.StartOfNextDay(now, w.Loc))
	}
	return room, nil
}

func counterValue(tx *gorm.DB, userID, scope, key, day string) (int64, error) {
	var n sql.NullInt64
	err := tx.Raw("SELECT count FROM send_counters WHERE user_id = ? AND scope = ? AND scope_key = ? AND day = ?",
		userID, scope, key, day).Row().Scan(&n)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("read %s counter: %w", scope, err)
	}
	return n.Int64, nil
}

// LeadStart is a lead whose workflow the campaign is about to start.
type LeadStart struct {
	ID     string
	Status models.LeadStatus
	// Dispatch: the workflow starts already told to send its first step.
	Dispatch bool
}

// NextLeadsToStart returns up to limit leads of the campaign that have no
// workflow yet. When dispatch is set (the campaign is active) it also
// chooses, among them, the first touches today's room allows and marks
// them dispatched in the same transaction, so the room computed next sees
// them in flight.
func NextLeadsToStart(ctx context.Context, db *gorm.DB, c models.Campaign, limit int, dispatch bool, lim SendLimits, now time.Time) ([]LeadStart, error) {
	var out []LeadStart
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var leads []struct {
			ID            string
			Status        models.LeadStatus
			ContactEmail  string
			Suppressed    bool
			DispatchedAt  *time.Time
			BlockedReason string
		}
		if err := tx.Table("leads").Select("id", "status", "contact_email", "suppressed", "dispatched_at", "blocked_reason").
			Where(sqlUnstarted, c.ID).Order("id").Limit(limit).Scan(&leads).Error; err != nil {
			return fmt.Errorf("select leads to start: %w", err)
		}
		if len(leads) == 0 {
			return nil
		}
		room := Room{}
		if dispatch {
			var err error
			if room, err = dispatchRoom(tx, c, lim, now); err != nil {
				return err
			}
		}
		var mark []string
		out = make([]LeadStart, len(leads))
		for i, l := range leads {
			ls := LeadStart{ID: l.ID, Status: l.Status, Dispatch: l.DispatchedAt != nil && l.Status == models.StatusDiscovered}
			if !ls.Dispatch && dispatch && l.Status == models.StatusDiscovered && l.ContactEmail != "" && !l.Suppressed &&
				l.BlockedReason == "" && (room.Unlimited || room.N > 0) {
				ls.Dispatch = true
				room.N--
				mark = append(mark, l.ID)
			}
			out[i] = ls
		}
		return setDispatched(tx, mark, now)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MarkWorkflowsStarted records that the leads' workflows exist.
func MarkWorkflowsStarted(ctx context.Context, db *gorm.DB, campaignID string, ids []string) error {
	for start := 0; start < len(ids); start += 500 {
		batch := ids[start:min(start+500, len(ids))]
		if err := db.WithContext(ctx).Exec("UPDATE leads SET workflow_started = true WHERE campaign_id = ? AND id IN ?",
			campaignID, batch).Error; err != nil {
			return fmt.Errorf("mark workflows started: %w", err)
		}
	}
	return nil
}

// ReadyLeads returns up to limit first touches ready to dispatch, in id
// order.
func ReadyLeads(ctx context.Context, db *gorm.DB, campaignID string, limit int) ([]string, error) {
	var ids []string
	if err := db.WithContext(ctx).Model(&models.Lead{}).Where(sqlReady, campaignID).Order("id").Limit(limit).
		Pluck("id", &ids).Error; err != nil {
		return nil, fmt.Errorf("select ready leads: %w", err)
	}
	return ids, nil
}

// SetDispatched marks leads dispatched.
func SetDispatched(ctx context.Context, db *gorm.DB, ids []string, now time.Time) error {
	return setDispatched(db.WithContext(ctx), ids, now)
}

func setDispatched(tx *gorm.DB, ids []string, now time.Time) error {
	for start := 0; start < len(ids); start += 500 {
		batch := ids[start:min(start+500, len(ids))]
		if err := tx.Exec("UPDATE leads SET dispatched_at = ?, updated_at = ? WHERE id IN ? AND dispatched_at IS NULL",
			now.UTC(), now.UTC(), batch).Error; err != nil {
			return fmt.Errorf("mark leads dispatched: %w", err)
		}
	}
	return nil
}

// ParkedLeadIDs pages through the leads parked while the campaign was
// paused (after the given id, in order); the caller wakes them and then
// unparks those it reached (UnparkLeads), so a lead whose wake-up failed is
// woken by the next resume.
func ParkedLeadIDs(ctx context.Context, db *gorm.DB, campaignID, after string, limit int) ([]string, error) {
	return leadIDPage(ctx, db, campaignID, after, limit, "parked", "parked_at IS NOT NULL")
}

// leadIDPage answers up to limit ids of the campaign's leads after the
// given id, in order, that also meet cond (with args); what names them in
// an error.
func leadIDPage(ctx context.Context, db *gorm.DB, campaignID, after string, limit int, what, cond string, args ...any) ([]string, error) {
	var ids []string
	q := db.WithContext(ctx).Model(&models.Lead{}).Where("campaign_id = ? AND id > ?", campaignID, after)
	if cond != "" {
		q = q.Where(cond, args...)
	}
	if err := q.Order("id").Limit(limit).Pluck("id", &ids).Error; err != nil {
		return nil, fmt.Errorf("list %s leads: %w", what, err)
	}
	return ids, nil
}

// UnparkLeads clears the parked mark of leads that were woken.
func UnparkLeads(ctx context.Context, db *gorm.DB, ids []string) error {
	for len(ids) > 0 {
		n := min(len(ids), 500)
		if err := db.WithContext(ctx).Exec("UPDATE leads SET parked_at = NULL WHERE id IN ?", ids[:n]).Error; err != nil {
			return fmt.Errorf("unpark leads: %w", err)
		}
		ids = ids[n:]
	}
	return nil
}

// LeadIDsOfCampaignInStatus pages through the ids of a campaign's leads in
// one status (after the given id, in order).
func LeadIDsOfCampaignInStatus(ctx context.Context, db *gorm.DB, campaignID string, status models.LeadStatus, after string, limit int) ([]string, error) {
	return leadIDPage(ctx, db, campaignID, after, limit, string(status), "status = ?", status)
}

// LeadIDsOfCampaign pages through every lead id of a campaign (after the
// given id, in order), for stopping all its workflows.
func LeadIDsOfCampaign(ctx context.Context, db *gorm.DB, campaignID, after string, limit int) ([]string, error) {
	return leadIDPage(ctx, db, campaignID, after, limit, "campaign", "")
}

// SendingCount counts the campaign's ledger rows in an SMTP conversation.
func SendingCount(ctx context.Context, db *gorm.DB, campaignID string) (int64, error) {
	var n int64
	if err := db.WithContext(ctx).Model(&models.Attempt{}).Where("campaign_id = ? AND state = ?", campaignID, models.AttemptSending).
		Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count sends in flight: %w", err)
	}
	return n, nil
}

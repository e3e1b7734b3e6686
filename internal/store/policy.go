package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/models"
)

// PolicyCheck asks whether a send to Recipient would pass the policy now,
// without sending or reserving anything.
type PolicyCheck struct {
	UserID    string
	Recipient string
	// Campaign, when set, adds the campaign cap, state and window.
	Campaign *models.Campaign
	// Subject, when set, adds the duplicate check.
	Subject string
	Limits  SendLimits
	Now     time.Time
}

// CapUse is one daily counter against its cap.
type CapUse struct {
	Scope string `json:"scope"`
	Key   string `json:"key,omitempty"`
	Day   string `json:"day"`
	Count int64  `json:"count"`
	// Limit is 0 when the cap is disabled.
	Limit int `json:"limit"`
}

// PolicyReport is the dry-run verdict.
type PolicyReport struct {
	Allowed bool `json:"allowed"`
	// Reason is the first rule that refuses, empty when allowed; Reasons
	// lists every one.
	Reason       string    `json:"reason,omitempty"`
	Reasons      []string  `json:"reasons"`
	LegalBasis   string    `json:"legal_basis"`
	SuppressedBy string    `json:"suppressed_by,omitempty"`
	Caps         []CapUse  `json:"caps"`
	WindowOpen   *bool     `json:"window_open,omitempty"`
	NextOpen     time.Time `json:"next_window_open,omitzero"`
}

// CheckPolicy evaluates the same rules as BeginSend, read-only. Refusals are
// ordered as BeginSend checks them: campaign state, window, suppression,
// duplicate, then caps.
func CheckPolicy(ctx context.Context, db *gorm.DB, p PolicyCheck) (PolicyReport, error) {
	tx := db.WithContext(ctx)
	now := p.Now.UTC()
	rep := PolicyReport{Reasons: []string{}, LegalBasis: models.LegalBasisFor(p.Recipient)}
	loc := time.UTC
	if c := p.Campaign; c != nil {
		if c.State != models.CampaignActive {
			rep.Reasons = append(rep.Reasons, ReasonCampaignInactive)
		}
		w, err := models.ResolveWindow(c.Settings)
		if err != nil {
			return rep, fmt.Errorf("campaign window: %w", err)
		}
		loc = w.Loc
		open := w.NextOpen(now)
		isOpen := !open.After(now)
		rep.WindowOpen = &isOpen
		if !isOpen {
			rep.NextOpen = open.UTC()
			rep.Reasons = append(rep.Reasons, ReasonWindow)
		}
	}
	hit, err := suppressionHit(tx, p.UserID, p.Recipient)
	if err != nil {
		return rep, err
	}
	if hit != "" {
		rep.SuppressedBy = hit
		rep.Reasons = append(rep.Reasons, ReasonSuppressed)
	}
	if p.Subject != "" {
		var dup int64
		if err := tx.Model(&models.Attempt{}).
			Where("user_id = ? AND lower(recipient) = lower(?) AND subject = ? AND state IN ? AND sending_at > ?",
				p.UserID, p.Recipient, p.Subject,
				[]models.AttemptState{models.AttemptSending, models.AttemptSent, models.AttemptUnknown}, now.Add(-24*time.Hour)).
			Count(&dup).Error; err != nil {
			return rep, fmt.Errorf("duplicate check: %w", err)
		}
		if dup > 0 {
			rep.Reasons = append(rep.Reasons, ReasonDuplicate)
		}
	}
	c := models.Campaign{UserID: p.UserID}
	if p.Campaign != nil {
		c = *p.Campaign
	}
	for _, k := range counterKeys(c, models.EmailDomain(p.Recipient), now, loc, p.Limits) {
		if k.scope == scopeCampaign && p.Campaign == nil {
			continue
		}
		n, err := counterValue(tx, p.UserID, k.scope, k.key, k.day)
		if err != nil {
			return rep, err
		}
		rep.Caps = append(rep.Caps, CapUse{Scope: k.scope, Key: k.key, Day: k.day, Count: n, Limit: k.limit})
		if k.limit > 0 && n >= int64(k.limit) {
			rep.Reasons = append(rep.Reasons, k.reason)
		}
	}
	rep.Allowed = len(rep.Reasons) == 0
	if !rep.Allowed {
		rep.Reason = rep.Reasons[0]
	}
	return rep, nil
}

// IsSuppressed answers the suppression entry (address or "@domain") that
// forbids mail to addr for the user, or "" when none does.
func IsSuppressed(ctx context.Context, db *gorm.DB, userID, addr string) (string, error) {
	return suppressionHit(db.WithContext(ctx), userID, strings.TrimSpace(addr))
}

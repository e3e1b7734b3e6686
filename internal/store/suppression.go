package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/net/idna"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/backlinkoutreach/outreach/models"
)

// ErrSuppressionNotFound answers a delete of an entry the user does not
// have.
var ErrSuppressionNotFound = errors.New("suppression entry not found")

// NormalizeSuppression validates a suppression value: an e-mail address
// (stored lower-cased: the list must match however the address is spelt) or
// a whole domain written "@example.com".
func NormalizeSuppression(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if strings.HasPrefix(s, "@") {
		// A domain is valid when some address at it is.
		if _, err := models.NormalizeEmail("x" + s); err != nil {
			return "", models.ErrInvalidEmail
		}
		return strings.ToLower(s), nil
	}
	a, err := models.NormalizeEmail(s)
	if err != nil {
		return "", err
	}
	return strings.ToLower(a), nil
}

// AddSuppression adds an entry to the user's list and flags the user's
// leads it covers. Adding a value that is already listed keeps the existing
// entry (its first reason and source) and answers it with created false,
// unless a reply's tag wrote it: then it becomes this source's (see
// claimSuppressionTx).
func AddSuppression(ctx context.Context, db *gorm.DB, userID, value, reason, source string, now time.Time) (models.Suppression, bool, error) {
	v, err := NormalizeSuppression(value)
	if err != nil {
		return models.Suppression{}, false, fmt.Errorf("suppress %q: %w", value, err)
	}
	now = now.UTC()
	var out models.Suppression
	created := false
	err = db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		s := models.Suppression{ID: models.NewID(), UserID: userID, Value: v, Reason: reason, Source: source, CreatedAt: now}
		res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&s)
		if res.Error != nil {
			return fmt.Errorf("insert suppression: %w", res.Error)
		}
		created = res.RowsAffected == 1
		if !created {
			if err := claimSuppressionTx(tx, userID, v, source, reason); err != nil {
				return err
			}
		}
		if err := tx.Where("user_id = ? AND value = ?", userID, v).Take(&out).Error; err != nil {
			return fmt.Errorf("read suppression: %w", err)
		}
		return flagLeadsTx(tx, userID, v, true, now)
	})
	if err != nil {
		return models.Suppression{}, false, fmt.Errorf("add suppression: %w", err)
	}
	return out, created, nil
}

// claimSuppressionTx makes an entry that a reply's tag wrote the user's
// own (source and reason of this assertion, no reply): the address was
// suppressed again by hand, by a one-click unsubscribe or by an SMTP 5xx,
// so reclassifying that reply must no longer lift it
// (liftReplySuppressionTx). Other entries keep their first source.
func claimSuppressionTx(tx *gorm.DB, userID, value, source, reason string) error {
	err := tx.Exec("UPDATE suppressions SET reply_id = NULL, source = ?, reason = ? WHERE user_id = ? AND value = ? AND reply_id IS NOT NULL",
		source, reason, userID, value).Error
	if err != nil {
		return fmt.Errorf("claim suppression: %w", err)
	}
	return nil
}

// flagLeadsTx sets the suppressed flag of the user's leads covered by value
// (an address or "@domain").
func flagLeadsTx(tx *gorm.DB, userID, value string, on bool, now time.Time) error {
	q := tx.Model(&models.Lead{}).Where("user_id = ? AND suppressed = ?", userID, !on)
	if strings.HasPrefix(value, "@") {
		q = q.Where("lower(contact_email) LIKE ? ESCAPE '\\'", "%"+escapeLike(value))
	} else {
		q = q.Where("lower(contact_email) = ?", value)
	}
	if err := q.Updates(map[string]any{"suppressed": on, "updated_at": now}).Error; err != nil {
		return fmt.Errorf("flag suppressed leads: %w", err)
	}
	return nil
}

// SuppressionFilter selects a page of the user's list.
type SuppressionFilter struct {
	UserID string
	Source string
	// Query keeps entries whose value contains it.
	Query string
	After string
	Limit int
}

// ListSuppressions pages through the user's list, newest first, answering
// the next cursor (empty on the last page).
func ListSuppressions(ctx context.Context, db *gorm.DB, f SuppressionFilter) ([]models.Suppression, string, error) {
	q := db.WithContext(ctx).Where("user_id = ?", f.UserID)
	if f.Source != "" {
		q = q.Where("source = ?", f.Source)
	}
	if f.Query != "" {
		q = q.Where("value LIKE ? ESCAPE '\\'", "%"+escapeLike(strings.ToLower(f.Query))+"%")
	}
	if f.After != "" {
		q = q.Where("id < ?", f.After)
	}
	var out []models.Suppression
	if err := q.Order("id DESC").Limit(f.Limit + 1).Find(&out).Error; err != nil {
		return nil, "", fmt.Errorf("list suppressions: %w", err)
	}
	next := ""
	if len(out) > f.Limit {
		out = out[:f.Limit]
		next = out[len(out)-1].ID
	}
	return out, next, nil
}

// DeleteSuppression removes one entry, named by its id or by its value,
// and clears the flag of leads no other entry still covers. It answers the
// removed entry.
func DeleteSuppression(ctx context.Context, db *gorm.DB, userID, idOrValue string) (models.Suppression, error) {
	var s models.Suppression
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		q := tx.Where("user_id = ?", userID)
		if models.ValidID(idOrValue) {
			q = q.Where("id = ?", idOrValue)
		} else {
			v, err := NormalizeSuppression(idOrValue)
			if err != nil {
				return ErrSuppressionNotFound
			}
			q = q.Where("value = ?", v)
		}
		if err := q.Take(&s).Error; errors.Is(err, gorm.ErrRecordNotFound) {
			return ErrSuppressionNotFound
		} else if err != nil {
			return fmt.Errorf("find suppression: %w", err)
		}
		if err := tx.Delete(&models.Suppression{}, "id = ?", s.ID).Error; err != nil {
			return fmt.Errorf("delete suppression: %w", err)
		}
		return unflagLeadsTx(tx, userID, s.Value)
	})
	if err != nil {
		return s, fmt.Errorf("delete suppression: %w", err)
	}
	return s, nil
}

// unflagLeadsTx clears the flag of the leads value covered, unless another
// entry (their address or their domain) still covers them.
func unflagLeadsTx(tx *gorm.DB, userID, value string) error {
	q := tx.Model(&models.Lead{}).Where("user_id = ? AND suppressed = ?", userID, true)
	if strings.HasPrefix(value, "@") {
		q = q.Where("lower(contact_email) LIKE ? ESCAPE '\\'", "%"+escapeLike(value))
	} else {
		q = q.Where("lower(contact_email) = ?", value)
	}
	var leads []models.Lead
	if err := q.Select("id", "contact_email").Find(&leads).Error; err != nil {
		return fmt.Errorf("find suppressed leads: %w", err)
	}
	covered, err := suppressedSet(tx, userID, contactEmails(leads))
	if err != nil {
		return err
	}
	var clear []string
	for _, l := range leads {
		if !covered[strings.ToLower(l.ContactEmail)] {
			clear = append(clear, l.ID)
		}
	}
	for len(clear) > 0 {
		n := min(len(clear), 500)
		if err := tx.Model(&models.Lead{}).Where("id IN ?", clear[:n]).
			Updates(map[string]any{"suppressed": false, "updated_at": time.Now().UTC()}).Error; err != nil {
			return fmt.Errorf("unflag leads: %w", err)
		}
		clear = clear[n:]
	}
	return nil
}

func contactEmails(leads []models.Lead) []string {
	out := make([]string, 0, len(leads))
	for _, l := range leads {
		out = append(out, l.ContactEmail)
	}
	return out
}

// SuppressedAmong answers which of addrs the user's list covers (by address
// or domain), keyed by the lower-cased address. Bulk lead imports use it to
// report suppressed addresses.
func SuppressedAmong(ctx context.Context, db *gorm.DB, userID string, addrs []string) (map[string]bool, error) {
	return suppressedSet(db.WithContext(ctx), userID, addrs)
}

// suppressionKeys are the list values that cover addr: the address and
// its "@domain", lower-cased, each also with its domain in the other form
// of an internationalised name (münchen.de and xn--mnchen-3ya.de are one
// domain, and lists are copied from bounce reports and DNS tools in
// either).
func suppressionKeys(addr string) []string {
	a := strings.ToLower(strings.TrimSpace(addr))
	if a == "" {
		return nil
	}
	at := strings.LastIndexByte(a, '@')
	if at < 0 {
		return []string{a}
	}
	local, domain := a[:at], a[at+1:]
	keys := []string{a, "@" + domain}
	for _, conv := range []func(string) (string, error){idna.Lookup.ToASCII, idna.Lookup.ToUnicode} {
		if other, err := conv(domain); err == nil && other != "" && other != domain {
			other = strings.ToLower(other)
			keys = append(keys, local+"@"+other, "@"+other)
		}
	}
	return keys
}

func suppressedSet(tx *gorm.DB, userID string, addrs []string) (map[string]bool, error) {
	out := map[string]bool{}
	keys := map[string]bool{}
	covering := make([][]string, len(addrs)) // each address's keys
	for i, a := range addrs {
		covering[i] = suppressionKeys(a)
		for _, k := range covering[i] {
			keys[k] = true
		}
	}
	if len(keys) == 0 {
		return out, nil
	}
	list := make([]string, 0, len(keys))
	for k := range keys {
		list = append(list, k)
	}
	hit := map[string]bool{}
	for len(list) > 0 {
		n := min(len(list), 500)
		var vals []string
		if err := tx.Model(&models.Suppression{}).Where("user_id = ? AND value IN ?", userID, list[:n]).
			Pluck("value", &vals).Error; err != nil {
			return nil, fmt.Errorf("suppression lookup: %w", err)
		}
		for _, v := range vals {
			hit[v] = true
		}
		list = list[n:]
	}
	for i, a := range addrs {
		for _, k := range covering[i] {
			if hit[k] {
				out[strings.ToLower(strings.TrimSpace(a))] = true
				break
			}
		}
	}
	return out, nil
}

// FlagLeadsSuppressed sets the suppressed flag of the given leads.
func FlagLeadsSuppressed(ctx context.Context, db *gorm.DB, ids []string, now time.Time) error {
	for len(ids) > 0 {
		n := min(len(ids), 500)
		if err := db.WithContext(ctx).Model(&models.Lead{}).Where("id IN ?", ids[:n]).
			Updates(map[string]any{"suppressed": true, "updated_at": now.UTC()}).Error; err != nil {
			return fmt.Errorf("flag suppressed leads: %w", err)
		}
		ids = ids[n:]
	}
	return nil
}

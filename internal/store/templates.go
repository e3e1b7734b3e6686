package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/backlinkoutreach/outreach/models"
)

// CreateTemplate inserts t; the caller fills every field.
func CreateTemplate(ctx context.Context, db *gorm.DB, t *models.Template) error {
	if err := db.WithContext(ctx).Create(t).Error; err != nil {
		return fmt.Errorf("create template: %w", err)
	}
	return nil
}

// TemplateForUser loads a template the user owns. Another user's template, a
// malformed id and a missing one all answer models.ErrTemplateNotFound.
func TemplateForUser(ctx context.Context, db *gorm.DB, userID, templateID string) (models.Template, error) {
	q := db.WithContext(ctx).Where("user_id = ?", userID)
	return takeByID[models.Template](q, templateID, models.ErrTemplateNotFound, "template")
}

// TemplateFilter selects one page of a user's templates, ordered by id
// (creation order).
type TemplateFilter struct {
	UserID string
	// Category keeps templates of that category only, when not empty.
	Category string
	After    string
	Limit    int
}

// ListTemplates returns one page of templates and the id to continue after
// ("" on the last page).
func ListTemplates(ctx context.Context, db *gorm.DB, f TemplateFilter) ([]models.Template, string, error) {
	q := db.WithContext(ctx).Where("user_id = ?", f.UserID)
	if f.Category != "" {
		q = q.Where("category = ?", f.Category)
	}
	if f.After != "" {
		q = q.Where("id > ?", f.After)
	}
	var out []models.Template
	if err := q.Order("id").Limit(f.Limit + 1).Find(&out).Error; err != nil {
		return nil, "", fmt.Errorf("list templates: %w", err)
	}
	if len(out) <= f.Limit {
		return out, "", nil
	}
	out = out[:f.Limit]
	return out, out[len(out)-1].ID, nil
}

// UpdateTemplate replaces the editable fields of the user's template.
func UpdateTemplate(ctx context.Context, db *gorm.DB, t *models.Template) error {
	t.UpdatedAt = time.Now().UTC()
	res := db.WithContext(ctx).Model(&models.Template{}).
		Where("id = ? AND user_id = ?", t.ID, t.UserID).
		Select("name", "category", "subject", "body", "html_body", "updated_at").
		Updates(t)
	if res.Error != nil {
		return fmt.Errorf("update template: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return models.ErrTemplateNotFound
	}
	return nil
}

// TemplateInUseError refuses to delete a template that a campaign's
// sequence still sends.
type TemplateInUseError struct {
	Campaigns []models.Campaign
}

func (e *TemplateInUseError) Error() string {
	names := make([]string, len(e.Campaigns))
	for i, c := range e.Campaigns {
		names[i] = fmt.Sprintf("%q (%s)", c.Name, c.ID)
	}
	return "the template is used by the sequence of campaign " + strings.Join(names, ", ") +
		"; change those sequences first"
}

// Unwrap lets errors.Is(err, models.ErrConflict) match.
func (e *TemplateInUseError) Unwrap() error { return models.ErrConflict }

// DeleteTemplate removes the user's template unless a campaign sequence (of
// a campaign not being deleted) names it: the engine renders steps from
// their template at send time, so deleting it would break those sends.
func DeleteTemplate(ctx context.Context, db *gorm.DB, userID, templateID string) error {
	if !models.ValidID(templateID) {
		return models.ErrTemplateNotFound
	}
	return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// The row lock orders this delete against a sequence being saved
		// with the template (OwnedTemplates takes a share lock): one of the
		// two sees the other's result.
		var t models.Template
		err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).
			Where("id = ? AND user_id = ?", templateID, userID).Take(&t).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return models.ErrTemplateNotFound
		}
		if err != nil {
			return fmt.Errorf("delete template: %w", err)
		}
		users, err := CampaignsUsingTemplates(ctx, tx, userID, []string{templateID})
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return &TemplateInUseError{Campaigns: users}
		}
		res := tx.Where("id = ? AND user_id = ?", templateID, userID).Delete(&models.Template{})
		if res.Error != nil {
			return fmt.Errorf("delete template: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return models.ErrTemplateNotFound
		}
		return nil
	})
}

// CampaignsUsingTemplates lists the user's campaigns whose sequence names
// any of templateIDs. Sequences live in the settings JSON, so the user's
// campaigns are read and checked here; a user has hundreds of campaigns, not
// millions.
func CampaignsUsingTemplates(ctx context.Context, db *gorm.DB, userID string, templateIDs []string) ([]models.Campaign, error) {
	want := make(map[string]bool, len(templateIDs))
	for _, id := range templateIDs {
		want[id] = true
	}
	var all []models.Campaign
	err := db.WithContext(ctx).Select("id, name, settings").
		Where("user_id = ? AND state <> ?", userID, models.CampaignDeleting).
		Order("id").Find(&all).Error
	if err != nil {
		return nil, fmt.Errorf("find template users: %w", err)
	}
	var out []models.Campaign
	for _, c := range all {
		for _, st := range c.Settings.Sequence {
			if want[st.TemplateID] {
				out = append(out, c)
				break
			}
		}
	}
	return out, nil
}

// OwnedTemplates returns the templates among ids that the user owns, by id.
// Inside a transaction it share-locks them until commit, so a template
// cannot be deleted between this check and the write that uses it.
func OwnedTemplates(ctx context.Context, db *gorm.DB, userID string, ids []string) (map[string]models.Template, error) {
	valid := make([]string, 0, len(ids))
	seen := map[string]bool{}
	for _, id := range ids {
		if models.ValidID(id) && !seen[id] {
			seen[id] = true
			valid = append(valid, id)
		}
	}
	out := make(map[string]models.Template, len(valid))
	if len(valid) == 0 {
		return out, nil
	}
	sort.Strings(valid)
	var ts []models.Template
	err := db.WithContext(ctx).Clauses(clause.Locking{Strength: "SHARE"}).
		Where("user_id = ? AND id IN ?", userID, valid).Find(&ts).Error
	if err != nil {
		return nil, fmt.Errorf("load templates: %w", err)
	}
	for _, t := range ts {
		out[t.ID] = t
	}
	return out, nil
}

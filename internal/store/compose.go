package store

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/internal/mail"
	"github.com/backlinkoutreach/outreach/models"
)

// ComposedStep is one step of a campaign's sequence with its template
// resolved.
type ComposedStep struct {
	Subject   string
	Body      string
	HTML      string
	DelayDays float64
	// Missing names a template the step uses that no longer exists.
	Missing string
}

// SequenceSteps resolves the effective sequence of normalised settings,
// loading the templates its steps name.
func SequenceSteps(ctx context.Context, db *gorm.DB, userID string, s models.CampaignSettings) ([]ComposedStep, error) {
	return sequenceSteps(db.WithContext(ctx), userID, s)
}

func sequenceSteps(tx *gorm.DB, userID string, s models.CampaignSettings) ([]ComposedStep, error) {
	seq := s.Normalized().Sequence
	var ids []string
	for _, st := range seq {
		if st.TemplateID != "" && models.ValidID(st.TemplateID) {
			ids = append(ids, st.TemplateID)
		}
	}
	tpls := map[string]models.Template{}
	if len(ids) > 0 {
		var ts []models.Template
		if err := tx.Where("user_id = ? AND id IN ?", userID, ids).Find(&ts).Error; err != nil {
			return nil, fmt.Errorf("load sequence templates: %w", err)
		}
		for _, t := range ts {
			tpls[t.ID] = t
		}
	}
	out := make([]ComposedStep, len(seq))
	for i, st := range seq {
		cs := ComposedStep{Subject: st.Subject, Body: st.Body, HTML: st.HTMLBody, DelayDays: st.DelayDays}
		if st.TemplateID != "" {
			t, ok := tpls[st.TemplateID]
			if !ok {
				cs.Missing = st.TemplateID
			}
			cs.Subject, cs.Body, cs.HTML = t.Subject, t.Body, t.HTMLBody
		}
		out[i] = cs
	}
	return out, nil
}

// Rendered is one step rendered for one lead.
type Rendered struct {
	Subject string
	Text    string
	HTML    string
	// Problems lists placeholders that would leave the message broken:
	// "unfilled:name", "unknown:foo".
	Problems []string
}

// RenderStep renders step i of steps for lead l. Follow-ups (i > 0) go out
// as "Re: <thread subject>": threadSubject is the subject step 0 was sent
// with, or empty to render step 0's subject now.
func RenderStep(c models.Campaign, l models.Lead, steps []ComposedStep, i int, threadSubject string) Rendered {
	values := models.PlaceholderValues(c, l)
	problems := map[string]bool{}
	renderWith := func(text string, values map[string]string) string {
		r := models.Render(text, values)
		for _, u := range r.Unknown {
			problems["unknown:"+u] = true
		}
		for _, u := range r.Unfilled {
			problems["unfilled:"+u] = true
		}
		return r.Text
	}
	render := func(text string) string { return renderWith(text, values) }
	out := Rendered{}
	if i == 0 {
		out.Subject = render(steps[0].Subject)
	} else {
		if threadSubject == "" {
			threadSubject = render(steps[0].Subject)
		}
		out.Subject = mail.FollowUpSubject(threadSubject)
	}
	out.Text = render(steps[i].Body)
	if strings.TrimSpace(steps[i].HTML) != "" {
		out.HTML = renderWith(steps[i].HTML, models.HTMLValues(values))
	}
	for p := range problems {
		out.Problems = append(out.Problems, p)
	}
	sort.Strings(out.Problems)
	return out
}

// LaunchProblem is a lead for which a step would go out with a broken
// placeholder.
type LaunchProblem struct {
	LeadID string
	Step   int
	// Placeholders reads "unfilled:name" or "unknown:foo".
	Placeholders []string
}

// LaunchCheck is what stands between a campaign and its launch.
type LaunchCheck struct {
	// MissingTemplates lists steps whose template no longer exists.
	MissingTemplates []int
	// Problems holds the first problems found (up to the limit asked);
	// Total counts them all.
	Problems []LaunchProblem
	Total    int
}

// CheckLaunch renders every step the campaign would still send for every
// lead that can receive mail (discovered, or contacted by its pitch from
// this engine; with an address, not suppressed) and reports broken
// placeholders.
func CheckLaunch(ctx context.Context, db *gorm.DB, c models.Campaign, limit int) (LaunchCheck, error) {
	var out LaunchCheck
	tx := db.WithContext(ctx)
	steps, err := sequenceSteps(tx, c.UserID, c.Settings)
	if err != nil {
		return out, err
	}
	for i, st := range steps {
		if st.Missing != "" {
			out.MissingTemplates = append(out.MissingTemplates, i)
		}
	}
	if len(out.MissingTemplates) > 0 {
		return out, nil
	}
	after := ""
	for {
		// A contacted lead gets follow-ups only when this engine sent its
		// pitch: one marked contacted by hand (in a draft campaign, every
		// one) has no sequence to run, so nothing to check.
		var leads []models.Lead
		q := tx.Where("campaign_id = ? AND contact_email <> '' AND suppressed = ? AND id > ? AND (status = ? OR "+
			"(status = ? AND EXISTS (SELECT 1 FROM attempts a WHERE a.lead_id = leads.id AND a.step = 0 AND a.state IN ?)))",
			c.ID, false, after, models.StatusDiscovered, models.StatusContacted,
			[]models.AttemptState{models.AttemptSent, models.AttemptUnknown, models.AttemptSending})
		if err := q.Order("id").Limit(1000).Find(&leads).Error; err != nil {
			return out, fmt.Errorf("launch check leads: %w", err)
		}
		for _, l := range leads {
			first := 0
			if l.Status == models.StatusContacted {
				first = 1 // the pitch is already out
			}
			for i := first; i < len(steps); i++ {
				// Follow-ups reuse the pitch's subject, checked at step 0.
				r := RenderStep(c, l, steps, i, "(thread)")
				if len(r.Problems) == 0 {
					continue
				}
				out.Total++
				if len(out.Problems) < limit {
					out.Problems = append(out.Problems, LaunchProblem{LeadID: l.ID, Step: i, Placeholders: r.Problems})
				}
			}
		}
		if len(leads) < 1000 {
			return out, nil
		}
		after = leads[len(leads)-1].ID
	}
}

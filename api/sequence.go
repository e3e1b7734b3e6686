package api

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/models"
)

// SequenceInput is the body of PUT /campaigns/{id}/sequence: step 0 is the
// pitch, later steps are follow-ups sent delay_days after the previous step,
// in the same thread ("Re: <step 0 subject>"). Each step names one of the
// caller's templates or carries its own subject and body.
type SequenceInput struct {
	Steps []models.SeqStep `json:"steps" required:"true" doc:"1 to 10 steps"`
}

// SequenceOut is a campaign's effective sequence.
type SequenceOut struct {
	Steps []models.SeqStep `json:"steps"`
	// Default is true while the campaign has no sequence of its own and
	// sends the built-in pitch and two follow-ups.
	Default             bool               `json:"default"`
	UnknownPlaceholders []StepPlaceholders `json:"unknown_placeholders" doc:"per step, {names} the engine does not fill (probably typos)"`
}

// StepPlaceholders names placeholders of one sequence step.
type StepPlaceholders struct {
	Step  int      `json:"step"`
	Names []string `json:"names"`
}

func (s *Server) putSequence(c *gin.Context) {
	ctx := c.Request.Context()
	var in SequenceInput
	if err := decodeJSON(c, &in); err != nil {
		fail(c, err)
		return
	}
	camp, err := store.UpdateCampaign(ctx, s.db, currentUser(c).ID, currentCampaign(c).ID, func(tx *gorm.DB, camp *models.Campaign) ([]string, error) {
		v := &models.ValidationError{}
		addDecodeErr(v, models.ValidateSequence(in.Steps, "steps", false))
		if err := checkSequenceSteps(ctx, tx, v, camp.UserID, in.Steps, "steps"); err != nil {
			return nil, err
		}
		if err := v.Err(); err != nil {
			return nil, err
		}
		camp.Settings.Sequence = in.Steps
		return []string{"settings"}, nil
	})
	if s.campaignChanged(c, camp, err) {
		s.respondSequence(c, camp)
	}
}

func (s *Server) getSequence(c *gin.Context) {
	s.respondSequence(c, currentCampaign(c))
}

func (s *Server) respondSequence(c *gin.Context, camp models.Campaign) {
	out, err := sequenceOut(c.Request.Context(), s.db, camp)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

func sequenceOut(ctx context.Context, db *gorm.DB, camp models.Campaign) (SequenceOut, error) {
	steps := camp.Settings.Normalized().Sequence
	out := SequenceOut{Steps: steps, Default: len(camp.Settings.Sequence) == 0, UnknownPlaceholders: []StepPlaceholders{}}
	var ids []string
	for _, st := range steps {
		if st.TemplateID != "" {
			ids = append(ids, st.TemplateID)
		}
	}
	templates, err := store.OwnedTemplates(ctx, db, camp.UserID, ids)
	if err != nil {
		return out, err
	}
	for i, st := range steps {
		subject, body, html := st.Subject, st.Body, st.HTMLBody
		if t, ok := templates[st.TemplateID]; ok {
			subject, body, html = t.Subject, t.Body, t.HTMLBody
		}
		if names := unknownPlaceholders(subject, body, html); len(names) > 0 {
			out.UnknownPlaceholders = append(out.UnknownPlaceholders, StepPlaceholders{Step: i, Names: names})
		}
	}
	return out, nil
}

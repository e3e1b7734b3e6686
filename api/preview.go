package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/models"
)

// PreviewRequest is the body of POST /emails/preview: what to render
// (template_id, or inline subject and body) for whom (lead_id, or inline
// lead fields to try a template before the lead exists, or neither to see
// which lead placeholders stay unfilled) in which campaign (its keywords,
// topic and sender fill the other placeholders).
type PreviewRequest struct {
	CampaignID string     `json:"campaign_id" required:"true"`
	LeadID     string     `json:"lead_id,omitempty" doc:"a lead of the campaign"`
	Lead       *LeadInput `json:"lead,omitempty" doc:"inline lead fields instead of lead_id; nothing is stored"`
	TemplateID string     `json:"template_id,omitempty"`
	Subject    string     `json:"subject,omitempty" doc:"inline subject instead of template_id"`
	Body       string     `json:"body,omitempty" doc:"inline body instead of template_id"`
	HTMLBody   string     `json:"html_body,omitempty"`
}

// PreviewOut is a rendered e-mail. unknown_placeholders are {names} the
// engine does not fill (left as written); unfilled_placeholders are known
// ones that are empty for this lead and campaign (they render as nothing,
// and a campaign cannot launch while a step has one).
type PreviewOut struct {
	Subject              string   `json:"subject"`
	Body                 string   `json:"body"`
	HTMLBody             string   `json:"html_body"`
	UnknownPlaceholders  []string `json:"unknown_placeholders"`
	UnfilledPlaceholders []string `json:"unfilled_placeholders"`
}

func (s *Server) preview(c *gin.Context) {
	ctx := c.Request.Context()
	user := currentUser(c)
	var in PreviewRequest
	if err := decodeJSON(c, &in); err != nil {
		fail(c, err)
		return
	}
	v := &models.ValidationError{}
	if strings.TrimSpace(in.CampaignID) == "" {
		v.Add("campaign_id", "is required")
	}
	inline := in.Subject != "" || in.Body != "" || in.HTMLBody != ""
	switch {
	case in.TemplateID != "" && inline:
		v.Add("template_id", "give template_id or subject and body, not both")
	case in.TemplateID == "":
		checkText(v, "subject", in.Subject, 1, maxSubject)
		checkText(v, "body", in.Body, 1, maxBody)
		checkText(v, "html_body", in.HTMLBody, 0, maxBody)
	}
	if in.LeadID != "" && in.Lead != nil {
		v.Add("lead", "give lead_id or lead, not both")
	}
	if err := v.Err(); err != nil {
		fail(c, err)
		return
	}
	camp, err := store.CampaignForUser(ctx, s.db, user.ID, in.CampaignID)
	if err != nil {
		fail(c, err)
		return
	}
	var lead models.Lead
	switch {
	case in.LeadID != "":
		if lead, err = store.LeadInCampaign(ctx, s.db, camp.ID, in.LeadID); err != nil {
			fail(c, err)
			return
		}
	case in.Lead != nil:
		lead = previewLead(v, *in.Lead)
	}
	subject, body, html := in.Subject, in.Body, in.HTMLBody
	if in.TemplateID != "" {
		t, err := store.TemplateForUser(ctx, s.db, user.ID, in.TemplateID)
		if err != nil {
			fail(c, err)
			return
		}
		subject, body, html = t.Subject, t.Body, t.HTMLBody
	}
	if err := v.Err(); err != nil {
		fail(c, err)
		return
	}
	values := models.PlaceholderValues(camp, lead)
	rs, rb, rh := models.Render(subject, values), models.Render(body, values), models.Render(html, models.HTMLValues(values))
	c.JSON(http.StatusOK, PreviewOut{
		Subject: rs.Text, Body: rb.Text, HTMLBody: rh.Text,
		UnknownPlaceholders:  mergeNames(rs.Unknown, rb.Unknown, rh.Unknown),
		UnfilledPlaceholders: mergeNames(rs.Unfilled, rb.Unfilled, rh.Unfilled),
	})
}

// previewLead takes inline lead fields as they would be stored, validated
// as a lead add validates them (a field that would be refused there is
// refused here, named lead.<field>), except that no field is required: only
// the fields that fill placeholders matter, so a partial lead is fine.
func previewLead(v *models.ValidationError, in LeadInput) models.Lead {
	l, err := validateLead(in, models.SourceManual, false)
	var ve *models.ValidationError
	if errors.As(err, &ve) {
		for _, f := range ve.Fields {
			v.Add(joinField("lead", f.Field), f.Reason)
		}
	}
	return l
}

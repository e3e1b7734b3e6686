package api

import (
	"net/http"
	"sort"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/models"
)

// Template field limits.
const (
	maxTemplateName     = 200
	maxTemplateCategory = 100
	defaultTemplatesPg  = 50
	maxTemplatesPg      = 200
)

const ctxTemplate = "template"

// loadTemplate resolves :template_id to a template the caller owns, or
// answers 404 BacklinkTemplateNotFoundError before any handler reads the
// body.
func (s *Server) loadTemplate() gin.HandlerFunc {
	return resolve(ctxTemplate, func(c *gin.Context) (models.Template, error) {
		return store.TemplateForUser(c.Request.Context(), s.db, currentUser(c).ID, c.Param("template_id"))
	})
}

func currentTemplate(c *gin.Context) models.Template {
	return resolved[models.Template](c, ctxTemplate)
}

// TemplateInput is the body of POST and PUT /emails/templates. PUT replaces
// every field.
type TemplateInput struct {
	Name     string `json:"name" required:"true" doc:"1 to 200 characters"`
	Category string `json:"category,omitempty" doc:"at most 100 characters, e.g. pitch, follow-up"`
	Subject  string `json:"subject" required:"true" doc:"1 to 998 characters, with placeholders"`
	Body     string `json:"body" required:"true" doc:"plain text, 1 to 100,000 characters, with placeholders"`
	HTMLBody string `json:"html_body,omitempty" doc:"optional HTML alternative"`
}

// TemplateOut is a template as the API shows it. unknown_placeholders lists
// {names} that are not placeholders the engine fills: probably typos, kept
// as written rather than refused.
type TemplateOut struct {
	ID                  string    `json:"id"`
	Name                string    `json:"name"`
	Category            string    `json:"category"`
	Subject             string    `json:"subject"`
	Body                string    `json:"body"`
	HTMLBody            string    `json:"html_body"`
	UnknownPlaceholders []string  `json:"unknown_placeholders"`
	CreatedAt           time.Time `json:"created_at"`
	UpdatedAt           time.Time `json:"updated_at"`
}

// TemplateList is one page of templates, oldest first.
type TemplateList struct {
	Items      []TemplateOut `json:"items"`
	NextCursor *string       `json:"next_cursor" doc:"pass as ?cursor= for the next page; null on the last page"`
}

func templateOut(t models.Template) TemplateOut {
	return TemplateOut{
		ID: t.ID, Name: t.Name, Category: t.Category, Subject: t.Subject, Body: t.Body, HTMLBody: t.HTMLBody,
		UnknownPlaceholders: unknownPlaceholders(t.Subject, t.Body, t.HTMLBody),
		CreatedAt:           t.CreatedAt.UTC(), UpdatedAt: t.UpdatedAt.UTC(),
	}
}

// unknownPlaceholders lists, sorted and once each, the {names} in texts that
// are not known placeholders.
func unknownPlaceholders(texts ...string) []string {
	values := make(map[string]string, len(models.KnownPlaceholders))
	for _, k := range models.KnownPlaceholders {
		values[k] = k
	}
	var lists [][]string
	for _, t := range texts {
		lists = append(lists, models.Render(t, values).Unknown)
	}
	return mergeNames(lists...)
}

// mergeNames unions sorted name lists into one sorted list, never nil.
func mergeNames(lists ...[]string) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, l := range lists {
		for _, n := range l {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out
}

// validateTemplate checks a template body and copies it onto t.
func validateTemplate(in TemplateInput, t *models.Template) error {
	v := &models.ValidationError{}
	t.Name = checkText(v, "name", in.Name, 1, maxTemplateName)
	t.Category = checkText(v, "category", in.Category, 0, maxTemplateCategory)
	t.Subject = checkText(v, "subject", in.Subject, 1, maxSubject)
	t.Body = checkRawText(v, "body", in.Body, 1, maxBody)
	t.HTMLBody = checkRawText(v, "html_body", in.HTMLBody, 0, maxBody)
	return v.Err()
}

func (s *Server) createTemplate(c *gin.Context) {
	var in TemplateInput
	if err := decodeJSON(c, &in); err != nil {
		fail(c, err)
		return
	}
	now := s.now().UTC()
	t := models.Template{ID: models.NewID(), UserID: currentUser(c).ID, CreatedAt: now, UpdatedAt: now}
	if err := validateTemplate(in, &t); err != nil {
		fail(c, err)
		return
	}
	if err := store.CreateTemplate(c.Request.Context(), s.db, &t); err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, templateOut(t))
}

func (s *Server) listTemplates(c *gin.Context) {
	v := &models.ValidationError{}
	checkQuery(c, v, "category", "limit", "cursor")
	f := store.TemplateFilter{UserID: currentUser(c).ID, Limit: queryLimit(c, v, defaultTemplatesPg, maxTemplatesPg)}
	if raw, ok := c.GetQuery("category"); ok {
		f.Category = checkText(v, "category", raw, 1, maxTemplateCategory)
	}
	if cur := decodeCursor(c, v, "templates", ""); cur != nil {
		f.After = cur.ID
	}
	if err := v.Err(); err != nil {
		fail(c, err)
		return
	}
	ts, next, err := store.ListTemplates(c.Request.Context(), s.db, f)
	if err != nil {
		fail(c, err)
		return
	}
	out := TemplateList{Items: make([]TemplateOut, len(ts))}
	for i, t := range ts {
		out.Items[i] = templateOut(t)
	}
	out.NextCursor = idCursor("templates", next)
	c.JSON(http.StatusOK, out)
}

func (s *Server) getTemplate(c *gin.Context) {
	c.JSON(http.StatusOK, templateOut(currentTemplate(c)))
}

func (s *Server) putTemplate(c *gin.Context) {
	var in TemplateInput
	if err := decodeJSON(c, &in); err != nil {
		fail(c, err)
		return
	}
	t := currentTemplate(c)
	if err := validateTemplate(in, &t); err != nil {
		fail(c, err)
		return
	}
	if err := store.UpdateTemplate(c.Request.Context(), s.db, &t); err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, templateOut(t))
}

// deleteTemplate refuses (409) while a campaign's sequence sends the
// template, naming the campaigns.
func (s *Server) deleteTemplate(c *gin.Context) {
	if err := store.DeleteTemplate(c.Request.Context(), s.db, currentUser(c).ID, currentTemplate(c).ID); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/backlinkoutreach/outreach/models"
)

func TestTemplateCRUD(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		u := ts.newUser("owner@example.com")
		var tpl TemplateOut
		u.do(http.MethodPost, "/emails/templates", map[string]any{
			"name": "Pitch", "category": "pitch",
			"subject": "Guest post for {website_title}", "body": "Hi {name}, about {topc} and {{literal}}.\n",
			"html_body": "<p>Hi {nmae}</p>", //nolint:misspell // a mistyped placeholder, on purpose
		}).expect(http.StatusCreated).decode(&tpl)
		if tpl.Name != "Pitch" || tpl.Category != "pitch" || !models.ValidID(tpl.ID) ||
			tpl.Body != "Hi {name}, about {topc} and {{literal}}.\n" {
			t.Fatalf("created: %+v", tpl)
		}
		// Unknown placeholders are reported, not refused.
		if !slices.Equal(tpl.UnknownPlaceholders, []string{"nmae", "topc"}) { //nolint:misspell // a mistyped placeholder, on purpose
			t.Fatalf("unknown placeholders: %v", tpl.UnknownPlaceholders)
		}
		var got TemplateOut
		u.do(http.MethodGet, "/emails/templates/"+tpl.ID, nil).expect(http.StatusOK).decode(&got)
		if got.ID != tpl.ID || got.HTMLBody != "<p>Hi {nmae}</p>" { //nolint:misspell // a mistyped placeholder, on purpose
			t.Fatalf("get: %+v", got)
		}
		// PUT replaces every field.
		u.do(http.MethodPut, "/emails/templates/"+tpl.ID, map[string]any{
			"name": "Pitch v2", "subject": "Hello {name}", "body": "Body {website}",
		}).expect(http.StatusOK).decode(&got)
		if got.Name != "Pitch v2" || got.Category != "" || got.HTMLBody != "" || len(got.UnknownPlaceholders) != 0 ||
			!got.UpdatedAt.After(tpl.UpdatedAt) && !got.UpdatedAt.Equal(tpl.UpdatedAt) {
			t.Fatalf("put: %+v", got)
		}
		u.do(http.MethodPut, "/emails/templates/"+tpl.ID, map[string]any{"name": "", "subject": "", "body": " "}).
			expectFields("name", "subject", "body")
		u.do(http.MethodPost, "/emails/templates", map[string]any{
			"name": strings.Repeat("n", 201), "category": strings.Repeat("c", 101), "subject": strings.Repeat("s", 999), "body": "x",
		}).expectFields("name", "category", "subject")

		// List: own templates only, by category, paged.
		other := ts.newUser("other@example.com")
		other.createTemplate("Not mine", "s", "b")
		for i := range 4 {
			var t2 TemplateOut
			u.do(http.MethodPost, "/emails/templates", map[string]any{
				"name": fmt.Sprintf("Follow-up %d", i), "category": "follow-up", "subject": "Re", "body": "b",
			}).expect(http.StatusCreated).decode(&t2)
		}
		var list TemplateList
		u.do(http.MethodGet, "/emails/templates", nil).expect(http.StatusOK).decode(&list)
		if len(list.Items) != 5 || list.NextCursor != nil || list.Items[0].ID != tpl.ID {
			t.Fatalf("list: %d items", len(list.Items))
		}
		var names []string
		cursor := ""
		for range 5 {
			q := "?category=follow-up&limit=3"
			if cursor != "" {
				q += "&cursor=" + cursor
			}
			u.do(http.MethodGet, "/emails/templates"+q, nil).expect(http.StatusOK).decode(&list)
			for _, it := range list.Items {
				names = append(names, it.Name)
			}
			if list.NextCursor == nil {
				break
			}
			cursor = *list.NextCursor
		}
		if !slices.Equal(names, []string{"Follow-up 0", "Follow-up 1", "Follow-up 2", "Follow-up 3"}) {
			t.Fatalf("paged by category: %v", names)
		}

		u.do(http.MethodDelete, "/emails/templates/"+tpl.ID, nil).expect(http.StatusNoContent)
		u.do(http.MethodGet, "/emails/templates/"+tpl.ID, nil).expectError(http.StatusNotFound, CodeTemplateNotFound)
	})
}

func TestSequence(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		u := ts.newUser("owner@example.com")
		other := ts.newUser("other@example.com")
		camp := u.createCampaign("Sequenced")
		mine := u.createTemplate("Pitch", "Guest post for {website_title}", "Hi {name}, {typo}")
		theirs := other.createTemplate("Theirs", "s", "b")

		var seq SequenceOut
		u.do(http.MethodGet, "/campaigns/"+camp.ID+"/sequence", nil).expect(http.StatusOK).decode(&seq)
		if !seq.Default || len(seq.Steps) != len(models.DefaultSequence()) {
			t.Fatalf("default sequence: %+v", seq)
		}
		u.do(http.MethodPut, "/campaigns/"+camp.ID+"/sequence", map[string]any{"steps": []map[string]any{
			{"template_id": mine.ID},
			{"body": "Following up, {name}. {oops}", "delay_days": 3},
			{"body": "Last one", "delay_days": 5.5},
		}}).expect(http.StatusOK).decode(&seq)
		if seq.Default || len(seq.Steps) != 3 || seq.Steps[0].TemplateID != mine.ID || seq.Steps[2].DelayDays != 5.5 {
			t.Fatalf("stored sequence: %+v", seq)
		}
		if len(seq.UnknownPlaceholders) != 2 || seq.UnknownPlaceholders[0].Step != 0 || seq.UnknownPlaceholders[0].Names[0] != "typo" ||
			seq.UnknownPlaceholders[1].Step != 1 || seq.UnknownPlaceholders[1].Names[0] != "oops" {
			t.Fatalf("unknown placeholders per step: %+v", seq.UnknownPlaceholders)
		}
		var got CampaignOut
		u.do(http.MethodGet, "/campaigns/"+camp.ID, nil).expect(http.StatusOK).decode(&got)
		if len(got.Settings.Sequence) != 3 || got.Settings.Sequence[0].TemplateID != mine.ID {
			t.Fatalf("campaign shows the sequence: %+v", got.Settings.Sequence)
		}
		// A template in use cannot be deleted.
		env := u.do(http.MethodDelete, "/emails/templates/"+mine.ID, nil).expectError(http.StatusConflict, CodeConflict)
		if !strings.Contains(env.Error.Message, "Sequenced") {
			t.Fatalf("conflict should name the campaign: %q", env.Error.Message)
		}

		bad := []struct {
			name   string
			steps  any
			fields []string
		}{
			{"empty", []any{}, []string{"steps"}},
			{"missing", nil, []string{"steps"}},
			{"another user's template", []map[string]any{{"template_id": theirs.ID}}, []string{"steps[0].template_id"}},
			{"unknown template", []map[string]any{{"template_id": models.NewID()}}, []string{"steps[0].template_id"}},
			{"template and body", []map[string]any{{"template_id": mine.ID, "body": "x"}}, []string{"steps[0]"}},
			{"no subject on step 0", []map[string]any{{"body": "x"}}, []string{"steps[0].subject"}},
			{"negative delay", []map[string]any{{"subject": "s", "body": "x"}, {"body": "y", "delay_days": -1}}, []string{"steps[1].delay_days"}},
			{"nothing to send", []map[string]any{{"subject": "s", "body": "x"}, {"delay_days": 1}}, []string{"steps[1]"}},
		}
		for _, tc := range bad {
			body := map[string]any{}
			if tc.steps != nil {
				body["steps"] = tc.steps
			}
			t.Run(tc.name, func(t *testing.T) {
				u.do(http.MethodPut, "/campaigns/"+camp.ID+"/sequence", body).expectFields(tc.fields...)
			})
		}
		u.do(http.MethodPut, "/campaigns/"+camp.ID+"/sequence", map[string]any{"steps": make([]map[string]any, 11)}).expect(http.StatusUnprocessableEntity)
		// The refused requests changed nothing.
		u.do(http.MethodGet, "/campaigns/"+camp.ID+"/sequence", nil).expect(http.StatusOK).decode(&seq)
		if len(seq.Steps) != 3 || seq.Steps[0].TemplateID != mine.ID {
			t.Fatalf("sequence changed by a refused request: %+v", seq.Steps)
		}
		// Settings patches are held to the same template rule.
		u.do(http.MethodPatch, "/campaigns/"+camp.ID, map[string]any{"settings": map[string]any{
			"sequence": []map[string]any{{"template_id": theirs.ID}},
		}}).expectFields("settings.sequence[0].template_id")
		u.do(http.MethodPost, "/campaigns", map[string]any{"name": "x", "settings": map[string]any{
			"sequence": []map[string]any{{"template_id": theirs.ID}},
		}}).expectFields("settings.sequence[0].template_id")
	})
}

func TestPreview(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		u := ts.newUser("owner@example.com")
		other := ts.newUser("other@example.com")
		var camp CampaignOut
		u.do(http.MethodPost, "/campaigns", map[string]any{
			"name": "SaaS Growth Blogs Q3", "keywords": []string{"SaaS", "growth marketing"},
			"settings": map[string]any{"sender": map[string]any{"name": "Sam", "site": "https://sam.example"}},
		}).expect(http.StatusCreated).decode(&camp)
		lead := u.addLead(camp.ID, map[string]any{"website_url": "https://blog.example.com", "website_title": "Example Blog", "contact_name": "Jo"})
		bare := u.addLead(camp.ID, map[string]any{"website_url": "https://bare.example.com"})
		tpl := u.createTemplate("Pitch", "Guest post for {website_title}", "Hi {name}, a post on {topic} for {website}? {your_name} {unknwn}")
		theirCamp := other.createCampaign("Theirs")
		theirTpl := other.createTemplate("Theirs", "s", "b")

		var p PreviewOut
		u.do(http.MethodPost, "/emails/preview", map[string]any{"campaign_id": camp.ID, "lead_id": lead.ID, "template_id": tpl.ID}).
			expect(http.StatusOK).decode(&p)
		if p.Subject != "Guest post for Example Blog" ||
			p.Body != "Hi Jo, a post on SaaS for https://blog.example.com? Sam {unknwn}" ||
			!slices.Equal(p.UnknownPlaceholders, []string{"unknwn"}) || len(p.UnfilledPlaceholders) != 0 {
			t.Fatalf("preview: %+v", p)
		}
		// A lead without a title or name leaves those placeholders unfilled.
		u.do(http.MethodPost, "/emails/preview", map[string]any{"campaign_id": camp.ID, "lead_id": bare.ID, "template_id": tpl.ID}).
			expect(http.StatusOK).decode(&p)
		if !slices.Equal(p.UnfilledPlaceholders, []string{"name", "website_title"}) {
			t.Fatalf("unfilled: %+v", p)
		}
		// Inline text and inline lead fields: nothing stored.
		u.do(http.MethodPost, "/emails/preview", map[string]any{
			"campaign_id": camp.ID, "subject": "For {website_title}", "body": "Hi {name}", "html_body": "<b>{keywords}</b>",
			"lead": map[string]any{"website_title": "Inline Blog", "contact_name": "Al"},
		}).expect(http.StatusOK).decode(&p)
		if p.Subject != "For Inline Blog" || p.Body != "Hi Al" || p.HTMLBody != "<b>SaaS, growth marketing</b>" {
			t.Fatalf("inline preview: %+v", p)
		}
		// Without a lead, every lead placeholder is unfilled.
		u.do(http.MethodPost, "/emails/preview", map[string]any{"campaign_id": camp.ID, "template_id": tpl.ID}).
			expect(http.StatusOK).decode(&p)
		if !slices.Equal(p.UnfilledPlaceholders, []string{"name", "website", "website_title"}) {
			t.Fatalf("no lead: %+v", p.UnfilledPlaceholders)
		}

		u.do(http.MethodPost, "/emails/preview", map[string]any{"campaign_id": theirCamp.ID, "template_id": tpl.ID}).
			expectError(http.StatusNotFound, CodeCampaignNotFound)
		u.do(http.MethodPost, "/emails/preview", map[string]any{"campaign_id": camp.ID, "template_id": theirTpl.ID}).
			expectError(http.StatusNotFound, CodeTemplateNotFound)
		u.do(http.MethodPost, "/emails/preview", map[string]any{"campaign_id": camp.ID, "lead_id": models.NewID(), "template_id": tpl.ID}).
			expectError(http.StatusNotFound, CodeLeadNotFound)
		other.do(http.MethodPost, "/emails/preview", map[string]any{"campaign_id": theirCamp.ID, "lead_id": lead.ID, "subject": "s", "body": "b"}).
			expectError(http.StatusNotFound, CodeLeadNotFound)
		u.do(http.MethodPost, "/emails/preview", map[string]any{"campaign_id": camp.ID}).expectFields("subject", "body")
		u.do(http.MethodPost, "/emails/preview", map[string]any{"template_id": tpl.ID}).expectFields("campaign_id")
		u.do(http.MethodPost, "/emails/preview", map[string]any{"campaign_id": camp.ID, "template_id": tpl.ID, "body": "x"}).expectFields("template_id")
		u.do(http.MethodPost, "/emails/preview", map[string]any{"campaign_id": camp.ID, "template_id": tpl.ID, "lead_id": lead.ID, "lead": map[string]any{}}).expectFields("lead")
	})
}

// A placeholder in another case or with spaces ("{Name}", "{ name }")
// would go out as written: preview and templates report it as unknown.
func TestPlaceholderOfAnotherCaseReported(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		u := ts.newUser("owner@example.com")
		camp := u.createCampaign("Case")
		var p PreviewOut
		u.do(http.MethodPost, "/emails/preview", map[string]any{
			"campaign_id": camp.ID, "subject": "Hi {Name}", "body": "About {WEBSITE_TITLE} and { name }",
			"lead": map[string]any{"contact_name": "Ann", "website_title": "Ann's blog"},
		}).expect(http.StatusOK).decode(&p)
		if !slices.Equal(p.UnknownPlaceholders, []string{" name ", "Name", "WEBSITE_TITLE"}) {
			t.Errorf("preview of %q / %q: unknown %q", p.Subject, p.Body, p.UnknownPlaceholders)
		}
		tpl := u.createTemplate("t", "Hi {Name}", "Body")
		if !slices.Equal(tpl.UnknownPlaceholders, []string{"Name"}) {
			t.Errorf("template unknown_placeholders %q, want Name", tpl.UnknownPlaceholders)
		}
	})
}

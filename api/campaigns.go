package api

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/models"
)

// Campaign field limits.
const (
	maxCampaignName    = 200
	maxDescription     = 5000
	maxKeywords        = 50
	maxKeyword         = 100
	defaultCampaignsPg = 50
	maxCampaignsPg     = 200
)

// CampaignCreate is the body of POST /campaigns.
type CampaignCreate struct {
	Name        string                   `json:"name" required:"true" doc:"1 to 200 characters after trimming"`
	Description string                   `json:"description,omitempty" doc:"at most 5,000 characters"`
	Keywords    []string                 `json:"keywords,omitempty" doc:"at most 50, each 1 to 100 characters; the first fills {keyword} and, without settings.topic, {topic}"`
	Settings    *models.CampaignSettings `json:"settings,omitempty" doc:"omitted fields take their defaults"`
}

// CampaignPatch is the body of PATCH /campaigns/{id}. Only the fields sent
// change. settings is merged key by key at its top level (RFC 7396): a key
// sent replaces the stored one, a key sent as null returns to its default,
// keys not sent are kept. settings: null resets every setting.
type CampaignPatch struct {
	Name        *string         `json:"name,omitempty"`
	Description *string         `json:"description,omitempty"`
	Keywords    []string        `json:"keywords,omitempty"`
	Settings    *map[string]any `json:"settings,omitempty" doc:"top-level keys of CampaignSettings; null resets a key"`
}

// campaignBody is how create and patch bodies are decoded: raw fields, so
// that "absent" and null can be told apart and nested errors get their full
// path.
type campaignBody struct {
	Name        json.RawMessage `json:"name"`
	Description json.RawMessage `json:"description"`
	Keywords    json.RawMessage `json:"keywords"`
	Settings    json.RawMessage `json:"settings"`
}

// LeadCountsOut is a campaign's leads per status, every status present.
type LeadCountsOut struct {
	Total    int64            `json:"total"`
	ByStatus map[string]int64 `json:"by_status"`
}

// CampaignOut is a campaign as the API shows it. settings are the effective
// settings: every default filled in, including the default sequence.
type CampaignOut struct {
	ID                 string                  `json:"id"`
	Name               string                  `json:"name"`
	Description        string                  `json:"description"`
	Keywords           []string                `json:"keywords"`
	State              models.CampaignState    `json:"state"`
	StateBeforeArchive models.CampaignState    `json:"state_before_archive,omitempty" doc:"while archived: the state unarchive restores (active comes back paused)"`
	Settings           models.CampaignSettings `json:"settings"`
	LeadCounts         LeadCountsOut           `json:"lead_counts"`
	CreatedAt          time.Time               `json:"created_at"`
	UpdatedAt          time.Time               `json:"updated_at"`
	LaunchedAt         *time.Time              `json:"launched_at"`
	ArchivedAt         *time.Time              `json:"archived_at"`
}

// CampaignList is one page of campaigns, newest first.
type CampaignList struct {
	Items      []CampaignOut `json:"items"`
	NextCursor *string       `json:"next_cursor" doc:"pass as ?cursor= for the next page; null on the last page"`
}

func campaignOut(c models.Campaign, counts store.LeadCounts) CampaignOut {
	out := CampaignOut{
		ID: c.ID, Name: c.Name, Description: c.Description, Keywords: c.Keywords, State: c.State,
		Settings:   c.Settings.Normalized(),
		LeadCounts: LeadCountsOut{Total: counts.Total(), ByStatus: make(map[string]int64, len(models.LeadStatuses))},
		CreatedAt:  c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC(),
		LaunchedAt: utcPtr(c.LaunchedAt), ArchivedAt: utcPtr(c.ArchivedAt),
	}
	if c.State == models.CampaignArchived {
		out.StateBeforeArchive = c.StateBeforeArchive
	}
	if out.Keywords == nil {
		out.Keywords = []string{}
	}
	for _, st := range models.LeadStatuses {
		out.LeadCounts.ByStatus[string(st)] = counts[st]
	}
	return out
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// respondCampaign answers one campaign with its current lead counts.
func (s *Server) respondCampaign(c *gin.Context, status int, camp models.Campaign) {
	counts, err := store.CampaignLeadCounts(c.Request.Context(), s.db, []string{camp.ID})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(status, campaignOut(camp, counts[camp.ID]))
}

func (s *Server) createCampaign(c *gin.Context) {
	ctx := c.Request.Context()
	user := currentUser(c)
	var body campaignBody
	if err := decodeJSON(c, &body); err != nil {
		fail(c, err)
		return
	}
	now := s.now().UTC()
	camp := models.Campaign{ID: models.NewID(), UserID: user.ID, State: models.CampaignDraft, Keywords: []string{}, CreatedAt: now, UpdatedAt: now}
	v := &models.ValidationError{}
	if !present(body.Name) {
		v.Add("name", "is required")
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if _, err := applyCampaignBody(ctx, tx, v, &camp, body); err != nil {
			return err
		}
		if err := v.Err(); err != nil {
			return err
		}
		return store.CreateCampaign(ctx, tx, &camp)
	})
	if err != nil {
		fail(c, err)
		return
	}
	if s.deps.Engine != nil {
		if err := s.deps.Engine.CampaignCreated(ctx, camp); err != nil {
			// No campaign may exist without its workflow: take the row back.
			if delErr := store.DeleteCampaign(context.WithoutCancel(ctx), s.db, camp.ID); delErr != nil {
				loggerFrom(c).ErrorContext(ctx, "remove campaign whose workflow did not start", "campaign_id", camp.ID, "error", delErr)
			}
			fail(c, fmt.Errorf("start campaign workflow: %w", err))
			return
		}
	}
	c.JSON(http.StatusCreated, campaignOut(camp, store.LeadCounts{}))
}

// applyCampaignBody validates the fields present in body into v and copies
// the valid ones onto camp, returning the columns it changed. Settings are
// merged into camp's stored settings (RFC 7396 at the top level).
func applyCampaignBody(ctx context.Context, tx *gorm.DB, v *models.ValidationError, camp *models.Campaign, body campaignBody) ([]string, error) {
	var cols []string
	if present(body.Name) {
		var name string
		if isNull(body.Name) {
			v.Add("name", "is required and cannot be null")
		} else if !addDecodeErr(v, decodeStrictInto(body.Name, &name, "name")) {
			camp.Name = checkText(v, "name", name, 1, maxCampaignName)
			cols = append(cols, "name")
		}
	}
	// For description and keywords null means "empty", as RFC 7396 would
	// remove them.
	if present(body.Description) {
		var desc string
		if isNull(body.Description) || !addDecodeErr(v, decodeStrictInto(body.Description, &desc, "description")) {
			camp.Description = checkText(v, "description", desc, 0, maxDescription)
			cols = append(cols, "description")
		}
	}
	if present(body.Keywords) {
		var kws []string
		if isNull(body.Keywords) || !addDecodeErr(v, decodeStrictInto(body.Keywords, &kws, "keywords")) {
			camp.Keywords = checkKeywords(v, kws)
			cols = append(cols, "keywords")
		}
	}
	if present(body.Settings) {
		if merged, ok := mergeSettings(v, camp.Settings, body.Settings); ok {
			n := len(v.Fields)
			if err := checkSettings(ctx, tx, v, camp.UserID, merged, "settings"); err != nil {
				return nil, err
			}
			if len(v.Fields) == n {
				camp.Settings = merged
				cols = append(cols, "settings")
			}
		}
	}
	return cols, nil
}

// addDecodeErr folds a decode error into v, reporting whether there was one.
func addDecodeErr(v *models.ValidationError, err error) bool {
	if err == nil {
		return false
	}
	if ve, ok := err.(*models.ValidationError); ok { //nolint:errorlint // decodeStrictInto returns it bare
		v.Fields = append(v.Fields, ve.Fields...)
	} else {
		v.Add("body", err.Error())
	}
	return true
}

func checkKeywords(v *models.ValidationError, kws []string) []string {
	if len(kws) > maxKeywords {
		v.Add("keywords", fmt.Sprintf("at most %d keywords (got %d)", maxKeywords, len(kws)))
		return []string{}
	}
	out := make([]string, len(kws))
	for i, k := range kws {
		out[i] = checkText(v, fmt.Sprintf("keywords[%d]", i), k, 1, maxKeyword)
	}
	return out
}

// mergeSettings applies a settings patch: null resets everything, an object
// replaces the top-level keys it names (null keys return to the default).
func mergeSettings(v *models.ValidationError, cur models.CampaignSettings, patch json.RawMessage) (models.CampaignSettings, bool) {
	if isNull(patch) {
		return models.CampaignSettings{}, true
	}
	var changes map[string]json.RawMessage
	if err := json.Unmarshal(patch, &changes); err != nil || changes == nil {
		v.Add("settings", "must be an object")
		return cur, false
	}
	base, err := json.Marshal(cur)
	if err != nil {
		v.Add("settings", "stored settings cannot be read")
		return cur, false
	}
	merged := map[string]json.RawMessage{}
	if err := json.Unmarshal(base, &merged); err != nil {
		v.Add("settings", "stored settings cannot be read")
		return cur, false
	}
	for k, val := range changes {
		if isNull(val) {
			delete(merged, k)
			continue
		}
		merged[k] = val
	}
	raw, err := json.Marshal(merged)
	if err != nil {
		v.Add("settings", "must be an object")
		return cur, false
	}
	var out models.CampaignSettings
	if addDecodeErr(v, decodeStrictInto(raw, &out, "settings")) {
		return cur, false
	}
	// What merged cannot show: a key repeated in the patch (changes kept
	// one), a null key that is not a setting (nothing to delete).
	if addDecodeErr(v, checkKeys(patch, reflect.TypeOf(out), "settings")) {
		return cur, false
	}
	return out, true
}

// Limits of free text inside settings beyond what models validates.
const (
	maxSenderSite = 2048
	maxTopic      = 200
	maxSubject    = 998 // RFC 5322 line length
	maxBody       = 100_000
)

// checkSettings validates settings as models does, plus what only the API
// can check: text that the database can store, and that every template a
// sequence step names exists and belongs to the user.
func checkSettings(ctx context.Context, db *gorm.DB, v *models.ValidationError, userID string, st models.CampaignSettings, prefix string) error {
	if err := st.Validate(prefix); err != nil {
		addDecodeErr(v, err)
	}
	// models bounds sender.name; here only what the database cannot store.
	checkText(v, prefix+".sender.name", st.Sender.Name, 0, math.MaxInt)
	checkText(v, prefix+".sender.site", st.Sender.Site, 0, maxSenderSite)
	checkText(v, prefix+".topic", st.Topic, 0, maxTopic)
	return checkSequenceSteps(ctx, db, v, userID, st.Sequence, prefix+".sequence")
}

// checkSequenceSteps checks what models.ValidateSequence cannot: step text
// sizes, template_id and inline text not both given, and template ownership
// (a share lock holds the templates until the transaction commits).
func checkSequenceSteps(ctx context.Context, db *gorm.DB, v *models.ValidationError, userID string, steps []models.SeqStep, prefix string) error {
	var ids []string
	for i, st := range steps {
		p := fmt.Sprintf("%s[%d]", prefix, i)
		checkText(v, p+".subject", st.Subject, 0, maxSubject)
		checkText(v, p+".body", st.Body, 0, maxBody)
		checkText(v, p+".html_body", st.HTMLBody, 0, maxBody)
		if st.TemplateID != "" {
			if st.Subject != "" || st.Body != "" || st.HTMLBody != "" {
				v.Add(p, "give template_id or subject and body, not both")
			}
			ids = append(ids, st.TemplateID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	owned, err := store.OwnedTemplates(ctx, db, userID, ids)
	if err != nil {
		return err
	}
	for i, st := range steps {
		if st.TemplateID != "" {
			if _, ok := owned[st.TemplateID]; !ok {
				v.Add(fmt.Sprintf("%s[%d].template_id", prefix, i), "no template with this id among yours")
			}
		}
	}
	return nil
}

func (s *Server) listCampaigns(c *gin.Context) {
	ctx := c.Request.Context()
	v := &models.ValidationError{}
	checkQuery(c, v, "state", "include_archived", "limit", "cursor")
	f := store.CampaignFilter{UserID: currentUser(c).ID, Limit: queryLimit(c, v, defaultCampaignsPg, maxCampaignsPg)}
	f.IncludeArchived = queryBool(c, v, "include_archived")
	if raw, ok := c.GetQuery("state"); ok {
		switch st := models.CampaignState(raw); st {
		case models.CampaignDraft, models.CampaignActive, models.CampaignPaused, models.CampaignArchived:
			f.State = st
		default:
			v.Add("state", "must be one of draft, active, paused, archived")
		}
	}
	if cur := decodeCursor(c, v, "campaigns", ""); cur != nil {
		at, err := time.Parse(time.RFC3339Nano, cur.Time)
		if err != nil {
			v.Add("cursor", "is not a cursor from this list; pass next_cursor from the previous page unchanged")
		} else {
			f.After = &store.CampaignCursor{CreatedAt: at, ID: cur.ID}
		}
	}
	if err := v.Err(); err != nil {
		fail(c, err)
		return
	}
	camps, next, err := store.ListCampaigns(ctx, s.db, f)
	if err != nil {
		fail(c, err)
		return
	}
	ids := make([]string, len(camps))
	for i, camp := range camps {
		ids[i] = camp.ID
	}
	counts, err := store.CampaignLeadCounts(ctx, s.db, ids)
	if err != nil {
		fail(c, err)
		return
	}
	out := CampaignList{Items: make([]CampaignOut, len(camps))}
	for i, camp := range camps {
		out.Items[i] = campaignOut(camp, counts[camp.ID])
	}
	if next != nil {
		tok := encodeCursor(cursorPayload{Kind: "campaigns", Time: next.CreatedAt.UTC().Format(time.RFC3339Nano), ID: next.ID})
		out.NextCursor = &tok
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) getCampaign(c *gin.Context) {
	s.respondCampaign(c, http.StatusOK, currentCampaign(c))
}

func (s *Server) patchCampaign(c *gin.Context) {
	ctx := c.Request.Context()
	user := currentUser(c)
	var body campaignBody
	if err := decodeJSON(c, &body); err != nil {
		fail(c, err)
		return
	}
	camp, err := store.UpdateCampaign(ctx, s.db, user.ID, currentCampaign(c).ID, func(tx *gorm.DB, camp *models.Campaign) ([]string, error) {
		v := &models.ValidationError{}
		cols, err := applyCampaignBody(ctx, tx, v, camp, body)
		if err != nil {
			return nil, err
		}
		return cols, v.Err()
	})
	if s.campaignChanged(c, camp, err) {
		s.respondCampaign(c, http.StatusOK, camp)
	}
}

// campaignChanged follows a write of the campaign: it answers the write's
// error, or tells the engine and answers its error; it returns true when
// the handler still has to answer. A change the engine was not told of
// stays stored, and every caller is idempotent, so a client retrying after
// a 503 converges.
func (s *Server) campaignChanged(c *gin.Context, camp models.Campaign, err error) bool {
	if err != nil {
		fail(c, err)
		return false
	}
	if s.deps.Engine == nil {
		return true
	}
	if err := s.deps.Engine.CampaignChanged(c.Request.Context(), camp); err != nil {
		fail(c, fmt.Errorf("notify campaign workflow: %w", err))
		return false
	}
	return true
}

func (s *Server) archiveCampaign(c *gin.Context) {
	camp, err := store.ArchiveCampaign(c.Request.Context(), s.db, currentUser(c).ID, currentCampaign(c).ID, s.now())
	if s.campaignChanged(c, camp, err) {
		s.respondCampaign(c, http.StatusOK, camp)
	}
}

func (s *Server) unarchiveCampaign(c *gin.Context) {
	camp, err := store.UnarchiveCampaign(c.Request.Context(), s.db, currentUser(c).ID, currentCampaign(c).ID)
	if s.campaignChanged(c, camp, err) {
		s.respondCampaign(c, http.StatusOK, camp)
	}
}

// DeletionPending answers a DELETE whose workflows could not all be
// stopped at once: the campaign is hidden already and the deletion finishes
// in the background.
type DeletionPending struct {
	ID      string               `json:"id"`
	State   models.CampaignState `json:"state" doc:"deleting"`
	Message string               `json:"message"`
}

// deleteCampaign hides the campaign (state deleting: sends refuse it), has
// the engine stop its workflows, then deletes the rows. If the engine cannot
// stop them now, the campaign stays deleting and the worker's
// DeletionFinisher completes it (as after a crash in between): 202. It is
// never restored: some of its workflows may be stopped already (a lead that
// tried to send while it was deleting ended its workflow), and restored they
// would never send again.
func (s *Server) deleteCampaign(c *gin.Context) {
	ctx := c.Request.Context()
	camp := currentCampaign(c)
	prev, err := store.MarkCampaignDeleting(ctx, s.db, currentUser(c).ID, camp.ID)
	if err != nil {
		fail(c, err)
		return
	}
	if s.deps.Engine != nil {
		camp.State = models.CampaignDeleting
		if err := s.deps.Engine.DeleteCampaign(ctx, camp); err != nil {
			loggerFrom(c).WarnContext(ctx, "campaign delete continues in the background", "campaign_id", camp.ID,
				"previous_state", prev, "error", err)
			c.JSON(http.StatusAccepted, DeletionPending{
				ID: camp.ID, State: models.CampaignDeleting,
				Message: "the campaign is hidden and will not send again; its workflows could not all be stopped now, " +
					"so the deletion finishes in the background (within about 15 minutes)",
			})
			return
		}
	}
	// A DeletionFinisher may have finished it meanwhile: gone either way.
	if _, err := store.FinishCampaignDelete(context.WithoutCancel(ctx), s.db, camp.ID); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

package api

import (
	"encoding/json"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/models"
)

// Lead list page sizes.
const (
	defaultLeadsPage = 50
	maxLeadsPage     = 500
)

const ctxLead = "lead"

// loadLead resolves :lead_id to a lead of the campaign loadCampaign
// resolved, or answers 404 BacklinkLeadNotFoundError before any handler
// reads the body. A lead of another campaign, even the caller's own, is not
// found here.
func (s *Server) loadLead() gin.HandlerFunc {
	return resolve(ctxLead, func(c *gin.Context) (models.Lead, error) {
		return store.LeadInCampaign(c.Request.Context(), s.db, currentCampaign(c).ID, c.Param("lead_id"))
	})
}

// currentLead is the lead loadLead resolved.
func currentLead(c *gin.Context) models.Lead { return resolved[models.Lead](c, ctxLead) }

// LeadOut is a lead as the API shows it.
type LeadOut struct {
	ID                  string            `json:"id"`
	CampaignID          string            `json:"campaign_id"`
	WebsiteURL          string            `json:"website_url"`
	NormalizedURL       string            `json:"normalized_url" doc:"the key duplicates are detected on"`
	WebsiteTitle        string            `json:"website_title"`
	ContactEmail        string            `json:"contact_email"`
	ContactName         string            `json:"contact_name"`
	QualityScore        *float64          `json:"quality_score"`
	RelevanceScore      *float64          `json:"relevance_score"`
	GuestPostLikelihood *float64          `json:"guest_post_likelihood"`
	Source              models.LeadSource `json:"source"`
	Status              models.LeadStatus `json:"status"`
	Suppressed          bool              `json:"suppressed" doc:"the contact is on the suppression list: never e-mailed"`
	DispatchedAt        *time.Time        `json:"dispatched_at" doc:"when the campaign released the first e-mail"`
	CreatedAt           time.Time         `json:"created_at"`
	UpdatedAt           time.Time         `json:"updated_at"`
	StatusChangedAt     time.Time         `json:"status_changed_at"`
}

func leadOut(l models.Lead) LeadOut {
	return LeadOut{
		ID: l.ID, CampaignID: l.CampaignID, WebsiteURL: l.WebsiteURL, NormalizedURL: l.NormalizedURL,
		WebsiteTitle: l.WebsiteTitle, ContactEmail: l.ContactEmail, ContactName: l.ContactName,
		QualityScore: l.QualityScore, RelevanceScore: l.RelevanceScore, GuestPostLikelihood: l.GuestPostLikelihood,
		Source: l.Source, Status: l.Status, Suppressed: l.Suppressed, DispatchedAt: utcPtr(l.DispatchedAt),
		CreatedAt: l.CreatedAt.UTC(), UpdatedAt: l.UpdatedAt.UTC(), StatusChangedAt: l.StatusChangedAt.UTC(),
	}
}

// LeadList is one page of leads.
type LeadList struct {
	Items      []LeadOut `json:"items"`
	NextCursor *string   `json:"next_cursor" doc:"pass as ?cursor= (with the same sort) for the next page; null on the last page"`
}

// LeadDetail is one lead with everything that happened to it.
type LeadDetail struct {
	LeadOut
	Attempts []LeadAttempt   `json:"attempts"`
	Replies  []LeadReply     `json:"replies"`
	Timeline []TimelineEvent `json:"timeline"`
}

// LeadAttempt is one e-mail sent (or being sent) to the lead.
type LeadAttempt struct {
	ID         string              `json:"id"`
	Step       int                 `json:"step"`
	State      models.AttemptState `json:"state"`
	MessageID  string              `json:"message_id"`
	Recipient  string              `json:"recipient"`
	Subject    string              `json:"subject"`
	Body       string              `json:"body"`
	LegalBasis string              `json:"legal_basis"`
	Error      string              `json:"error,omitempty"`
	CreatedAt  time.Time           `json:"created_at"`
	SentAt     *time.Time          `json:"sent_at"`
}

// LeadReply is one inbound message matched to the lead.
type LeadReply struct {
	ID             string     `json:"id"`
	AttemptID      *string    `json:"attempt_id"`
	MessageID      string     `json:"message_id"`
	FromAddress    string     `json:"from_address"`
	Subject        string     `json:"subject"`
	BodyText       string     `json:"body_text"`
	Classification string     `json:"classification"`
	BounceKind     string     `json:"bounce_kind,omitempty"`
	OOOUntil       *time.Time `json:"ooo_until,omitempty"`
	ReceivedAt     time.Time  `json:"received_at"`
}

// TimelineEvent is one line of a lead's history.
type TimelineEvent struct {
	At         time.Time         `json:"at"`
	Kind       string            `json:"kind" doc:"created, status, sent, send_unknown, send_failed, deferred, blocked, reply, paused, resumed, note"`
	FromStatus models.LeadStatus `json:"from_status,omitempty"`
	ToStatus   models.LeadStatus `json:"to_status,omitempty"`
	Step       *int              `json:"step,omitempty"`
	Detail     string            `json:"detail,omitempty"`
}

func (s *Server) addLead(c *gin.Context) {
	camp := currentCampaign(c)
	var row leadRow
	if err := decodeJSON(c, &row); err != nil {
		fail(c, err)
		return
	}
	l, err := row.validate(models.SourceManual)
	if err != nil {
		fail(c, err)
		return
	}
	now := s.now().UTC()
	l.ID, l.CampaignID, l.UserID = models.NewID(), camp.ID, camp.UserID
	l.CreatedAt, l.UpdatedAt, l.StatusChangedAt = now, now, now
	if err := store.InsertLead(c.Request.Context(), s.db, l); err != nil {
		fail(c, err)
		return
	}
	l.Suppressed = s.leadSuppressed(c.Request.Context(), l)
	s.leadsAdded(c.Request.Context(), camp, 1)
	c.JSON(http.StatusCreated, leadOut(l))
}

// bulkAddLeads takes a JSON array of LeadInput. Every row is accounted for:
// valid new rows are stored, repeats are skipped, invalid rows fail with a
// reason, and one bad row never costs the others.
func (s *Server) bulkAddLeads(c *gin.Context) {
	camp := currentCampaign(c)
	var rows []json.RawMessage
	if err := decodeJSON(c, &rows); err != nil {
		fail(c, err)
		return
	}
	if rows == nil { // the body was null
		fail(c, unprocessable("body", "must be an array of leads (null is not one); send [] for none"))
		return
	}
	if len(rows) > MaxBulkLeads {
		fail(c, tooMany("body", len(rows), MaxBulkLeads))
		return
	}
	b := newLeadBatch(camp, models.SourceBulk, s.now(), len(rows))
	for i, raw := range rows {
		var row leadRow
		if err := decodeStrictNamed(raw, &row, "", "row"); err != nil {
			b.fail(i, rawWebsiteURL(raw), err)
			continue
		}
		b.addRow(i, row)
	}
	res, err := s.storeLeads(c.Request.Context(), b)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

func (s *Server) listLeads(c *gin.Context) {
	v := &models.ValidationError{}
	checkQuery(c, v, "status", "min_quality", "q", "sort", "limit", "cursor")
	f := store.LeadFilter{CampaignID: currentCampaign(c).ID, Limit: queryLimit(c, v, defaultLeadsPage, maxLeadsPage)}
	if raw, ok := c.GetQuery("status"); ok {
		for _, name := range strings.Split(raw, ",") {
			st, err := models.ParseLeadStatus(strings.TrimSpace(name))
			if err != nil {
				v.Add("status", "unknown status "+strconv.Quote(name)+"; use discovered, contacted, replied, bounced, placed or lost (comma-separated for several)")
				continue
			}
			f.Statuses = append(f.Statuses, st)
		}
	}
	if raw, ok := c.GetQuery("min_quality"); ok {
		q, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
		if err != nil || math.IsNaN(q) || q < 0 || q > 1 {
			v.Add("min_quality", "must be a number from 0 to 1")
		} else {
			f.MinQuality = &q
		}
	}
	if raw, ok := c.GetQuery("q"); ok {
		f.Text = checkText(v, "q", raw, 0, 200)
	}
	f.Sort = store.LeadsOldestFirst
	if raw, ok := c.GetQuery("sort"); ok {
		f.Sort = store.LeadSort(raw)
		valid := false
		for _, s := range store.LeadSorts {
			valid = valid || s == f.Sort
		}
		if !valid {
			v.Add("sort", "must be one of created_at, -created_at, quality_score, -quality_score")
		}
	}
	if cur := decodeCursor(c, v, "leads", string(f.Sort)); cur != nil {
		f.After = &store.LeadCursor{ID: cur.ID}
		if cur.Num != nil {
			f.After.Quality = *cur.Num
		}
	}
	if err := v.Err(); err != nil {
		fail(c, err)
		return
	}
	leads, next, err := store.ListLeads(c.Request.Context(), s.db, f)
	if err != nil {
		fail(c, err)
		return
	}
	out := LeadList{Items: make([]LeadOut, len(leads))}
	for i, l := range leads {
		out.Items[i] = leadOut(l)
	}
	if next != nil {
		p := cursorPayload{Kind: "leads", Sort: string(f.Sort), ID: next.ID}
		if f.Sort == store.LeadsQualityAsc || f.Sort == store.LeadsQualityDesc {
			p.Num = &next.Quality
		}
		tok := encodeCursor(p)
		out.NextCursor = &tok
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) getLead(c *gin.Context) {
	l := currentLead(c)
	h, err := store.LeadHistoryOf(c.Request.Context(), s.db, l)
	if err != nil {
		fail(c, err)
		return
	}
	out := LeadDetail{
		LeadOut:  leadOut(l),
		Attempts: make([]LeadAttempt, len(h.Attempts)),
		Replies:  make([]LeadReply, len(h.Replies)),
		Timeline: make([]TimelineEvent, 0, len(h.Events)+1),
	}
	for i, a := range h.Attempts {
		out.Attempts[i] = LeadAttempt{
			ID: a.ID, Step: a.Step, State: a.State, MessageID: a.MessageID, Recipient: a.Recipient,
			Subject: a.Subject, Body: a.Body, LegalBasis: a.LegalBasis, Error: a.Error,
			CreatedAt: a.CreatedAt.UTC(), SentAt: utcPtr(a.SentAt),
		}
	}
	for i, r := range h.Replies {
		out.Replies[i] = LeadReply{
			ID: r.ID, AttemptID: r.AttemptID, MessageID: r.MessageID, FromAddress: r.FromAddress,
			Subject: r.Subject, BodyText: r.BodyText, Classification: r.Classification,
			BounceKind: r.BounceKind, OOOUntil: utcPtr(r.OOOUntil), ReceivedAt: r.ReceivedAt.UTC(),
		}
	}
	// The lead row is its own "created" event: writing an event row per
	// lead would double the writes of a bulk add for a fact the row holds.
	hasCreated := false
	for _, e := range h.Events {
		hasCreated = hasCreated || e.Kind == "created"
	}
	if !hasCreated {
		out.Timeline = append(out.Timeline, TimelineEvent{
			At: l.CreatedAt.UTC(), Kind: "created", ToStatus: models.StatusDiscovered, Detail: "source: " + string(l.Source),
		})
	}
	for _, e := range h.Events {
		out.Timeline = append(out.Timeline, TimelineEvent{
			At: e.At.UTC(), Kind: e.Kind, FromStatus: e.FromStatus, ToStatus: e.ToStatus, Step: e.Step, Detail: e.Detail,
		})
	}
	sort.SliceStable(out.Timeline, func(i, j int) bool { return out.Timeline[i].At.Before(out.Timeline[j].At) })
	c.JSON(http.StatusOK, out)
}

func itoa(n int) string { return strconv.Itoa(n) }

func sortNotes(notes []BulkRowNote) {
	sort.SliceStable(notes, func(i, j int) bool { return notes[i].Index < notes[j].Index })
}

package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/models"
	"github.com/backlinkoutreach/outreach/workflows"
)

// Outreach routes: launch, pause and resume a campaign, change lead
// statuses (one, or many through the bulk workflow), list the send ledger
// and the scheduled follow-ups, send one lead now, and dry-run the policy.

const (
	defaultOutreachPage = 50
	maxOutreachPage     = 500
	// maxLaunchDetails bounds the placeholder problems a refused launch
	// lists; the message gives the total.
	maxLaunchDetails = 100
)

// outreach is the engine, or nil when the server has none (HTTP-only
// tests): routes that need it answer 503.
func (s *Server) outreach() (Outreach, error) {
	if o, ok := s.deps.Engine.(Outreach); ok {
		return o, nil
	}
	return nil, fmt.Errorf("%w: no workflow engine configured", models.ErrUnavailable)
}

// setState moves the campaign from one of the states in from to to, in
// the database, and answers the campaign as stored. A campaign already in
// to is answered unchanged (changed false).
func (s *Server) setState(c *gin.Context, action string, to models.CampaignState, from ...models.CampaignState) (models.Campaign, models.CampaignState, bool, error) {
	var prev models.CampaignState
	changed := false
	camp, err := store.UpdateCampaign(c.Request.Context(), s.db, currentUser(c).ID, currentCampaign(c).ID,
		func(_ *gorm.DB, camp *models.Campaign) ([]string, error) {
			prev = camp.State
			if camp.State == to {
				return nil, nil
			}
			ok := false
			for _, f := range from {
				ok = ok || camp.State == f
			}
			if !ok {
				return nil, &models.StateError{Action: action, State: camp.State}
			}
			camp.State = to
			changed = true
			cols := []string{"state"}
			if to == models.CampaignActive && camp.LaunchedAt == nil {
				now := s.now().UTC()
				camp.LaunchedAt = &now
				cols = append(cols, "launched_at")
			}
			return cols, nil
		})
	return camp, prev, changed, err
}

// revertState undoes setState when the workflow could not be told, unless
// the campaign changed since (its updated_at is no longer the one this
// request wrote): a pause and a resume that both succeeded meanwhile must
// not be undone by a stale launch or resume timing out.
func (s *Server) revertState(c *gin.Context, camp models.Campaign, prev models.CampaignState) {
	err := s.db.WithContext(context.WithoutCancel(c.Request.Context())).Model(&models.Campaign{}).
		Where("id = ? AND state = ? AND updated_at = ?", camp.ID, camp.State, camp.UpdatedAt).
		Updates(map[string]any{"state": prev, "updated_at": s.now().UTC()}).Error
	if err != nil {
		loggerFrom(c).ErrorContext(c.Request.Context(), "revert campaign state", "campaign_id", camp.ID, "error", err)
	}
}

// setStateAndSignal stores the move from to to, then signals the workflow;
// when the signal fails the move is undone and the error answered (503
// when Temporal is unreachable), so sending never starts unannounced and
// the client may retry.
func (s *Server) setStateAndSignal(c *gin.Context, action string, to, from models.CampaignState,
	signal func(context.Context, models.Campaign) error,
) {
	camp, prev, changed, err := s.setState(c, action, to, from)
	if err != nil {
		fail(c, err)
		return
	}
	if err := signal(c.Request.Context(), camp); err != nil {
		if changed {
			s.revertState(c, camp, prev)
		}
		fail(c, err)
		return
	}
	s.respondCampaign(c, http.StatusOK, camp)
}

// LaunchProblemOut is one lead whose e-mail would go out broken.
type LaunchProblemOut struct {
	Field        string   `json:"field"`
	Reason       string   `json:"reason"`
	LeadID       string   `json:"lead_id"`
	Step         int      `json:"step"`
	Placeholders []string `json:"placeholders" doc:"unfilled:name (the lead has no value) or unknown:foo (not a placeholder the engine fills)"`
}

func (s *Server) launchCampaign(c *gin.Context) {
	eng, err := s.outreach()
	if err != nil {
		fail(c, err)
		return
	}
	ctx := c.Request.Context()
	camp := currentCampaign(c)
	if camp.State == models.CampaignDraft {
		check, err := store.CheckLaunch(ctx, s.db, camp, maxLaunchDetails)
		if err != nil {
			fail(c, err)
			return
		}
		if len(check.MissingTemplates) > 0 {
			v := &models.ValidationError{}
			for _, i := range check.MissingTemplates {
				v.Add(fmt.Sprintf("settings.sequence[%d].template_id", i), "the template no longer exists")
			}
			fail(c, v)
			return
		}
		if check.Total > 0 {
			details := make([]any, len(check.Problems))
			for i, p := range check.Problems {
				details[i] = LaunchProblemOut{
					Field:  fmt.Sprintf("leads[%s].steps[%d]", p.LeadID, p.Step),
					Reason: "would be sent with " + strings.Join(p.Placeholders, ", "),
					LeadID: p.LeadID, Step: p.Step, Placeholders: p.Placeholders,
				}
			}
			fail(c, &httpError{
				status: http.StatusUnprocessableEntity, code: CodeValidation,
				message: fmt.Sprintf("the campaign cannot launch: %d e-mails would go out with unfilled or unknown placeholders (the first %d are listed)",
					check.Total, len(details)),
				details: details,
			})
			return
		}
	}
	s.setStateAndSignal(c, "launch", models.CampaignActive, models.CampaignDraft, eng.Launch)
}

func (s *Server) pauseCampaign(c *gin.Context) {
	eng, err := s.outreach()
	if err != nil {
		fail(c, err)
		return
	}
	// Stored first: every send checks the state in its transaction, so no
	// send starts any more, whether or not the workflow hears about it;
	// the engine then waits out the conversations already under way.
	camp, _, _, err := s.setState(c, "pause", models.CampaignPaused, models.CampaignActive)
	if err != nil {
		fail(c, err)
		return
	}
	if err := eng.Pause(c.Request.Context(), camp); err != nil {
		// The pause holds; the workflow sees it at its next look, and a
		// conversation still under way after the wait belongs to a process
		// that died or a server that hangs.
		loggerFrom(c).WarnContext(c.Request.Context(), "campaign paused; its workflow was not told, or e-mails were still being sent",
			"campaign_id", camp.ID, "error", err)
	}
	s.respondCampaign(c, http.StatusOK, camp)
}

func (s *Server) resumeCampaign(c *gin.Context) {
	eng, err := s.outreach()
	if err != nil {
		fail(c, err)
		return
	}
	s.setStateAndSignal(c, "resume", models.CampaignActive, models.CampaignPaused, eng.Resume)
}

// LeadStatusInput changes one lead's status.
type LeadStatusInput struct {
	Status string `json:"status" required:"true" doc:"discovered, contacted, replied, bounced, placed or lost"`
}

func parseStatus(v *models.ValidationError, field, raw string) models.LeadStatus {
	st, err := models.ParseLeadStatus(strings.TrimSpace(raw))
	if err != nil {
		v.Add(field, "must be one of discovered, contacted, replied, bounced, placed, lost")
	}
	return st
}

func (s *Server) setLeadStatus(c *gin.Context) {
	var in LeadStatusInput
	if err := decodeJSON(c, &in); err != nil {
		fail(c, err)
		return
	}
	v := &models.ValidationError{}
	to := parseStatus(v, "status", in.Status)
	if err := v.Err(); err != nil {
		fail(c, err)
		return
	}
	eng, err := s.outreach()
	if err != nil {
		fail(c, err)
		return
	}
	lead := currentLead(c)
	if _, err := eng.SetLeadStatus(c.Request.Context(), currentCampaign(c), lead.ID, to); err != nil {
		fail(c, err)
		return
	}
	l, err := store.LeadInCampaign(c.Request.Context(), s.db, lead.CampaignID, lead.ID)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, leadOut(l))
}

// BulkStatusInput changes many leads' status.
type BulkStatusInput struct {
	LeadIDs []string `json:"lead_ids" required:"true" doc:"1 to 10,000 lead ids; repeated ids count once"`
	Status  string   `json:"status" required:"true"`
}

// maxBulkIDBytes bounds one id of a bulk status request (lead ids are 36).
const maxBulkIDBytes = 64

func (s *Server) bulkLeadStatus(c *gin.Context) {
	var in BulkStatusInput
	if err := decodeJSON(c, &in); err != nil {
		fail(c, err)
		return
	}
	v := &models.ValidationError{}
	to := parseStatus(v, "status", in.Status)
	switch {
	case in.LeadIDs == nil:
		v.Add("lead_ids", "required: an array of lead ids")
	case len(in.LeadIDs) == 0:
		v.Add("lead_ids", "needs at least one lead id")
	case len(in.LeadIDs) > workflows.MaxBulkLeads:
		v.Add("lead_ids", fmt.Sprintf("at most %d lead ids per request (got %d)", workflows.MaxBulkLeads, len(in.LeadIDs)))
	default:
		// Malformed ids are answered per lead (not found), but a long one
		// is refused here: 10,000 of them must fit the workflow's 2 MB
		// input and its answer.
		bad := 0
		for i, id := range in.LeadIDs {
			if len(id) > maxBulkIDBytes && bad < 20 {
				v.Add(fmt.Sprintf("lead_ids[%d]", i), fmt.Sprintf("is %d bytes long: no lead id is longer than %d", len(id), maxBulkIDBytes))
				bad++
			}
		}
	}
	if err := v.Err(); err != nil {
		fail(c, err)
		return
	}
	eng, err := s.outreach()
	if err != nil {
		fail(c, err)
		return
	}
	res, err := eng.BulkStatus(c.Request.Context(), currentCampaign(c), in.LeadIDs, to)
	if err != nil {
		fail(c, err)
		return
	}
	if res.Failed == nil {
		res.Failed = []workflows.BulkFailure{}
	}
	c.JSON(http.StatusOK, res)
}

// AttemptOut is one row of the send ledger.
type AttemptOut struct {
	ID         string              `json:"id"`
	LeadID     string              `json:"lead_id"`
	Step       int                 `json:"step"`
	State      models.AttemptState `json:"state" doc:"pending, sending, sent, failed or unknown (the send was interrupted; it is never sent again)"`
	Recipient  string              `json:"recipient"`
	Subject    string              `json:"subject"`
	Body       string              `json:"body"`
	MessageID  string              `json:"message_id"`
	InReplyTo  string              `json:"in_reply_to,omitempty"`
	LegalBasis string              `json:"legal_basis"`
	Error      string              `json:"error,omitempty"`
	CreatedAt  time.Time           `json:"created_at"`
	UpdatedAt  time.Time           `json:"updated_at"`
	SendingAt  *time.Time          `json:"sending_at"`
	SentAt     *time.Time          `json:"sent_at"`
}

// AttemptList is a page of the send ledger, oldest first.
type AttemptList struct {
	Items      []AttemptOut `json:"items"`
	NextCursor *string      `json:"next_cursor"`
}

func (s *Server) listAttempts(c *gin.Context) {
	v := &models.ValidationError{}
	checkQuery(c, v, "state", "lead_id", "limit", "cursor")
	limit := queryLimit(c, v, defaultOutreachPage, maxOutreachPage)
	f := store.AttemptFilter{CampaignID: currentCampaign(c).ID, Limit: limit}
	if lead, ok := c.GetQuery("lead_id"); ok {
		// As listReplies: a value that cannot be an id is a mistake, not a
		// filter that matches nothing (and must not reach SQL unchecked).
		if !models.ValidID(lead) {
			v.Add("lead_id", "is not a lead id")
		}
		f.LeadID = lead
	}
	if st := c.Query("state"); st != "" {
		ok := false
		for _, k := range models.AttemptStates {
			ok = ok || string(k) == st
		}
		if !ok {
			v.Add("state", "must be one of pending, sending, sent, failed, unknown")
		}
		f.State = models.AttemptState(st)
	}
	if cur := decodeCursor(c, v, "attempts", ""); cur != nil {
		f.After = cur.ID
	}
	if err := v.Err(); err != nil {
		fail(c, err)
		return
	}
	rows, next, err := store.ListAttempts(c.Request.Context(), s.db, f)
	if err != nil {
		fail(c, err)
		return
	}
	out := AttemptList{Items: make([]AttemptOut, len(rows))}
	for i, a := range rows {
		out.Items[i] = AttemptOut{
			ID: a.ID, LeadID: a.LeadID, Step: a.Step, State: a.State, Recipient: a.Recipient, Subject: a.Subject,
			Body: a.Body, MessageID: a.MessageID, InReplyTo: a.InReplyTo, LegalBasis: a.LegalBasis, Error: a.Error,
			CreatedAt: a.CreatedAt.UTC(), UpdatedAt: a.UpdatedAt.UTC(), SendingAt: utcPtr(a.SendingAt), SentAt: utcPtr(a.SentAt),
		}
	}
	out.NextCursor = idCursor("attempts", next)
	c.JSON(http.StatusOK, out)
}

// FollowUpList is a page of follow-ups, by lead.
type FollowUpList struct {
	Items      []store.FollowUp `json:"items"`
	NextCursor *string          `json:"next_cursor"`
}

func (s *Server) listFollowUps(c *gin.Context) {
	v := &models.ValidationError{}
	checkQuery(c, v, "state", "limit", "cursor")
	limit := queryLimit(c, v, defaultOutreachPage, maxOutreachPage)
	f := store.FollowUpFilter{Campaign: currentCampaign(c), Limit: limit, Now: s.now(), OOODefault: s.cfg.OOODefaultDelay}
	switch st := c.Query("state"); st {
	case "", store.FollowUpScheduled, store.FollowUpWaitingWindow, store.FollowUpPaused, store.FollowUpParked, store.FollowUpCancelled:
		f.State = st
	default:
		v.Add("state", "must be one of scheduled, waiting_window, paused, parked, cancelled")
	}
	if cur := decodeCursor(c, v, "follow-ups", ""); cur != nil {
		f.After = cur.ID
	}
	if err := v.Err(); err != nil {
		fail(c, err)
		return
	}
	items, next, err := store.ListFollowUps(c.Request.Context(), s.db, f)
	if err != nil {
		fail(c, err)
		return
	}
	out := FollowUpList{Items: items}
	out.NextCursor = idCursor("follow-ups", next)
	c.JSON(http.StatusOK, out)
}

// SendNowInput names the lead to e-mail now.
type SendNowInput struct {
	CampaignID string `json:"campaign_id" required:"true"`
	LeadID     string `json:"lead_id" required:"true"`
}

// SendNowOut says what the lead's workflow will send.
type SendNowOut struct {
	CampaignID string `json:"campaign_id"`
	LeadID     string `json:"lead_id"`
	Step       int    `json:"step" doc:"the sequence step that goes out next (0: the pitch)"`
	State      string `json:"state" doc:"queued: the lead sends as soon as the window, caps and minimum gap allow"`
}

func (s *Server) sendNow(c *gin.Context) {
	var in SendNowInput
	if err := decodeJSON(c, &in); err != nil {
		fail(c, err)
		return
	}
	v := &models.ValidationError{}
	if strings.TrimSpace(in.CampaignID) == "" {
		v.Add("campaign_id", "required")
	}
	if strings.TrimSpace(in.LeadID) == "" {
		v.Add("lead_id", "required")
	}
	if err := v.Err(); err != nil {
		fail(c, err)
		return
	}
	ctx := c.Request.Context()
	camp, err := store.CampaignForUser(ctx, s.db, currentUser(c).ID, in.CampaignID)
	if err != nil {
		fail(c, err)
		return
	}
	lead, err := store.LeadInCampaign(ctx, s.db, camp.ID, in.LeadID)
	if err != nil {
		fail(c, err)
		return
	}
	if camp.State != models.CampaignActive {
		fail(c, &models.StateError{Action: "send from", State: camp.State})
		return
	}
	eng, err := s.outreach()
	if err != nil {
		fail(c, err)
		return
	}
	res, err := eng.SendNow(ctx, camp, lead.ID)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, SendNowOut{CampaignID: camp.ID, LeadID: lead.ID, Step: res.Step, State: "queued"})
}

// PolicyInput is a recipient to check the sending policy for.
type PolicyInput struct {
	Recipient  string `json:"recipient" required:"true" doc:"the e-mail address to check"`
	CampaignID string `json:"campaign_id,omitempty" doc:"adds the campaign's cap, state and sending window"`
	Subject    string `json:"subject,omitempty" doc:"adds the duplicate-subject check"`
}

func (s *Server) validatePolicy(c *gin.Context) {
	var in PolicyInput
	if err := decodeJSON(c, &in); err != nil {
		fail(c, err)
		return
	}
	v := &models.ValidationError{}
	addr, err := models.NormalizeEmail(in.Recipient)
	if err != nil {
		v.Add("recipient", "must be an e-mail address")
	}
	// Kept as sent: the duplicate check compares it with stored subjects.
	subject := checkRawText(v, "subject", in.Subject, 0, maxSubject)
	if err := v.Err(); err != nil {
		fail(c, err)
		return
	}
	ctx := c.Request.Context()
	user := currentUser(c)
	p := store.PolicyCheck{
		UserID: user.ID, Recipient: addr, Subject: subject, Now: s.now(),
		Limits: store.SendLimits{UserDailyCap: s.cfg.UserDailyCap, DomainDailyCap: s.cfg.DomainDailyCap},
	}
	if in.CampaignID != "" {
		camp, err := store.CampaignForUser(ctx, s.db, user.ID, in.CampaignID)
		if err != nil {
			fail(c, err)
			return
		}
		p.Campaign = &camp
	}
	rep, err := store.CheckPolicy(ctx, s.db, p)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, rep)
}

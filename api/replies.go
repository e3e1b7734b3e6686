package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/backlinkoutreach/outreach/internal/inbox"
	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/models"
)

// Reply routes: poll the mailbox now, the inbound-mail webhook, a
// campaign's replies, and reclassification. A reply's effect on its lead
// (the reply signal) is delivered right away when the engine answers, and
// otherwise left pending for the reply-poll workflow, which retries it.

const (
	defaultRepliesPage = 50
	maxRepliesPage     = 500
	ctxReply           = "reply"
)

// ReplyOut is an inbound message as the API shows it.
type ReplyOut struct {
	ID             string     `json:"id"`
	CampaignID     *string    `json:"campaign_id"`
	LeadID         *string    `json:"lead_id"`
	AttemptID      *string    `json:"attempt_id" doc:"the e-mail this message answers; null when unmatched"`
	MessageID      string     `json:"message_id"`
	InReplyTo      string     `json:"in_reply_to"`
	FromAddress    string     `json:"from_address"`
	ToAddress      string     `json:"to_address"`
	Subject        string     `json:"subject"`
	BodyText       string     `json:"body_text" doc:"the readable text (HTML rendered as text), quoted history included"`
	Classification string     `json:"classification" doc:"interested, not_interested, out_of_office, unsubscribe, bounce, asks_payment or replied"`
	BounceKind     string     `json:"bounce_kind,omitempty" doc:"hard or soft for bounces"`
	BounceCode     string     `json:"bounce_code,omitempty"`
	OOOUntil       *time.Time `json:"ooo_until,omitempty" doc:"out-of-office return time, when the reply states one"`
	Parsed         bool       `json:"parsed" doc:"false when the message could not be read as MIME; it is kept for review"`
	ParseError     string     `json:"parse_error,omitempty"`
	Source         string     `json:"source" doc:"imap or webhook"`
	Mailbox        string     `json:"mailbox,omitempty"`
	ReceivedAt     time.Time  `json:"received_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	Effect         string     `json:"effect" doc:"the reply's effect on its lead: none, pending, delivered or no_workflow (the lead's workflow had finished)"`
}

func replyOut(r models.Reply, effect string) ReplyOut {
	return ReplyOut{
		ID: r.ID, CampaignID: r.CampaignID, LeadID: r.LeadID, AttemptID: r.AttemptID, MessageID: r.MessageID,
		InReplyTo: r.InReplyTo, FromAddress: r.FromAddress, ToAddress: r.ToAddress, Subject: r.Subject,
		BodyText: r.BodyText, Classification: r.Classification, BounceKind: r.BounceKind, BounceCode: r.BounceCode,
		OOOUntil: utcPtr(r.OOOUntil), Parsed: r.Parsed, ParseError: r.ParseError, Source: r.Source, Mailbox: r.Mailbox,
		ReceivedAt: r.ReceivedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), Effect: effect,
	}
}

// replyEngine is the engine's reply side, or nil without an engine.
func (s *Server) replyEngine() ReplyEngine {
	if e, ok := s.deps.Engine.(ReplyEngine); ok {
		return e
	}
	return nil
}

// effectOf delivers a reply's pending effect now when the engine is there,
// and answers the effect's state. A failed delivery stays pending: the
// reply-poll workflow retries it.
func (s *Server) effectOf(ctx context.Context, replyID string) (string, error) {
	if eng := s.replyEngine(); eng != nil {
		fx := &inbox.Effects{DB: s.db, Notifier: eng, Log: s.log, Now: s.now}
		if _, err := fx.Deliver(ctx, 1, replyID); err != nil {
			s.log.WarnContext(ctx, "reply stored; its effect will be delivered later", "reply_id", replyID, "error", err)
		}
	}
	e, ok, err := store.EffectOf(ctx, s.db, replyID)
	if err != nil {
		return "", err
	}
	if !ok {
		return "none", nil
	}
	return e.State, nil
}

// PollOut answers POST /replies/poll.
type PollOut struct {
	RepliesFound int `json:"replies_found" doc:"new replies matched to your e-mails"`
	Failed       int `json:"failed" doc:"new messages in the mailbox that could not be read (stored unparsed, for review)"`
}

func (s *Server) pollReplies(c *gin.Context) {
	if strings.TrimSpace(s.cfg.IMAPHost) == "" {
		fail(c, errPollingOff)
		return
	}
	eng := s.replyEngine()
	if eng == nil {
		fail(c, fmt.Errorf("%w: no workflow engine configured", models.ErrUnavailable))
		return
	}
	res, err := eng.PollReplies(c.Request.Context())
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, PollOut{RepliesFound: res.ByUser[currentUser(c).ID], Failed: res.Failed})
}

// InboundOut answers the inbound-mail webhook.
type InboundOut struct {
	Reply     ReplyOut `json:"reply"`
	Duplicate bool     `json:"duplicate" doc:"the message was already stored (same Message-ID, or same content without one)"`
	Matched   bool     `json:"matched" doc:"the message answers one of your e-mails"`
}

// inboundReply takes one raw RFC 5322 message (a provider's inbound-mail
// webhook) through the same pipeline as polled mail. Only the caller's
// e-mails can match it.
func (s *Server) inboundReply(c *gin.Context) {
	raw, ok := readRawMessage(c)
	if !ok {
		return
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		v := &models.ValidationError{}
		v.Add("body", "is empty; send the raw RFC 5322 message, headers and body")
		fail(c, v)
		return
	}
	ctx := c.Request.Context()
	p := &inbox.Pipeline{DB: s.db, Classifier: inbox.NewClassifier(s.cfg, s.log), Log: s.log, Now: s.now}
	o, err := p.ProcessOne(ctx, inbox.Inbound{Raw: raw, Source: inbox.SourceWebhook, UserID: currentUser(c).ID, ReceivedAt: s.now()})
	if err != nil {
		fail(c, err)
		return
	}
	effect, err := s.effectOf(ctx, o.Reply.ID)
	if err != nil {
		fail(c, err)
		return
	}
	status := http.StatusCreated
	if !o.New {
		status = http.StatusOK
	}
	c.JSON(status, InboundOut{Reply: replyOut(o.Reply, effect), Duplicate: !o.New, Matched: o.Reply.LeadID != nil})
}

// ReplyList is a page of a campaign's replies, newest first.
type ReplyList struct {
	Items      []ReplyOut `json:"items"`
	NextCursor *string    `json:"next_cursor"`
}

func (s *Server) listReplies(c *gin.Context) {
	v := &models.ValidationError{}
	checkQuery(c, v, "classification", "lead_id", "limit", "cursor")
	f := store.ReplyFilter{CampaignID: currentCampaign(c).ID, Limit: queryLimit(c, v, defaultRepliesPage, maxRepliesPage)}
	if tag, ok := c.GetQuery("classification"); ok {
		if !slices.Contains(models.ReplyTags, tag) {
			v.Add("classification", "must be one of "+strings.Join(models.ReplyTags, ", "))
		}
		f.Classification = tag
	}
	if lead, ok := c.GetQuery("lead_id"); ok {
		if !models.ValidID(lead) {
			v.Add("lead_id", "is not a lead id")
		}
		f.LeadID = lead
	}
	if cur := decodeCursor(c, v, "replies", ""); cur != nil {
		f.After = cur.ID
	}
	if err := v.Err(); err != nil {
		fail(c, err)
		return
	}
	ctx := c.Request.Context()
	rows, next, err := store.ListReplies(ctx, s.db, f)
	if err != nil {
		fail(c, err)
		return
	}
	effects, err := store.EffectsOf(ctx, s.db, replyIDs(rows))
	if err != nil {
		fail(c, err)
		return
	}
	out := ReplyList{Items: make([]ReplyOut, len(rows))}
	for i, r := range rows {
		e := "none"
		if st, ok := effects[r.ID]; ok {
			e = st
		}
		out.Items[i] = replyOut(r, e)
	}
	out.NextCursor = idCursor("replies", next)
	c.JSON(http.StatusOK, out)
}

func replyIDs(rs []models.Reply) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// loadReply resolves :reply_id to a reply matched to one of the caller's
// leads, or answers 404 BacklinkReplyNotFoundError (another user's reply, an
// unmatched one, a malformed id) before the handler reads the body.
func (s *Server) loadReply() gin.HandlerFunc {
	return resolve(ctxReply, func(c *gin.Context) (models.Reply, error) {
		return store.ReplyForUser(c.Request.Context(), s.db, currentUser(c).ID, c.Param("reply_id"))
	})
}

func currentReply(c *gin.Context) models.Reply { return resolved[models.Reply](c, ctxReply) }

// ReplyPatch reclassifies a reply.
type ReplyPatch struct {
	Classification string  `json:"classification" doc:"the new tag (required)"`
	BounceKind     *string `json:"bounce_kind" doc:"hard (default) or soft; only with classification bounce"`
	OOOUntil       *string `json:"ooo_until" doc:"return date, RFC 3339 or YYYY-MM-DD; only with out_of_office (default: none, the engine's default pause)"`
}

// patchReply changes a reply's tag and makes its lead react as if the new
// tag had been the first (ReplySignal.Reclassified). A tag that suppresses
// (not_interested, unsubscribe, hard bounce) suppresses the address.
func (s *Server) patchReply(c *gin.Context) {
	r := currentReply(c)
	var in ReplyPatch
	if err := decodeJSON(c, &in); err != nil {
		fail(c, err)
		return
	}
	v := &models.ValidationError{}
	rc := store.Reclassification{Tag: strings.TrimSpace(in.Classification)}
	switch {
	case rc.Tag == "":
		v.Add("classification", "is required")
	case !slices.Contains(models.ReplyTags, rc.Tag):
		v.Add("classification", "must be one of "+strings.Join(models.ReplyTags, ", "))
	}
	if in.BounceKind != nil {
		switch k := strings.TrimSpace(*in.BounceKind); {
		case rc.Tag != models.ReplyBounce:
			v.Add("bounce_kind", "is only for classification bounce")
		case k != inbox.BounceHard && k != inbox.BounceSoft:
			v.Add("bounce_kind", "must be hard or soft")
		default:
			rc.BounceKind = k
		}
	} else if rc.Tag == models.ReplyBounce {
		rc.BounceKind = inbox.BounceHard
	}
	if in.OOOUntil != nil {
		if rc.Tag != models.ReplyOutOfOffice {
			v.Add("ooo_until", "is only for classification out_of_office")
		} else if t, err := parseDateOrTime(*in.OOOUntil); err != nil {
			v.Add("ooo_until", "must be an RFC 3339 time or a YYYY-MM-DD date")
		} else {
			rc.OOOUntil = &t
		}
	}
	if err := v.Err(); err != nil {
		fail(c, err)
		return
	}
	ctx := c.Request.Context()
	rc.SuppressSource = models.ReplySuppressionSource(rc.Tag, rc.BounceKind)
	if rc.SuppressSource != "" {
		addr, err := s.replyRecipient(ctx, r)
		if err != nil {
			fail(c, err)
			return
		}
		rc.Suppress = addr
	}
	updated, err := store.Reclassify(ctx, s.db, r, rc, s.now())
	if err != nil {
		fail(c, err)
		return
	}
	effect, err := s.effectOf(ctx, updated.ID)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, replyOut(updated, effect))
}

// replyRecipient is the address the reply's lead was mailed at: the one to
// suppress.
func (s *Server) replyRecipient(ctx context.Context, r models.Reply) (string, error) {
	if r.AttemptID != nil {
		var a models.Attempt
		err := s.db.WithContext(ctx).Select("recipient").Take(&a, "id = ?", *r.AttemptID).Error
		if err == nil && a.Recipient != "" {
			return a.Recipient, nil
		}
	}
	var l models.Lead
	if err := s.db.WithContext(ctx).Select("contact_email").Take(&l, "id = ?", *r.LeadID).Error; err != nil {
		return "", fmt.Errorf("reply recipient: %w", err)
	}
	return l.ContactEmail, nil
}

func parseDateOrTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}, errors.New("bad date")
	}
	return t, nil
}

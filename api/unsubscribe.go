package api

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/internal/inbox"
	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/internal/unsub"
	"github.com/backlinkoutreach/outreach/models"
	"github.com/backlinkoutreach/outreach/workflows"
)

// The public unsubscribe endpoints behind every message's List-Unsubscribe
// link. GET shows a confirmation page (mail scanners prefetch links, so a
// GET never unsubscribes); POST with List-Unsubscribe=One-Click (RFC 8058,
// sent by mail clients, or by the page's form) suppresses the address at
// once and stops the lead. The token is sealed (internal/unsub): a forged or
// altered one answers 404 and changes nothing.

// maxUnsubscribeBody bounds the one-click form body.
const maxUnsubscribeBody = 16 << 10

var unsubscribePage = template.Must(template.New("unsubscribe").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><title>Unsubscribe</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222;line-height:1.5}button{font-size:1rem;padding:.6rem 1.2rem;cursor:pointer}</style>
</head><body>
{{if .Done}}<h1>You are unsubscribed</h1>
<p>{{.Email}} will not receive any more e-mails from this sender.</p>
{{else}}<h1>Unsubscribe</h1>
<p>Stop all e-mails from this sender to {{.Email}}?</p>
<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>
{{end}}</body></html>
`))

type unsubscribeView struct {
	Email string
	Done  bool
}

// signer builds the token signer from the configuration, as the worker
// does, so links made by the worker open here.
func (s *Server) signer() (*unsub.Signer, error) {
	secret, err := unsub.LoadSecret(s.cfg.UnsubscribeSecret, s.cfg.DataDir)
	if err != nil {
		return nil, err
	}
	return unsub.New(secret)
}

// openToken answers the token's claims, or writes 404 and answers false.
func (s *Server) openToken(c *gin.Context) (unsub.Claims, bool) {
	sg, err := s.signer()
	if err != nil {
		fail(c, err)
		return unsub.Claims{}, false
	}
	cl, err := sg.Open(c.Param("token"))
	if err != nil {
		fail(c, &httpError{
			status: http.StatusNotFound, code: CodeNotFound,
			message: "this unsubscribe link is not valid", details: []any{},
		})
		return unsub.Claims{}, false
	}
	return cl, true
}

func renderUnsubscribe(c *gin.Context, v unsubscribeView) {
	h := c.Writer.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Robots-Tag", "noindex")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	c.Status(http.StatusOK)
	c.Header("Content-Type", "text/html; charset=utf-8")
	_ = unsubscribePage.Execute(c.Writer, v)
}

// maskEmail shows enough of the address to recognise it, not enough to
// harvest it from a forwarded link.
func maskEmail(addr string) string {
	local, domain, ok := strings.Cut(addr, "@")
	if !ok || local == "" {
		return "your address"
	}
	first, size := utf8.DecodeRuneInString(local)
	return string(first) + strings.Repeat("*", min(utf8.RuneCountInString(local[size:]), 6)) + "@" + domain
}

func (s *Server) unsubscribePage(c *gin.Context) {
	cl, ok := s.openToken(c)
	if !ok {
		return
	}
	hit, err := store.IsSuppressed(c.Request.Context(), s.db, cl.UserID, cl.Email)
	if err != nil {
		fail(c, err)
		return
	}
	renderUnsubscribe(c, unsubscribeView{Email: maskEmail(cl.Email), Done: hit != ""})
}

// unsubscribeOneClick suppresses the token's address for its user and
// tells the lead's workflow (tag unsubscribe), which stops the sequence.
// The suppression alone already stops every future send, so a workflow
// that cannot be reached right now does not fail the request.
func (s *Server) unsubscribeOneClick(c *gin.Context) {
	cl, ok := s.openToken(c)
	if !ok {
		return
	}
	var err error
	switch c.ContentType() {
	case "application/x-www-form-urlencoded":
		err = c.Request.ParseForm()
	case "multipart/form-data":
		err = c.Request.ParseMultipartForm(maxUnsubscribeBody)
	default:
		fail(c, &httpError{
			status: http.StatusUnsupportedMediaType, code: CodeUnsupportedContent,
			message: "send List-Unsubscribe=One-Click as application/x-www-form-urlencoded or multipart/form-data (RFC 8058)", details: []any{},
		})
		return
	}
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			fail(c, err)
			return
		}
		fail(c, badRequest(CodeValidation, "the form body could not be read"))
		return
	}
	if got := c.Request.PostForm.Get("List-Unsubscribe"); got != "One-Click" {
		v := &models.ValidationError{}
		v.Add("List-Unsubscribe", "must be One-Click (RFC 8058)")
		fail(c, v)
		return
	}
	ctx := c.Request.Context()
	_, _, err = store.AddSuppression(ctx, s.db, cl.UserID, cl.Email, "one-click unsubscribe link", models.SuppressUnsubscribe, s.now())
	if errors.Is(err, gorm.ErrForeignKeyViolated) {
		// The account that sent the e-mail no longer exists.
		fail(c, &httpError{status: http.StatusNotFound, code: CodeNotFound, message: "this unsubscribe link is not valid", details: []any{}})
		return
	}
	if err != nil {
		fail(c, err)
		return
	}
	if eng := s.replyEngine(); eng != nil && models.ValidID(cl.CampaignID) && models.ValidID(cl.LeadID) {
		ls := store.LeadSignal{ID: models.NewID(), CampaignID: cl.CampaignID, LeadID: cl.LeadID, Tag: models.ReplyUnsubscribe}
		sig := workflows.ReplySignal{ReplyID: ls.SignalID(), Tag: ls.Tag}
		if err := eng.SignalLead(ctx, cl.CampaignID, cl.LeadID, sig); err != nil && !errors.Is(err, inbox.ErrNoWorkflow) {
			// Queued under the same id (a signal that did land is not
			// applied twice): the reply poll's schedule delivers it.
			s.log.WarnContext(ctx, "address suppressed; the lead workflow will be told later", "lead_id", cl.LeadID, "error", err)
			if _, qerr := store.QueueLeadSignal(context.WithoutCancel(ctx), s.db, ls, s.now()); qerr != nil {
				s.log.ErrorContext(ctx, "the unsubscribe signal could not be queued; the suppression still stops every send",
					"lead_id", cl.LeadID, "error", qerr)
			}
		}
	}
	renderUnsubscribe(c, unsubscribeView{Email: maskEmail(cl.Email), Done: true})
}

// OneClickForm is the RFC 8058 body: List-Unsubscribe=One-Click.
type OneClickForm struct {
	ListUnsubscribe string `json:"List-Unsubscribe" doc:"must be One-Click"`
}

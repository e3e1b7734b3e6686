package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/models"
)

// Suppression list routes. An entry is an e-mail address or a whole domain
// written "@example.com"; no e-mail is ever sent to what the caller's list
// covers (the send step checks it every time). DELETE takes the entry's id
// or its value in the path: /suppression/01J...  or /suppression/@example.com
// or /suppression/editor@example.com (URL-encode the value if your client
// needs to).

const (
	defaultSuppressionPage = 100
	maxSuppressionPage     = 1000
	// CodeSuppressionNotFound answers a DELETE of an entry the caller does
	// not have.
	CodeSuppressionNotFound = "SuppressionNotFoundError"
	maxSuppressionReason    = 500
)

var suppressionSources = []string{models.SuppressManual, models.SuppressUnsubscribe, models.SuppressNotInterested, models.SuppressHardBounce}

// SuppressionInput adds one entry.
type SuppressionInput struct {
	Value  string `json:"value" doc:"an e-mail address, or @domain for a whole domain (required)"`
	Reason string `json:"reason" doc:"free text, up to 500 characters"`
	Source string `json:"source" doc:"manual (default), unsubscribe, not_interested or hard_bounce"`
}

// SuppressionOut is one entry of the list.
type SuppressionOut struct {
	ID        string    `json:"id"`
	Value     string    `json:"value"`
	Kind      string    `json:"kind" doc:"address or domain"`
	Reason    string    `json:"reason"`
	Source    string    `json:"source"`
	CreatedAt time.Time `json:"created_at"`
	// Created is false when the value was already listed (the existing
	// entry is answered unchanged).
	Created bool `json:"created"`
}

func suppressionOut(s models.Suppression, created bool) SuppressionOut {
	kind := "address"
	if strings.HasPrefix(s.Value, "@") {
		kind = "domain"
	}
	return SuppressionOut{
		ID: s.ID, Value: s.Value, Kind: kind, Reason: s.Reason, Source: s.Source,
		CreatedAt: s.CreatedAt.UTC(), Created: created,
	}
}

func (s *Server) addSuppression(c *gin.Context) {
	var in SuppressionInput
	if err := decodeJSON(c, &in); err != nil {
		fail(c, err)
		return
	}
	v := &models.ValidationError{}
	value := strings.TrimSpace(in.Value)
	if value == "" {
		v.Add("value", "is required")
	} else if _, err := store.NormalizeSuppression(value); err != nil {
		v.Add("value", "must be a bare e-mail address (editor@example.com) or a domain written @example.com")
	}
	reason := checkText(v, "reason", in.Reason, 0, maxSuppressionReason)
	source := strings.TrimSpace(in.Source)
	if source == "" {
		source = models.SuppressManual
	} else if !slices.Contains(suppressionSources, source) {
		v.Add("source", "must be one of "+strings.Join(suppressionSources, ", "))
	}
	if err := v.Err(); err != nil {
		fail(c, err)
		return
	}
	entry, created, err := store.AddSuppression(c.Request.Context(), s.db, currentUser(c).ID, value, reason, source, s.now())
	if err != nil {
		fail(c, err)
		return
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	c.JSON(status, suppressionOut(entry, created))
}

// SuppressionList is a page of the list, newest first.
type SuppressionList struct {
	Items      []SuppressionOut `json:"items"`
	NextCursor *string          `json:"next_cursor"`
}

func (s *Server) listSuppressions(c *gin.Context) {
	v := &models.ValidationError{}
	checkQuery(c, v, "source", "q", "limit", "cursor")
	f := store.SuppressionFilter{UserID: currentUser(c).ID, Limit: queryLimit(c, v, defaultSuppressionPage, maxSuppressionPage)}
	if src, ok := c.GetQuery("source"); ok {
		if !slices.Contains(suppressionSources, src) {
			v.Add("source", "must be one of "+strings.Join(suppressionSources, ", "))
		}
		f.Source = src
	}
	if q, ok := c.GetQuery("q"); ok {
		f.Query = checkText(v, "q", q, 1, 320)
	}
	if cur := decodeCursor(c, v, "suppression", ""); cur != nil {
		f.After = cur.ID
	}
	if err := v.Err(); err != nil {
		fail(c, err)
		return
	}
	rows, next, err := store.ListSuppressions(c.Request.Context(), s.db, f)
	if err != nil {
		fail(c, err)
		return
	}
	out := SuppressionList{Items: make([]SuppressionOut, len(rows))}
	for i, r := range rows {
		out.Items[i] = suppressionOut(r, false)
	}
	out.NextCursor = idCursor("suppression", next)
	c.JSON(http.StatusOK, out)
}

// deleteSuppression removes an entry by id or by value; leads it covered
// (and no other entry covers) are no longer flagged. It answers the removed
// entry.
func (s *Server) deleteSuppression(c *gin.Context) {
	entry := strings.TrimSpace(c.Param("entry"))
	removed, err := store.DeleteSuppression(c.Request.Context(), s.db, currentUser(c).ID, entry)
	if errors.Is(err, store.ErrSuppressionNotFound) {
		fail(c, &httpError{
			status: http.StatusNotFound, code: CodeSuppressionNotFound,
			message: "no suppression entry with this id or value", details: []any{},
		})
		return
	}
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, suppressionOut(removed, false))
}

// flagSuppressedLeads marks the just-stored leads whose contact address (or
// its domain) is on the owner's list, and answers which, by index into
// leads. The leads are kept: the list decides who is never mailed, not who
// may be recorded.
func (s *Server) flagSuppressedLeads(ctx context.Context, userID string, leads []models.Lead, stored []bool) (map[int]bool, error) {
	var addrs []string
	for i, l := range leads {
		if stored[i] && l.ContactEmail != "" {
			addrs = append(addrs, l.ContactEmail)
		}
	}
	out := map[int]bool{}
	if len(addrs) == 0 {
		return out, nil
	}
	hit, err := store.SuppressedAmong(ctx, s.db, userID, addrs)
	if err != nil || len(hit) == 0 {
		return out, err
	}
	var ids []string
	for i, l := range leads {
		if stored[i] && hit[strings.ToLower(l.ContactEmail)] {
			out[i] = true
			ids = append(ids, l.ID)
		}
	}
	return out, store.FlagLeadsSuppressed(ctx, s.db, ids, s.now())
}

// reportSuppressed flags the batch's stored leads that the owner's list
// covers and lists them in the result. The leads are stored whatever
// happens here (the send step checks the list anyway), so a failure is
// logged, not answered.
func (s *Server) reportSuppressed(ctx context.Context, b *leadBatch, stored []bool) {
	flagged, err := s.flagSuppressedLeads(ctx, b.camp.UserID, b.leads, stored)
	if err != nil {
		s.log.ErrorContext(ctx, "leads stored but not checked against the suppression list", "campaign_id", b.camp.ID, "error", err)
		return
	}
	for i := range b.leads {
		if flagged[i] {
			b.res.Suppressed = append(b.res.Suppressed, BulkRowNote{
				Index: b.index[i], WebsiteURL: b.leads[i].WebsiteURL,
				Reason: "contact address " + b.leads[i].ContactEmail + " is on the suppression list",
			})
		}
	}
	sortNotes(b.res.Suppressed)
}

// leadSuppressed flags one stored lead when the list covers it.
func (s *Server) leadSuppressed(ctx context.Context, l models.Lead) bool {
	flagged, err := s.flagSuppressedLeads(ctx, l.UserID, []models.Lead{l}, []bool{true})
	if err != nil {
		s.log.ErrorContext(ctx, "lead stored but not checked against the suppression list", "lead_id", l.ID, "error", err)
		return false
	}
	return flagged[0]
}

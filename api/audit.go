package api

import (
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/models"
)

const (
	defaultAuditPage = 100
	maxAuditPage     = 1000
)

var auditResults = []string{store.AuditApproved, store.AuditBlocked, store.AuditDeferred}

// AuditOut is one send decision.
type AuditOut struct {
	ID         string    `json:"id"`
	CampaignID string    `json:"campaign_id"`
	LeadID     string    `json:"lead_id"`
	Step       *int      `json:"step"`
	Recipient  string    `json:"recipient"`
	Result     string    `json:"result" doc:"approved, blocked or deferred"`
	Reason     string    `json:"reason" doc:"why, e.g. suppressed, user_cap, duplicate_subject"`
	LegalBasis string    `json:"legal_basis" doc:"consent or legitimate_interest"`
	CreatedAt  time.Time `json:"created_at"`
}

// AuditList is a page of send decisions, newest first.
type AuditList struct {
	Items      []AuditOut `json:"items"`
	NextCursor *string    `json:"next_cursor"`
}

// listAudit pages through the caller's send decisions. A campaign_id
// filter names one of the caller's campaigns (anything else answers 404
// BacklinkCampaignNotFoundError, as on every campaign route).
func (s *Server) listAudit(c *gin.Context) {
	v := &models.ValidationError{}
	checkQuery(c, v, "campaign_id", "result", "limit", "cursor")
	user := currentUser(c)
	f := store.AuditFilter{UserID: user.ID, Limit: queryLimit(c, v, defaultAuditPage, maxAuditPage)}
	if r, ok := c.GetQuery("result"); ok {
		if !slices.Contains(auditResults, r) {
			v.Add("result", "must be one of approved, blocked, deferred")
		}
		f.Result = r
	}
	if cur := decodeCursor(c, v, "audit", ""); cur != nil {
		f.After = cur.ID
	}
	if err := v.Err(); err != nil {
		fail(c, err)
		return
	}
	ctx := c.Request.Context()
	if id, ok := c.GetQuery("campaign_id"); ok {
		camp, err := store.CampaignForUser(ctx, s.db, user.ID, id)
		if err != nil {
			fail(c, err)
			return
		}
		f.CampaignID = camp.ID
	}
	rows, next, err := store.ListAudit(ctx, s.db, f)
	if err != nil {
		fail(c, err)
		return
	}
	out := AuditList{Items: make([]AuditOut, len(rows))}
	for i, a := range rows {
		out.Items[i] = AuditOut{
			ID: a.ID, CampaignID: a.CampaignID, LeadID: a.LeadID, Step: a.Step, Recipient: a.Recipient,
			Result: a.Result, Reason: a.Reason, LegalBasis: a.LegalBasis, CreatedAt: a.CreatedAt.UTC(),
		}
	}
	out.NextCursor = idCursor("audit", next)
	c.JSON(http.StatusOK, out)
}

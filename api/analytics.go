package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/models"
)

// Analytics and reporting. The definitions (docs/design.md, "Analytics"):
//   - sent: an attempt in state sent (the SMTP server accepted it);
//     leads_sent counts distinct leads with one.
//   - responded: a lead sent to that has at least one stored reply record
//     classified as a human answer (interested, not_interested,
//     asks_payment, replied, unsubscribe); bounces and out-of-office
//     auto-replies are not answers, and a status changed by hand is not a
//     reply record.
//   - response_rate = leads_responded ÷ leads_sent.
//   - contacted: a lead whose status is past discovered, or with a sent
//     attempt; placement_rate = placed ÷ leads_contacted.
//   - funnel: leads that ever reached each lifecycle stage.
//   - every rate is 0 when its denominator is 0.

const defaultAnalyticsDays = 30

// AnalyticsTotals are the counts and rates shared by campaign analytics and
// the account snapshot.
type AnalyticsTotals struct {
	TotalLeads              int64                         `json:"total_leads"`
	LeadsByStatus           map[models.LeadStatus]int64   `json:"leads_by_status" doc:"every lead status, zeros included"`
	TotalAttempts           int64                         `json:"total_attempts" doc:"send ledger rows (one per lead and sequence step)"`
	AttemptsByState         map[models.AttemptState]int64 `json:"attempts_by_state" doc:"every ledger state (pending, sending, sent, failed, unknown), zeros included"`
	EmailsSent              int64                         `json:"emails_sent" doc:"attempts in state sent"`
	TotalReplies            int64                         `json:"total_replies" doc:"stored reply records matched to the campaign, of every classification (bounces and auto-replies included)"`
	RepliesByClassification map[string]int64              `json:"replies_by_classification" doc:"reply records per classification tag, every tag present"`
	LeadsSent               int64                         `json:"leads_sent" doc:"distinct leads with at least one attempt in state sent"`
	LeadsResponded          int64                         `json:"leads_responded" doc:"of leads_sent, those with at least one reply record classified interested, not_interested, asks_payment, replied or unsubscribe (not bounce, not out_of_office); a status set by hand does not count"`
	LeadsContacted          int64                         `json:"leads_contacted" doc:"leads whose status is contacted or later (replied, bounced, placed, lost), or that have a sent attempt"`
	LeadsPlaced             int64                         `json:"leads_placed"`
	ResponseRate            float64                       `json:"response_rate" doc:"leads_responded / leads_sent; 0 when leads_sent is 0"`
	PlacementRate           float64                       `json:"placement_rate" doc:"leads_placed / leads_contacted; 0 when leads_contacted is 0"`
}

func totalsOut(t *store.Totals) AnalyticsTotals {
	return AnalyticsTotals{
		TotalLeads: t.Leads, LeadsByStatus: t.LeadsByStatus, TotalAttempts: t.Attempts, AttemptsByState: t.AttemptsByState,
		EmailsSent: t.AttemptsByState[models.AttemptSent], TotalReplies: t.Replies, RepliesByClassification: t.RepliesByClass,
		LeadsSent: t.LeadsSent, LeadsResponded: t.LeadsResponded, LeadsContacted: t.LeadsContacted, LeadsPlaced: t.Placed(),
		ResponseRate: t.ResponseRate(), PlacementRate: t.PlacementRate(),
	}
}

// FunnelStage is the number of leads that ever reached a lifecycle stage.
type FunnelStage struct {
	Stage models.LeadStatus `json:"stage" doc:"discovered, contacted, replied or placed"`
	Leads int64             `json:"leads"`
}

// DailySends is one day of the send volume.
type DailySends struct {
	Date string `json:"date" doc:"YYYY-MM-DD in the campaign's timezone"`
	Sent int64  `json:"sent" doc:"e-mails whose sent_at falls on that local day"`
}

// CampaignAnalytics answers GET /campaigns/{id}/analytics.
type CampaignAnalytics struct {
	CampaignID string `json:"campaign_id"`
	AnalyticsTotals
	Funnel      []FunnelStage `json:"funnel" doc:"discovered (every lead) -> contacted (leads_contacted) -> replied (status replied, placed or lost: a lifecycle stage, unlike leads_responded) -> placed"`
	Timezone    string        `json:"timezone" doc:"the campaign's timezone (settings.timezone, UTC by default); days are counted in it"`
	Days        int           `json:"days"`
	DailySends  []DailySends  `json:"daily_sends" doc:"one entry per day of the window, oldest first, ending today in the campaign's timezone; days without sends are 0"`
	GeneratedAt time.Time     `json:"generated_at"`
}

// SnapshotCampaign is one campaign's line of the account snapshot.
type SnapshotCampaign struct {
	CampaignID     string               `json:"campaign_id"`
	Name           string               `json:"name"`
	State          models.CampaignState `json:"state"`
	TotalLeads     int64                `json:"total_leads"`
	LeadsSent      int64                `json:"leads_sent"`
	LeadsResponded int64                `json:"leads_responded"`
	LeadsContacted int64                `json:"leads_contacted"`
	LeadsPlaced    int64                `json:"leads_placed"`
	EmailsSent     int64                `json:"emails_sent"`
	TotalReplies   int64                `json:"total_replies"`
	ResponseRate   float64              `json:"response_rate"`
	PlacementRate  float64              `json:"placement_rate"`
}

// ReportingSnapshot answers GET /reporting/snapshot.
type ReportingSnapshot struct {
	Campaigns int `json:"campaigns" doc:"the caller's campaigns, archived included"`
	AnalyticsTotals
	PerCampaign []SnapshotCampaign `json:"per_campaign" doc:"one line per campaign, newest first"`
	GeneratedAt time.Time          `json:"generated_at"`
}

func (s *Server) campaignAnalytics(c *gin.Context) {
	camp := currentCampaign(c)
	v := &models.ValidationError{}
	checkQuery(c, v, "days")
	days := defaultAnalyticsDays
	if raw, ok := c.GetQuery("days"); ok {
		n, err := strconv.Atoi(strings.TrimSpace(raw))
		if err != nil || n < 1 || n > store.MaxAnalyticsDays {
			v.Add("days", fmt.Sprintf("must be a whole number from 1 to %d", store.MaxAnalyticsDays))
		} else {
			days = n
		}
	}
	if err := v.Err(); err != nil {
		fail(c, err)
		return
	}
	out, err := s.analyticsOf(c.Request.Context(), camp, days)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) analyticsOf(ctx context.Context, camp models.Campaign, days int) (CampaignAnalytics, error) {
	tz := camp.Settings.Normalized().Timezone
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return CampaignAnalytics{}, fmt.Errorf("campaign %s timezone %q: %w", camp.ID, tz, err)
	}
	t, err := store.CampaignTotals(ctx, s.db, camp.ID)
	if err != nil {
		return CampaignAnalytics{}, err
	}
	now := s.now()
	series, err := store.DailySends(ctx, s.db, camp.ID, loc, now, days)
	if err != nil {
		return CampaignAnalytics{}, err
	}
	out := CampaignAnalytics{
		CampaignID: camp.ID, AnalyticsTotals: totalsOut(t), Timezone: tz, Days: days,
		DailySends: make([]DailySends, len(series)), GeneratedAt: now.UTC(),
		Funnel: []FunnelStage{
			{Stage: models.StatusDiscovered, Leads: t.Leads},
			{Stage: models.StatusContacted, Leads: t.LeadsContacted},
			{Stage: models.StatusReplied, Leads: t.EverReplied()},
			{Stage: models.StatusPlaced, Leads: t.Placed()},
		},
	}
	for i, d := range series {
		out.DailySends[i] = DailySends{Date: d.Date, Sent: d.Sent}
	}
	return out, nil
}

func (s *Server) reportingSnapshot(c *gin.Context) {
	v := &models.ValidationError{}
	checkQuery(c, v)
	if err := v.Err(); err != nil {
		fail(c, err)
		return
	}
	ctx := c.Request.Context()
	user := currentUser(c)
	camps, err := store.UserCampaigns(ctx, s.db, user.ID)
	if err != nil {
		fail(c, err)
		return
	}
	by, err := store.UserTotals(ctx, s.db, user.ID)
	if err != nil {
		fail(c, err)
		return
	}
	sum := store.NewTotals()
	out := ReportingSnapshot{Campaigns: len(camps), PerCampaign: make([]SnapshotCampaign, 0, len(camps)), GeneratedAt: s.now().UTC()}
	for _, camp := range camps {
		t, ok := by[camp.ID]
		if !ok {
			// Created after the totals were read, or empty.
			t = store.NewTotals()
		}
		sum.Add(t)
		out.PerCampaign = append(out.PerCampaign, SnapshotCampaign{
			CampaignID: camp.ID, Name: camp.Name, State: camp.State, TotalLeads: t.Leads,
			LeadsSent: t.LeadsSent, LeadsResponded: t.LeadsResponded, LeadsContacted: t.LeadsContacted,
			LeadsPlaced: t.Placed(), EmailsSent: t.AttemptsByState[models.AttemptSent], TotalReplies: t.Replies,
			ResponseRate: t.ResponseRate(), PlacementRate: t.PlacementRate(),
		})
	}
	out.AnalyticsTotals = totalsOut(sum)
	c.JSON(http.StatusOK, out)
}

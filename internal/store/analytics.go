package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/models"
)

// HumanReplyTags are the classifications of a reply a person wrote. A lead
// "responded" when it has at least one of them; bounces and out-of-office
// auto-replies are machines answering, so they do not count. Migrations
// 00005 and 00006 spell the same list in their triggers (a test checks
// they agree).
var HumanReplyTags = []string{
	models.ReplyInterested, models.ReplyNotInterested, models.ReplyAsksPayment,
	models.ReplyNeutral, models.ReplyUnsubscribe,
}

// Totals are the counts analytics and reporting are built from, for one
// campaign or summed over several. Every rate derives from them, so a
// report's numbers always add up.
type Totals struct {
	// Leads is every lead; LeadsByStatus has every status, zeros included.
	Leads         int64
	LeadsByStatus LeadCounts
	// Attempts is every send ledger row; AttemptsByState has every state.
	Attempts        int64
	AttemptsByState map[models.AttemptState]int64
	// Replies is every stored reply record matched to the campaign;
	// RepliesByClass has every models.ReplyTags value (and any other
	// classification found, so nothing stored goes uncounted).
	Replies        int64
	RepliesByClass map[string]int64
	// LeadsSent is the number of distinct leads with at least one attempt in
	// state sent (the server accepted the message).
	LeadsSent int64
	// LeadsResponded is the number of those leads with at least one reply
	// record classified as a human answer (HumanReplyTags). Counting reply
	// records, not statuses, keeps a lead moved to replied by hand out of it.
	LeadsResponded int64
	// LeadsContacted is the number of leads ever contacted: status other
	// than discovered. Every later status passes through contacted, no
	// transition leads back to discovered, and the engine moves a lead to
	// contacted in the transaction that records its first send (sent,
	// unknown or failed), so a lead with a sent attempt is always counted.
	LeadsContacted int64
}

// NewTotals returns empty totals with every status, state and tag at zero.
func NewTotals() *Totals {
	t := &Totals{
		LeadsByStatus:   emptyCounts(),
		AttemptsByState: make(map[models.AttemptState]int64, len(models.AttemptStates)),
		RepliesByClass:  make(map[string]int64, len(models.ReplyTags)),
	}
	for _, s := range models.AttemptStates {
		t.AttemptsByState[s] = 0
	}
	for _, c := range models.ReplyTags {
		t.RepliesByClass[c] = 0
	}
	return t
}

// Placed is the number of placed leads (placed is terminal).
func (t *Totals) Placed() int64 { return t.LeadsByStatus[models.StatusPlaced] }

// EverReplied is the number of leads that reached the replied stage of the
// lifecycle: replied, or later placed or lost (both only follow replied).
func (t *Totals) EverReplied() int64 {
	return t.LeadsByStatus[models.StatusReplied] + t.LeadsByStatus[models.StatusPlaced] + t.LeadsByStatus[models.StatusLost]
}

// ResponseRate is LeadsResponded ÷ LeadsSent, 0 when nothing was sent.
func (t *Totals) ResponseRate() float64 { return ratio(t.LeadsResponded, t.LeadsSent) }

// PlacementRate is placed leads ÷ LeadsContacted, 0 when nobody was
// contacted.
func (t *Totals) PlacementRate() float64 { return ratio(t.Placed(), t.LeadsContacted) }

func ratio(n, d int64) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}

// Add sums o into t.
func (t *Totals) Add(o *Totals) {
	t.Leads += o.Leads
	t.Attempts += o.Attempts
	t.Replies += o.Replies
	t.LeadsSent += o.LeadsSent
	t.LeadsResponded += o.LeadsResponded
	t.LeadsContacted += o.LeadsContacted
	for k, v := range o.LeadsByStatus {
		t.LeadsByStatus[k] += v
	}
	for k, v := range o.AttemptsByState {
		t.AttemptsByState[k] += v
	}
	for k, v := range o.RepliesByClass {
		t.RepliesByClass[k] += v
	}
}

// UserCampaigns lists the user's campaigns for reporting, newest first:
// archived ones included, those being deleted left out.
func UserCampaigns(ctx context.Context, db *gorm.DB, userID string) ([]models.Campaign, error) {
	var out []models.Campaign
	err := db.WithContext(ctx).Select("id", "name", "state", "created_at").
		Where("user_id = ? AND state <> ?", userID, models.CampaignDeleting).
		Order("created_at DESC, id DESC").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list campaigns for reporting: %w", err)
	}
	return out, nil
}

// CampaignTotals reads the totals of one campaign.
func CampaignTotals(ctx context.Context, db *gorm.DB, campaignID string) (*Totals, error) {
	by, err := totals(ctx, db, "campaign_id = ?", campaignID)
	if err != nil {
		return nil, err
	}
	if t, ok := by[campaignID]; ok {
		return t, nil
	}
	return NewTotals(), nil
}

// UserTotals reads the totals of each of the user's campaigns, except
// those being deleted (archived campaigns count: their history is real). A
// campaign without any lead, e-mail or reply is absent from the map.
func UserTotals(ctx context.Context, db *gorm.DB, userID string) (map[string]*Totals, error) {
	return totals(ctx, db, "campaign_id IN (SELECT id FROM campaigns WHERE user_id = ? AND state <> ?)",
		userID, models.CampaignDeleting)
}

// Metric names in campaign_stats (migration 00005).
const (
	metricAttempts       = "attempts:"
	metricReplies        = "replies:"
	metricLeadsSent      = "leads_sent"
	metricLeadsResponded = "leads_responded"
)

// totals reads the counters that triggers keep exact: lead_counts (leads
// per status, migration 00004) and campaign_stats (ledger rows per state,
// replies per classification, distinct leads sent and responded, migration
// 00005). Its cost depends on the number of campaigns, not on their size.
// where selects campaigns by campaign_id.
func totals(ctx context.Context, db *gorm.DB, where string, args ...any) (map[string]*Totals, error) {
	out := map[string]*Totals{}
	get := func(id string) *Totals {
		t, ok := out[id]
		if !ok {
			t = NewTotals()
			out[id] = t
		}
		return t
	}
	// One statement, so one snapshot: read apart, a send committing
	// between the two reads showed more leads sent than contacted.
	var rows []keyedCount
	both := append(append([]any{}, args...), args...)
	err := db.WithContext(ctx).Raw("SELECT campaign_id, 'l' AS kind, status AS key, n FROM lead_counts WHERE "+where+
		" UNION ALL SELECT campaign_id, 's' AS kind, metric AS key, n FROM campaign_stats WHERE "+where, both...).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("analytics counters: %w", err)
	}
	var stats []keyedCount
	for _, r := range rows {
		if r.Kind == "s" {
			stats = append(stats, r)
			continue
		}
		t := get(r.CampaignID)
		t.LeadsByStatus[models.LeadStatus(r.Key)] += r.N
		t.Leads += r.N
		if models.LeadStatus(r.Key) != models.StatusDiscovered {
			t.LeadsContacted += r.N
		}
	}
	for _, r := range stats {
		t := get(r.CampaignID)
		switch {
		case strings.HasPrefix(r.Key, metricAttempts):
			t.AttemptsByState[models.AttemptState(strings.TrimPrefix(r.Key, metricAttempts))] += r.N
			t.Attempts += r.N
		case strings.HasPrefix(r.Key, metricReplies):
			t.RepliesByClass[strings.TrimPrefix(r.Key, metricReplies)] += r.N
			t.Replies += r.N
		case r.Key == metricLeadsSent:
			t.LeadsSent += r.N
		case r.Key == metricLeadsResponded:
			t.LeadsResponded += r.N
		}
	}
	return out, nil
}

type keyedCount struct {
	CampaignID string
	// Kind tells the tables of a union apart, when there is one.
	Kind string
	Key  string
	N    int64
}

// DaySends is the number of e-mails sent on one day of a campaign's
// timezone.
type DaySends struct {
	// Date is the local day, YYYY-MM-DD.
	Date string
	Sent int64
}

// MaxAnalyticsDays bounds the daily series.
const MaxAnalyticsDays = 365

// DailySends counts the campaign's e-mails by the local day of their
// sent_at, for the days local days ending with the one holding now,
// oldest first, days without a send included as zero.
//
// The day boundaries are computed here, with Go's zone database, and sent
// to the database as instants: SQLite knows no time zones, and a UTC offset
// alone is wrong across a daylight-saving change.
func DailySends(ctx context.Context, db *gorm.DB, campaignID string, loc *time.Location, now time.Time, days int) ([]DaySends, error) {
	if days < 1 || days > MaxAnalyticsDays {
		return nil, fmt.Errorf("daily sends: days must be 1..%d, got %d", MaxAnalyticsDays, days)
	}
	local := now.In(loc)
	out := make([]DaySends, days)
	bounds := make([]time.Time, days+1)
	for i := range bounds {
		// Calendar dates are counted in UTC, where every day exists; each
		// starts at its first local instant.
		day := time.Date(local.Year(), local.Month(), local.Day()-days+1+i, 0, 0, 0, 0, time.UTC)
		bounds[i] = localDayStart(day, loc).UTC()
		if i < days {
			out[i].Date = day.Format(time.DateOnly)
		}
	}
	query, args := dailySendsSQL(DialectOf(db), campaignID, bounds)
	var rows []struct {
		I int
		N int64
	}
	if err := db.WithContext(ctx).Raw(query, args...).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("daily sends: %w", err)
	}
	for _, r := range rows {
		if r.I >= 0 && r.I < days {
			out[r.I].Sent = r.N
		}
	}
	return out, nil
}

// localDayStart is the first instant of day's date in loc. Where the clocks
// go forward at midnight (America/Santiago, America/Havana) local 00:00
// does not exist, and time.Date answers 23:00 of the day before: the day
// then starts where the change ends.
func localDayStart(day time.Time, loc *time.Location) time.Time {
	y, m, d := day.Date()
	t := time.Date(y, m, d, 0, 0, 0, 0, loc)
	if t.Day() == d {
		return t
	}
	start, _ := time.Date(y, m, d, 12, 0, 0, 0, loc).ZoneBounds()
	return start
}

// dailySendsSQL counts sends between consecutive bounds; row i is the day
// starting at bounds[i]. On PostgreSQL one index range scan over attempts
// (campaign_id, sent_at) feeds width_bucket (a VALUES join there is planned
// as a scan of the whole campaign). SQLite has no width_bucket; it runs
// one index range per day of a VALUES list instead.
func dailySendsSQL(d Dialect, campaignID string, bounds []time.Time) (string, []any) {
	days := len(bounds) - 1
	if d == Postgres {
		var arr strings.Builder
		arr.WriteByte('{')
		for i, b := range bounds {
			if i > 0 {
				arr.WriteByte(',')
			}
			arr.WriteString(b.UTC().Format(time.RFC3339Nano))
		}
		arr.WriteByte('}')
		return `SELECT width_bucket(sent_at, CAST(? AS timestamptz[])) - 1 AS i, count(*) AS n FROM attempts
			WHERE campaign_id = ? AND sent_at >= ? AND sent_at < ? GROUP BY 1`,
			[]any{arr.String(), campaignID, bounds[0], bounds[days]}
	}
	var b strings.Builder
	b.WriteString("WITH d(i, lo, hi) AS (VALUES ")
	args := make([]any, 0, 2*days+1)
	for i := range days {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "(%d, ?, ?)", i)
		args = append(args, bounds[i], bounds[i+1])
	}
	b.WriteString(") SELECT d.i AS i, count(*) AS n FROM d JOIN attempts a ON a.campaign_id = ? AND a.sent_at >= d.lo AND a.sent_at < d.hi GROUP BY d.i")
	return b.String(), append(args, campaignID)
}

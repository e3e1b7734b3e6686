package store_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/internal/storetest"
	"github.com/backlinkoutreach/outreach/models"
)

// recomputeStats derives, from the rows themselves, what campaign_stats must
// hold for a campaign (non-zero metrics only): the definitions the
// triggers of migration 00005 maintain.
func recomputeStats(t *testing.T, db *gorm.DB, campaignID string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	var rows []struct {
		K string
		N int64
	}
	human := store.HumanReplyTags
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"SELECT 'attempts:' || state AS k, count(*) AS n FROM attempts WHERE campaign_id = ? GROUP BY state", []any{campaignID}},
		{"SELECT 'replies:' || classification AS k, count(*) AS n FROM replies WHERE campaign_id = ? GROUP BY classification", []any{campaignID}},
		{"SELECT 'leads_sent' AS k, count(DISTINCT lead_id) AS n FROM attempts WHERE campaign_id = ? AND state = 'sent'", []any{campaignID}},
		{"SELECT 'leads_responded' AS k, count(DISTINCT r.lead_id) AS n FROM replies r WHERE r.campaign_id = ? AND r.classification IN ? " +
			"AND EXISTS (SELECT 1 FROM attempts a WHERE a.lead_id = r.lead_id AND a.state = 'sent')", []any{campaignID, human}},
	} {
		rows = rows[:0]
		if err := db.Raw(q.sql, q.args...).Scan(&rows).Error; err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.N != 0 {
				out[r.K] = r.N
			}
		}
	}
	return out
}

func storedStats(t *testing.T, db *gorm.DB, campaignID string) map[string]int64 {
	t.Helper()
	var rows []struct {
		Metric string
		N      int64
	}
	if err := db.Raw("SELECT metric, n FROM campaign_stats WHERE campaign_id = ?", campaignID).Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, r := range rows {
		if r.N != 0 {
			out[r.Metric] = r.N
		}
	}
	return out
}

func checkStats(t *testing.T, db *gorm.DB, step string, campaignIDs ...string) {
	t.Helper()
	for _, id := range campaignIDs {
		got, want := storedStats(t, db, id), recomputeStats(t, db, id)
		if !maps.Equal(got, want) {
			t.Fatalf("%s: campaign %s counters\n got %v\nwant %v", step, id, got, want)
		}
	}
	var bad int64
	if err := db.Raw("SELECT count(*) FROM lead_reach WHERE sent_n < 0 OR human_n < 0 OR (sent_n = 0 AND human_n = 0)").Scan(&bad).Error; err != nil {
		t.Fatal(err)
	}
	if bad != 0 {
		t.Fatalf("%s: %d lead_reach rows negative or empty", step, bad)
	}
}

// The analytics counters stay equal to a recount after any mix of the
// writes the engine makes (ledger rows inserted and moved between states,
// replies stored, reclassified, re-matched and removed, leads and whole
// campaigns deleted), on both databases.
func TestAnalyticsCountersStayExact(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := &anFixture{t: t, db: db, ctx: context.Background()}
		u := f.user("owner@example.com")
		c1 := f.campaign(u.ID, "one", "", models.CampaignActive)
		c2 := f.campaign(u.ID, "two", "", models.CampaignActive)
		var leads []models.Lead
		for i := range 12 {
			leads = append(leads, f.lead([]models.Campaign{c1, c2}[i%2]))
		}
		rng := rand.New(rand.NewPCG(6, 6))
		steps := map[string]int{}
		var attempts []models.Attempt
		var replies []models.Reply
		states := models.AttemptStates
		alive := func(ls []models.Lead) []models.Lead {
			var out []models.Lead
			for _, l := range ls {
				var n int64
				db.Raw("SELECT count(*) FROM leads WHERE id = ?", l.ID).Scan(&n)
				if n == 1 {
					out = append(out, l)
				}
			}
			return out
		}
		for i := range 400 {
			op := rng.IntN(100)
			switch {
			case op < 30: // a new ledger row
				l := leads[rng.IntN(len(leads))]
				st := states[rng.IntN(len(states))]
				a := f.attempt(l, steps[l.ID], st, "")
				steps[l.ID]++
				attempts = append(attempts, a)
			case op < 55 && len(attempts) > 0: // a row changes state
				a := &attempts[rng.IntN(len(attempts))]
				st := states[rng.IntN(len(states))]
				if err := db.Model(&models.Attempt{}).Where("id = ?", a.ID).Update("state", st).Error; err != nil {
					t.Fatal(err)
				}
				a.State = st
			case op < 75: // a reply, matched or not
				l := leads[rng.IntN(len(leads))]
				r := f.reply(l, models.ReplyTags[rng.IntN(len(models.ReplyTags))])
				if rng.IntN(5) == 0 {
					if err := db.Model(&models.Reply{}).Where("id = ?", r.ID).
						Updates(map[string]any{"lead_id": nil, "campaign_id": nil, "user_id": nil}).Error; err != nil {
						t.Fatal(err)
					}
				}
				replies = append(replies, r)
			case op < 85 && len(replies) > 0: // reclassified
				r := replies[rng.IntN(len(replies))]
				if err := db.Model(&models.Reply{}).Where("id = ?", r.ID).
					Update("classification", models.ReplyTags[rng.IntN(len(models.ReplyTags))]).Error; err != nil {
					t.Fatal(err)
				}
			case op < 90 && len(replies) > 0: // matched to another lead
				r := replies[rng.IntN(len(replies))]
				l := leads[rng.IntN(len(leads))]
				if err := db.Model(&models.Reply{}).Where("id = ?", r.ID).
					Updates(map[string]any{"lead_id": l.ID, "campaign_id": l.CampaignID, "user_id": l.UserID}).Error; err != nil {
					t.Fatal(err)
				}
			case op < 94 && len(replies) > 0:
				k := rng.IntN(len(replies))
				if err := db.Exec("DELETE FROM replies WHERE id = ?", replies[k].ID).Error; err != nil {
					t.Fatal(err)
				}
				replies = slices.Delete(replies, k, k+1)
			case op < 98 && len(attempts) > 0:
				k := rng.IntN(len(attempts))
				if err := db.Exec("DELETE FROM attempts WHERE id = ?", attempts[k].ID).Error; err != nil {
					t.Fatal(err)
				}
				attempts = slices.Delete(attempts, k, k+1)
			case len(leads) > 4: // a lead goes, with its rows
				k := rng.IntN(len(leads))
				if err := db.Exec("DELETE FROM leads WHERE id = ?", leads[k].ID).Error; err != nil {
					t.Fatal(err)
				}
				leads = alive(slices.Delete(leads, k, k+1))
				db.Raw("SELECT * FROM attempts").Scan(&attempts)
				db.Raw("SELECT * FROM replies").Scan(&replies)
			}
			if i%20 == 0 {
				checkStats(t, db, fmt.Sprintf("after %d writes", i+1), c1.ID, c2.ID)
			}
		}
		checkStats(t, db, "at the end", c1.ID, c2.ID)
		if st := storedStats(t, db, c1.ID); st["leads_sent"] == 0 || st["leads_responded"] == 0 {
			t.Fatalf("the random writes never made a lead sent and responded: %v", st)
		}

		// Deleting a campaign removes its counters and leaves the other's.
		if err := store.DeleteCampaign(f.ctx, db, c1.ID); err != nil {
			t.Fatal(err)
		}
		var left int64
		db.Raw("SELECT count(*) FROM campaign_stats WHERE campaign_id = ?", c1.ID).Scan(&left)
		var reach int64
		db.Raw("SELECT count(*) FROM lead_reach WHERE campaign_id = ?", c1.ID).Scan(&reach)
		if left != 0 || reach != 0 {
			t.Fatalf("deleted campaign keeps %d counters and %d lead tallies", left, reach)
		}
		checkStats(t, db, "after deleting the other campaign", c2.ID)
	})
}

// Every human tag, and only those, makes a sent lead responded: the list in
// the migration's triggers agrees with store.HumanReplyTags.
func TestRespondedTagsMatchTriggers(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := &anFixture{t: t, db: db, ctx: context.Background()}
		u := f.user("owner@example.com")
		for _, tag := range models.ReplyTags {
			c := f.campaign(u.ID, tag, "", models.CampaignActive)
			l := f.lead(c)
			f.attempt(l, 0, models.AttemptSent, "2024-03-01T10:00:00Z")
			f.reply(l, tag)
			got, err := store.CampaignTotals(f.ctx, db, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := int64(0)
			if slices.Contains(store.HumanReplyTags, tag) {
				want = 1
			}
			if got.LeadsSent != 1 || got.LeadsResponded != want {
				t.Errorf("%s: sent %d responded %d, want 1 and %d", tag, got.LeadsSent, got.LeadsResponded, want)
			}
		}
	})
}

// Concurrent transactions writing the same leads' e-mails and replies
// count each lead once: the tally upsert serialises them per lead.
func TestAnalyticsCountersConcurrent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := &anFixture{t: t, db: db, ctx: context.Background()}
		u := f.user("owner@example.com")
		c := f.campaign(u.ID, "busy", "", models.CampaignActive)
		leads := []models.Lead{f.lead(c), f.lead(c), f.lead(c)}
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for i := range 8 {
			for _, l := range leads {
				wg.Add(2)
				go func() {
					defer wg.Done()
					a := models.Attempt{
						ID: models.NewID(), UserID: l.UserID, CampaignID: l.CampaignID, LeadID: l.ID, Step: i,
						State: models.AttemptSent, MessageID: "<" + models.NewID() + "@x>", Recipient: l.ContactEmail,
						RecipientDomain: "example.com", Subject: "s", Body: "b", CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC(),
					}
					errs <- db.Create(&a).Error
				}()
				go func() {
					defer wg.Done()
					id := models.NewID()
					now := time.Now().UTC()
					r := models.Reply{
						ID: id, UserID: &l.UserID, CampaignID: &l.CampaignID, LeadID: &l.ID, DedupeKey: "<" + id + "@x>",
						Classification: models.ReplyInterested, Parsed: true, Source: "imap", ReceivedAt: now, CreatedAt: now, UpdatedAt: now,
					}
					errs <- db.Create(&r).Error
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		checkStats(t, db, "after concurrent writes", c.ID)
		if st := storedStats(t, db, c.ID); st["leads_sent"] != 3 || st["leads_responded"] != 3 || st["attempts:sent"] != 24 {
			t.Fatalf("counters %v", st)
		}
	})
}

// Statements touching many rows of several leads and campaigns at once:
// the counters (PostgreSQL's statement triggers aggregate them) match a
// recount after each.
func TestCountersBulkStatements(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := &anFixture{t: t, db: db, ctx: context.Background()}
		u := f.user("owner@example.com")
		c1 := f.campaign(u.ID, "one", "", models.CampaignActive)
		c2 := f.campaign(u.ID, "two", "", models.CampaignActive)
		var leads []models.Lead
		for i := range 8 {
			leads = append(leads, f.lead([]models.Campaign{c1, c2}[i%2]))
		}
		exec := func(step, q string, args ...any) {
			t.Helper()
			if err := db.Exec(q, args...).Error; err != nil {
				t.Fatalf("%s: %v", step, err)
			}
			checkStats(t, db, step, c1.ID, c2.ID)
		}
		// several attempts per lead in one INSERT
		var atts []models.Attempt
		now := time.Now().UTC()
		for i, l := range leads {
			for s := range 3 {
				st := []models.AttemptState{models.AttemptSent, models.AttemptUnknown, models.AttemptFailed}[(i+s)%3]
				atts = append(atts, models.Attempt{
					ID: models.NewID(), UserID: l.UserID, CampaignID: l.CampaignID, LeadID: l.ID, Step: s, State: st,
					MessageID: fmt.Sprintf("<b%d-%d@x>", i, s), Recipient: l.ContactEmail, RecipientDomain: "example.com", Subject: "s", Body: "b", CreatedAt: now, UpdatedAt: now,
				})
			}
		}
		if err := db.Create(&atts).Error; err != nil {
			t.Fatal(err)
		}
		checkStats(t, db, "bulk insert attempts", c1.ID, c2.ID)
		var reps []models.Reply
		for i, l := range leads {
			for k := range 3 {
				id := models.NewID()
				reps = append(reps, models.Reply{
					ID: id, UserID: &l.UserID, CampaignID: &l.CampaignID, LeadID: &l.ID, DedupeKey: "<" + id + ">",
					Classification: models.ReplyTags[(i+k)%len(models.ReplyTags)], Parsed: true, Source: "imap", ReceivedAt: now, CreatedAt: now, UpdatedAt: now,
				})
			}
		}
		if err := db.Create(&reps).Error; err != nil {
			t.Fatal(err)
		}
		checkStats(t, db, "bulk insert replies", c1.ID, c2.ID)
		exec("all unknown become sent", "UPDATE attempts SET state = 'sent' WHERE state = 'unknown'")
		exec("all sent of c1 become failed", "UPDATE attempts SET state = 'failed' WHERE state = 'sent' AND campaign_id = ?", c1.ID)
		exec("rotate states", "UPDATE attempts SET state = CASE state WHEN 'sent' THEN 'failed' WHEN 'failed' THEN 'sent' ELSE state END")
		exec("all replies bounce", "UPDATE replies SET classification = 'bounce'")
		exec("all replies interested", "UPDATE replies SET classification = 'interested'")
		exec("swap classes", "UPDATE replies SET classification = CASE WHEN classification = 'interested' AND id < ? THEN 'out_of_office' ELSE 'replied' END", reps[10].ID)
		exec("rematch all c1 replies to one c2 lead", "UPDATE replies SET lead_id = ?, campaign_id = ? WHERE campaign_id = ?", leads[1].ID, c2.ID, c1.ID)
		exec("unmatch half", "UPDATE replies SET lead_id = NULL, campaign_id = NULL WHERE id < ?", reps[12].ID)
		exec("rematch back", "UPDATE replies SET lead_id = ?, campaign_id = ? WHERE lead_id IS NULL", leads[0].ID, c1.ID)
		exec("delete some replies", "DELETE FROM replies WHERE classification = 'replied' AND id > ?", reps[15].ID)
		exec("delete sent attempts of c2", "DELETE FROM attempts WHERE campaign_id = ? AND state = 'sent'", c2.ID)
		exec("delete two leads", "DELETE FROM leads WHERE id IN (?, ?)", leads[0].ID, leads[3].ID)
	})
}

package store_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/internal/storetest"
	"github.com/backlinkoutreach/outreach/models"
)

// anFixture builds campaigns with known numbers directly in the tables the
// engine writes: leads, the send ledger, replies and status transitions.
type anFixture struct {
	t   *testing.T
	db  *gorm.DB
	ctx context.Context
	seq int
}

func (f *anFixture) user(email string) models.User {
	f.t.Helper()
	u, err := store.CreateUser(f.ctx, f.db, email)
	if err != nil {
		f.t.Fatal(err)
	}
	return u
}

func (f *anFixture) campaign(userID, name, tz string, state models.CampaignState) models.Campaign {
	f.t.Helper()
	now := time.Now().UTC()
	c := models.Campaign{
		ID: models.NewID(), UserID: userID, Name: name, Keywords: []string{}, State: state,
		Settings: models.CampaignSettings{Timezone: tz}, CreatedAt: now, UpdatedAt: now,
	}
	if err := store.CreateCampaign(f.ctx, f.db, &c); err != nil {
		f.t.Fatal(err)
	}
	return c
}

func (f *anFixture) lead(c models.Campaign) models.Lead {
	f.t.Helper()
	f.seq++
	now := time.Now().UTC()
	host := fmt.Sprintf("site%d.example.com", f.seq)
	l := models.Lead{
		ID: models.NewID(), CampaignID: c.ID, UserID: c.UserID, WebsiteURL: "https://" + host, NormalizedURL: host,
		ContactEmail: "editor@" + host, Source: models.SourceBulk, Status: models.StatusDiscovered,
		CreatedAt: now, UpdatedAt: now, StatusChangedAt: now,
	}
	if err := store.InsertLead(f.ctx, f.db, l); err != nil {
		f.t.Fatal(err)
	}
	return l
}

// attempt writes a ledger row; sentAt is set only for state sent.
func (f *anFixture) attempt(l models.Lead, step int, state models.AttemptState, sentAt string) models.Attempt {
	f.t.Helper()
	f.seq++
	now := time.Now().UTC()
	a := models.Attempt{
		ID: models.NewID(), UserID: l.UserID, CampaignID: l.CampaignID, LeadID: l.ID, Step: step, State: state,
		MessageID: fmt.Sprintf("<m%d@outreach.test>", f.seq), Recipient: l.ContactEmail, RecipientDomain: "example.com",
		Subject: "Guest post", Body: "Hello", CreatedAt: now, UpdatedAt: now,
	}
	if sentAt != "" {
		at, err := time.Parse(time.RFC3339, sentAt)
		if err != nil {
			f.t.Fatal(err)
		}
		at = at.UTC()
		a.SentAt = &at
	}
	if err := f.db.Create(&a).Error; err != nil {
		f.t.Fatal(err)
	}
	return a
}

func (f *anFixture) reply(l models.Lead, class string) models.Reply {
	f.t.Helper()
	f.seq++
	now := time.Now().UTC()
	r := models.Reply{
		ID: models.NewID(), UserID: &l.UserID, CampaignID: &l.CampaignID, LeadID: &l.ID,
		DedupeKey: fmt.Sprintf("<r%d@example.com>", f.seq), MessageID: fmt.Sprintf("<r%d@example.com>", f.seq),
		FromAddress: l.ContactEmail, Subject: "Re: Guest post", BodyText: "answer", Classification: class,
		Parsed: true, Source: "webhook", ReceivedAt: now, CreatedAt: now, UpdatedAt: now,
	}
	if err := f.db.Create(&r).Error; err != nil {
		f.t.Fatal(err)
	}
	return r
}

// move walks a lead through statuses as the engine or a user would.
func (f *anFixture) move(l models.Lead, to ...models.LeadStatus) {
	f.t.Helper()
	for _, s := range to {
		if _, err := store.TransitionLead(f.ctx, f.db, store.Transition{LeadID: l.ID, To: s, Source: "api"}); err != nil {
			f.t.Fatalf("move %s to %s: %v", l.ID, s, err)
		}
	}
}

// anCampaignA is the campaign the analytics tests measure, in
// America/Los_Angeles, whose clocks went forward on 2024-03-10: local
// midnight is 08:00 UTC before that day and 07:00 UTC after it.
func (f *anFixture) campaignA(userID string) models.Campaign {
	c := f.campaign(userID, "Campaign A", "America/Los_Angeles", models.CampaignActive)
	C, R, B, P := models.StatusContacted, models.StatusReplied, models.StatusBounced, models.StatusPlaced
	sent, failed, pending, unknown := models.AttemptSent, models.AttemptFailed, models.AttemptPending, models.AttemptUnknown

	l1 := f.lead(c)                                // two e-mails on two local days, two replies: responded once
	f.attempt(l1, 0, sent, "2024-03-10T07:30:00Z") // Mar 9, 23:30 PST
	f.attempt(l1, 1, sent, "2024-03-11T06:30:00Z") // Mar 10, 23:30 PDT
	f.reply(l1, models.ReplyInterested)
	f.reply(l1, models.ReplyNeutral)
	f.move(l1, C, R)

	l2 := f.lead(c)                                // placed after asking for payment
	f.attempt(l2, 0, sent, "2024-03-10T08:30:00Z") // Mar 10, 00:30 PST
	f.reply(l2, models.ReplyAsksPayment)
	f.move(l2, C, R, P)

	l3 := f.lead(c)                                // bounced by a delivery report: not a human answer
	f.attempt(l3, 0, sent, "2024-03-11T07:30:00Z") // Mar 11, 00:30 PDT
	f.reply(l3, models.ReplyBounce)
	f.move(l3, C, B)

	l4 := f.lead(c) // out of office: not a human answer
	f.attempt(l4, 0, sent, "2024-03-12T17:00:00Z")
	f.reply(l4, models.ReplyOutOfOffice)
	f.move(l4, C)

	l5 := f.lead(c) // said no: a human answer
	f.attempt(l5, 0, sent, "2024-03-12T16:00:00Z")
	f.reply(l5, models.ReplyNotInterested)
	f.move(l5, C, B)

	l6 := f.lead(c) // refused by the server (5xx)
	f.attempt(l6, 0, failed, "")
	f.move(l6, C, B)

	l7 := f.lead(c) // moved to replied by hand: no e-mail, no reply record
	f.move(l7, C, R)

	l8 := f.lead(c) // waiting for its first send
	f.attempt(l8, 0, pending, "")

	l9 := f.lead(c) // a reply to an e-mail never confirmed sent: not "sent"
	f.attempt(l9, 0, unknown, "")
	f.reply(l9, models.ReplyNeutral)
	f.move(l9, C)

	l10 := f.lead(c) // sent, no answer yet
	f.attempt(l10, 0, sent, "2024-03-12T17:30:00Z")
	f.move(l10, C)

	l11 := f.lead(c) // sent long before the window
	f.attempt(l11, 0, sent, "2024-01-01T12:00:00Z")
	f.move(l11, C)
	return c
}

// anCampaignAWant is what campaignA must measure.
func anCampaignAWant() *store.Totals {
	t := store.NewTotals()
	t.Leads = 11
	t.LeadsByStatus[models.StatusDiscovered] = 1
	t.LeadsByStatus[models.StatusContacted] = 4
	t.LeadsByStatus[models.StatusReplied] = 2
	t.LeadsByStatus[models.StatusBounced] = 3
	t.LeadsByStatus[models.StatusPlaced] = 1
	t.Attempts = 11
	t.AttemptsByState[models.AttemptSent] = 8
	t.AttemptsByState[models.AttemptFailed] = 1
	t.AttemptsByState[models.AttemptPending] = 1
	t.AttemptsByState[models.AttemptUnknown] = 1
	t.Replies = 7
	t.RepliesByClass[models.ReplyInterested] = 1
	t.RepliesByClass[models.ReplyNeutral] = 2
	t.RepliesByClass[models.ReplyAsksPayment] = 1
	t.RepliesByClass[models.ReplyBounce] = 1
	t.RepliesByClass[models.ReplyOutOfOffice] = 1
	t.RepliesByClass[models.ReplyNotInterested] = 1
	t.LeadsSent = 7       // l1 l2 l3 l4 l5 l10 l11
	t.LeadsResponded = 3  // l1 l2 l5
	t.LeadsContacted = 10 // all but l8
	return t
}

func checkTotals(t *testing.T, what string, got, want *store.Totals) {
	t.Helper()
	if got.Leads != want.Leads || got.Attempts != want.Attempts || got.Replies != want.Replies ||
		got.LeadsSent != want.LeadsSent || got.LeadsResponded != want.LeadsResponded || got.LeadsContacted != want.LeadsContacted {
		t.Errorf("%s: totals\n got leads=%d attempts=%d replies=%d sent=%d responded=%d contacted=%d\nwant leads=%d attempts=%d replies=%d sent=%d responded=%d contacted=%d",
			what, got.Leads, got.Attempts, got.Replies, got.LeadsSent, got.LeadsResponded, got.LeadsContacted,
			want.Leads, want.Attempts, want.Replies, want.LeadsSent, want.LeadsResponded, want.LeadsContacted)
	}
	if !maps.Equal(got.LeadsByStatus, want.LeadsByStatus) {
		t.Errorf("%s: leads by status\n got %v\nwant %v", what, got.LeadsByStatus, want.LeadsByStatus)
	}
	if !maps.Equal(got.AttemptsByState, want.AttemptsByState) {
		t.Errorf("%s: attempts by state\n got %v\nwant %v", what, got.AttemptsByState, want.AttemptsByState)
	}
	if !maps.Equal(got.RepliesByClass, want.RepliesByClass) {
		t.Errorf("%s: replies by class\n got %v\nwant %v", what, got.RepliesByClass, want.RepliesByClass)
	}
}

func TestCampaignTotalsExact(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := &anFixture{t: t, db: db, ctx: context.Background()}
		u := f.user("owner@example.com")
		a := f.campaignA(u.ID)
		got, err := store.CampaignTotals(f.ctx, db, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := anCampaignAWant()
		checkTotals(t, "campaign A", got, want)
		if r := got.ResponseRate(); r != 3.0/7.0 {
			t.Errorf("response rate %v, want 3/7", r)
		}
		if r := got.PlacementRate(); r != 1.0/10.0 {
			t.Errorf("placement rate %v, want 1/10", r)
		}
		if n := got.EverReplied(); n != 3 { // l1, l2 (placed), l7 (by hand)
			t.Errorf("ever replied %d, want 3", n)
		}

		// An empty campaign: every key present, every count and rate 0.
		empty := f.campaign(u.ID, "Empty", "", models.CampaignDraft)
		got, err = store.CampaignTotals(f.ctx, db, empty.ID)
		if err != nil {
			t.Fatal(err)
		}
		checkTotals(t, "empty campaign", got, store.NewTotals())
		if got.ResponseRate() != 0 || got.PlacementRate() != 0 {
			t.Errorf("empty campaign rates %v %v, want 0 0", got.ResponseRate(), got.PlacementRate())
		}
		if len(got.LeadsByStatus) != len(models.LeadStatuses) || len(got.AttemptsByState) != len(models.AttemptStates) ||
			len(got.RepliesByClass) != len(models.ReplyTags) {
			t.Errorf("empty campaign lacks keys: %v %v %v", got.LeadsByStatus, got.AttemptsByState, got.RepliesByClass)
		}
	})
}

func TestUserTotals(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := &anFixture{t: t, db: db, ctx: context.Background()}
		u := f.user("owner@example.com")
		a := f.campaignA(u.ID)

		b := f.campaign(u.ID, "Campaign B", "Europe/Paris", models.CampaignArchived)
		b1 := f.lead(b)
		f.attempt(b1, 0, models.AttemptSent, "2024-03-01T10:00:00Z")
		f.reply(b1, models.ReplyUnsubscribe)
		f.move(b1, models.StatusContacted, models.StatusBounced)
		f.lead(b)

		// Being deleted: left out. Another user's: never seen.
		gone := f.campaign(u.ID, "Deleting", "", models.CampaignDeleting)
		g1 := f.lead(gone)
		f.attempt(g1, 0, models.AttemptSent, "2024-03-01T10:00:00Z")
		f.reply(g1, models.ReplyInterested)
		other := f.user("other@example.com")
		o := f.campaign(other.ID, "Other", "", models.CampaignActive)
		o1 := f.lead(o)
		f.attempt(o1, 0, models.AttemptSent, "2024-03-01T10:00:00Z")
		f.reply(o1, models.ReplyInterested)

		by, err := store.UserTotals(f.ctx, db, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(by) != 2 {
			t.Fatalf("totals for %d campaigns, want 2 (A and B): %v", len(by), slices.Collect(maps.Keys(by)))
		}
		checkTotals(t, "campaign A in the account", by[a.ID], anCampaignAWant())
		wantB := store.NewTotals()
		wantB.Leads, wantB.Attempts, wantB.Replies = 2, 1, 1
		wantB.LeadsByStatus[models.StatusDiscovered], wantB.LeadsByStatus[models.StatusBounced] = 1, 1
		wantB.AttemptsByState[models.AttemptSent] = 1
		wantB.RepliesByClass[models.ReplyUnsubscribe] = 1
		wantB.LeadsSent, wantB.LeadsResponded, wantB.LeadsContacted = 1, 1, 1
		checkTotals(t, "campaign B", by[b.ID], wantB)

		sum := store.NewTotals()
		sum.Add(by[a.ID])
		sum.Add(by[b.ID])
		want := anCampaignAWant()
		want.Add(wantB)
		checkTotals(t, "account", sum, want)
		if r := sum.ResponseRate(); r != 4.0/8.0 {
			t.Errorf("account response rate %v, want 4/8", r)
		}
		camps, err := store.UserCampaigns(f.ctx, db, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(camps) != 2 || camps[0].ID != b.ID || camps[1].ID != a.ID {
			t.Errorf("reporting campaigns %v, want B then A", camps)
		}
	})
}

func TestDailySends(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := &anFixture{t: t, db: db, ctx: context.Background()}
		u := f.user("owner@example.com")
		a := f.campaignA(u.ID)
		la, err := time.LoadLocation("America/Los_Angeles")
		if err != nil {
			t.Fatal(err)
		}
		now := time.Date(2024, 3, 12, 18, 0, 0, 0, time.UTC) // 11:00 PDT
		got, err := store.DailySends(f.ctx, db, a.ID, la, now, 4)
		if err != nil {
			t.Fatal(err)
		}
		// Grouped by UTC day this would be 0, 2, 2, 3; by a fixed -08:00
		// offset 1, 3, 0, 3. Only the zone's own midnights give 1, 2, 1, 3.
		want := []store.DaySends{{Date: "2024-03-09", Sent: 1}, {Date: "2024-03-10", Sent: 2}, {Date: "2024-03-11", Sent: 1}, {Date: "2024-03-12", Sent: 3}}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("Los Angeles days\n got %v\nwant %v", got, want)
		}

		// The same sends seen from UTC and from Kathmandu (+05:45).
		got, err = store.DailySends(f.ctx, db, a.ID, time.UTC, now, 4)
		if err != nil {
			t.Fatal(err)
		}
		want = []store.DaySends{{Date: "2024-03-09", Sent: 0}, {Date: "2024-03-10", Sent: 2}, {Date: "2024-03-11", Sent: 2}, {Date: "2024-03-12", Sent: 3}}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("UTC days\n got %v\nwant %v", got, want)
		}
		ktm, err := time.LoadLocation("Asia/Kathmandu")
		if err != nil {
			t.Fatal(err)
		}
		// There 2024-03-11T06:30Z is 12:15 on the 11th and 2024-03-12T17:30Z
		// is 23:15 on the 12th, a half hour before now.
		got, err = store.DailySends(f.ctx, db, a.ID, ktm, now, 3)
		if err != nil {
			t.Fatal(err)
		}
		want = []store.DaySends{{Date: "2024-03-10", Sent: 2}, {Date: "2024-03-11", Sent: 2}, {Date: "2024-03-12", Sent: 3}}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("Kathmandu days\n got %v\nwant %v", got, want)
		}

		// A year of days: 365 entries, the one old send in its place.
		got, err = store.DailySends(f.ctx, db, a.ID, la, now, 365)
		if err != nil {
			t.Fatal(err)
		}
		var total int64
		for _, d := range got {
			total += d.Sent
			if d.Date == "2024-01-01" && d.Sent != 1 {
				t.Errorf("2024-01-01: %d sends, want 1", d.Sent)
			}
		}
		if len(got) != 365 || got[364].Date != "2024-03-12" || total != 8 {
			t.Errorf("year: %d days ending %s with %d sends, want 365 ending 2024-03-12 with 8", len(got), got[len(got)-1].Date, total)
		}
		for _, bad := range []int{0, 366} {
			if _, err := store.DailySends(f.ctx, db, a.ID, la, now, bad); err == nil {
				t.Errorf("days=%d accepted", bad)
			}
		}
	})
}

// Where the clocks go forward at midnight (America/Santiago) the day has no
// 00:00: the series still holds every date once, each from its first
// local instant, and ends today.
func TestDailySendsMidnightDSTGap(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := &anFixture{t: t, db: db, ctx: context.Background()}
		u := f.user("owner@example.com")
		c := f.campaign(u.ID, "Santiago", "America/Santiago", models.CampaignActive)
		l := f.lead(c)
		f.attempt(l, 0, models.AttemptSent, "2025-09-16T15:00:00Z") // 12:00 on the 16th in Santiago (-03)
		f.attempt(l, 1, models.AttemptSent, "2025-09-07T03:30:00Z") // 23:30 on the 6th in Santiago (-04)
		scl, err := time.LoadLocation("America/Santiago")
		if err != nil {
			t.Fatal(err)
		}
		now := time.Date(2025, 9, 16, 16, 0, 0, 0, time.UTC) // 13:00 on the 16th in Santiago

		// A window whose first day is the day without a midnight.
		got, err := store.DailySends(f.ctx, db, c.ID, scl, now, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 10 || got[0].Date != "2025-09-07" || got[9].Date != "2025-09-16" || got[9].Sent != 1 {
			t.Errorf("10 days ending 2025-09-16 in Santiago: got %v\nwant 2025-09-07 .. 2025-09-16, today with 1 send", got)
		}

		// A window that crosses that day: every date once, in order, and
		// the 23:30 send of the 6th on the 6th.
		got, err = store.DailySends(f.ctx, db, c.ID, scl, now, 15)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Date(2025, 9, 2, 12, 0, 0, 0, time.UTC)
		for i, d := range got {
			if want := start.AddDate(0, 0, i).Format(time.DateOnly); d.Date != want {
				t.Errorf("entry %d is %s, want %s (series %v)", i, d.Date, want, got)
				break
			}
		}
		for _, d := range got {
			if d.Date == "2025-09-06" && d.Sent != 1 {
				t.Errorf("2025-09-06 has %d sends, want 1 (the 23:30 local send): %v", d.Sent, got)
			}
		}
	})
}

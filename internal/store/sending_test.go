package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/internal/storetest"
	"github.com/backlinkoutreach/outreach/models"
)

// sndFixture is a user with one campaign whose window is always open and
// whose sends need no gap, unless a test says otherwise.
type sndFixture struct {
	db   *gorm.DB
	user models.User
	camp models.Campaign
	now  time.Time
}

func ptr[T any](v T) *T { return &v }

func alwaysOpen() models.CampaignSettings {
	return models.CampaignSettings{
		Window:        models.SendingWindow{Days: []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}, Start: "00:00", End: "24:00"},
		MinGapSeconds: ptr(0), JitterSeconds: ptr(0),
		Sequence: []models.SeqStep{
			{Subject: "Guest post for {website_title}", Body: "Hi {name}, pitch for {website}."},
			{Body: "Hi {name}, following up.", DelayDays: 2},
		},
		Sender: models.SenderInfo{Name: "Ann", Site: "ann.example"},
	}
}

func newSndFixture(t *testing.T, db *gorm.DB, s models.CampaignSettings) *sndFixture {
	t.Helper()
	f := &sndFixture{db: db, now: time.Date(2025, 3, 12, 10, 0, 0, 0, time.UTC)}
	f.user = models.User{ID: models.NewID(), Email: models.NewID() + "@owner.example", CreatedAt: f.now}
	if err := db.Create(&f.user).Error; err != nil {
		t.Fatal(err)
	}
	f.camp = f.campaign(t, s)
	return f
}

func (f *sndFixture) campaign(t *testing.T, s models.CampaignSettings) models.Campaign {
	t.Helper()
	c := models.Campaign{
		ID: models.NewID(), UserID: f.user.ID, Name: "c", Keywords: []string{"saas"}, Settings: s,
		State: models.CampaignActive, CreatedAt: f.now, UpdatedAt: f.now,
	}
	if err := f.db.Create(&c).Error; err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *sndFixture) lead(t *testing.T, c models.Campaign, email string) models.Lead {
	t.Helper()
	id := models.NewID()
	l := models.Lead{
		ID: id, CampaignID: c.ID, UserID: f.user.ID, WebsiteURL: "https://" + id + ".example",
		NormalizedURL: id + ".example", WebsiteTitle: "Blog " + id[:8], ContactEmail: email, ContactName: "Ed",
		Source: models.SourceManual, Status: models.StatusDiscovered, CreatedAt: f.now, UpdatedAt: f.now, StatusChangedAt: f.now,
	}
	if err := f.db.Create(&l).Error; err != nil {
		t.Fatal(err)
	}
	return l
}

func (f *sndFixture) begin(t *testing.T, l models.Lead, step int, at time.Time, lim store.SendLimits) store.SendDecision {
	t.Helper()
	d, err := store.BeginSend(context.Background(), f.db, store.SendRequest{
		CampaignID: l.CampaignID, LeadID: l.ID, Step: step, Now: at, Limits: lim, MessageDomain: "example.org",
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (f *sndFixture) events(t *testing.T, leadID string) []models.LeadEvent {
	t.Helper()
	var ev []models.LeadEvent
	if err := f.db.Where("lead_id = ?", leadID).Order("at, id").Find(&ev).Error; err != nil {
		t.Fatal(err)
	}
	return ev
}

func kinds(ev []models.LeadEvent) string {
	var out []string
	for _, e := range ev {
		k := e.Kind
		if e.Kind == store.EventStatus {
			k += ":" + string(e.FromStatus) + "->" + string(e.ToStatus)
		}
		out = append(out, k)
	}
	return strings.Join(out, ",")
}

func (f *sndFixture) leadRow(t *testing.T, id string) models.Lead {
	t.Helper()
	var l models.Lead
	if err := f.db.Take(&l, "id = ?", id).Error; err != nil {
		t.Fatal(err)
	}
	return l
}

func TestSendLedgerHappyPath(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newSndFixture(t, db, alwaysOpen())
		l := f.lead(t, f.camp, "ed@blog.de")
		ctx := context.Background()
		d := f.begin(t, l, 0, f.now, store.SendLimits{})
		if d.Outcome != store.OutcomeApproved {
			t.Fatalf("outcome %s (%s)", d.Outcome, d.Reason)
		}
		a := d.Attempt
		if a.State != models.AttemptSending || a.LegalBasis != models.LegalBasisConsent || a.Subject != "Guest post for "+l.WebsiteTitle ||
			a.MessageID != fmt.Sprintf("outreach.%s.%s.s0@example.org", f.camp.ID, l.ID) || a.InReplyTo != "" {
			t.Fatalf("attempt %+v", a)
		}
		var audits []models.AuditEntry
		db.Where("lead_id = ?", l.ID).Find(&audits)
		if len(audits) != 1 || audits[0].Result != store.AuditApproved || audits[0].LegalBasis != models.LegalBasisConsent {
			t.Fatalf("audit %+v", audits)
		}
		st, err := store.FinishSent(ctx, db, a, f.now.Add(time.Second))
		if err != nil || st != models.StatusContacted {
			t.Fatalf("FinishSent: %s %v", st, err)
		}
		if got := kinds(f.events(t, l.ID)); got != "sent,status:discovered->contacted" {
			t.Errorf("timeline %s", got)
		}
		// The same step again is answered from the ledger.
		if again := f.begin(t, l, 0, f.now.Add(time.Minute), store.SendLimits{}); again.Outcome != store.OutcomeSent {
			t.Fatalf("second begin: %s", again.Outcome)
		}
		// The follow-up waits for its delay, then threads.
		early := f.begin(t, l, 1, f.now.Add(time.Hour), store.SendLimits{})
		if early.Outcome != store.OutcomeDeferred || early.Reason != store.ReasonNotDue ||
			!early.Until.Equal(f.now.Add(time.Second+48*time.Hour)) {
			t.Fatalf("early follow-up: %+v", early)
		}
		fu := f.begin(t, l, 1, f.now.Add(49*time.Hour), store.SendLimits{})
		if fu.Outcome != store.OutcomeApproved {
			t.Fatalf("follow-up: %s %s", fu.Outcome, fu.Reason)
		}
		if fu.Attempt.Subject != "Re: "+a.Subject || fu.Attempt.InReplyTo != a.MessageID ||
			len(fu.Thread) != 1 || fu.Thread[0] != a.MessageID {
			t.Fatalf("follow-up threading: %+v thread %v", fu.Attempt, fu.Thread)
		}
		if d := f.begin(t, l, 2, f.now.Add(200*time.Hour), store.SendLimits{}); d.Outcome != store.OutcomeDone {
			t.Fatalf("step past the sequence: %s", d.Outcome)
		}
	})
}

func TestSendingRowFoundAgainBecomesUnknown(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newSndFixture(t, db, alwaysOpen())
		l := f.lead(t, f.camp, "ed@blog.com")
		first := f.begin(t, l, 0, f.now, store.SendLimits{})
		if first.Outcome != store.OutcomeApproved {
			t.Fatal(first.Outcome)
		}
		// The process died during the SMTP conversation; the retry finds
		// the row in sending.
		d := f.begin(t, l, 0, f.now.Add(time.Minute), store.SendLimits{})
		if d.Outcome != store.OutcomeUnknown || !d.FreshUnknown || d.LeadStatus != models.StatusContacted {
			t.Fatalf("retry: %+v", d)
		}
		d = f.begin(t, l, 0, f.now.Add(2*time.Minute), store.SendLimits{})
		if d.Outcome != store.OutcomeUnknown || d.FreshUnknown {
			t.Fatalf("third try: %s fresh %v", d.Outcome, d.FreshUnknown)
		}
		if got := kinds(f.events(t, l.ID)); got != "send_unknown,status:discovered->contacted" {
			t.Errorf("timeline %s", got)
		}
		// A zombie conversation that did finish upgrades unknown to sent.
		if st, err := store.FinishSent(context.Background(), db, first.Attempt, f.now.Add(3*time.Minute)); err != nil || st != models.StatusContacted {
			t.Fatalf("late FinishSent: %s %v", st, err)
		}
		var a models.Attempt
		db.Take(&a, "id = ?", first.Attempt.ID)
		if a.State != models.AttemptSent {
			t.Errorf("state %s", a.State)
		}
		// The follow-up threads to an unknown first step as well.
		if d := f.begin(t, l, 1, f.now.Add(72*time.Hour), store.SendLimits{}); d.Outcome != store.OutcomeApproved || d.Attempt.InReplyTo != a.MessageID {
			t.Fatalf("follow-up after unknown: %+v", d)
		}
	})
}

// TestCapsAreHard sends 50 leads at once against each cap of 10: exactly
// 10 are approved, the rest deferred to the cap's next reset.
func TestCapsAreHard(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		lim    store.SendLimits
		daily  *int
		tz     string
		reason string
		domain bool
	}{
		{"user cap", store.SendLimits{UserDailyCap: 10}, nil, "UTC", store.ReasonUserCap, false},
		{"domain cap", store.SendLimits{DomainDailyCap: 10}, nil, "UTC", store.ReasonDomainCap, true},
		{"campaign cap in its time zone", store.SendLimits{}, ptr(10), "Asia/Tokyo", store.ReasonCampaignCap, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *gorm.DB) {
				s := alwaysOpen()
				s.DailyCap, s.Timezone = tt.daily, tt.tz
				f := newSndFixture(t, db, s)
				leads := make([]models.Lead, 50)
				for i := range leads {
					domain := fmt.Sprintf("site%d.example", i)
					if tt.domain {
						domain = "same.example"
					}
					leads[i] = f.lead(t, f.camp, fmt.Sprintf("ed%d@%s", i, domain))
				}
				var (
					wg       sync.WaitGroup
					mu       sync.Mutex
					approved []models.Attempt
					deferred []store.SendDecision
				)
				for _, l := range leads {
					wg.Add(1)
					go func() {
						defer wg.Done()
						d, err := store.BeginSend(context.Background(), db, store.SendRequest{
							CampaignID: l.CampaignID, LeadID: l.ID, Now: f.now, Limits: tt.lim, MessageDomain: "example.org",
						})
						if err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						defer mu.Unlock()
						switch d.Outcome {
						case store.OutcomeApproved:
							approved = append(approved, d.Attempt)
						case store.OutcomeDeferred:
							deferred = append(deferred, d)
						default:
							t.Errorf("outcome %s", d.Outcome)
						}
					}()
				}
				wg.Wait()
				if len(approved) != 10 || len(deferred) != 40 {
					t.Fatalf("approved %d, deferred %d; want 10 and 40", len(approved), len(deferred))
				}
				loc, _ := time.LoadLocation(tt.tz)
				want := models.StartOfNextDay(f.now, loc)
				for _, d := range deferred {
					if d.Reason != tt.reason || !d.Until.Equal(want) {
						t.Fatalf("deferral %s until %s; want %s until %s", d.Reason, d.Until, tt.reason, want)
					}
				}
				var pending int64
				db.Model(&models.Attempt{}).Where("campaign_id = ? AND state = ?", f.camp.ID, models.AttemptPending).Count(&pending)
				if pending != 40 {
					t.Errorf("pending rows %d, want 40 (deferred, not dropped)", pending)
				}
				// A send that never reached the server gives its slot back.
				if err := store.FinishRetry(context.Background(), db, approved[0], "connection refused", f.now); err != nil {
					t.Fatal(err)
				}
				d := f.begin(t, deferred[0].Lead, 0, f.now.Add(time.Minute), tt.lim)
				if d.Outcome != store.OutcomeApproved {
					t.Fatalf("after a released slot: %s %s", d.Outcome, d.Reason)
				}
				if d := f.begin(t, deferred[1].Lead, 0, f.now.Add(2*time.Minute), tt.lim); d.Outcome != store.OutcomeDeferred {
					t.Fatalf("cap full again: %s", d.Outcome)
				}
				// The next day has room.
				if d := f.begin(t, deferred[1].Lead, 0, want.Add(time.Minute), tt.lim); d.Outcome != store.OutcomeApproved {
					t.Fatalf("next day: %s %s", d.Outcome, d.Reason)
				}
			})
		})
	}
}

func TestSendPolicyBlocks(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		f := newSndFixture(t, db, alwaysOpen())

		// Suppressed domain: blocked, flagged, stays discovered.
		if err := db.Create(&models.Suppression{
			ID: models.NewID(), UserID: f.user.ID, Value: "@spam.example",
			Source: models.SuppressManual, CreatedAt: f.now,
		}).Error; err != nil {
			t.Fatal(err)
		}
		l := f.lead(t, f.camp, "Ed@Spam.example")
		d := f.begin(t, l, 0, f.now, store.SendLimits{})
		if d.Outcome != store.OutcomeBlocked || !strings.HasPrefix(d.Reason, store.ReasonSuppressed) {
			t.Fatalf("suppressed: %s %s", d.Outcome, d.Reason)
		}
		if row := f.leadRow(t, l.ID); !row.Suppressed || row.Status != models.StatusDiscovered {
			t.Fatalf("suppressed lead %+v", row)
		}

		// A contacted lead whose address is suppressed later bounces.
		l2 := f.lead(t, f.camp, "writer@late.example")
		a := f.begin(t, l2, 0, f.now, store.SendLimits{})
		if _, err := store.FinishSent(ctx, db, a.Attempt, f.now); err != nil {
			t.Fatal(err)
		}
		db.Create(&models.Suppression{ID: models.NewID(), UserID: f.user.ID, Value: "writer@late.example", Source: models.SuppressUnsubscribe, CreatedAt: f.now})
		d = f.begin(t, l2, 1, f.now.Add(72*time.Hour), store.SendLimits{})
		if d.Outcome != store.OutcomeBlocked || d.LeadStatus != models.StatusBounced {
			t.Fatalf("suppressed follow-up: %s %s", d.Outcome, d.LeadStatus)
		}

		// Same subject to the same address from another lead within 24 h.
		other := f.campaign(t, alwaysOpen())
		dupA := f.lead(t, f.camp, "same@dup.example")
		dupB := f.lead(t, other, "same@dup.example")
		db.Model(&models.Lead{}).Where("id = ?", dupB.ID).Update("website_title", dupA.WebsiteTitle)
		if d := f.begin(t, dupA, 0, f.now, store.SendLimits{}); d.Outcome != store.OutcomeApproved {
			t.Fatal(d.Outcome)
		}
		if d := f.begin(t, dupB, 0, f.now.Add(time.Hour), store.SendLimits{}); d.Outcome != store.OutcomeBlocked || d.Reason != store.ReasonDuplicate {
			t.Fatalf("duplicate: %s %s", d.Outcome, d.Reason)
		}

		// An unfilled placeholder blocks instead of sending "Hi ,".
		noName := f.lead(t, f.camp, "anon@blog.example")
		db.Model(&models.Lead{}).Where("id = ?", noName.ID).Update("contact_name", "")
		if d := f.begin(t, noName, 0, f.now, store.SendLimits{}); d.Outcome != store.OutcomeBlocked || !strings.Contains(d.Reason, "unfilled:name") {
			t.Fatalf("placeholder: %s %s", d.Outcome, d.Reason)
		}

		// No address: blocked.
		noMail := f.lead(t, f.camp, "")
		if d := f.begin(t, noMail, 0, f.now, store.SendLimits{}); d.Outcome != store.OutcomeBlocked || d.Reason != store.ReasonNoEmail {
			t.Fatalf("no email: %s %s", d.Outcome, d.Reason)
		}

		// Every decision is audited.
		var n int64
		db.Model(&models.AuditEntry{}).Where("user_id = ? AND result = ?", f.user.ID, store.AuditBlocked).Count(&n)
		if n != 5 {
			t.Errorf("blocked audit entries %d, want 5", n)
		}
	})
}

func TestSendPausedParksAndWindowDefers(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := alwaysOpen()
		s.Window = models.SendingWindow{Days: []string{"mon", "tue", "wed", "thu", "fri"}, Start: "09:00", End: "17:00"}
		s.Timezone = "America/New_York"
		f := newSndFixture(t, db, s)
		l := f.lead(t, f.camp, "ed@blog.example")
		// Wednesday 10:00 UTC is 06:00 in New York.
		d := f.begin(t, l, 0, f.now, store.SendLimits{})
		if d.Outcome != store.OutcomeDeferred || d.Reason != store.ReasonWindow || !d.Until.Equal(time.Date(2025, 3, 12, 13, 0, 0, 0, time.UTC)) {
			t.Fatalf("window: %+v", d)
		}
		db.Model(&models.Campaign{}).Where("id = ?", f.camp.ID).Update("state", models.CampaignPaused)
		if d := f.begin(t, l, 0, f.now, store.SendLimits{}); d.Outcome != store.OutcomePaused {
			t.Fatalf("paused: %s", d.Outcome)
		}
		ids, err := store.ParkedLeadIDs(ctx, db, f.camp.ID, "", 10)
		if err != nil || len(ids) != 1 || ids[0] != l.ID {
			t.Fatalf("parked %v %v", ids, err)
		}
		// Parked until woken: a failed wake-up leaves it for the next resume.
		if again, _ := store.ParkedLeadIDs(ctx, db, f.camp.ID, "", 10); len(again) != 1 {
			t.Fatalf("parked lead not found again before it was woken: %v", again)
		}
		if after, _ := store.ParkedLeadIDs(ctx, db, f.camp.ID, l.ID, 10); len(after) != 0 {
			t.Fatalf("page after the last parked lead: %v", after)
		}
		if err := store.UnparkLeads(ctx, db, ids); err != nil {
			t.Fatal(err)
		}
		if ids, _ := store.ParkedLeadIDs(ctx, db, f.camp.ID, "", 10); len(ids) != 0 {
			t.Fatalf("parked after it was woken: %v", ids)
		}
		db.Model(&models.Campaign{}).Where("id = ?", f.camp.ID).Update("state", models.CampaignDeleting)
		if d := f.begin(t, l, 0, f.now, store.SendLimits{}); d.Outcome != store.OutcomeGone {
			t.Fatalf("deleting: %s", d.Outcome)
		}
	})
}

func TestSendMinimumGap(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		s := alwaysOpen()
		s.MinGapSeconds, s.JitterSeconds = ptr(60), ptr(0)
		f := newSndFixture(t, db, s)
		a, b, c := f.lead(t, f.camp, "a@x.example"), f.lead(t, f.camp, "b@y.example"), f.lead(t, f.camp, "c@z.example")
		if d := f.begin(t, a, 0, f.now, store.SendLimits{}); d.Outcome != store.OutcomeApproved {
			t.Fatal(d.Outcome)
		}
		db2 := f.begin(t, b, 0, f.now.Add(time.Second), store.SendLimits{})
		dc := f.begin(t, c, 0, f.now.Add(2*time.Second), store.SendLimits{})
		if db2.Outcome != store.OutcomeDeferred || db2.Reason != store.ReasonMinGap || !db2.Until.Equal(f.now.Add(time.Minute)) {
			t.Fatalf("b: %+v", db2)
		}
		if dc.Outcome != store.OutcomeDeferred || !dc.Until.Equal(f.now.Add(2*time.Minute)) {
			t.Fatalf("c: %+v", dc)
		}
		// Each comes back at its own slot and goes.
		if d := f.begin(t, b, 0, db2.Until, store.SendLimits{}); d.Outcome != store.OutcomeApproved {
			t.Fatalf("b at its slot: %s %s", d.Outcome, d.Reason)
		}
		if d := f.begin(t, c, 0, dc.Until, store.SendLimits{}); d.Outcome != store.OutcomeApproved {
			t.Fatalf("c at its slot: %s %s", d.Outcome, d.Reason)
		}
	})
}

func TestFinishFailedBouncesAndSuppresses(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		f := newSndFixture(t, db, alwaysOpen())
		l := f.lead(t, f.camp, "Gone@Blog.example")
		twin := f.lead(t, f.campaign(t, alwaysOpen()), "gone@blog.example")
		d := f.begin(t, l, 0, f.now, store.SendLimits{UserDailyCap: 5})
		st, err := store.FinishFailed(ctx, db, d.Attempt, "550 no such user", f.now)
		if err != nil || st != models.StatusBounced {
			t.Fatalf("FinishFailed: %s %v", st, err)
		}
		if got := kinds(f.events(t, l.ID)); got != "send_failed,status:discovered->contacted,status:contacted->bounced" {
			t.Errorf("timeline %s", got)
		}
		if hit, _ := store.IsSuppressed(ctx, db, f.user.ID, "GONE@blog.example"); hit != "gone@blog.example" {
			t.Errorf("suppression %q", hit)
		}
		if !f.leadRow(t, twin.ID).Suppressed {
			t.Error("the user's other lead with the address is not flagged")
		}
		rep, err := store.CheckPolicy(ctx, db, store.PolicyCheck{UserID: f.user.ID, Recipient: "x@other.example", Limits: store.SendLimits{UserDailyCap: 5}, Now: f.now})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Caps[0].Scope != "user" || rep.Caps[0].Count != 1 {
			t.Errorf("a 5xx keeps its slot: caps %+v", rep.Caps)
		}
	})
}

func TestCheckPolicy(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		f := newSndFixture(t, db, alwaysOpen())
		lim := store.SendLimits{UserDailyCap: 1, DomainDailyCap: 20}
		rep, err := store.CheckPolicy(ctx, db, store.PolicyCheck{UserID: f.user.ID, Recipient: "ed@blog.co.uk", Campaign: &f.camp, Limits: lim, Now: f.now})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Allowed || rep.LegalBasis != models.LegalBasisConsent || len(rep.Caps) != 3 || rep.WindowOpen == nil || !*rep.WindowOpen {
			t.Fatalf("fresh: %+v", rep)
		}
		l := f.lead(t, f.camp, "ed@blog.co.uk")
		d := f.begin(t, l, 0, f.now, lim)
		if _, err := store.FinishSent(ctx, db, d.Attempt, f.now); err != nil {
			t.Fatal(err)
		}
		rep, err = store.CheckPolicy(ctx, db, store.PolicyCheck{
			UserID: f.user.ID, Recipient: "ed@blog.co.uk", Subject: d.Attempt.Subject,
			Limits: lim, Now: f.now.Add(time.Hour),
		})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Allowed || strings.Join(rep.Reasons, ",") != "duplicate_subject,user_cap" || rep.Reason != store.ReasonDuplicate {
			t.Fatalf("after one send: %+v", rep)
		}
		db.Create(&models.Suppression{ID: models.NewID(), UserID: f.user.ID, Value: "@blog.co.uk", Source: models.SuppressManual, CreatedAt: f.now})
		rep, _ = store.CheckPolicy(ctx, db, store.PolicyCheck{UserID: f.user.ID, Recipient: "new@blog.co.uk", Limits: store.SendLimits{}, Now: f.now})
		if rep.Allowed || rep.SuppressedBy != "@blog.co.uk" {
			t.Fatalf("suppressed domain: %+v", rep)
		}
	})
}

func TestTransitionLead(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		f := newSndFixture(t, db, alwaysOpen())
		l := f.lead(t, f.camp, "ed@blog.example")
		res, err := store.TransitionLead(ctx, db, store.Transition{LeadID: l.ID, To: models.StatusContacted, Source: "api"})
		if err != nil || !res.Changed || res.From != models.StatusDiscovered {
			t.Fatalf("%+v %v", res, err)
		}
		res, err = store.TransitionLead(ctx, db, store.Transition{LeadID: l.ID, To: models.StatusContacted, Source: "api"})
		if err != nil || res.Changed {
			t.Fatalf("same status: %+v %v", res, err)
		}
		_, err = store.TransitionLead(ctx, db, store.Transition{LeadID: l.ID, To: models.StatusPlaced, Source: "api"})
		var te *models.TransitionError
		if !errors.As(err, &te) || te.From != models.StatusContacted || te.To != models.StatusPlaced {
			t.Fatalf("illegal: %v", err)
		}
		if _, err := store.TransitionLead(ctx, db, store.Transition{LeadID: l.ID, To: models.StatusReplied, Source: "reply"}); err != nil {
			t.Fatal(err)
		}
		// Undoing a reply's effect needs the exact current status.
		if _, err := store.TransitionLead(ctx, db, store.Transition{LeadID: l.ID, To: models.StatusBounced, Force: true, ExpectFrom: models.StatusContacted}); err == nil {
			t.Fatal("forced transition from a stale status")
		}
		res, err = store.TransitionLead(ctx, db, store.Transition{LeadID: l.ID, To: models.StatusBounced, Force: true, ExpectFrom: models.StatusReplied, Source: "reply", Detail: "reclassified"})
		if err != nil || res.Status != models.StatusBounced {
			t.Fatalf("forced: %+v %v", res, err)
		}
		if got := kinds(f.events(t, l.ID)); got != "status:discovered->contacted,status:contacted->replied,status:replied->bounced" {
			t.Errorf("timeline %s", got)
		}
		if _, err := store.TransitionLead(ctx, db, store.Transition{LeadID: models.NewID(), To: models.StatusContacted}); !errors.Is(err, models.ErrLeadNotFound) {
			t.Errorf("missing lead: %v", err)
		}
	})
}

func TestNextLeadsToStartPacesFirstTouches(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := alwaysOpen()
		s.DailyCap = ptr(4)
		f := newSndFixture(t, db, s)
		for i := range 8 {
			f.lead(t, f.camp, fmt.Sprintf("e%d@site%d.example", i, i))
		}
		noMail := f.lead(t, f.camp, "")
		lim := store.SendLimits{UserDailyCap: 100}
		starts, err := store.NextLeadsToStart(ctx, db, f.camp, 5, true, lim, f.now)
		if err != nil || len(starts) != 5 {
			t.Fatalf("%v %v", starts, err)
		}
		n := 0
		for _, s := range starts {
			if s.Dispatch {
				n++
			}
		}
		if n != 4 {
			t.Fatalf("dispatched %d at start, want the campaign cap 4", n)
		}
		ids := make([]string, len(starts))
		for i, s := range starts {
			ids[i] = s.ID
		}
		if err := store.MarkWorkflowsStarted(ctx, db, f.camp.ID, ids); err != nil {
			t.Fatal(err)
		}
		room, err := store.DispatchRoom(ctx, db, f.camp, lim, f.now)
		if err != nil || room.N != 0 || room.Unlimited || room.Next.IsZero() {
			t.Fatalf("room after dispatching the cap: %+v %v", room, err)
		}
		rest, err := store.NextLeadsToStart(ctx, db, f.camp, 100, true, lim, f.now)
		if err != nil || len(rest) != 4 {
			t.Fatalf("rest %v %v", rest, err)
		}
		for _, s := range rest {
			if s.Dispatch {
				t.Fatalf("dispatched beyond the cap: %+v", s)
			}
		}
		ids = ids[:0]
		for _, s := range rest {
			ids = append(ids, s.ID)
		}
		if err := store.MarkWorkflowsStarted(ctx, db, f.camp.ID, ids); err != nil {
			t.Fatal(err)
		}
		ready, err := store.ReadyLeads(ctx, db, f.camp.ID, 100)
		// Leads 4..7 have an address and no dispatch yet; the last has none.
		if err != nil || len(ready) != 4 {
			t.Fatalf("ready %v %v", ready, err)
		}
		for _, id := range ready {
			if id == noMail.ID {
				t.Fatal("a lead without an address is ready")
			}
		}
		snap, err := store.SnapshotCampaign(ctx, db, f.camp.ID)
		if err != nil || !snap.Exists || snap.Unstarted != 0 || snap.Ready != 4 {
			t.Fatalf("snapshot %+v %v", snap, err)
		}
		// A new day frees the campaign cap.
		room, _ = store.DispatchRoom(ctx, db, f.camp, lim, f.now.Add(24*time.Hour))
		if room.N != 0 {
			t.Fatalf("dispatched-but-unsent leads still count: room %d, want 0", room.N)
		}
	})
}

func TestListFollowUps(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		f := newSndFixture(t, db, alwaysOpen())
		sent := func(email string) models.Lead {
			l := f.lead(t, f.camp, email)
			d := f.begin(t, l, 0, f.now, store.SendLimits{})
			if _, err := store.FinishSent(ctx, db, d.Attempt, f.now); err != nil {
				t.Fatal(err)
			}
			return l
		}
		scheduled := sent("a@a.example")
		replied := sent("b@b.example")
		if _, err := store.TransitionLead(ctx, db, store.Transition{LeadID: replied.ID, To: models.StatusReplied}); err != nil {
			t.Fatal(err)
		}
		ooo := sent("c@c.example")
		until := f.now.Add(10 * 24 * time.Hour)
		if err := db.Exec(`INSERT INTO replies (id, user_id, campaign_id, lead_id, dedupe_key, classification, ooo_until, source, received_at, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, 'webhook', ?, ?, ?)`, models.NewID(), f.user.ID, f.camp.ID, ooo.ID, models.NewID(), models.ReplyOutOfOffice, until, f.now, f.now, f.now).Error; err != nil {
			t.Fatal(err)
		}
		f.lead(t, f.camp, "d@d.example") // discovered: no follow-up
		list, next, err := store.ListFollowUps(ctx, db, store.FollowUpFilter{Campaign: f.camp, Limit: 50, Now: f.now.Add(time.Hour), OOODefault: 7 * 24 * time.Hour})
		if err != nil || next != "" {
			t.Fatal(err, next)
		}
		got := map[string]store.FollowUp{}
		for _, fu := range list {
			got[fu.LeadID] = fu
		}
		if len(got) != 3 {
			t.Fatalf("follow-ups %+v", list)
		}
		if fu := got[scheduled.ID]; fu.State != store.FollowUpScheduled || fu.Step != 1 || !fu.DueAt.Equal(f.now.Add(48*time.Hour)) {
			t.Errorf("scheduled %+v", fu)
		}
		if fu := got[replied.ID]; fu.State != store.FollowUpCancelled {
			t.Errorf("replied %+v", fu)
		}
		if fu := got[ooo.ID]; fu.State != store.FollowUpScheduled || !fu.DueAt.Equal(until) {
			t.Errorf("out of office %+v", fu)
		}
		db.Model(&models.Campaign{}).Where("id = ?", f.camp.ID).Update("state", models.CampaignPaused)
		f.camp.State = models.CampaignPaused
		list, _, _ = store.ListFollowUps(ctx, db, store.FollowUpFilter{Campaign: f.camp, Limit: 1, State: store.FollowUpPaused, Now: f.now})
		if len(list) != 1 || list[0].State != store.FollowUpPaused {
			t.Errorf("paused page %+v", list)
		}
	})
}

// A follow-up is held back from the moment a human answer is stored for
// the lead, before its workflow hears of the reply; an answer reclassified
// as out of office (or an automatic one) holds nothing back.
func TestSendHeldBackByStoredReply(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newSndFixture(t, db, alwaysOpen())
		ctx := context.Background()
		l := f.lead(t, f.camp, "ed@reply-guard.example")
		d := f.begin(t, l, 0, f.now, store.SendLimits{})
		if d.Outcome != store.OutcomeApproved {
			t.Fatalf("pitch: %s %s", d.Outcome, d.Reason)
		}
		if _, err := store.FinishSent(ctx, db, d.Attempt, f.now); err != nil {
			t.Fatal(err)
		}
		r := models.Reply{
			ID: models.NewID(), UserID: &f.user.ID, CampaignID: &f.camp.ID, LeadID: &l.ID, AttemptID: &d.Attempt.ID,
			DedupeKey: "mid:guard-" + l.ID, MessageID: "guard-" + l.ID, FromAddress: l.ContactEmail,
			Classification: models.ReplyInterested, Parsed: true, Source: "imap", ReceivedAt: f.now.Add(time.Hour),
		}
		if _, err := store.StoreReplies(ctx, db, []store.NewReply{{Reply: r, Effect: true}}, f.now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		at := f.now.Add(72 * time.Hour)
		fu := f.begin(t, l, 1, at, store.SendLimits{})
		if fu.Outcome != store.OutcomeDeferred || fu.Reason != store.ReasonReplyPending || !fu.Until.After(at) {
			t.Fatalf("follow-up after a stored interested reply: %s %s until %s", fu.Outcome, fu.Reason, fu.Until)
		}
		var audits []models.AuditEntry
		db.Where("lead_id = ? AND result = ?", l.ID, store.AuditDeferred).Find(&audits)
		if len(audits) != 1 || audits[0].Reason != store.ReasonReplyPending {
			t.Fatalf("audit %+v", audits)
		}
		if err := db.Model(&models.Reply{}).Where("id = ?", r.ID).Update("classification", models.ReplyOutOfOffice).Error; err != nil {
			t.Fatal(err)
		}
		if fu := f.begin(t, l, 1, at, store.SendLimits{}); fu.Outcome != store.OutcomeApproved {
			t.Fatalf("follow-up after the reply became out of office: %s %s", fu.Outcome, fu.Reason)
		}
	})
}

// The same pitch to one address from two campaigns at once: one goes, the
// other is refused as a duplicate (the duplicate check reads the other
// campaign's sending row only once that send has committed).
func TestDuplicateRefusedUnderConcurrency(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newSndFixture(t, db, alwaysOpen())
		other := f.campaign(t, alwaysOpen())
		for trial := range 12 {
			email := fmt.Sprintf("editor%d@dup-race.example", trial)
			a, b := f.lead(t, f.camp, email), f.lead(t, other, email)
			// The same rendered subject in both campaigns.
			for _, l := range []models.Lead{a, b} {
				if err := db.Model(&models.Lead{}).Where("id = ?", l.ID).Update("website_title", "Same Blog").Error; err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			out := make([]store.SendDecision, 2)
			errs := make([]error, 2)
			for i, l := range []models.Lead{a, b} {
				wg.Go(func() {
					out[i], errs[i] = store.BeginSend(context.Background(), db, store.SendRequest{
						CampaignID: l.CampaignID, LeadID: l.ID, Step: 0, Now: f.now, MessageDomain: "example.org",
					})
				})
			}
			wg.Wait()
			approved := 0
			for i := range out {
				if errs[i] != nil {
					t.Fatal(errs[i])
				}
				if out[i].Outcome == store.OutcomeApproved {
					approved++
				} else if out[i].Reason != store.ReasonDuplicate {
					t.Fatalf("trial %d: %s %s", trial, out[i].Outcome, out[i].Reason)
				}
			}
			if approved != 1 {
				t.Fatalf("trial %d: %d of the two identical pitches approved", trial, approved)
			}
		}
	})
}

// The lookups every send and every suppression make are index searches on
// SQLite, not scans of all the user's entries or leads (at 20k entries the
// scan cost 4 ms a send; at 100k leads 26 ms a suppression).
func TestSuppressionLookupsUseIndexes(t *testing.T) {
	t.Parallel()
	db := storetest.New(t, store.SQLite)
	for q, want := range map[string]string{
		"SELECT value FROM suppressions WHERE user_id = 'u' AND value IN ('a@b.example', '@b.example') LIMIT 1":           "(user_id=? AND value=?)",
		"UPDATE leads SET suppressed = 1 WHERE user_id = 'u' AND lower(contact_email) = 'a@b.example' AND suppressed = 0": "leads_user_email_lower (user_id=? AND <expr>=?)",
	} {
		var plan []struct {
			ID, Parent, Notused int
			Detail              string
		}
		if err := db.Raw("EXPLAIN QUERY PLAN " + q).Scan(&plan).Error; err != nil {
			t.Fatal(err)
		}
		var details []string
		for _, p := range plan {
			details = append(details, p.Detail)
		}
		joined := strings.Join(details, "; ")
		if !strings.Contains(joined, want) {
			t.Errorf("%s\n  plan: %s\n  want a search on %s", q, joined, want)
		}
	}
}

// Asked again only because the plan changed, a follow-up not yet due
// answers its due time under the new settings and writes no audit entry
// and no timeline event.
func TestReplanNotDueWritesNothing(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newSndFixture(t, db, alwaysOpen())
		ctx := context.Background()
		l := f.lead(t, f.camp, "ed@replan.example")
		d := f.begin(t, l, 0, f.now, store.SendLimits{})
		if _, err := store.FinishSent(ctx, db, d.Attempt, f.now); err != nil {
			t.Fatal(err)
		}
		countRows := func() (int64, int64) {
			var audits, events int64
			db.Model(&models.AuditEntry{}).Where("lead_id = ?", l.ID).Count(&audits)
			db.Model(&models.LeadEvent{}).Where("lead_id = ?", l.ID).Count(&events)
			return audits, events
		}
		a0, e0 := countRows()
		got, err := store.BeginSend(ctx, db, store.SendRequest{
			CampaignID: l.CampaignID, LeadID: l.ID, Step: 1, Now: f.now.Add(time.Hour), Replan: true, MessageDomain: "example.org",
		})
		if err != nil {
			t.Fatal(err)
		}
		if got.Outcome != store.OutcomeDeferred || got.Reason != store.ReasonNotDue || !got.Until.Equal(f.now.Add(48*time.Hour)) || len(got.Settings.Sequence) != 2 {
			t.Fatalf("replan before the follow-up is due: %+v", got)
		}
		if a1, e1 := countRows(); a1 != a0 || e1 != e0 {
			t.Errorf("a replan wrote %d audit entries and %d events", a1-a0, e1-e0)
		}
	})
}

// The launch check renders what will still be sent: every step for a
// discovered lead, the follow-ups for a lead whose pitch this engine sent,
// nothing for a lead marked contacted by hand (its sequence never runs).
func TestCheckLaunchRendersWhatWillBeSent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		f := newSndFixture(t, db, alwaysOpen())
		nameless := func(l models.Lead, status models.LeadStatus) {
			t.Helper()
			if err := db.Model(&models.Lead{}).Where("id = ?", l.ID).Updates(map[string]any{"contact_name": "", "status": status}).Error; err != nil {
				t.Fatal(err)
			}
		}
		fresh := f.lead(t, f.camp, "fresh@a.example")
		nameless(fresh, models.StatusDiscovered)
		byHand := f.lead(t, f.camp, "hand@b.example")
		nameless(byHand, models.StatusContacted)
		pitched := f.lead(t, f.camp, "pitched@c.example")
		d := f.begin(t, pitched, 0, f.now, store.SendLimits{})
		if d.Outcome != store.OutcomeApproved {
			t.Fatalf("pitch: %s %s", d.Outcome, d.Reason)
		}
		if _, err := store.FinishSent(ctx, db, d.Attempt, f.now); err != nil {
			t.Fatal(err)
		}
		nameless(pitched, models.StatusContacted)

		got, err := store.CheckLaunch(ctx, db, f.camp, 10)
		if err != nil {
			t.Fatal(err)
		}
		var steps []string
		for _, p := range got.Problems {
			steps = append(steps, fmt.Sprintf("%s:%d", p.LeadID, p.Step))
		}
		want := []string{fresh.ID + ":0", fresh.ID + ":1", pitched.ID + ":1"}
		slices.Sort(steps)
		slices.Sort(want)
		if got.Total != 3 || !slices.Equal(steps, want) {
			t.Fatalf("problems %v (total %d), want %v: the hand-contacted lead's follow-up is never sent", steps, got.Total, want)
		}
	})
}

// A lead's text goes into the HTML alternative escaped: a title is text
// ("Tom & Jerry <Reviews>"), and a scraped name must not put markup into
// the e-mail. The plain text keeps it as written.
func TestHTMLPlaceholdersEscaped(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		s := alwaysOpen()
		s.Sequence[0].HTMLBody = "<p>Hi {name}, I read {website_title}.</p>"
		f := newSndFixture(t, db, s)
		l := f.lead(t, f.camp, "ed@html.example")
		if err := db.Model(&models.Lead{}).Where("id = ?", l.ID).Updates(map[string]any{
			"website_title": `Tom & Jerry <Reviews>`, "contact_name": `Ed <img src="https://evil.example/x.png">`,
		}).Error; err != nil {
			t.Fatal(err)
		}
		d := f.begin(t, l, 0, f.now, store.SendLimits{})
		if d.Outcome != store.OutcomeApproved {
			t.Fatalf("%s %s", d.Outcome, d.Reason)
		}
		want := `<p>Hi Ed &lt;img src=&#34;https://evil.example/x.png&#34;&gt;, I read Tom &amp; Jerry &lt;Reviews&gt;.</p>`
		if d.HTML != want {
			t.Errorf("HTML alternative %q, want %q", d.HTML, want)
		}
		if !strings.Contains(d.Attempt.Body, `Hi Ed <img src="https://evil.example/x.png">`) {
			t.Errorf("plain text %q: the name as written", d.Attempt.Body)
		}
	})
}

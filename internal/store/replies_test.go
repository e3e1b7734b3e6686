package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/internal/storetest"
	"github.com/backlinkoutreach/outreach/models"
)

// newReply builds a reply to l (nil: unmatched) as the poller stores it.
func newReply(key string, l *models.Lead, class string) store.NewReply {
	r := models.Reply{
		DedupeKey: key, MessageID: strings.TrimPrefix(key, "mid:"), FromAddress: "someone@example.org", Subject: "Re: Guest post",
		BodyText: "answer", Classification: class, Parsed: true, Source: "imap", ReceivedAt: time.Now(),
	}
	nr := store.NewReply{Reply: r}
	if l != nil {
		nr.Reply.UserID, nr.Reply.CampaignID, nr.Reply.LeadID = &l.UserID, &l.CampaignID, &l.ID
		nr.Effect = class != models.ReplyBounce
		if class == models.ReplyNotInterested || class == models.ReplyUnsubscribe {
			nr.Suppress, nr.SuppressSource, nr.SuppressReason = strings.ToUpper(l.ContactEmail), models.SuppressNotInterested, "test"
		}
	}
	return nr
}

// Pages of replies stored with multi-row statements keep the analytics
// counters equal to a recount: several human replies of one lead in one
// statement, leads with and without a sent e-mail, leads answered before,
// unmatched mail, keys already stored. Only new rows get a pending effect
// and their suppression.
func TestStoreRepliesPagesKeepCountersExact(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		f := &anFixture{t: t, db: db, ctx: ctx}
		u := f.user("owner@example.com")
		c1 := f.campaign(u.ID, "one", "", models.CampaignActive)
		c2 := f.campaign(u.ID, "two", "", models.CampaignActive)
		var leads []models.Lead
		for i := range 30 {
			l := f.lead([]models.Campaign{c1, c2}[i%2])
			if i%3 != 0 {
				f.attempt(l, 0, models.AttemptSent, "2024-03-01T10:00:00Z")
			}
			leads = append(leads, l)
		}
		rng := rand.New(rand.NewPCG(5, 5))
		var keys []string
		seq := 0
		for page := range 25 {
			var in []store.NewReply
			seen := map[string]bool{}
			for range 1 + rng.IntN(60) {
				var key string
				if len(keys) > 0 && rng.IntN(6) == 0 {
					key = keys[rng.IntN(len(keys))] // stored by an earlier page
				} else {
					seq++
					key = fmt.Sprintf("mid:r%d@example.org", seq)
				}
				if seen[key] {
					continue
				}
				seen[key] = true
				var l *models.Lead
				if rng.IntN(8) != 0 {
					l = &leads[rng.IntN(len(leads))]
				}
				in = append(in, newReply(key, l, models.ReplyTags[rng.IntN(len(models.ReplyTags))]))
			}
			fresh, err := store.StoreReplies(ctx, db, in, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range in {
				stored := false
				for _, k := range keys {
					stored = stored || k == r.Reply.DedupeKey
				}
				if fresh[i] == stored {
					t.Fatalf("page %d: %s fresh %v, stored before %v", page, r.Reply.DedupeKey, fresh[i], stored)
				}
				var effects int64
				db.Raw("SELECT count(*) FROM reply_effects WHERE reply_id = ?", r.Reply.ID).Scan(&effects)
				if want := fresh[i] && r.Effect; (effects == 1) != want {
					t.Fatalf("page %d: %s has %d effects, want %v", page, r.Reply.DedupeKey, effects, want)
				}
				if fresh[i] {
					keys = append(keys, r.Reply.DedupeKey)
				}
				if fresh[i] && r.Suppress != "" {
					if hit, err := store.IsSuppressed(ctx, db, u.ID, r.Suppress); err != nil || hit == "" {
						t.Fatalf("page %d: %s not suppressed (%v)", page, r.Suppress, err)
					}
					var l models.Lead
					if err := db.Take(&l, "id = ?", *r.Reply.LeadID).Error; err != nil || !l.Suppressed {
						t.Fatalf("page %d: lead %s not flagged (%v)", page, l.ContactEmail, err)
					}
				}
			}
			checkStats(t, db, fmt.Sprintf("after page %d", page), c1.ID, c2.ID)
		}
		if st := storedStats(t, db, c1.ID); st["leads_responded"] == 0 {
			t.Fatalf("no lead responded: %v", st)
		}
	})
}

// Pages stored concurrently for the same leads, beside new e-mails to them
// and reclassifications, commit without deadlock and count each lead once.
func TestStoreRepliesConcurrentWriters(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		f := &anFixture{t: t, db: db, ctx: ctx}
		u := f.user("owner@example.com")
		c := f.campaign(u.ID, "busy", "", models.CampaignActive)
		var leads []models.Lead
		for range 6 {
			leads = append(leads, f.lead(c))
		}
		first := f.reply(leads[0], models.ReplyNeutral)
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		for w := range 6 {
			wg.Add(3)
			go func() {
				defer wg.Done()
				var in []store.NewReply
				for i := range 20 {
					l := leads[(w+i)%len(leads)]
					in = append(in, newReply(fmt.Sprintf("mid:w%d-%d@example.org", w, i), &l, models.ReplyInterested))
				}
				_, err := store.StoreReplies(ctx, db, in, time.Now())
				errs <- err
			}()
			go func() {
				defer wg.Done()
				for i, l := range leads {
					now := time.Now().UTC()
					a := models.Attempt{
						ID: models.NewID(), UserID: l.UserID, CampaignID: l.CampaignID, LeadID: l.ID, Step: w*10 + i,
						State: models.AttemptSent, MessageID: "<" + models.NewID() + "@x>", Recipient: l.ContactEmail,
						RecipientDomain: "example.com", Subject: "s", Body: "b", CreatedAt: now, UpdatedAt: now,
					}
					if err := db.Create(&a).Error; err != nil {
						errs <- err
						return
					}
				}
			}()
			go func() {
				defer wg.Done()
				tag := []string{models.ReplyInterested, models.ReplyOutOfOffice}[w%2]
				errs <- db.Model(&models.Reply{}).Where("id = ?", first.ID).Update("classification", tag).Error
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		checkStats(t, db, "after concurrent pages", c.ID)
		if st := storedStats(t, db, c.ID); st["leads_sent"] != 6 || st["replies:interested"] < 120 {
			t.Fatalf("counters %v", st)
		}
	})
}

// A checkpoint only moves forward under one UIDVALIDITY, and starts over
// under a new one.
func TestSaveCheckpoint(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		now := time.Now()
		const box = "me@imap.example:993/INBOX"
		if _, ok, err := store.Checkpoint(ctx, db, box); err != nil || ok {
			t.Fatalf("fresh mailbox: ok %v err %v", ok, err)
		}
		for _, step := range []struct {
			validity, uid      uint32
			wantValidity, want uint32
		}{
			{7, 40, 7, 40},
			{7, 90, 7, 90},
			{7, 60, 7, 90},                   // an older poll finishing late
			{8, 3, 8, 3},                     // the mailbox was rebuilt
			{8, 3, 8, 3},                     // the same again
			{4294967295, 12, 4294967295, 12}, // UIDVALIDITY is unsigned 32-bit
		} {
			if err := store.SaveCheckpoint(ctx, db, box, step.validity, step.uid, now); err != nil {
				t.Fatal(err)
			}
			cp, ok, err := store.Checkpoint(ctx, db, box)
			if err != nil || !ok || cp.UIDValidity != step.wantValidity || cp.LastUID != step.want {
				t.Fatalf("after saving %d/%d: %+v ok %v err %v", step.validity, step.uid, cp, ok, err)
			}
		}
	})
}

// What StoreReplies writes reads back unchanged, whatever the text holds
// (SQLite receives the rows as JSON).
func TestStoreRepliesRoundTrip(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		f := &anFixture{t: t, db: db, ctx: ctx}
		u := f.user("owner@example.com")
		l := f.lead(f.campaign(u.ID, "one", "", models.CampaignActive))
		a := f.attempt(l, 0, models.AttemptSent, "2024-03-01T10:00:00Z")
		until := time.Date(2026, 3, 9, 0, 0, 0, 0, time.FixedZone("CET", 3600))
		received := time.Date(2026, 3, 2, 17, 4, 5, 123456789, time.FixedZone("X", -7*3600))
		text := "Quotes \" and \\ backslashes\r\nlines\ttabs \x01\x1f controls, é, 日本, 🙂, \u2028, DEL \x7f"
		if store.DialectOf(db) == store.SQLite {
			// SQLite stores any bytes (PostgreSQL refuses these; the
			// pipeline never sends them).
			text += " invalid \xff\xc3 and NUL \x00."
		}
		nr := newReply("mid:odd@example.org", &l, models.ReplyOutOfOffice)
		nr.Reply.AttemptID = &a.ID
		nr.Reply.BodyText, nr.Reply.Subject, nr.Reply.ParseError = text, "Re: "+text, "part: "+text
		nr.Reply.OOOUntil, nr.Reply.ReceivedAt, nr.Reply.Parsed = &until, received, false
		nr.Reply.BounceKind, nr.Reply.BounceCode, nr.Reply.Mailbox, nr.Reply.InReplyTo = "soft", "4.2.2", "INBOX/Sub", "m1@outreach.test"
		unmatched := newReply("sha256:abc", nil, models.ReplyNeutral)
		in := []store.NewReply{nr, unmatched}
		now := time.Now()
		if _, err := store.StoreReplies(ctx, db, in, now); err != nil {
			t.Fatal(err)
		}
		for _, want := range []models.Reply{in[0].Reply, in[1].Reply} {
			var got models.Reply
			if err := db.Take(&got, "id = ?", want.ID).Error; err != nil {
				t.Fatal(err)
			}
			// PostgreSQL keeps microseconds.
			same := func(a, b time.Time) bool { return a.Truncate(time.Microsecond).Equal(b.Truncate(time.Microsecond)) }
			if !same(got.ReceivedAt, want.ReceivedAt) || !same(got.CreatedAt, want.CreatedAt) || (got.OOOUntil == nil) != (want.OOOUntil == nil) ||
				(got.OOOUntil != nil && !same(*got.OOOUntil, *want.OOOUntil)) {
				t.Fatalf("times: got %v %v %v, want %v %v %v", got.ReceivedAt, got.CreatedAt, got.OOOUntil, want.ReceivedAt, want.CreatedAt, want.OOOUntil)
			}
			deref := func(p *string) string {
				if p == nil {
					return "<nil>"
				}
				return *p
			}
			for _, pair := range [][2]*string{{got.UserID, want.UserID}, {got.CampaignID, want.CampaignID}, {got.LeadID, want.LeadID}, {got.AttemptID, want.AttemptID}} {
				if deref(pair[0]) != deref(pair[1]) {
					t.Fatalf("match: got %s, want %s", deref(pair[0]), deref(pair[1]))
				}
			}
			got.ReceivedAt, got.CreatedAt, got.UpdatedAt, got.OOOUntil = want.ReceivedAt, want.CreatedAt, want.UpdatedAt, want.OOOUntil
			got.UserID, got.CampaignID, got.LeadID, got.AttemptID = want.UserID, want.CampaignID, want.LeadID, want.AttemptID
			if got != want {
				t.Fatalf("read back\n%+v\nwant\n%+v", got, want)
			}
		}
	})
}

// Reclassifying a refusal lifts the suppression that refusal wrote, and
// only that: an entry added otherwise stays, and a second refusal from the
// same address keeps the address suppressed.
func TestReclassifyLiftsTheReplysSuppression(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		f := newSndFixture(t, db, alwaysOpen())
		sent := func(email string) (models.Lead, models.Attempt) {
			l := f.lead(t, f.camp, email)
			d := f.begin(t, l, 0, f.now, store.SendLimits{})
			if d.Outcome != store.OutcomeApproved {
				t.Fatalf("pitch to %s: %s %s", email, d.Outcome, d.Reason)
			}
			if _, err := store.FinishSent(ctx, db, d.Attempt, f.now); err != nil {
				t.Fatal(err)
			}
			return l, d.Attempt
		}
		refuse := func(l models.Lead, a models.Attempt, tag string) models.Reply {
			r := models.Reply{
				ID: models.NewID(), UserID: &f.user.ID, CampaignID: &f.camp.ID, LeadID: &l.ID, AttemptID: &a.ID,
				DedupeKey: "mid:" + models.NewID(), FromAddress: a.Recipient, Classification: tag,
				Parsed: true, Source: "imap", ReceivedAt: f.now.Add(time.Hour),
			}
			src := models.ReplySuppressionSource(tag, "")
			_, err := store.StoreReplies(ctx, db, []store.NewReply{{Reply: r, Effect: true, Suppress: a.Recipient, SuppressSource: src, SuppressReason: "test"}}, f.now)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		reclassify := func(r models.Reply, tag string) {
			t.Helper()
			var cur models.Reply
			if err := db.Take(&cur, "id = ?", r.ID).Error; err != nil {
				t.Fatal(err)
			}
			rc := store.Reclassification{Tag: tag}
			if src := models.ReplySuppressionSource(tag, ""); src != "" {
				rc.SuppressSource = src
				var a models.Attempt
				db.Take(&a, "id = ?", *cur.AttemptID)
				rc.Suppress = a.Recipient
			}
			if _, err := store.Reclassify(ctx, db, cur, rc, f.now.Add(2*time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		state := func(email string) (bool, bool) {
			t.Helper()
			hit, err := store.SuppressedAmong(ctx, db, f.user.ID, []string{email})
			if err != nil {
				t.Fatal(err)
			}
			var l models.Lead
			if err := db.Take(&l, "user_id = ? AND contact_email = ?", f.user.ID, email).Error; err != nil {
				t.Fatal(err)
			}
			return hit[email], l.Suppressed
		}

		// A refusal read wrongly: corrected, the address is free again.
		l1, a1 := sent("ann@lift.example")
		r1 := refuse(l1, a1, models.ReplyNotInterested)
		if listed, flagged := state("ann@lift.example"); !listed || !flagged {
			t.Fatalf("refusal: listed %v flagged %v", listed, flagged)
		}
		reclassify(r1, models.ReplyOutOfOffice)
		if listed, flagged := state("ann@lift.example"); listed || flagged {
			t.Errorf("refusal reclassified as out of office: listed %v flagged %v", listed, flagged)
		}
		// Reclassified as an unsubscribe, the reply writes its entry again.
		reclassify(r1, models.ReplyUnsubscribe)
		var s models.Suppression
		if err := db.Take(&s, "user_id = ? AND value = ?", f.user.ID, "ann@lift.example").Error; err != nil ||
			s.Source != models.SuppressUnsubscribe || s.ReplyID == nil || *s.ReplyID != r1.ID {
			t.Errorf("entry written by the reclassification: %+v %v", s, err)
		}

		// An address added by hand before the refusal stays listed.
		l2, a2 := sent("bob@lift.example")
		if _, _, err := store.AddSuppression(ctx, db, f.user.ID, "bob@lift.example", "asked by phone", models.SuppressManual, f.now); err != nil {
			t.Fatal(err)
		}
		r2 := refuse(l2, a2, models.ReplyUnsubscribe)
		reclassify(r2, models.ReplyInterested)
		if listed, flagged := state("bob@lift.example"); !listed || !flagged {
			t.Errorf("manual entry lost by a reclassification: listed %v flagged %v", listed, flagged)
		}

		// Suppressed again after the refusal, by hand, by a one-click
		// unsubscribe or by an SMTP 5xx: the entry is no longer the
		// reply's, and correcting the reply keeps it.
		for _, tc := range []struct{ email, source string }{
			{"dee@lift.example", models.SuppressManual},
			{"eve@lift.example", models.SuppressUnsubscribe},
			{"fay@lift.example", models.SuppressHardBounce},
		} {
			l := f.lead(t, f.camp, tc.email)
			d := f.begin(t, l, 0, f.now, store.SendLimits{})
			if d.Outcome != store.OutcomeApproved {
				t.Fatalf("pitch to %s: %s %s", tc.email, d.Outcome, d.Reason)
			}
			r := refuse(l, d.Attempt, models.ReplyNotInterested)
			if tc.source == models.SuppressHardBounce {
				// The refusal came in while the send was still open, and
				// the server then refused the message.
				if _, err := store.FinishFailed(ctx, db, d.Attempt, "550 5.1.1 no such user", f.now); err != nil {
					t.Fatal(err)
				}
			} else if _, created, err := store.AddSuppression(ctx, db, f.user.ID, strings.ToUpper(tc.email), "again", tc.source, f.now); err != nil || created {
				t.Fatalf("suppress %s again: created %v, %v", tc.email, created, err)
			}
			var claimed models.Suppression
			if err := db.Take(&claimed, "user_id = ? AND value = ?", f.user.ID, tc.email).Error; err != nil ||
				claimed.ReplyID != nil || claimed.Source != tc.source {
				t.Errorf("%s: entry after being suppressed again: %+v %v", tc.email, claimed, err)
			}
			reclassify(r, models.ReplyInterested)
			if listed, flagged := state(tc.email); !listed || !flagged {
				t.Errorf("%s: %s entry lifted by correcting an earlier refusal: listed %v flagged %v", tc.email, tc.source, listed, flagged)
			}
		}

		// Two refusals from one address: correcting one keeps the other's.
		l3, a3 := sent("cy@lift.example")
		r3 := refuse(l3, a3, models.ReplyNotInterested)
		r4 := refuse(l3, a3, models.ReplyUnsubscribe)
		reclassify(r3, models.ReplyNeutral)
		if listed, flagged := state("cy@lift.example"); !listed || !flagged {
			t.Errorf("second refusal's suppression lost: listed %v flagged %v", listed, flagged)
		}
		var s2 models.Suppression
		if err := db.Take(&s2, "user_id = ? AND value = ?", f.user.ID, "cy@lift.example").Error; err != nil ||
			s2.ReplyID == nil || *s2.ReplyID != r4.ID || s2.Source != models.SuppressUnsubscribe {
			t.Errorf("entry after the first refusal was corrected: %+v %v", s2, err)
		}
	})
}

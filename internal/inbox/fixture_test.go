package inbox

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/models"
)

// world is one user with a campaign of leads, each sent its first e-mail.
type world struct {
	db    *gorm.DB
	user  models.User
	camp  models.Campaign
	leads []models.Lead
	sent  []models.Attempt
}

// worldSeq numbers the worlds of tests running in parallel.
var worldSeq atomic.Int64

// newWorld creates n leads at lead<i>@site<i>.example, each with a sent
// step-0 attempt whose Message-ID is <lead id>.s0@outreach.test.
func newWorld(t testing.TB, db *gorm.DB, n int) *world {
	t.Helper()
	ctx := context.Background()
	u, err := store.CreateUser(ctx, db, fmt.Sprintf("owner%d-%s@agency.example", worldSeq.Add(1), models.NewID()[:8]))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Add(-48 * time.Hour)
	c := models.Campaign{
		ID: models.NewID(), UserID: u.ID, Name: "Guest posts", Keywords: []string{},
		State: models.CampaignActive, CreatedAt: now, UpdatedAt: now,
	}
	if err := db.Create(&c).Error; err != nil {
		t.Fatal(err)
	}
	w := &world{db: db, user: u, camp: c}
	leads := make([]models.Lead, n)
	atts := make([]models.Attempt, n)
	for i := range n {
		leads[i] = models.Lead{
			ID: models.NewID(), CampaignID: c.ID, UserID: u.ID,
			WebsiteURL: fmt.Sprintf("https://site%d.example/", i), NormalizedURL: fmt.Sprintf("site%d.example", i),
			ContactEmail: fmt.Sprintf("lead%d@site%d.example", i, i), Source: models.SourceManual,
			Status: models.StatusContacted, CreatedAt: now, UpdatedAt: now, StatusChangedAt: now, WorkflowStarted: true,
		}
		sentAt := now.Add(time.Duration(i) * time.Second)
		atts[i] = models.Attempt{
			ID: models.NewID(), UserID: u.ID, CampaignID: c.ID, LeadID: leads[i].ID, Step: 0,
			State: models.AttemptSent, MessageID: leads[i].ID + ".s0@outreach.test", Recipient: leads[i].ContactEmail,
			RecipientDomain: fmt.Sprintf("site%d.example", i), Subject: "Guest post idea", Body: "Would you be interested?",
			LegalBasis: models.LegalBasisLegitimateInterest, CreatedAt: sentAt, UpdatedAt: sentAt, SentAt: &sentAt,
		}
	}
	if n > 0 {
		if err := db.CreateInBatches(&leads, 200).Error; err != nil {
			t.Fatal(err)
		}
		if err := db.CreateInBatches(&atts, 200).Error; err != nil {
			t.Fatal(err)
		}
	}
	w.leads, w.sent = leads, atts
	return w
}

// reply builds a plain-text message. inReplyTo and refs may be empty.
func reply(msgID, from, subject, inReplyTo, refs, body string, extra ...string) []byte {
	var b strings.Builder
	if msgID != "" {
		b.WriteString("Message-ID: <" + msgID + ">\n")
	}
	b.WriteString("From: " + from + "\nTo: outreach@agency.example\nSubject: " + subject + "\n")
	b.WriteString("Date: " + time.Now().UTC().Format(time.RFC1123Z) + "\n")
	if inReplyTo != "" {
		b.WriteString("In-Reply-To: <" + inReplyTo + ">\n")
	}
	if refs != "" {
		b.WriteString("References: " + refs + "\n")
	}
	for _, h := range extra {
		b.WriteString(h + "\n")
	}
	b.WriteString("MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n" + body + "\n")
	return crlf(b.String())
}

// repliesOf reads every stored reply, keyed by Message-ID (or dedupe key).
func repliesOf(t testing.TB, db *gorm.DB) map[string]models.Reply {
	t.Helper()
	var rs []models.Reply
	if err := db.Find(&rs).Error; err != nil {
		t.Fatal(err)
	}
	out := map[string]models.Reply{}
	for _, r := range rs {
		k := r.MessageID
		if k == "" {
			k = r.DedupeKey
		}
		out[k] = r
	}
	return out
}

func strPtr(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

package devmail_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/internal/devmail"
	"github.com/backlinkoutreach/outreach/internal/inbox"
	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/internal/storetest"
	"github.com/backlinkoutreach/outreach/models"
)

// TestReplyPollerAcrossRestart runs the engine's reply poller against the
// dev mailbox. After a restart on the same address the poller's UID
// checkpoint still holds (same UIDVALIDITY, same UIDs): it fetches nothing
// again, then exactly the one message injected since.
func TestReplyPollerAcrossRestart(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		dir := t.TempDir()
		m := start(t, dir)
		addr := m.IMAPAddr()
		attempt := sentAttempt(t, db)
		poller := func(m *devmail.Mailbox) *inbox.Poller {
			host, port := hostPort(t, m.IMAPAddr())
			return &inbox.Poller{
				Config: inbox.IMAPConfig{
					Host: host, Port: port, Username: imapUser, Password: imapPass, TLS: "none",
					Mailboxes: []string{"INBOX"}, FetchLimit: 2, Timeout: 20 * time.Second,
				},
				Pipeline: &inbox.Pipeline{DB: db},
				DB:       db,
			}
		}
		reply := func(n int) []byte {
			return []byte(fmt.Sprintf("Message-ID: <answer-%d@blog.example>\r\nFrom: %s\r\nTo: outreach@outreach.test\r\n"+
				"Subject: Re: Guest post idea\r\nIn-Reply-To: <%s>\r\nDate: %s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"+
				"Sounds good (%d), send it over.\r\n", n, attempt.Recipient, attempt.MessageID, time.Now().UTC().Format(time.RFC1123Z), n))
		}
		for i := range 3 {
			if _, err := m.Inject(t.Context(), reply(i), time.Time{}); err != nil {
				t.Fatal(err)
			}
		}
		st, err := poller(m).Poll(t.Context())
		if err != nil {
			t.Fatalf("first poll: %v", err)
		}
		if st.Fetched != 3 || st.New != 3 {
			t.Fatalf("first poll: %+v", st)
		}

		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		m, err = devmail.Start(t.Context(), devmail.Options{DataDir: dir, IMAPAddr: addr, IMAPUser: imapUser, IMAPPassword: imapPass})
		if err != nil {
			t.Fatalf("restart on %s: %v", addr, err)
		}
		t.Cleanup(func() { _ = m.Close() })
		st, err = poller(m).Poll(t.Context())
		if err != nil {
			t.Fatalf("poll after restart: %v", err)
		}
		if st.Fetched != 0 {
			t.Fatalf("after a restart the poller read %d messages again (%+v): UIDs or UIDVALIDITY moved", st.Fetched, st)
		}
		if _, err := m.Inject(t.Context(), reply(3), time.Time{}); err != nil {
			t.Fatal(err)
		}
		st, err = poller(m).Poll(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if st.Fetched != 1 || st.New != 1 {
			t.Fatalf("poll after one inject: %+v", st)
		}
		var n int64
		if err := db.Model(&models.Reply{}).Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		if n != 4 {
			t.Fatalf("%d replies stored, want 4", n)
		}
		// The poller only reads: no flag changed.
		c := imapClient(t, m, nil)
		_, msgs := uidFetch(t, c, "INBOX", true)
		for _, msg := range msgs {
			if slices.Contains(msg.Flags, imap.FlagSeen) {
				t.Fatalf("message %d became \\Seen", msg.UID)
			}
		}
	})
}

// sentAttempt stores a lead with one sent e-mail: the poller reads a
// mailbox only once something was sent.
func sentAttempt(t *testing.T, db *gorm.DB) models.Attempt {
	t.Helper()
	ctx := t.Context()
	u, err := store.CreateUser(ctx, db, "owner-"+models.NewID()[:8]+"@outreach.test")
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
	l := models.Lead{
		ID: models.NewID(), CampaignID: c.ID, UserID: u.ID, WebsiteURL: "https://blog.example/",
		NormalizedURL: "blog.example", ContactEmail: "editor@blog.example", Source: models.SourceManual,
		Status: models.StatusContacted, CreatedAt: now, UpdatedAt: now, StatusChangedAt: now, WorkflowStarted: true,
	}
	if err := db.Create(&l).Error; err != nil {
		t.Fatal(err)
	}
	a := models.Attempt{
		ID: models.NewID(), UserID: u.ID, CampaignID: c.ID, LeadID: l.ID, Step: 0,
		State: models.AttemptSent, MessageID: l.ID + ".s0@outreach.test", Recipient: l.ContactEmail,
		RecipientDomain: "blog.example", Subject: "Guest post idea", Body: "Would you be interested?",
		LegalBasis: models.LegalBasisLegitimateInterest, CreatedAt: now, UpdatedAt: now, SentAt: &now,
	}
	if err := db.Create(&a).Error; err != nil {
		t.Fatal(err)
	}
	return a
}

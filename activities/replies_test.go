package activities_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/activities"
	"github.com/backlinkoutreach/outreach/internal/inbox"
	"github.com/backlinkoutreach/outreach/internal/inbox/imaptest"
	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/internal/storetest"
	"github.com/backlinkoutreach/outreach/models"
	"github.com/backlinkoutreach/outreach/workflows"
)

// recordingNotifier stands in for the lead workflows.
type recordingNotifier struct {
	mu      sync.Mutex
	signals map[string]workflows.ReplySignal
}

func (n *recordingNotifier) SignalLead(_ context.Context, _, leadID string, sig workflows.ReplySignal) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.signals[leadID] = sig
	return nil
}

// PollReplies delivers the effects of the replies it stores itself, page
// by page, not only through the delivery step after the poll: when it
// returns, every matched reply has reached its lead and nothing is pending.
func TestPollRepliesDeliversEffectsAsItStores(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		f := newFixture(t, db, "127.0.0.1", 25)
		srv := imaptest.Start(t, imaptest.Options{})
		c := srv.Client(t)
		const n = 12
		now := time.Now().UTC().Add(-time.Hour)
		for i := range n {
			l := models.Lead{
				ID: models.NewID(), CampaignID: f.camp.ID, UserID: f.user.ID, WebsiteURL: fmt.Sprintf("https://s%d.example", i),
				NormalizedURL: fmt.Sprintf("s%d.example", i), ContactEmail: fmt.Sprintf("ed@s%d.example", i), Source: models.SourceManual,
				Status: models.StatusContacted, CreatedAt: now, UpdatedAt: now, StatusChangedAt: now, WorkflowStarted: true,
			}
			a := models.Attempt{
				ID: models.NewID(), UserID: f.user.ID, CampaignID: f.camp.ID, LeadID: l.ID, State: models.AttemptSent,
				MessageID: l.ID + ".s0@outreach.test", Recipient: l.ContactEmail, RecipientDomain: fmt.Sprintf("s%d.example", i),
				Subject: "Guest post", Body: "Hi", LegalBasis: models.LegalBasisLegitimateInterest, CreatedAt: now, UpdatedAt: now, SentAt: &now,
			}
			if err := db.Create(&l).Error; err != nil {
				t.Fatal(err)
			}
			if err := db.Create(&a).Error; err != nil {
				t.Fatal(err)
			}
			raw := fmt.Sprintf("Message-ID: <r%d@s%d.example>\r\nFrom: %s\r\nTo: outreach@agency.example\r\nSubject: Re: Guest post\r\n"+
				"In-Reply-To: <%s>\r\nDate: %s\r\n\r\nSounds great, please send the draft.\r\n", i, i, l.ContactEmail, a.MessageID,
				time.Now().UTC().Format(time.RFC1123Z))
			srv.Append(t, c, "INBOX", []byte(raw), time.Now())
		}
		notifier := &recordingNotifier{signals: map[string]workflows.ReplySignal{}}
		r := &activities.Replies{
			DB: db,
			Poller: &inbox.Poller{
				Config: inbox.IMAPConfig{
					Host: srv.Host, Port: srv.Port, Username: srv.Username, Password: srv.Password,
					TLS: "none", Mailboxes: []string{"INBOX"}, FetchLimit: 5, Timeout: 20 * time.Second,
				},
				Pipeline: &inbox.Pipeline{DB: db},
				DB:       db,
			},
			Effects: &inbox.Effects{DB: db, Notifier: notifier},
		}
		// The mailbox's first poll only finds where to start (the attempts
		// are older than the messages, so it reads them all).
		res, err := r.PollReplies(ctx, workflows.ReplyPollInput{Trigger: "api"})
		if err != nil || res.New != n {
			t.Fatalf("poll: %+v %v", res, err)
		}
		notifier.mu.Lock()
		got := len(notifier.signals)
		notifier.mu.Unlock()
		if got != n {
			t.Errorf("%d leads signalled by the poll itself, want %d", got, n)
		}
		pending, err := store.PendingEffects(ctx, db, 100)
		if err != nil || len(pending) != 0 {
			t.Errorf("%d effects still pending after the poll: %v", len(pending), err)
		}
	})
}

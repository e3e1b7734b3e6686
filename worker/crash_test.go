package worker_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/backlinkoutreach/outreach/internal/enginetest"
	"github.com/backlinkoutreach/outreach/internal/storetest"
	"github.com/backlinkoutreach/outreach/models"
)

// Scenario 4: crash safety. The worker is the outreach binary; it is
// killed with SIGKILL at random moments while 300 leads are sent, and
// restarted each time. At the SMTP server no Message-ID arrives twice,
// every lead is sent exactly once or marked unknown, and there are no more
// unknowns than kills.
func TestCrashSafety(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			r := newRig(t, d, enginetest.Options{External: true})
			logs := &enginetest.LockedBuffer{}
			var mu sync.Mutex
			proc := r.StartWorkerProcess(t, logs)
			t.Cleanup(func() {
				mu.Lock()
				defer mu.Unlock()
				_ = proc.Process.Signal(syscall.SIGTERM)
				done := make(chan struct{})
				go func() { _ = proc.Wait(); close(done) }()
				select {
				case <-done:
				case <-time.After(20 * time.Second):
					_ = proc.Process.Kill()
				}
				if t.Failed() {
					t.Logf("worker output:\n%s", logs.String())
				}
			})
			camp, leads := r.CreateCampaign("Crash", enginetest.FastSettings(0), 300)
			r.Launch(camp.ID)
			r.WaitMessages(1, 2*time.Minute)

			seed := time.Now().UnixNano()
			rng := rand.New(rand.NewPCG(uint64(seed), 7))
			t.Logf("kill schedule seed %d", seed)
			kills := 0
			for kills < 4 && r.SMTP.Count() < 300 {
				time.Sleep(time.Duration(200+rng.IntN(1800)) * time.Millisecond)
				mu.Lock()
				if err := proc.Process.Signal(syscall.SIGKILL); err != nil {
					mu.Unlock()
					t.Fatal(err)
				}
				_ = proc.Wait()
				kills++
				t.Logf("kill %d after %d messages", kills, r.SMTP.Count())
				proc = r.StartWorkerProcess(t, logs)
				mu.Unlock()
			}
			enginetest.WaitFor(t, 5*time.Minute, "every lead decided", func() (bool, string) {
				n := r.Count(&models.Attempt{}, "campaign_id = ? AND state IN ?", camp.ID,
					[]models.AttemptState{models.AttemptSent, models.AttemptUnknown})
				return n == 300, fmt.Sprintf("%d of 300 sent or unknown, %d at the server", n, r.SMTP.Count())
			})
			time.Sleep(2 * time.Second)

			atServer := r.SMTP.CountByMessageID()
			for id, n := range atServer {
				if n != 1 {
					t.Errorf("Message-ID %s arrived %d times", id, n)
				}
			}
			var attempts []models.Attempt
			if err := r.DB.Where("campaign_id = ?", camp.ID).Find(&attempts).Error; err != nil {
				t.Fatal(err)
			}
			byLead := map[string]models.Attempt{}
			unknown := 0
			for _, a := range attempts {
				byLead[a.LeadID] = a
				switch a.State {
				case models.AttemptSent:
					if atServer[a.MessageID] != 1 {
						t.Errorf("lead %s: ledger says sent, the server has %d", a.LeadID, atServer[a.MessageID])
					}
				case models.AttemptUnknown:
					unknown++
				default:
					t.Errorf("lead %s: attempt %s", a.LeadID, a.State)
				}
			}
			for _, l := range leads {
				if _, ok := byLead[l]; !ok {
					t.Errorf("lead %s has no attempt", l)
				}
			}
			if len(atServer) > 300 {
				t.Errorf("%d distinct messages for 300 leads", len(atServer))
			}
			if unknown > kills {
				t.Errorf("%d unknown sends after %d kills", unknown, kills)
			}
			if n := r.Count(&models.Lead{}, "campaign_id = ? AND status = ?", camp.ID, models.StatusContacted); n != 300 {
				t.Errorf("contacted leads %d, want 300 (an unknown first step counts as contacted)", n)
			}
			t.Logf("%s: %d kills, %d unknown, %d delivered", d, kills, unknown, len(atServer))
		})
	}
}

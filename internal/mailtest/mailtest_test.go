package mailtest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	outmail "github.com/backlinkoutreach/outreach/internal/mail"
	"github.com/backlinkoutreach/outreach/internal/mailtest"
)

func send(t *testing.T, srv *mailtest.Server, id, to string) error {
	t.Helper()
	s, err := outmail.NewSender(outmail.Config{Host: "127.0.0.1", Port: srv.Port(), TLS: outmail.TLSNone, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s.Send(context.Background(), outmail.Message{MessageID: id, From: "a@example.org", To: to, Subject: "s", Text: "t"})
}

func TestStopAndRestartOnTheSamePort(t *testing.T) {
	t.Parallel()
	srv, err := mailtest.Start(mailtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Stop() }()
	addr := srv.Addr()
	if err := send(t, srv, "one@x", "r@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := send(t, srv, "two@x", "r@example.com"); err == nil {
		t.Fatal("a stopped server accepted mail")
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if srv.Addr() != addr {
		t.Fatalf("restarted on %s, want %s", srv.Addr(), addr)
	}
	if err := send(t, srv, "three@x", "r@example.com"); err != nil {
		t.Fatal(err)
	}
	if srv.Count() != 2 || len(srv.ByMessageID("<three@x>")) != 1 || len(srv.ByMessageID("two@x")) != 0 {
		t.Fatalf("messages %v", srv.CountByMessageID())
	}
}

func TestWaitForCountAndConcurrentSessions(t *testing.T) {
	t.Parallel()
	srv, err := mailtest.Start(mailtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Stop() }()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := send(t, srv, fmt.Sprintf("m%d@x", i), "r@example.com"); err != nil {
				t.Error(err)
			}
		}()
	}
	if err := srv.WaitForCount(ctx, 20); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	short, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	if err := srv.WaitForCount(short, 21); err == nil {
		t.Fatal("WaitForCount(21) returned with 20 messages")
	}
	for id, n := range srv.CountByMessageID() {
		if n != 1 {
			t.Errorf("%s arrived %d times", id, n)
		}
	}
}

func TestRejectChosenRecipients(t *testing.T) {
	t.Parallel()
	srv, err := mailtest.Start(mailtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Stop() }()
	srv.Reject("Bad@Example.com", 550, "no such user")
	if err := send(t, srv, "a@x", "bad@example.com"); outmail.KindOf(err) != outmail.Permanent {
		t.Fatalf("want a permanent failure, got %v", err)
	}
	if err := send(t, srv, "b@x", "good@example.com"); err != nil {
		t.Fatal(err)
	}
	if srv.Count() != 1 {
		t.Fatalf("count %d", srv.Count())
	}
}

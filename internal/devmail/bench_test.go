package devmail_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/backlinkoutreach/outreach/internal/devmail"
	outmail "github.com/backlinkoutreach/outreach/internal/mail"
	"github.com/backlinkoutreach/outreach/internal/mailtest"
)

// BenchmarkCapture sends messages with the engine's sender to the dev
// mailbox (each one written and synced to disk before the 250) and, as the
// baseline, to the in-memory capture server of the tests.
func BenchmarkCapture(b *testing.B) {
	m, err := devmail.Start(b.Context(), devmail.Options{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = m.Close() }()
	mem, err := mailtest.Start(mailtest.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = mem.Stop() }()
	newSender := func(host string, port int) *outmail.Sender {
		s, err := outmail.NewSender(outmail.Config{Host: host, Port: port, TLS: outmail.TLSNone, Timeout: 10 * time.Second, HELO: "outreach.test"})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	devSender := newSender("127.0.0.1", m.SMTPPort())
	memSender := newSender(mem.Host(), mem.Port())

	var devTime, memTime time.Duration
	sent := 0
	for b.Loop() {
		msg := outreachMessage("bench", fmt.Sprintf("l%d", sent), 0)
		sent++
		t0 := time.Now()
		if err := devSender.Send(b.Context(), msg); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := memSender.Send(b.Context(), msg); err != nil {
			b.Fatal(err)
		}
		devTime += t1.Sub(t0)
		memTime += time.Since(t1)
	}
	n := float64(sent)
	devMs, memMs := devTime.Seconds()*1000/n, memTime.Seconds()*1000/n
	b.ReportMetric(devMs, "devmail-ms/msg")
	b.ReportMetric(memMs, "inmemory-ms/msg")
	b.Logf("one captured message: dev mailbox (on disk, synced) %.2f ms, in-memory baseline %.2f ms", devMs, memMs)
}

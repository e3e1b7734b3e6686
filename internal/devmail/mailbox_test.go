package devmail_test

import (
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/backlinkoutreach/outreach/internal/devmail"
)

func startAnyLogin(t *testing.T) *devmail.Mailbox {
	t.Helper()
	m, err := devmail.Start(t.Context(), devmail.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func TestBusyPortNamesServerAndAddress(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = busy.Close() }()
	addr := busy.Addr().String()

	for _, tc := range []struct {
		server string
		opts   devmail.Options
	}{
		{"SMTP", devmail.Options{SMTPAddr: addr}},
		{"IMAP", devmail.Options{IMAPAddr: addr}},
	} {
		// A free address for the other server: after the failure it must be
		// free again (nothing left listening).
		free, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		freeAddr := free.Addr().String()
		_ = free.Close()
		tc.opts.DataDir = t.TempDir()
		if tc.server == "SMTP" {
			tc.opts.IMAPAddr = freeAddr
		} else {
			tc.opts.SMTPAddr = freeAddr
		}

		m, err := devmail.Start(t.Context(), tc.opts)
		if err == nil {
			_ = m.Close()
			t.Fatalf("%s: started on a busy port", tc.server)
		}
		var le *devmail.ListenError
		if !errors.As(err, &le) || le.Server != tc.server || le.Addr != addr {
			t.Fatalf("%s: error %T %v", tc.server, err, err)
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatalf("%s: not EADDRINUSE: %v", tc.server, err)
		}
		want := "dev mailbox " + tc.server + " server: address " + addr + " is already in use"
		if err.Error() != want {
			t.Fatalf("error line %q, want %q", err.Error(), want)
		}
		ln, err := net.Listen("tcp", freeAddr)
		if err != nil {
			t.Fatalf("%s: the other server's port stayed taken: %v", tc.server, err)
		}
		_ = ln.Close()
	}
}

func TestRefusesNonLoopbackAddress(t *testing.T) {
	t.Parallel()
	_, err := devmail.Start(t.Context(), devmail.Options{DataDir: t.TempDir(), IMAPAddr: "0.0.0.0:0"})
	var le *devmail.ListenError
	if !errors.As(err, &le) || le.Server != "IMAP" || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("non-loopback address: %v", err)
	}
	if _, err := devmail.Start(t.Context(), devmail.Options{}); err == nil {
		t.Fatal("started without a data directory")
	}
}

func TestSameAddressesAfterClose(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := start(t, dir)
	smtpAddr, imapAddr := m.SMTPAddr(), m.IMAPAddr()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	m2, err := devmail.Start(t.Context(), devmail.Options{DataDir: dir, SMTPAddr: smtpAddr, IMAPAddr: imapAddr})
	if err != nil {
		t.Fatalf("restart on the same ports: %v", err)
	}
	defer func() { _ = m2.Close() }()
	if m2.SMTPAddr() != smtpAddr || m2.IMAPAddr() != imapAddr {
		t.Fatalf("addresses %s %s, want %s %s", m2.SMTPAddr(), m2.IMAPAddr(), smtpAddr, imapAddr)
	}
	sendRaw(t, smtpAddr, "", "a@outreach.test", []string{"b@blog.example"}, rawMessage("same@x", "s", "b\n"))
	if m2.Sent().Count() != 1 {
		t.Fatal("message not captured after restart on the same port")
	}
}

package devmail_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/smtp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/backlinkoutreach/outreach/internal/devmail"
	outmail "github.com/backlinkoutreach/outreach/internal/mail"
)

const (
	imapUser = "replies@outreach.test"
	imapPass = "dev-secret"
)

// start runs a mailbox on free loopback ports over dir, closed at the end
// of the test unless the test closes it first.
func start(t *testing.T, dir string) *devmail.Mailbox {
	t.Helper()
	m, err := devmail.Start(t.Context(), devmail.Options{DataDir: dir, IMAPUser: imapUser, IMAPPassword: imapPass})
	if err != nil {
		t.Fatalf("start mailbox: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// restart closes m and starts a mailbox on the same data directory.
func restart(t *testing.T, m *devmail.Mailbox, dir string) *devmail.Mailbox {
	t.Helper()
	if err := m.Close(); err != nil {
		t.Fatalf("close mailbox: %v", err)
	}
	return start(t, dir)
}

func waitCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func hostPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return h, n
}

// sender is the engine's own SMTP client pointed at the mailbox.
func sender(t *testing.T, m *devmail.Mailbox, tlsMode, user, pass string) *outmail.Sender {
	t.Helper()
	h, p := hostPort(t, m.SMTPAddr())
	s, err := outmail.NewSender(outmail.Config{
		Host: h, Port: p, TLS: tlsMode, RootCAs: m.RootCAs(), Username: user, Password: pass,
		Timeout: 10 * time.Second, HELO: "outreach.test",
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func outreachMessage(campaign, lead string, step int) outmail.Message {
	return outmail.Message{
		MessageID: outmail.MessageID(campaign, lead, step, "outreach.test"),
		From:      "outreach@outreach.test", FromName: "Ann Writer",
		To: lead + "@blog.example", ToName: "Ed Itor",
		Subject:           "Gästebeitrag für Ihr Blog",
		Text:              "Hi Ed,\n\nA pitch.\n.\nA line that was only a dot.\n",
		UnsubscribeURL:    "https://outreach.test/u/TOKEN",
		UnsubscribeMailto: "outreach@outreach.test",
		Date:              time.Date(2025, 7, 1, 9, 30, 0, 0, time.UTC),
	}
}

// sendRaw sends raw bytes with net/smtp, AUTH PLAIN when user is set.
func sendRaw(t *testing.T, addr, user, from string, to []string, raw []byte) {
	t.Helper()
	var auth smtp.Auth
	if user != "" {
		h, _ := hostPort(t, addr)
		auth = smtp.PlainAuth("", user, "whatever", h)
	}
	if err := smtp.SendMail(addr, auth, from, to, raw); err != nil {
		t.Fatalf("send raw: %v", err)
	}
}

func rawMessage(id, subject, body string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Message-ID: <%s>\r\n", id)
	b.WriteString("From: Lead <lead@blog.example>\r\n")
	b.WriteString("To: outreach@outreach.test\r\n")
	fmt.Fprintf(&b, "Subject: %s\r\n", subject)
	b.WriteString("Date: Tue, 01 Jul 2025 10:00:00 +0000\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	return b.Bytes()
}

func imapClient(t *testing.T, m *devmail.Mailbox, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(m.IMAPAddr(), opts)
	if err != nil {
		t.Fatalf("imap dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Login(imapUser, imapPass).Wait(); err != nil {
		t.Fatalf("imap login: %v", err)
	}
	return c
}

func appendIMAP(t *testing.T, c *imapclient.Client, mailbox string, raw []byte, o *imap.AppendOptions) *imap.AppendData {
	t.Helper()
	cmd := c.Append(mailbox, int64(len(raw)), o)
	if _, err := cmd.Write(raw); err != nil {
		t.Fatalf("append: %v", err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatalf("append: %v", err)
	}
	d, err := cmd.Wait()
	if err != nil {
		t.Fatalf("append to %s: %v", mailbox, err)
	}
	return d
}

var fetchAll = &imap.FetchOptions{
	UID: true, Flags: true, InternalDate: true, RFC822Size: true, Envelope: true,
	BodySection: []*imap.FetchItemBodySection{{Peek: true}},
}

// uidFetch runs UID FETCH 1:* on mailbox, opened read-only or not.
func uidFetch(t *testing.T, c *imapclient.Client, mailbox string, readOnly bool) (*imap.SelectData, []*imapclient.FetchMessageBuffer) {
	t.Helper()
	sel, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: readOnly}).Wait()
	if err != nil {
		t.Fatalf("select %s: %v", mailbox, err)
	}
	msgs, err := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, fetchAll).Collect()
	if err != nil {
		t.Fatalf("uid fetch %s: %v", mailbox, err)
	}
	return sel, msgs
}

func body(m *imapclient.FetchMessageBuffer) []byte {
	return m.FindBodySection(&imap.FetchItemBodySection{Peek: true})
}

var timeZero time.Time

func itoa(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

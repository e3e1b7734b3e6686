package mail_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	outmail "github.com/backlinkoutreach/outreach/internal/mail"
	"github.com/backlinkoutreach/outreach/internal/mailtest"
	"github.com/backlinkoutreach/outreach/internal/tlsutil"
)

func newServer(t *testing.T, o mailtest.Options) *mailtest.Server {
	t.Helper()
	srv, err := mailtest.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	return srv
}

func newSender(t *testing.T, srv *mailtest.Server, mode string, pool *x509.CertPool, skip bool) *outmail.Sender {
	t.Helper()
	s, err := outmail.NewSender(outmail.Config{
		Host: srv.Host(), Port: srv.Port(), TLS: mode, RootCAs: pool, SkipVerify: skip,
		Timeout: 5 * time.Second, HELO: "example.org",
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sample(step int) outmail.Message {
	m := outmail.Message{
		MessageID: outmail.MessageID("c1", "l1", step, "example.org"),
		From:      "outreach@example.org", FromName: "Ann Writer",
		To: "editor@blog.example", ToName: "Ed Itor",
		Subject:           "Guest post idea for Blog",
		Text:              "Hi Ed,\n\nA plain text pitch with ünïcode.\n",
		UnsubscribeURL:    "https://outreach.example.org/u/TOKEN123",
		UnsubscribeMailto: "outreach@example.org",
	}
	if step > 0 {
		m.Subject = outmail.FollowUpSubject(m.Subject)
		m.InReplyTo = outmail.MessageID("c1", "l1", step-1, "example.org")
		for i := 0; i < step; i++ {
			m.References = append(m.References, outmail.MessageID("c1", "l1", i, "example.org"))
		}
	}
	return m
}

func TestMessageIDIsDeterministic(t *testing.T) {
	t.Parallel()
	a := outmail.MessageID("c", "l", 2, "example.org")
	if a != outmail.MessageID("c", "l", 2, "example.org") {
		t.Fatal("same inputs gave different ids")
	}
	if a == outmail.MessageID("c", "l", 1, "example.org") || a == outmail.MessageID("c", "l2", 2, "example.org") {
		t.Fatal("different steps or leads share an id")
	}
	if !strings.HasSuffix(a, "@example.org") || strings.ContainsAny(a, "<> ") {
		t.Fatalf("bad id %q", a)
	}
}

func TestFollowUpSubject(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Guest post":         "Re: Guest post",
		"Re: Guest post":     "Re: Guest post",
		"RE: Guest post":     "RE: Guest post",
		"  spaced subject  ": "Re: spaced subject",
	} {
		if got := outmail.FollowUpSubject(in); got != want {
			t.Errorf("FollowUpSubject(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSendPlainFollowUpHeaders(t *testing.T) {
	t.Parallel()
	srv := newServer(t, mailtest.Options{})
	s := newSender(t, srv, outmail.TLSNone, nil, false)
	m := sample(2)
	m.Subject = "Re: Guest post\r\nBcc: evil@example.com"
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := srv.ByMessageID(m.MessageID)
	if len(got) != 1 {
		t.Fatalf("captured %d messages with id %s", len(got), m.MessageID)
	}
	c := got[0]
	if c.InReplyTo != outmail.MessageID("c1", "l1", 1, "example.org") {
		t.Errorf("In-Reply-To = %q", c.InReplyTo)
	}
	if len(c.References) != 2 || c.References[0] != outmail.MessageID("c1", "l1", 0, "example.org") {
		t.Errorf("References = %q", c.References)
	}
	if c.Header.Get("Bcc") != "" || !strings.HasPrefix(c.Subject, "Re: Guest post") {
		t.Errorf("header injection through the subject: subject %q, bcc %q", c.Subject, c.Header.Get("Bcc"))
	}
	lu := c.Header.Get("List-Unsubscribe")
	if !strings.Contains(lu, "<mailto:outreach@example.org?subject=unsubscribe>") || !strings.Contains(lu, "<https://outreach.example.org/u/TOKEN123>") {
		t.Errorf("List-Unsubscribe = %q", lu)
	}
	if got := c.Header.Get("List-Unsubscribe-Post"); got != "List-Unsubscribe=One-Click" {
		t.Errorf("List-Unsubscribe-Post = %q", got)
	}
	if len(c.To) != 1 || c.To[0] != "editor@blog.example" || c.From != "outreach@example.org" {
		t.Errorf("envelope from %q to %q", c.From, c.To)
	}
	mt, _, err := mime.ParseMediaType(c.Header.Get("Content-Type"))
	if err != nil || mt != "text/plain" {
		t.Errorf("content type %q (%v): a message without HTML is plain text", c.Header.Get("Content-Type"), err)
	}
	if c.Header.Get("User-Agent") != "" || c.Header.Get("X-Mailer") != "" {
		t.Errorf("the mailer announces itself")
	}
}

func TestSendHTMLAlternative(t *testing.T) {
	t.Parallel()
	srv := newServer(t, mailtest.Options{})
	s := newSender(t, srv, outmail.TLSNone, nil, false)
	m := sample(0)
	m.HTML = "<p>Hi Ed, an <b>HTML</b> pitch.</p>"
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	c := srv.ByMessageID(m.MessageID)[0]
	if c.InReplyTo != "" || c.Header.Get("References") != "" {
		t.Errorf("a first message carries threading headers")
	}
	mt, params, err := mime.ParseMediaType(c.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q: %v", c.Header.Get("Content-Type"), err)
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(c.Raw)))
	if err != nil {
		t.Fatal(err)
	}
	r := multipart.NewReader(msg.Body, params["boundary"])
	var types []string
	for {
		p, err := r.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		types = append(types, pt)
	}
	if strings.Join(types, ",") != "text/plain,text/html" {
		t.Errorf("parts %v, want text/plain then text/html", types)
	}
}

func TestSendTLSModes(t *testing.T) {
	t.Parallel()
	tlsCfg, pool, err := tlsutil.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	starttls := newServer(t, mailtest.Options{TLSConfig: tlsCfg})
	implicit := newServer(t, mailtest.Options{TLSConfig: tlsCfg, ImplicitTLS: true})
	tests := []struct {
		name    string
		srv     *mailtest.Server
		mode    string
		pool    *x509.CertPool
		skip    bool
		wantErr bool
	}{
		{"starttls verified", starttls, outmail.TLSStartTLS, pool, false, false},
		{"starttls untrusted certificate refused", starttls, outmail.TLSStartTLS, nil, false, true},
		{"starttls skip verify", starttls, outmail.TLSStartTLS, nil, true, false},
		{"implicit tls verified", implicit, outmail.TLSImplicit, pool, false, false},
		{"implicit tls untrusted certificate refused", implicit, outmail.TLSImplicit, nil, false, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := sample(0)
			m.MessageID = outmail.MessageID("tls", tt.name, i, "example.org")
			err := newSender(t, tt.srv, tt.mode, tt.pool, tt.skip).Send(context.Background(), m)
			if tt.wantErr {
				if err == nil {
					t.Fatal("sent over an unverified certificate")
				}
				if outmail.KindOf(err) != outmail.Temporary {
					t.Errorf("certificate failure kind %s, want temporary", outmail.KindOf(err))
				}
				if len(tt.srv.ByMessageID(m.MessageID)) != 0 {
					t.Error("message delivered despite the error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(tt.srv.ByMessageID(m.MessageID)) != 1 {
				t.Error("message not captured")
			}
		})
	}
	// A STARTTLS sender must not fall back to plain text.
	plain := newServer(t, mailtest.Options{})
	if err := newSender(t, plain, outmail.TLSStartTLS, pool, false).Send(context.Background(), sample(0)); err == nil {
		t.Error("starttls mode sent to a server without STARTTLS")
	}
	if plain.Count() != 0 {
		t.Error("message delivered in clear text")
	}
}

func TestSendErrorKinds(t *testing.T) {
	t.Parallel()
	srv := newServer(t, mailtest.Options{})
	s := newSender(t, srv, outmail.TLSNone, nil, false)
	srv.Reject("gone@blog.example", 550, "no such user")
	srv.Reject("full@blog.example", 452, "mailbox full, try later")

	m := sample(0)
	m.To = "gone@blog.example"
	err := s.Send(context.Background(), m)
	var se *outmail.SendError
	if !errors.As(err, &se) || se.Kind != outmail.Permanent || se.Code != 550 || se.Config {
		t.Fatalf("550: got %v", err)
	}
	// The text is logged: no recipient address in it (go-mail lists the
	// affected recipients, servers quote them).
	if strings.Contains(err.Error(), "gone@") || !strings.Contains(err.Error(), "no such user") {
		t.Errorf("550 error text %q: the address must be left out, the reason kept", err)
	}
	m.To = "full@blog.example"
	err = s.Send(context.Background(), m)
	if !errors.As(err, &se) || se.Kind != outmail.Temporary || se.Code != 452 {
		t.Fatalf("452: got %v", err)
	}
	srv.Accept("full@blog.example")
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("after Accept: %v", err)
	}
	if srv.Count() != 1 {
		t.Fatalf("captured %d, want 1", srv.Count())
	}

	// Nobody listening: temporary.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	_ = ln.Close()
	down, err := outmail.NewSender(outmail.Config{Host: "127.0.0.1", Port: addr.Port, TLS: outmail.TLSNone, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := down.Send(context.Background(), sample(0)); outmail.KindOf(err) != outmail.Temporary || err == nil {
		t.Fatalf("refused connection: got %v", err)
	}
}

func TestNewSenderRejectsBadConfig(t *testing.T) {
	t.Parallel()
	if _, err := outmail.NewSender(outmail.Config{Host: "x", Port: 25, TLS: "ssl3"}); err == nil {
		t.Error("unknown TLS mode accepted")
	}
	if _, err := outmail.NewSender(outmail.Config{Port: 25}); err == nil {
		t.Error("empty host accepted")
	}
}

// Every header line stays within RFC 5322's 998 octets, References
// included at the last step of the longest sequence with a long domain, and
// the folded References still read back as the thread.
func TestLongThreadHeadersFold(t *testing.T) {
	t.Parallel()
	srv := newServer(t, mailtest.Options{})
	s := newSender(t, srv, outmail.TLSNone, nil, false)
	const domain = "outreach.mail.a-rather-long-agency-domain.example.com"
	m := sample(0)
	m.MessageID = outmail.MessageID("01a2174a-4c4a-73e1-94fb-f65b6c59fdf2", "01a2174a-4c4a-73e1-94fb-f65b6c59fdf3", 9, domain)
	for i := range 9 {
		m.References = append(m.References, outmail.MessageID("01a2174a-4c4a-73e1-94fb-f65b6c59fdf2", "01a2174a-4c4a-73e1-94fb-f65b6c59fdf3", i, domain))
	}
	m.InReplyTo = m.References[8]
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := srv.ByMessageID(m.MessageID)
	if len(got) != 1 {
		t.Fatalf("captured %d", len(got))
	}
	for i, line := range strings.Split(string(got[0].Raw), "\r\n") {
		if len(line) > 998 {
			t.Errorf("line %d is %d octets: %.60s...", i, len(line), line)
		}
	}
	if len(got[0].References) != 9 || got[0].References[0] != m.References[0] || got[0].References[8] != m.References[8] {
		t.Errorf("References read back as %q", got[0].References)
	}
}

// One-click (List-Unsubscribe-Post) is announced only with an https link,
// as RFC 8058 requires; the link itself is listed either way.
func TestOneClickOnlyOverHTTPS(t *testing.T) {
	t.Parallel()
	srv := newServer(t, mailtest.Options{})
	s := newSender(t, srv, outmail.TLSNone, nil, false)
	m := sample(0)
	m.UnsubscribeURL = "http://127.0.0.1:8080/u/TOKEN"
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	c := srv.ByMessageID(m.MessageID)[0]
	if c.Header.Get("List-Unsubscribe-Post") != "" || !strings.Contains(c.Header.Get("List-Unsubscribe"), "<http://127.0.0.1:8080/u/TOKEN>") {
		t.Errorf("http link: List-Unsubscribe %q, Post %q", c.Header.Get("List-Unsubscribe"), c.Header.Get("List-Unsubscribe-Post"))
	}
}

// A sender address or Message-ID domain go-mail cannot use is our
// configuration's fault: the send is temporary (retried until fixed), never
// a permanent failure that would bounce and suppress the lead.
func TestUnusableSenderIsTemporary(t *testing.T) {
	t.Parallel()
	srv := newServer(t, mailtest.Options{})
	s := newSender(t, srv, outmail.TLSNone, nil, false)
	for _, mod := range []func(*outmail.Message){
		func(m *outmail.Message) { m.From = "outreach@example.com." },
		func(m *outmail.Message) { m.From = "a@@example.com" },
		func(m *outmail.Message) { m.MessageID = outmail.MessageID("c1", "l1", 0, "bücher.de") },
	} {
		m := sample(0)
		mod(&m)
		err := s.Send(context.Background(), m)
		var se *outmail.SendError
		if !errors.As(err, &se) || se.Kind != outmail.Temporary || !se.Config || !errors.Is(err, outmail.ErrSender) {
			t.Errorf("from %q, id %q: %v", m.From, m.MessageID, err)
		}
	}
	// A server refusing our sender with a 5xx: retried, marked ours.
	srv.Reject("outreach@example.org", 553, "sender not allowed")
	var refused *outmail.SendError
	if err := s.Send(context.Background(), sample(0)); !errors.As(err, &refused) || refused.Kind != outmail.Temporary || !refused.Config || refused.Code != 553 {
		t.Errorf("sender refused: %v", err)
	}
	srv.Accept("outreach@example.org")
	// A recipient go-mail cannot use is the lead's: permanent.
	m := sample(0)
	m.To = "editor@@blog.example"
	var se *outmail.SendError
	if err := s.Send(context.Background(), m); !errors.As(err, &se) || se.Kind != outmail.Permanent {
		t.Errorf("bad recipient: %v", err)
	}
	if srv.Count() != 0 {
		t.Errorf("%d messages went out", srv.Count())
	}
}

// A display name with a quote or a backslash (O"Brien) is escaped, not a
// build failure: one was classed permanent, and the lead bounced and its
// address was suppressed for a message never sent.
func TestSendDisplayNamesWithQuotes(t *testing.T) {
	t.Parallel()
	srv := newServer(t, mailtest.Options{})
	s := newSender(t, srv, outmail.TLSNone, nil, false)
	for i, name := range []string{`Ed "Bud`, `Ed Itor \`, `O"Brien`, `Jürgen "Jay" Müller`} {
		m := sample(0)
		m.MessageID = fmt.Sprintf("quote-%d@example.org", i)
		m.ToName, m.FromName = name, name+" (agency)"
		if err := s.Send(context.Background(), m); err != nil {
			t.Errorf("name %q: %v", name, err)
			continue
		}
		got := srv.ByMessageID(m.MessageID)
		if len(got) != 1 {
			t.Errorf("name %q: captured %d messages", name, len(got))
			continue
		}
		to, err := mail.ParseAddress(got[0].Header.Get("To"))
		if err != nil || to.Name != name || to.Address != m.To {
			t.Errorf("name %q: To header %q reads back as %+v (%v)", name, got[0].Header.Get("To"), to, err)
		}
		from, err := (&mail.AddressParser{WordDecoder: &mime.WordDecoder{}}).Parse(got[0].Header.Get("From"))
		if err != nil || from.Name != name+" (agency)" {
			t.Errorf("name %q: From header %q reads back as %+v (%v)", name, got[0].Header.Get("From"), from, err)
		}
	}
}

// A refusal that is about our sending set-up, not the recipient, is ours:
// retried and marked config, never permanent (each lead of the list would
// be bounced and suppressed). A refusal of the recipient stays permanent.
func TestRecipientRefusalsAboutTheSender(t *testing.T) {
	t.Parallel()
	srv := newServer(t, mailtest.Options{})
	s := newSender(t, srv, outmail.TLSNone, nil, false)
	for i, tc := range []struct {
		code   int
		enh    smtp.EnhancedCode
		msg    string
		config bool
	}{
		{550, smtp.EnhancedCode{5, 7, 26}, "Unauthenticated email from example.org is not accepted due to domain's DMARC policy", true},
		{550, smtp.EnhancedCode{5, 7, 23}, "SPF validation failed", true},
		{554, smtp.EnhancedCode{5, 7, 1}, "Relay access denied", true},
		{530, smtp.EnhancedCode{5, 7, 0}, "Authentication required", true},
		{535, smtp.EnhancedCode{5, 7, 8}, "Authentication credentials invalid", true},
		{550, smtp.EnhancedCode{5, 7, 1}, "Message rejected as spam by Content Filtering", false},
		{550, smtp.EnhancedCode{5, 1, 1}, "User unknown", false},
	} {
		rcpt := fmt.Sprintf("r%d@blog.example", i)
		srv.RejectWith(rcpt, tc.code, tc.enh, tc.msg)
		m := sample(0)
		m.To = rcpt
		var se *outmail.SendError
		err := s.Send(context.Background(), m)
		if !errors.As(err, &se) {
			t.Fatalf("%d %v: %v", tc.code, tc.enh, err)
		}
		if tc.config && (se.Kind != outmail.Temporary || !se.Config) || !tc.config && (se.Kind != outmail.Permanent || se.Config) {
			t.Errorf("%d %v %q: kind %v, config %v", tc.code, tc.enh, tc.msg, se.Kind, se.Config)
		}
	}
	if srv.Count() != 0 {
		t.Errorf("%d messages went out", srv.Count())
	}
}

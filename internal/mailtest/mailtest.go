// Package mailtest is an in-process SMTP server (go-smtp) that captures every
// message it accepts. Tests use it as the real other end of the engine's SMTP
// conversations: they list messages by Message-ID, wait for a count, stop and
// restart the server on the same port to simulate an outage, and make it
// answer 4xx or 5xx for chosen recipients. Captured messages live behind the
// Store interface so the dev mailbox can keep them on disk.
package mailtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Message is one accepted message.
type Message struct {
	// MessageID, InReplyTo and References are without angle brackets.
	MessageID  string
	InReplyTo  string
	References []string
	Subject    string
	// From and To are the SMTP envelope.
	From       string
	To         []string
	Header     mail.Header
	Raw        []byte
	ReceivedAt time.Time
}

// Store keeps captured messages. Implementations must be safe for concurrent
// use.
type Store interface {
	Add(m Message) error
	All() []Message
	Count() int
}

// MemStore keeps messages in memory.
type MemStore struct {
	mu   sync.Mutex
	msgs []Message
}

// Add appends m.
func (s *MemStore) Add(m Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	return nil
}

// All returns a copy of every message, oldest first.
func (s *MemStore) All() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Count is the number of stored messages.
func (s *MemStore) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// Options configure a Server.
type Options struct {
	// Addr is host:port; empty listens on a free port of 127.0.0.1.
	Addr string
	// Store receives messages; nil uses a MemStore.
	Store Store
	// TLSConfig enables STARTTLS, or implicit TLS when ImplicitTLS.
	TLSConfig   *tls.Config
	ImplicitTLS bool
	// Domain is announced in the greeting.
	Domain string
	// MaxMessageBytes bounds one message (default 25 MiB).
	MaxMessageBytes int64
}

// Server is a running capture server.
type Server struct {
	opts  Options
	store Store
	addr  string

	mu       sync.Mutex
	srv      *smtp.Server
	ln       net.Listener
	serveErr chan error
	reject   map[string]*smtp.SMTPError
	changed  chan struct{} // closed and replaced on every accepted message
	// inTx counts sessions between MAIL FROM and the end of DATA: Stop
	// lets them finish, and cuts idle connections at once.
	inTx int
}

// Start listens and serves until Stop.
func Start(o Options) (*Server, error) {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.Store == nil {
		o.Store = &MemStore{}
	}
	if o.Domain == "" {
		o.Domain = "localhost"
	}
	if o.MaxMessageBytes == 0 {
		o.MaxMessageBytes = 25 << 20
	}
	s := &Server{opts: o, store: o.Store, addr: o.Addr, reject: map[string]*smtp.SMTPError{}, changed: make(chan struct{})}
	if err := s.Start(); err != nil {
		return nil, err
	}
	return s, nil
}

// Start (re)opens the listener on the server's address; after Stop it
// comes back on the same port.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return errors.New("mailtest: already running")
	}
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("mailtest: listen %s: %w", s.addr, err)
	}
	s.addr = ln.Addr().String()
	if s.opts.ImplicitTLS {
		if s.opts.TLSConfig == nil {
			_ = ln.Close()
			return errors.New("mailtest: implicit TLS needs a TLS config")
		}
		ln = tls.NewListener(ln, s.opts.TLSConfig)
	}
	srv := smtp.NewServer(&backend{s: s})
	srv.Domain = s.opts.Domain
	srv.MaxMessageBytes = s.opts.MaxMessageBytes
	srv.MaxRecipients = 100
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = log.New(io.Discard, "", 0)
	if !s.opts.ImplicitTLS {
		srv.TLSConfig = s.opts.TLSConfig
	}
	// Plain connections carry no credentials here: accept AUTH without TLS
	// only when no TLS is configured at all.
	srv.AllowInsecureAuth = s.opts.TLSConfig == nil
	s.srv = srv
	s.ln = ln
	errc := make(chan error, 1)
	s.serveErr = errc
	go func() { errc <- srv.Serve(ln) }()
	return nil
}

// Stop closes the listener and lets mail transactions in progress finish
// (up to 10 s), like a server taken down for maintenance: new connections
// are refused, a message being transferred is completed, idle connections
// are cut.
func (s *Server) Stop() error {
	s.mu.Lock()
	srv, ln, errc := s.srv, s.ln, s.serveErr
	s.srv, s.ln = nil, nil
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	// Closing the listener ourselves (not srv.Shutdown) refuses new
	// connections at once; srv.Close then cuts the rest. go-smtp's Shutdown
	// and Close both close the same channel after an unsynchronised check,
	// so running them concurrently can panic.
	_ = ln.Close()
	deadline := time.Now().Add(10 * time.Second)
	for s.transactions() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	err := srv.Close()
	if errors.Is(err, net.ErrClosed) || errors.Is(err, smtp.ErrServerClosed) {
		err = nil
	}
	if serveErr := <-errc; err == nil && serveErr != nil &&
		!errors.Is(serveErr, smtp.ErrServerClosed) && !errors.Is(serveErr, net.ErrClosed) {
		err = serveErr
	}
	return err
}

func (s *Server) transactions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inTx
}

func (s *Server) txDelta(d int) {
	s.mu.Lock()
	s.inTx += d
	s.mu.Unlock()
}

// Addr is host:port.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Host is the listening host.
func (s *Server) Host() string {
	h, _, _ := net.SplitHostPort(s.Addr())
	return h
}

// Port is the listening port.
func (s *Server) Port() int {
	_, p, _ := net.SplitHostPort(s.Addr())
	n, _ := strconv.Atoi(p)
	return n
}

// Store is where messages go.
func (s *Server) Store() Store { return s.store }

// Reject makes MAIL FROM or RCPT TO for addr answer code (4xx or 5xx)
// with msg until Accept is called for it.
func (s *Server) Reject(addr string, code int, msg string) {
	enh := smtp.EnhancedCode{5, 1, 1}
	if code < 500 {
		enh = smtp.EnhancedCode{4, 2, 0}
	}
	s.RejectWith(addr, code, enh, msg)
}

// RejectWith is Reject with the enhanced status code enh (RFC 3463).
func (s *Server) RejectWith(addr string, code int, enh smtp.EnhancedCode, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reject[strings.ToLower(addr)] = &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: msg}
}

// Accept lifts a Reject.
func (s *Server) Accept(addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.reject, strings.ToLower(addr))
}

// Messages returns every captured message, oldest first.
func (s *Server) Messages() []Message { return s.store.All() }

// Count is the number of captured messages.
func (s *Server) Count() int { return s.store.Count() }

// ByMessageID returns the messages carrying id (with or without brackets).
func (s *Server) ByMessageID(id string) []Message {
	id = trimBrackets(id)
	var out []Message
	for _, m := range s.store.All() {
		if m.MessageID == id {
			out = append(out, m)
		}
	}
	return out
}

// CountByMessageID maps each Message-ID to how many times it arrived.
func (s *Server) CountByMessageID() map[string]int {
	out := map[string]int{}
	for _, m := range s.store.All() {
		out[m.MessageID]++
	}
	return out
}

// WaitForCount waits until at least n messages were captured, or ctx ends.
func (s *Server) WaitForCount(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if c := s.store.Count(); c >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("mailtest: %d of %d messages: %w", s.store.Count(), n, ctx.Err())
		case <-ch:
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (s *Server) rejection(addr string) *smtp.SMTPError {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reject[strings.ToLower(addr)]
}

func (s *Server) accept(m Message) error {
	if err := s.store.Add(m); err != nil {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "cannot store the message"}
	}
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return nil
}

type backend struct{ s *Server }

func (b *backend) NewSession(_ *smtp.Conn) (smtp.Session, error) {
	return &session{s: b.s}, nil
}

type session struct {
	s    *Server
	from string
	to   []string
	inTx bool
}

func (se *session) endTx() {
	if se.inTx {
		se.inTx = false
		se.s.txDelta(-1)
	}
}

func (se *session) Reset() {
	se.from, se.to = "", nil
	se.endTx()
}

func (se *session) Logout() error {
	se.endTx()
	return nil
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if rej := se.s.rejection(from); rej != nil {
		return rej
	}
	se.from = from
	if !se.inTx {
		se.inTx = true
		se.s.txDelta(1)
	}
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if rej := se.s.rejection(to); rej != nil {
		return rej
	}
	se.to = append(se.to, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	defer se.endTx()
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := Parse(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "malformed message"}
	}
	m.From, m.To = se.from, append([]string(nil), se.to...)
	m.ReceivedAt = time.Now().UTC()
	return se.s.accept(m)
}

// Parse reads the headers of a raw RFC 5322 message.
func Parse(raw []byte) (Message, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Message{}, fmt.Errorf("parse message: %w", err)
	}
	dec := mime.WordDecoder{}
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		subject = msg.Header.Get("Subject")
	}
	var refs []string
	for _, f := range strings.Fields(msg.Header.Get("References")) {
		refs = append(refs, trimBrackets(f))
	}
	return Message{
		MessageID:  trimBrackets(msg.Header.Get("Message-Id")),
		InReplyTo:  trimBrackets(msg.Header.Get("In-Reply-To")),
		References: refs,
		Subject:    subject,
		Header:     msg.Header,
		Raw:        raw,
	}, nil
}

func trimBrackets(s string) string {
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(s), "<"), ">")
}

// Package imaptest runs an in-process IMAP server (go-imap's imapserver over
// imapmemserver) for tests and benchmarks of reply polling, and a TCP proxy
// that can cut a connection after a number of bytes. Messages are added over
// the real protocol with APPEND.
package imaptest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/backlinkoutreach/outreach/internal/proccpu"
)

// Options configure a server.
type Options struct {
	Username, Password string
	// Mailboxes are created empty; INBOX when none is given.
	Mailboxes []string
	// TLS is "" (plain, STARTTLS offered), or "tls" (implicit TLS).
	TLS string
}

// Server is a running IMAP server.
type Server struct {
	Addr     string
	Host     string
	Port     int
	Username string
	Password string
	// Cert is the server's self-signed certificate (for clients that
	// should trust it).
	Cert *x509.Certificate `json:"-"`

	user *imapmemserver.User
	srv  *imapserver.Server
	tls  bool
	proc *os.Process // the server's process (StartProcess)
}

// CPU is the CPU time (user and system) the server's process has used so
// far: zero for an in-process server, or where /proc cannot tell.
func (s *Server) CPU() time.Duration {
	if s.proc == nil {
		return 0
	}
	d, _ := proccpu.Of(s.proc.Pid)
	return d
}

// Start runs a server on 127.0.0.1 until the test ends.
func Start(tb testing.TB, o Options) *Server {
	tb.Helper()
	s, err := serve(o)
	if err != nil {
		tb.Fatalf("imaptest: %v", err)
	}
	tb.Cleanup(func() { _ = s.srv.Close() })
	return s
}

// serve starts a server on 127.0.0.1 and answers it; closing s.srv stops
// it.
func serve(o Options) (*Server, error) {
	if o.Username == "" {
		o.Username, o.Password = "replies@outreach.test", "secret"
	}
	if len(o.Mailboxes) == 0 {
		o.Mailboxes = []string{"INBOX"}
	}
	cert, leaf, err := selfSigned()
	if err != nil {
		return nil, err
	}
	mem := imapmemserver.New()
	user := imapmemserver.NewUser(o.Username, o.Password)
	for _, mb := range o.Mailboxes {
		if err := user.Create(mb, nil); err != nil {
			return nil, fmt.Errorf("create %s: %w", mb, err)
		}
	}
	mem.AddUser(user)
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		TLSConfig:    tlsCfg,
		InsecureAuth: true,
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		Logger:       log.New(io.Discard, "", 0),
	})
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if o.TLS == "tls" {
		ln = tls.NewListener(ln, tlsCfg)
	}
	go func() { _ = srv.Serve(ln) }()
	addr := ln.Addr().(*net.TCPAddr)
	return &Server{
		Addr: addr.String(), Host: addr.IP.String(), Port: addr.Port,
		Username: o.Username, Password: o.Password, Cert: leaf,
		user: user, srv: srv, tls: o.TLS == "tls",
	}, nil
}

// envChild, set in a child started by StartProcess, holds the server's
// options as JSON.
const envChild = "IMAPTEST_SERVE"

// StartProcess runs a plain-text server in a process of its own (this test
// binary again) until the test ends: as in production, the server's work
// and garbage are not the tested process's. The package's TestMain must
// call ServeIfChild first. Recreate is not available.
func StartProcess(tb testing.TB, o Options) *Server {
	tb.Helper()
	if o.TLS != "" {
		tb.Fatal("imaptest: StartProcess serves plain text only")
	}
	opts, err := json.Marshal(o) //nolint:gosec // the test server's own made-up password, handed to its child process
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.CommandContext(context.Background(), os.Args[0], "-test.run=^$") //nolint:gosec // this test binary again
	cmd.Env = append(os.Environ(), envChild+"="+string(opts))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("imaptest: start server process: %v", err)
	}
	tb.Cleanup(func() {
		_ = stdin.Close() // the child stops when its stdin closes
		_ = cmd.Wait()
	})
	var s Server
	if err := json.NewDecoder(stdout).Decode(&s); err != nil {
		_ = cmd.Process.Kill()
		tb.Fatalf("imaptest: server process: %v", err)
	}
	s.proc = cmd.Process
	return &s
}

// ServeIfChild serves IMAP and exits when this process was started by
// StartProcess; otherwise it returns at once. The server stops when the
// parent closes the child's stdin (or dies).
func ServeIfChild() {
	raw, ok := os.LookupEnv(envChild)
	if !ok {
		return
	}
	var o Options
	if err := json.Unmarshal([]byte(raw), &o); err != nil {
		log.Fatalf("imaptest: options: %v", err)
	}
	s, err := serve(o)
	if err != nil {
		log.Fatalf("imaptest: %v", err)
	}
	if err := json.NewEncoder(os.Stdout).Encode(s); err != nil { //nolint:gosec // the test server's address and made-up password, to the parent
		log.Fatalf("imaptest: %v", err)
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = s.srv.Close()
	os.Exit(0)
}

// Client logs in over a plain connection (implicit TLS servers: TLS).
func (s *Server) Client(tb testing.TB) *imapclient.Client {
	tb.Helper()
	var c *imapclient.Client
	var err error
	if s.tls {
		pool := x509.NewCertPool()
		pool.AddCert(s.Cert)
		c, err = imapclient.DialTLS(s.Addr, &imapclient.Options{TLSConfig: &tls.Config{RootCAs: pool, ServerName: s.Host, MinVersion: tls.VersionTLS12}})
	} else {
		c, err = imapclient.DialInsecure(s.Addr, nil)
	}
	if err != nil {
		tb.Fatalf("imaptest: dial: %v", err)
	}
	if err := c.Login(s.Username, s.Password).Wait(); err != nil {
		tb.Fatalf("imaptest: login: %v", err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Append adds raw to mailbox with APPEND and answers its UID.
func (s *Server) Append(tb testing.TB, c *imapclient.Client, mailbox string, raw []byte, at time.Time) imap.UID {
	tb.Helper()
	cmd := c.Append(mailbox, int64(len(raw)), &imap.AppendOptions{Time: at})
	if _, err := cmd.Write(raw); err != nil {
		tb.Fatalf("imaptest: append: %v", err)
	}
	if err := cmd.Close(); err != nil {
		tb.Fatalf("imaptest: append: %v", err)
	}
	data, err := cmd.Wait()
	if err != nil {
		tb.Fatalf("imaptest: append: %v", err)
	}
	return data.UID
}

// Recreate deletes and re-creates a mailbox, empty and with a new
// UIDVALIDITY, as a server does when it rebuilds a mailbox.
func (s *Server) Recreate(tb testing.TB, mailbox string) {
	tb.Helper()
	if s.user == nil {
		tb.Fatal("imaptest: Recreate needs an in-process server")
	}
	if err := s.user.Delete(mailbox); err != nil {
		tb.Fatalf("imaptest: delete %s: %v", mailbox, err)
	}
	if err := s.user.Create(mailbox, nil); err != nil {
		tb.Fatalf("imaptest: create %s: %v", mailbox, err)
	}
}

// Flags answers the flags of every message of mailbox, by UID: tests check
// that polling changes none (no \Seen, no \Deleted).
func (s *Server) Flags(tb testing.TB, c *imapclient.Client, mailbox string) map[imap.UID][]imap.Flag {
	tb.Helper()
	if _, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		tb.Fatalf("imaptest: examine: %v", err)
	}
	msgs, err := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
	if err != nil {
		tb.Fatalf("imaptest: fetch flags: %v", err)
	}
	out := map[imap.UID][]imap.Flag{}
	for _, m := range msgs {
		out[m.UID] = m.Flags
	}
	return out
}

func selfSigned() (tls.Certificate, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "imaptest"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, leaf, nil
}

// Proxy forwards TCP connections to a target. While Cut is armed, the next
// connection is closed after that many bytes flowed from the server to the
// client: a server dropping the connection mid-FETCH.
type Proxy struct {
	Addr     string
	onClient atomic.Pointer[func([]byte)]
	target   string
	ln       net.Listener
	cut      atomic.Int64
	cuts     atomic.Int64
	wg       sync.WaitGroup
}

// StartProxy runs a proxy to target until the test ends.
func StartProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("imaptest: proxy listen: %v", err)
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, ln: ln}
	go p.serve()
	tb.Cleanup(func() {
		_ = ln.Close()
		p.wg.Wait()
	})
	return p
}

// OnClient makes fn see each chunk a client sends, before the server gets
// it, on connections made from now on; nil stops it.
func (p *Proxy) OnClient(fn func(data []byte)) {
	if fn == nil {
		p.onClient.Store(nil)
		return
	}
	p.onClient.Store(&fn)
}

// CutAfter arms the proxy: the next connection is dropped after n bytes
// from the server.
func (p *Proxy) CutAfter(n int64) { p.cut.Store(n) }

// Cuts counts connections the proxy dropped.
func (p *Proxy) Cuts() int64 { return p.cuts.Load() }

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		limit := p.cut.Swap(0)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.pipe(c, limit)
		}()
	}
}

func (p *Proxy) pipe(client net.Conn, limit int64) {
	defer func() { _ = client.Close() }()
	server, err := (&net.Dialer{}).DialContext(context.Background(), "tcp", p.target)
	if err != nil {
		return
	}
	defer func() { _ = server.Close() }()
	done := make(chan struct{}, 2)
	go func() {
		var src io.Reader = client
		if watch := p.onClient.Load(); watch != nil {
			src = watchedReader{client, *watch}
		}
		_, _ = io.Copy(server, src)
		done <- struct{}{}
	}()
	go func() {
		var src io.Reader = server
		if limit > 0 {
			src = io.LimitReader(server, limit)
		}
		n, _ := io.Copy(client, src)
		if limit > 0 && n >= limit {
			p.cuts.Add(1)
		}
		done <- struct{}{}
	}()
	<-done
	// Either side ending (or the cut) ends both.
	_ = client.Close()
	_ = server.Close()
	<-done
}

// watchedReader shows each chunk read to a function first.
type watchedReader struct {
	r     io.Reader
	watch func([]byte)
}

func (w watchedReader) Read(b []byte) (int, error) {
	n, err := w.r.Read(b)
	if n > 0 {
		w.watch(b[:n])
	}
	return n, err
}

package devmail

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-smtp"

	"github.com/backlinkoutreach/outreach/internal/tlsutil"
)

// Options configure a Mailbox.
type Options struct {
	// DataDir is OUTREACH_DATA_DIR; the mailbox lives in its "mailbox"
	// directory.
	DataDir string
	// SMTPAddr and IMAPAddr are loopback host:port; empty picks a free port
	// on 127.0.0.1.
	SMTPAddr string
	IMAPAddr string
	// IMAPUser and IMAPPassword are the only credentials IMAP LOGIN
	// accepts. When IMAPUser is empty, any user name and password log in.
	IMAPUser     string
	IMAPPassword string
	// StartTLS offers STARTTLS on both servers with a certificate made
	// afresh at every start, for clients configured for it
	// (SMTP_TLS=starttls with SMTP_TLS_SKIP_VERIFY). Off by default: a
	// client that upgrades whenever it can and verifies the certificate
	// (net/smtp) would fail against it.
	StartTLS bool
	// Logger receives the servers' events; nil discards them.
	Logger *slog.Logger
}

// ListenError says which dev mailbox server could not listen, and where.
// errors.Is(err, syscall.EADDRINUSE) holds for a busy port.
type ListenError struct {
	Server string // "SMTP" or "IMAP"
	Addr   string
	Err    error
}

func (e *ListenError) Error() string {
	if isAddrInUse(e.Err) {
		return fmt.Sprintf("dev mailbox %s server: address %s is already in use", e.Server, e.Addr)
	}
	return fmt.Sprintf("dev mailbox %s server: cannot listen on %s: %v", e.Server, e.Addr, e.Err)
}

func (e *ListenError) Unwrap() error { return e.Err }

// Mailbox is the running dev mailbox: a capturing SMTP server, an IMAP
// server holding the inbox, and their data on disk.
type Mailbox struct {
	log  *slog.Logger
	sent *SentBox
	imap *imapStore

	smtpSrv     *smtp.Server
	smtpBackend *smtpBackend
	smtpLn      net.Listener
	imapSrv     *imapserver.Server
	imapLn      net.Listener
	served      sync.WaitGroup
	roots       *x509.CertPool

	closeOnce sync.Once
	closeErr  error
}

// Start listens on both addresses, opens the data under DataDir and serves
// until Close. A busy port is a *ListenError naming the server and the
// address; nothing is left running after an error.
func Start(ctx context.Context, o Options) (*Mailbox, error) {
	if o.DataDir == "" {
		return nil, errors.New("dev mailbox: a data directory is required")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	smtpLn, err := listen(ctx, "SMTP", o.SMTPAddr)
	if err != nil {
		return nil, err
	}
	imapLn, err := listen(ctx, "IMAP", o.IMAPAddr)
	if err != nil {
		_ = smtpLn.Close()
		return nil, err
	}
	fail := func(err error) (*Mailbox, error) {
		_ = smtpLn.Close()
		_ = imapLn.Close()
		return nil, err
	}
	root := filepath.Join(o.DataDir, "mailbox")
	sent, err := openSent(filepath.Join(root, "sent"), log)
	if err != nil {
		return fail(fmt.Errorf("dev mailbox: %w", err))
	}
	store, err := openIMAPStore(filepath.Join(root, "imap"), log)
	if err != nil {
		_ = sent.close()
		return fail(fmt.Errorf("dev mailbox: %w", err))
	}
	m := &Mailbox{log: log, sent: sent, imap: store, smtpLn: smtpLn, imapLn: imapLn}
	var tlsCfg *tls.Config
	if o.StartTLS {
		tlsCfg, m.roots, err = tlsutil.SelfSigned()
		if err != nil {
			_ = sent.close()
			_ = store.close()
			return fail(fmt.Errorf("dev mailbox: %w", err))
		}
	}
	m.smtpBackend = &smtpBackend{box: sent, log: log}
	srv := smtp.NewServer(m.smtpBackend)
	srv.Domain = "localhost"
	srv.MaxMessageBytes = maxMessageBytes
	srv.MaxRecipients = 1000
	srv.ReadTimeout = 5 * time.Minute
	srv.WriteTimeout = time.Minute
	srv.AllowInsecureAuth = true
	srv.TLSConfig = tlsCfg
	srv.ErrorLog = printfLogger{log: log, server: "smtp"}
	m.smtpSrv = srv

	login := anyLogin
	if o.IMAPUser != "" {
		login = fixedLogin(o.IMAPUser, o.IMAPPassword)
	}
	m.imapSrv = imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &imapSession{store: store, login: login}, nil, nil
		},
		Caps: imap.CapSet{
			imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}, imap.CapNamespace: {}, imap.CapUIDPlus: {},
			imap.CapMove: {}, imap.CapListStatus: {}, imap.CapStatusSize: {}, imap.CapSearchRes: {},
		},
		TLSConfig:    tlsCfg,
		InsecureAuth: true,
		Logger:       printfLogger{log: log, server: "imap"},
	})

	m.served.Add(2)
	go func() {
		defer m.served.Done()
		_ = m.smtpSrv.Serve(smtpLn)
	}()
	go func() {
		defer m.served.Done()
		_ = m.imapSrv.Serve(imapLn)
	}()
	log.Info("dev mailbox started", "smtp", m.SMTPAddr(), "imap", m.IMAPAddr(),
		"captured", sent.Count(), "dir", root)
	return m, nil
}

// listen opens a loopback listener. The servers take any SMTP credentials
// and plain-text IMAP passwords, so they must not be reachable from
// elsewhere.
func listen(ctx context.Context, server, addr string) (net.Listener, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, &ListenError{Server: server, Addr: addr, Err: err}
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, &ListenError{Server: server, Addr: addr, Err: errors.New("not a loopback address (the dev mailbox accepts any credentials)")}
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, &ListenError{Server: server, Addr: addr, Err: err}
	}
	return ln, nil
}

// SMTPAddr is the SMTP server's host:port.
func (m *Mailbox) SMTPAddr() string { return m.smtpLn.Addr().String() }

// IMAPAddr is the IMAP server's host:port.
func (m *Mailbox) IMAPAddr() string { return m.imapLn.Addr().String() }

// SMTPPort and IMAPPort are the listening ports (for SMTP_PORT and
// IMAP_PORT).
func (m *Mailbox) SMTPPort() int { return portOf(m.smtpLn) }

// IMAPPort is the IMAP server's port.
func (m *Mailbox) IMAPPort() int { return portOf(m.imapLn) }

func portOf(ln net.Listener) int {
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	n, _ := strconv.Atoi(p)
	return n
}

// RootCAs trusts the STARTTLS certificate (nil without Options.StartTLS).
func (m *Mailbox) RootCAs() *x509.CertPool { return m.roots }

// Sent is the captured outgoing mail.
func (m *Mailbox) Sent() *SentBox { return m.sent }

// Inject delivers raw into INBOX exactly as an APPEND would: next UID,
// internal date at (now when zero), no flags, and an EXISTS to every
// client that has INBOX selected or is idling on it.
func (m *Mailbox) Inject(ctx context.Context, raw []byte, at time.Time) (*imap.AppendData, error) {
	return m.Append(ctx, "INBOX", raw, nil, at)
}

// Append is APPEND to any mailbox, from Go.
func (m *Mailbox) Append(ctx context.Context, mailbox string, raw []byte, flags []imap.Flag, at time.Time) (*imap.AppendData, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(raw) > appendLimit {
		return nil, fmt.Errorf("dev mailbox: append to %s: message of %d bytes exceeds %d", mailbox, len(raw), appendLimit)
	}
	d, err := m.imap.appendMsg(mailbox, raw, flags, at)
	if err != nil {
		return nil, fmt.Errorf("dev mailbox: append to %s: %w", mailbox, err)
	}
	return d, nil
}

// Close stops both servers and closes the data. A message being received
// over SMTP gets up to five seconds to finish; IMAP connections are cut.
func (m *Mailbox) Close() error {
	m.closeOnce.Do(func() {
		_ = m.smtpLn.Close()
		_ = m.imapLn.Close()
		deadline := time.Now().Add(5 * time.Second)
		for m.smtpBackend.inData.Load() > 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		// Both Close calls also close the listeners, already closed above.
		_ = m.smtpSrv.Close()
		_ = m.imapSrv.Close()
		m.served.Wait()
		m.closeErr = errors.Join(m.sent.close(), m.imap.close())
		m.log.Info("dev mailbox stopped")
	})
	return m.closeErr
}

func isAddrInUse(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }

func anyLogin(_, _ string) error { return nil }

func fixedLogin(user, password string) func(string, string) error {
	return func(u, p string) error {
		userOK := subtle.ConstantTimeCompare([]byte(u), []byte(user)) == 1
		passOK := subtle.ConstantTimeCompare([]byte(p), []byte(password)) == 1
		if !userOK || !passOK {
			return imapserver.ErrAuthFailed
		}
		return nil
	}
}

// printfLogger takes the servers' own log lines (panics, accept errors,
// internal errors) into slog.
type printfLogger struct {
	log    *slog.Logger
	server string
}

func (p printfLogger) Printf(format string, v ...any) {
	p.log.Warn("dev mailbox "+p.server+": "+strings.TrimSpace(fmt.Sprintf(format, v...)), "server", p.server)
}

func (p printfLogger) Println(v ...any) {
	p.log.Warn("dev mailbox "+p.server+": "+strings.TrimSpace(fmt.Sprintln(v...)), "server", p.server)
}

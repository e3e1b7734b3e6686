package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/backlinkoutreach/outreach/internal/config"
	"github.com/backlinkoutreach/outreach/models"
)

// TLS modes of Config.TLS.
const (
	TLSStartTLS = "starttls"
	TLSImplicit = "tls"
	TLSNone     = "none"
)

// Config is how to reach the SMTP server.
type Config struct {
	Host     string
	Port     int
	Username string
	Password string
	// TLS is starttls, tls (implicit) or none.
	TLS        string
	SkipVerify bool
	// RootCAs replaces the system roots (tests with a self-signed server).
	RootCAs *x509.CertPool
	// Timeout bounds each network step of a conversation (default 30 s).
	Timeout time.Duration
	// HELO is the name announced to the server; default the From domain.
	HELO string
}

// ConfigFrom reads the SMTP settings of the service configuration.
func ConfigFrom(c config.Config) Config {
	return Config{
		Host: c.SMTPHost, Port: c.SMTPPort, Username: c.SMTPUsername, Password: c.SMTPPassword,
		TLS: c.SMTPTLS, SkipVerify: c.SMTPTLSSkipVerify, HELO: models.EmailDomain(c.SMTPFrom),
	}
}

// Kind says what a failed send means for the ledger.
type Kind int

// Failure kinds.
const (
	// Temporary: the message certainly did not reach the server (4xx, no
	// connection, broken before the data was complete); retry later.
	Temporary Kind = iota + 1
	// Permanent: the server refused the message with a 5xx; never retry.
	Permanent
	// Ambiguous: the connection broke after the whole message was handed
	// over and before the server answered; it may have been delivered, so
	// it must not be sent again.
	Ambiguous
)

func (k Kind) String() string {
	switch k {
	case Temporary:
		return "temporary"
	case Permanent:
		return "permanent"
	case Ambiguous:
		return "ambiguous"
	default:
		return "unknown"
	}
}

// SendError is a classified send failure.
type SendError struct {
	Kind Kind
	// Code is the SMTP reply code, 0 when the server gave none.
	Code     int
	Enhanced string
	Err      error
	// Config marks a failure of our side that every send will meet until
	// the operator fixes the configuration: the sender address cannot be
	// used, or the server refuses the session, the login or our sender
	// with a 5xx. It is retried (a lead is never bounced for it), and
	// worth an alert.
	Config bool
}

// Error describes the failure without the recipient's address (go-mail
// lists the affected recipients, and servers quote them in their replies):
// the text is logged, and the attempt row names the recipient anyway.
func (e *SendError) Error() string {
	msg := addressRe.ReplaceAllString(fmt.Sprint(e.Err), "<recipient>")
	if e.Code != 0 {
		return fmt.Sprintf("smtp %s failure (%d): %s", e.Kind, e.Code, msg)
	}
	return fmt.Sprintf("smtp %s failure: %s", e.Kind, msg)
}

// addressRe matches an e-mail address in error text.
var addressRe = regexp.MustCompile(`[A-Za-z0-9.!#$%&'*+/=?^_{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+`)

func (e *SendError) Unwrap() error { return e.Err }

// KindOf returns the kind of a Send error; Temporary for errors Send did
// not classify.
func KindOf(err error) Kind {
	var se *SendError
	if errors.As(err, &se) {
		return se.Kind
	}
	return Temporary
}

// Sender sends messages over SMTP, one connection per message.
type Sender struct {
	cfg  Config
	opts []gomail.Option
}

// NewSender checks cfg and prepares the client options.
func NewSender(cfg Config) (*Sender, error) {
	if cfg.Host == "" || cfg.Port <= 0 {
		return nil, errors.New("smtp: host and port are required")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	tlsCfg := &tls.Config{
		ServerName:         cfg.Host,
		InsecureSkipVerify: cfg.SkipVerify, //nolint:gosec // SMTP_TLS_SKIP_VERIFY, documented as development only
		RootCAs:            cfg.RootCAs,
		MinVersion:         tls.VersionTLS12,
	}
	opts := []gomail.Option{
		gomail.WithPort(cfg.Port),
		gomail.WithTimeout(cfg.Timeout),
		gomail.WithTLSConfig(tlsCfg),
		// Each message gets a fresh connection: NOOP and RSET would only
		// add round trips, and a failing RSET after a delivered message
		// must not look like a failed send.
		gomail.WithoutNoop(),
	}
	switch cfg.TLS {
	case TLSStartTLS, "":
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		return nil, fmt.Errorf("smtp: TLS mode %q: must be starttls, tls or none", cfg.TLS)
	}
	if cfg.HELO != "" {
		opts = append(opts, gomail.WithHELO(cfg.HELO))
	}
	if cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(cfg.Username), gomail.WithPassword(cfg.Password))
	}
	return &Sender{cfg: cfg, opts: opts}, nil
}

// Send delivers m. A nil error means the server accepted the message; any
// other error is a *SendError.
func (s *Sender) Send(ctx context.Context, m Message) error {
	msg, err := Build(m)
	if errors.Is(err, ErrSender) {
		// Our configuration, not the recipient: retried (with backoff)
		// until the operator fixes it, like a 5xx to MAIL FROM.
		return &SendError{Kind: Temporary, Err: err, Config: true}
	}
	if err != nil {
		// A message that cannot be built will not build on retry either.
		return &SendError{Kind: Permanent, Err: err}
	}
	client, err := gomail.NewClient(s.cfg.Host, s.opts...)
	if err != nil {
		return &SendError{Kind: Permanent, Err: fmt.Errorf("smtp client: %w", err)}
	}
	conn, err := client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return classifyDial(err)
	}
	sendErr := client.SendWithSMTPClient(conn, msg)
	closeErr := client.CloseWithSMTPClient(conn)
	if msg.IsDelivered() {
		// The server answered 250 to the data: delivered, whatever
		// happened while hanging up.
		return nil
	}
	if sendErr == nil {
		sendErr = closeErr
	}
	return classifySend(sendErr)
}

func classifyDial(err error) error {
	// A server can refuse the session itself (554 in the greeting, 5xx to
	// AUTH); that is still no delivery, and nothing was handed over, so
	// retrying is safe and lets an operator fix credentials.
	var se *gomail.SendError
	code := 0
	if errors.As(err, &se) {
		code = se.ErrorCode()
	}
	return &SendError{Kind: Temporary, Code: code, Err: fmt.Errorf("connect: %w", err), Config: code >= 500}
}

func classifySend(err error) error {
	var se *gomail.SendError
	if !errors.As(err, &se) {
		return &SendError{Kind: Temporary, Err: err}
	}
	code := se.ErrorCode()
	switch {
	case code >= 500 && (se.Reason == gomail.ErrSMTPMailFrom || senderRefused(code, se.EnhancedStatusCode(), se.Error())):
		// The server refuses our sender, not the recipient: bouncing the
		// lead would punish it for our configuration. Retry (with backoff)
		// until the operator fixes it.
		return &SendError{Kind: Temporary, Code: code, Enhanced: se.EnhancedStatusCode(), Err: err, Config: true}
	case code >= 500:
		return &SendError{Kind: Permanent, Code: code, Enhanced: se.EnhancedStatusCode(), Err: err}
	case code >= 400:
		return &SendError{Kind: Temporary, Code: code, Enhanced: se.EnhancedStatusCode(), Err: err}
	case se.Reason == gomail.ErrSMTPDataClose:
		// The final "." was written but no reply came back.
		return &SendError{Kind: Ambiguous, Err: err}
	default:
		return &SendError{Kind: Temporary, Err: err}
	}
}

// senderRefused reports a 5xx, to a recipient or to the message, that is
// about our sending set-up and not the recipient: authentication required
// or refused (530, 5.7.0 with "auth", 5.7.8), relaying denied (5.7.1 with
// "relay": the submission server does not let us send), or the
// recipient's server refusing our domain's SPF, DKIM or DMARC, reverse DNS
// or null MX (RFC 7372: 5.7.23 to 5.7.27). Every lead of a list meets the
// same answer: classed permanent, each would be bounced and suppressed.
func senderRefused(code int, enhanced, text string) bool {
	text = strings.ToLower(text)
	switch {
	case code == 530:
		return true
	case enhanced == "5.7.8", enhanced == "5.7.23", enhanced == "5.7.24", enhanced == "5.7.25", enhanced == "5.7.26", enhanced == "5.7.27":
		return true
	case enhanced == "5.7.0":
		return strings.Contains(text, "auth")
	case enhanced == "5.7.1":
		return strings.Contains(text, "relay")
	}
	return false
}

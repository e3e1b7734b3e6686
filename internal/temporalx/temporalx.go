// Package temporalx connects the engine to Temporal: client options with the
// process logger bridged into the SDK, an eager dial for workers, a lazy
// client for the API (which must start while Temporal is down), idempotent
// registration of the engine's search attributes, and the classifier that
// turns "Temporal unreachable" into models.ErrUnavailable.
package temporalx

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/backlinkoutreach/outreach/models"
)

// Options say where Temporal is and how to reach it.
type Options struct {
	Address   string
	Namespace string
	Logger    *slog.Logger
	// Metrics receives the SDK's metrics; nil disables them.
	Metrics client.MetricsHandler
	// Identity names this process in the Web UI; empty lets the SDK choose.
	Identity string
	TLS      TLS
	// APIKey is sent as a bearer token on every call (Temporal Cloud API
	// keys); it implies TLS.
	APIKey string
}

// TLS configures the connection's TLS. Files are PEM, read when the
// client options are built (at start).
type TLS struct {
	// Enabled asks for TLS; a certificate, a CA file or a server name imply
	// it too.
	Enabled bool
	// CertFile and KeyFile are a client certificate for mutual TLS.
	CertFile, KeyFile string
	// CAFile holds the CAs trusted for the server's certificate; empty
	// trusts the system's.
	CAFile string
	// ServerName is checked in the server's certificate and sent as SNI;
	// empty uses the host of Address.
	ServerName string
}

func (o Options) usesTLS() bool {
	t := o.TLS
	return t.Enabled || t.CertFile != "" || t.CAFile != "" || t.ServerName != "" || o.APIKey != ""
}

// ClientOptions builds SDK client options. The SDK logs through slog at
// warn level and above: its info lines (every worker poll start, ...) would
// drown the service's own. It fails when a TLS file cannot be read or
// parsed.
func ClientOptions(o Options) (client.Options, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	co := client.Options{
		HostPort:  o.Address,
		Namespace: o.Namespace,
		Logger:    sdklog.NewStructuredLogger(slog.New(minLevel{log.Handler(), slog.LevelWarn}).With("component", "temporal")),
		Identity:  o.Identity,
	}
	if o.Metrics != nil {
		co.MetricsHandler = o.Metrics
	}
	if o.usesTLS() {
		tc, err := tlsConfig(o.TLS)
		if err != nil {
			return client.Options{}, err
		}
		co.ConnectionOptions.TLS = tc
	}
	if o.APIKey != "" {
		co.Credentials = client.NewAPIKeyStaticCredentials(o.APIKey)
	}
	return co, nil
}

// tlsConfig builds the client side of the TLS connection.
func tlsConfig(t TLS) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("temporal TLS CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("temporal TLS CA file %s: no PEM certificate in it", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, errors.New("temporal TLS: a client certificate needs both its certificate and key files")
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("temporal TLS client certificate %s with key %s: %w", t.CertFile, t.KeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Dial connects now; an unreachable server answers an error wrapping
// models.ErrUnavailable.
func Dial(ctx context.Context, o Options) (client.Client, error) {
	co, err := ClientOptions(o)
	if err != nil {
		return nil, err
	}
	c, err := client.DialContext(ctx, co)
	if err != nil {
		return nil, Classify(fmt.Errorf("dial temporal at %s: %w", o.Address, err))
	}
	return c, nil
}

// DialWait dials until Temporal answers or ctx ends, logging each failure:
// a worker started before its server waits for it.
func DialWait(ctx context.Context, o Options) (client.Client, error) {
	delay := 500 * time.Millisecond
	for {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		c, err := Dial(dctx, o)
		cancel()
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, models.ErrUnavailable) || ctx.Err() != nil {
			return nil, err
		}
		if o.Logger != nil {
			o.Logger.WarnContext(ctx, "temporal not reachable yet; retrying", "address", o.Address, "retry_in", delay, "error", err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("dial temporal at %s: %w", o.Address, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*2, 10*time.Second)
	}
}

// Lazy returns a client that connects on first use and reconnects after
// outages: the API starts (and answers 503 on the routes that need
// Temporal) while the server is down.
func Lazy(o Options) (client.Client, error) {
	co, err := ClientOptions(o)
	if err != nil {
		return nil, err
	}
	c, err := client.NewLazyClient(co)
	if err != nil {
		return nil, fmt.Errorf("temporal client: %w", err)
	}
	return c, nil
}

// SearchAttributes are the engine's custom search attributes, all Keyword.
var SearchAttributes = []string{"CampaignId", "OwnerId", "LeadStatus"}

// EnsureSearchAttributes registers the missing search attributes in the
// namespace. It is idempotent and safe to run from several processes at
// once.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	ops := c.OperatorService()
	list, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return Classify(fmt.Errorf("list search attributes: %w", err))
	}
	missing := map[string]enums.IndexedValueType{}
	for _, name := range SearchAttributes {
		t, ok := list.GetCustomAttributes()[name]
		if !ok {
			missing[name] = enums.INDEXED_VALUE_TYPE_KEYWORD
			continue
		}
		if t != enums.INDEXED_VALUE_TYPE_KEYWORD {
			return fmt.Errorf("search attribute %s exists with type %s, want Keyword", name, t)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: namespace, SearchAttributes: missing,
	})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return Classify(fmt.Errorf("add search attributes: %w", err))
	}
	return nil
}

// Check is a readiness probe: nil when the frontend answers.
func Check(c client.Client) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
			return Classify(fmt.Errorf("temporal health: %w", err))
		}
		return nil
	}
}

// Unavailable reports whether err means the Temporal server could not be
// reached (or did not answer in time), as opposed to answering no.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var (
		unavail  *serviceerror.Unavailable
		deadline *serviceerror.DeadlineExceeded
		nsUnav   *serviceerror.NamespaceUnavailable
		opErr    *net.OpError
	)
	switch {
	case errors.As(err, &unavail), errors.As(err, &deadline), errors.As(err, &nsUnav):
		return true
	case errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.As(err, &opErr):
		return true
	}
	// gRPC reports some transport failures only as text.
	msg := err.Error()
	for _, s := range []string{"connection refused", "code = Unavailable", "code = DeadlineExceeded", "failed reaching server", "transport is closing", "no such host"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// Classify wraps err with models.ErrUnavailable when Temporal was
// unreachable; other errors come back unchanged.
func Classify(err error) error {
	if err == nil || errors.Is(err, models.ErrUnavailable) || !Unavailable(err) {
		return err
	}
	return &unavailableError{err: err}
}

type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return "temporal unavailable: " + e.err.Error() }

// Unwrap matches both the cause and models.ErrUnavailable.
func (e *unavailableError) Unwrap() []error { return []error{models.ErrUnavailable, e.err} }

// minLevel drops records below a level before they reach the handler.
type minLevel struct {
	slog.Handler
	level slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(as), h.level}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.level}
}

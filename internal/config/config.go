// Package config reads the service's configuration from environment
// variables. Every variable is a tagged field of Config: the tags give its
// name, default and meaning, so .env.example and the README table are checked
// against this one list by tests.
package config

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/idna"
)

// Config is the whole configuration. Field tags:
//
//	env:     the variable name
//	default: the value used when the variable is unset or empty
//	help:    one line for .env.example and the README
//	oneof:   allowed values, separated by "|"
type Config struct {
	DatabaseURL    string `env:"DATABASE_URL" default:"" help:"PostgreSQL URL (postgres://user:pass@host:5432/db?sslmode=disable); empty uses an embedded SQLite file under OUTREACH_DATA_DIR"`
	DataDir        string `env:"OUTREACH_DATA_DIR" default:"./.data" help:"directory for the embedded SQLite database and dev-mode state"`
	HTTPAddr       string `env:"HTTP_ADDR" default:"127.0.0.1:8080" help:"address the HTTP API listens on"`
	LogLevel       string `env:"LOG_LEVEL" default:"info" oneof:"debug|info|warn|error" help:"minimum log level"`
	LogFormat      string `env:"LOG_FORMAT" default:"text" oneof:"text|json" help:"log format: text for people, json for log pipelines"`
	MaxBodyBytes   int64  `env:"HTTP_MAX_BODY_BYTES" default:"10485760" help:"largest JSON request body accepted; larger bodies get 413"`
	MaxImportBytes int64  `env:"HTTP_MAX_IMPORT_BYTES" default:"67108864" help:"largest CSV upload accepted by the lead import"`

	TemporalAddress   string `env:"TEMPORAL_ADDRESS" default:"127.0.0.1:7233" help:"Temporal frontend host:port"`
	TemporalNamespace string `env:"TEMPORAL_NAMESPACE" default:"default" help:"Temporal namespace"`
	TemporalTaskQueue string `env:"TEMPORAL_TASK_QUEUE" default:"backlink-outreach" help:"task queue shared by the API and the workers"`

	TemporalTLS           bool   `env:"TEMPORAL_TLS" default:"false" help:"connect to Temporal over TLS (Temporal Cloud, secured clusters); implied by TEMPORAL_API_KEY and by every other TEMPORAL_TLS_* setting"`
	TemporalTLSCertFile   string `env:"TEMPORAL_TLS_CERT_FILE" default:"" help:"PEM client certificate for mutual TLS, with TEMPORAL_TLS_KEY_FILE (read at start: restart after a rotation)"`
	TemporalTLSKeyFile    string `env:"TEMPORAL_TLS_KEY_FILE" default:"" help:"PEM private key of TEMPORAL_TLS_CERT_FILE"`
	TemporalTLSCAFile     string `env:"TEMPORAL_TLS_CA_FILE" default:"" help:"PEM certificates of the CAs trusted for Temporal's server certificate; empty trusts the system's"`
	TemporalTLSServerName string `env:"TEMPORAL_TLS_SERVER_NAME" default:"" help:"name checked in Temporal's server certificate (and sent as SNI); empty uses the host of TEMPORAL_ADDRESS"`
	TemporalAPIKey        string `env:"TEMPORAL_API_KEY" default:"" help:"API key sent to Temporal as a bearer token (Temporal Cloud API keys); implies TLS"`

	UserDailyCap   int `env:"USER_DAILY_CAP" default:"100" help:"sends per user per day (UTC); 0 disables the cap"`
	DomainDailyCap int `env:"DOMAIN_DAILY_CAP" default:"20" help:"sends per user and recipient domain per day (UTC); 0 disables the cap"`

	SMTPHost          string `env:"SMTP_HOST" default:"127.0.0.1" help:"SMTP server host"`
	SMTPPort          int    `env:"SMTP_PORT" default:"587" help:"SMTP server port"`
	SMTPUsername      string `env:"SMTP_USERNAME" default:"" help:"SMTP user; empty sends without authentication"`
	SMTPPassword      string `env:"SMTP_PASSWORD" default:"" help:"SMTP password"`
	SMTPTLS           string `env:"SMTP_TLS" default:"starttls" oneof:"starttls|tls|none" help:"starttls (port 587), tls (implicit TLS, port 465) or none (development only)"`
	SMTPTLSSkipVerify bool   `env:"SMTP_TLS_SKIP_VERIFY" default:"false" help:"skip certificate checks (development only)"`
	SMTPFrom          string `env:"SMTP_FROM" default:"outreach@outreach.localhost" help:"sender address of outreach mail (set it to your real mailbox); also the mailto of List-Unsubscribe"`
	SMTPFromName      string `env:"SMTP_FROM_NAME" default:"" help:"sender display name"`

	IMAPHost          string `env:"IMAP_HOST" default:"" help:"IMAP server of the sending mailbox; empty disables reply polling"`
	IMAPPort          int    `env:"IMAP_PORT" default:"993" help:"IMAP port: 993 for tls, 143 for starttls"`
	IMAPUsername      string `env:"IMAP_USERNAME" default:"" help:"IMAP user"`
	IMAPPassword      string `env:"IMAP_PASSWORD" default:"" help:"IMAP password"`
	IMAPTLS           string `env:"IMAP_TLS" default:"tls" oneof:"tls|starttls|none" help:"tls (993), starttls (143) or none (development only)"`
	IMAPTLSSkipVerify bool   `env:"IMAP_TLS_SKIP_VERIFY" default:"false" help:"skip certificate checks (development only)"`
	IMAPMailboxes     string `env:"IMAP_MAILBOXES" default:"INBOX" help:"comma-separated mailboxes to poll for replies"`
	IMAPFetchLimit    int    `env:"IMAP_FETCH_LIMIT" default:"50" help:"messages fetched per IMAP round trip while catching up"`

	ReplyPollInterval time.Duration `env:"REPLY_POLL_INTERVAL" default:"5m" help:"how often the reply-polling schedule runs"`
	OOODefaultDelay   time.Duration `env:"OOO_DEFAULT_DELAY" default:"168h" help:"pause after an out-of-office reply that states no return date"`

	UnsubscribeSecret string `env:"UNSUBSCRIBE_SECRET" default:"" help:"secret signing unsubscribe links (32+ characters); empty generates one and keeps it in OUTREACH_DATA_DIR"`
	PublicBaseURL     string `env:"PUBLIC_BASE_URL" default:"http://127.0.0.1:8080" help:"public address of the API, used in unsubscribe links; https in production (one-click unsubscribe is offered only over https)"`

	LLMBaseURL string `env:"LLM_BASE_URL" default:"" help:"OpenAI-compatible endpoint for reply classification; empty uses the built-in rules"`
	LLMAPIKey  string `env:"LLM_API_KEY" default:"" help:"API key for LLM_BASE_URL"`
	LLMModel   string `env:"LLM_MODEL" default:"gpt-4o-mini" help:"model name sent to LLM_BASE_URL"`

	DevTemporalPort   int    `env:"DEV_TEMPORAL_PORT" default:"7233" help:"outreach dev: Temporal dev server gRPC port"`
	DevTemporalUIPort int    `env:"DEV_TEMPORAL_UI_PORT" default:"8233" help:"outreach dev: Temporal Web UI port"`
	DevSMTPAddr       string `env:"DEV_SMTP_ADDR" default:"127.0.0.1:2525" help:"outreach dev: address of the capturing SMTP server"`
	DevIMAPAddr       string `env:"DEV_IMAP_ADDR" default:"127.0.0.1:1143" help:"outreach dev: address of the dev IMAP inbox"`
}

// Var describes one configuration variable.
type Var struct {
	Name, Default, Help string
	OneOf               []string
	Field               string
}

// Vars lists every variable Config reads, in declaration order.
func Vars() []Var {
	t := reflect.TypeFor[Config]()
	out := make([]Var, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, ok := f.Tag.Lookup("env")
		if !ok {
			continue
		}
		v := Var{Name: name, Default: f.Tag.Get("default"), Help: f.Tag.Get("help"), Field: f.Name}
		if o := f.Tag.Get("oneof"); o != "" {
			v.OneOf = strings.Split(o, "|")
		}
		out = append(out, v)
	}
	return out
}

// Load reads the configuration from the process environment.
func Load() (Config, error) { return LoadFrom(os.LookupEnv) }

// LoadFrom reads the configuration through lookup, so tests can pass a map.
// The error names the first bad variable in one line.
func LoadFrom(lookup func(string) (string, bool)) (Config, error) {
	var c Config
	rv := reflect.ValueOf(&c).Elem()
	t := rv.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, ok := f.Tag.Lookup("env")
		if !ok {
			continue
		}
		raw, set := lookup(name)
		raw = strings.TrimSpace(raw)
		if !set || raw == "" {
			raw = f.Tag.Get("default")
		}
		if err := setField(rv.Field(i), raw); err != nil {
			return Config{}, fmt.Errorf("config: %s: %w (got %q)", name, err, raw)
		}
		if o := f.Tag.Get("oneof"); o != "" && raw != "" {
			allowed := strings.Split(o, "|")
			if !contains(allowed, raw) {
				return Config{}, fmt.Errorf("config: %s: must be one of %s (got %q)", name, strings.Join(allowed, ", "), raw)
			}
		}
	}
	if err := c.check(); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

func setField(v reflect.Value, raw string) error {
	switch v.Kind() {
	case reflect.String:
		v.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return errors.New("must be true or false")
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		if v.Type() == reflect.TypeFor[time.Duration]() {
			d, err := time.ParseDuration(raw)
			if err != nil || d <= 0 {
				return errors.New("must be a positive duration such as 30s, 5m or 2h")
			}
			v.SetInt(int64(d))
			return nil
		}
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return errors.New("must be a whole number")
		}
		if n < 0 {
			return errors.New("must be zero or more")
		}
		v.SetInt(n)
	default:
		return fmt.Errorf("unsupported kind %s", v.Kind())
	}
	return nil
}

func (c Config) check() error {
	if c.DatabaseURL != "" {
		u, err := url.Parse(c.DatabaseURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return errors.New("DATABASE_URL: must be a postgres:// or postgresql:// URL, or empty for the embedded SQLite database")
		}
	}
	for _, a := range []struct {
		name, addr string
		listen     bool // port 0 asks for any free port; an address dialled needs one
	}{
		{"HTTP_ADDR", c.HTTPAddr, true},
		{"TEMPORAL_ADDRESS", c.TemporalAddress, false},
		{"DEV_SMTP_ADDR", c.DevSMTPAddr, true},
		{"DEV_IMAP_ADDR", c.DevIMAPAddr, true},
	} {
		if _, port, err := net.SplitHostPort(a.addr); err != nil || !validPort(port, a.listen) {
			return fmt.Errorf("%s: must be host:port (got %q)", a.name, a.addr)
		}
	}
	if c.ReplyPollInterval < time.Second {
		// A Temporal schedule's interval is at least a second.
		return fmt.Errorf("REPLY_POLL_INTERVAL: must be at least 1s (got %s)", c.ReplyPollInterval)
	}
	if c.IMAPHost != "" {
		if c.IMAPUsername == "" {
			return errors.New("IMAP_USERNAME: must be set when IMAP_HOST is (the mailbox to poll for replies)")
		}
		if strings.Trim(c.IMAPMailboxes, ", \t") == "" {
			return fmt.Errorf("IMAP_MAILBOXES: must name at least one mailbox (got %q)", c.IMAPMailboxes)
		}
	}
	for _, p := range []struct {
		name string
		port int
	}{
		{"SMTP_PORT", c.SMTPPort},
		{"IMAP_PORT", c.IMAPPort},
		{"DEV_TEMPORAL_PORT", c.DevTemporalPort},
		{"DEV_TEMPORAL_UI_PORT", c.DevTemporalUIPort},
	} {
		if p.port < 1 || p.port > 65535 {
			return fmt.Errorf("%s: must be a port from 1 to 65535 (got %d)", p.name, p.port)
		}
	}
	if err := checkSMTPFrom(c.SMTPFrom); err != nil {
		return err
	}
	if c.MaxBodyBytes < 1024 {
		return fmt.Errorf("HTTP_MAX_BODY_BYTES: must be at least 1024 (got %d)", c.MaxBodyBytes)
	}
	if c.MaxImportBytes < 1024 {
		return fmt.Errorf("HTTP_MAX_IMPORT_BYTES: must be at least 1024 (got %d)", c.MaxImportBytes)
	}
	if c.IMAPFetchLimit < 1 || c.IMAPFetchLimit > 1000 {
		return fmt.Errorf("IMAP_FETCH_LIMIT: must be from 1 to 1000 (got %d)", c.IMAPFetchLimit)
	}
	if c.TemporalNamespace == "" || c.TemporalTaskQueue == "" {
		return errors.New("TEMPORAL_NAMESPACE and TEMPORAL_TASK_QUEUE must not be empty")
	}
	if err := c.checkTemporalTLS(); err != nil {
		return err
	}
	if c.UnsubscribeSecret != "" && len(c.UnsubscribeSecret) < 32 {
		return errors.New("UNSUBSCRIBE_SECRET: must be at least 32 characters")
	}
	if u, err := url.Parse(c.PublicBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("PUBLIC_BASE_URL: must be an http(s) URL (got %q)", c.PublicBaseURL)
	}
	if c.LLMBaseURL != "" {
		if u, err := url.Parse(c.LLMBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("LLM_BASE_URL: must be an http(s) URL (got %q)", c.LLMBaseURL)
		}
	}
	return nil
}

// checkTemporalTLS refuses a half-configured client certificate and any
// TLS file the process cannot read, at start rather than at the first
// connection.
func (c Config) checkTemporalTLS() error {
	if (c.TemporalTLSCertFile == "") != (c.TemporalTLSKeyFile == "") {
		return errors.New("TEMPORAL_TLS_CERT_FILE and TEMPORAL_TLS_KEY_FILE: set both (mutual TLS) or neither")
	}
	for _, f := range []struct{ name, path string }{
		{"TEMPORAL_TLS_CERT_FILE", c.TemporalTLSCertFile},
		{"TEMPORAL_TLS_KEY_FILE", c.TemporalTLSKeyFile},
		{"TEMPORAL_TLS_CA_FILE", c.TemporalTLSCAFile},
	} {
		if f.path == "" {
			continue
		}
		if err := readable(f.path); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
	}
	return nil
}

// readable checks that path is a regular file this process can read.
func readable(path string) error {
	f, err := os.Open(path) //nolint:gosec // the operator names the file
	if err != nil {
		return fmt.Errorf("cannot read %s: %w", path, errors.Unwrap(err))
	}
	defer func() { _ = f.Close() }()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("cannot read %s: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("%s is not a file", path)
	}
	if _, err := f.Read(make([]byte, 1)); errors.Is(err, io.EOF) {
		return fmt.Errorf("%s is empty", path)
	} else if err != nil {
		return fmt.Errorf("cannot read %s: %w", path, err)
	}
	return nil
}

func validPort(p string, allowZero bool) bool {
	n, err := strconv.Atoi(p)
	if err != nil {
		return false
	}
	return (allowZero && n == 0) || (n >= 1 && n <= 65535)
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// SQLitePath is the embedded database file used when DatabaseURL is empty.
func (c Config) SQLitePath() string { return filepath.Join(c.DataDir, "outreach.db") }

// UsesSQLite reports whether the embedded database is configured.
func (c Config) UsesSQLite() bool { return c.DatabaseURL == "" }

// EnvExample renders the .env.example file: every variable, commented with
// its meaning, set to its default.
func EnvExample() string {
	var b strings.Builder
	b.WriteString("# Backlink Outreach Engine configuration. Every variable is optional;\n")
	b.WriteString("# the value shown is the default. Regenerate with `make env-example`.\n")
	for _, v := range Vars() {
		b.WriteString("\n# " + v.Help + "\n")
		if len(v.OneOf) > 0 {
			b.WriteString("# one of: " + strings.Join(v.OneOf, ", ") + "\n")
		}
		b.WriteString(v.Name + "=" + v.Default + "\n")
	}
	return b.String()
}

// checkSMTPFrom refuses a sender address the mail library would refuse at
// the first send (every send would then fail): a plain addr-spec with a
// dotted domain, as net/mail reads it, whose domain is ASCII (it also names
// every Message-ID, which must be ASCII; an internationalised domain is
// written in its xn-- form).
func checkSMTPFrom(from string) error {
	bad := func(why string) error {
		return fmt.Errorf("SMTP_FROM: must be a plain e-mail address such as outreach@yourdomain.com: %s (got %q)", why, from)
	}
	a, err := mail.ParseAddress(from)
	if err != nil {
		return bad(err.Error())
	}
	if a.Name != "" || a.Address != from {
		return bad("no display name or angle brackets (the name is SMTP_FROM_NAME)")
	}
	domain := from[strings.LastIndexByte(from, '@')+1:]
	if !strings.Contains(domain, ".") {
		return bad("the domain needs a dot")
	}
	for i := 0; i < len(from); i++ {
		if from[i] >= 0x80 {
			if ascii, err := idna.Lookup.ToASCII(domain); err == nil && ascii != domain {
				return bad("write the domain as " + ascii + " and the address in ASCII")
			}
			return bad("the address must be ASCII")
		}
	}
	return nil
}

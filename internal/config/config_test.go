package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func lookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := LoadFrom(lookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:8080" || c.DataDir != "./.data" || !c.UsesSQLite() ||
		c.ReplyPollInterval != 5*time.Minute || c.IMAPFetchLimit != 50 || c.UserDailyCap != 100 ||
		c.TemporalTaskQueue != "backlink-outreach" {
		t.Fatalf("unexpected defaults: %+v", c)
	}
}

func TestBadValuesNameTheVariable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		env  map[string]string
	}{
		{"LOG_LEVEL", map[string]string{"LOG_LEVEL": "loud"}},
		{"LOG_FORMAT", map[string]string{"LOG_FORMAT": "xml"}},
		{"SMTP_PORT", map[string]string{"SMTP_PORT": "abc"}},
		{"IMAP_PORT", map[string]string{"IMAP_PORT": "70000"}},
		{"REPLY_POLL_INTERVAL", map[string]string{"REPLY_POLL_INTERVAL": "often"}},
		// Shorter than a Temporal schedule can run.
		{"REPLY_POLL_INTERVAL", map[string]string{"REPLY_POLL_INTERVAL": "500ms"}},
		{"DATABASE_URL", map[string]string{"DATABASE_URL": "mysql://x"}},
		{"HTTP_ADDR", map[string]string{"HTTP_ADDR": "8080"}},
		// Dialled, so port 0 (any free port) means nothing.
		{"TEMPORAL_ADDRESS", map[string]string{"TEMPORAL_ADDRESS": "127.0.0.1:0"}},
		{"SMTP_TLS_SKIP_VERIFY", map[string]string{"SMTP_TLS_SKIP_VERIFY": "maybe"}},
		{"UNSUBSCRIBE_SECRET", map[string]string{"UNSUBSCRIBE_SECRET": "short"}},
		{"USER_DAILY_CAP", map[string]string{"USER_DAILY_CAP": "-1"}},
		{"IMAP_FETCH_LIMIT", map[string]string{"IMAP_FETCH_LIMIT": "0"}},
		// Reply polling that could only fail or read nothing.
		{"IMAP_USERNAME", map[string]string{"IMAP_HOST": "imap.example.org"}},
		{"IMAP_MAILBOXES", map[string]string{"IMAP_HOST": "imap.example.org", "IMAP_USERNAME": "u", "IMAP_MAILBOXES": " , "}},
	}
	for _, c := range cases {
		name := c.name
		_, err := LoadFrom(lookup(c.env))
		if err == nil {
			t.Errorf("%s: bad value accepted", name)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, name) || strings.Contains(msg, "\n") {
			t.Errorf("%s: error should be one line naming the variable: %q", name, msg)
		}
	}
}

func TestEnvExampleIsCurrent(t *testing.T) {
	t.Parallel()
	got, err := os.ReadFile("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != EnvExample() {
		t.Fatal(".env.example is out of date with the Config struct: run `make env-example`")
	}
}

// The Temporal TLS settings are checked at load: a certificate needs its
// key (and the other way round), and every file named must be a readable,
// non-empty file. A good set loads.
func TestTemporalTLSSettings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cert, key, ca := write("cert.pem", "cert"), write("key.pem", "key"), write("ca.pem", "ca")
	empty := write("empty.pem", "")
	missing := filepath.Join(dir, "missing.pem")
	cases := []struct {
		name    string
		env     map[string]string
		wantErr string // "" loads
	}{
		{"none", nil, ""},
		{"tls only", map[string]string{"TEMPORAL_TLS": "true"}, ""},
		{"api key", map[string]string{"TEMPORAL_API_KEY": "k"}, ""},
		{"every file", map[string]string{
			"TEMPORAL_TLS_CERT_FILE": cert, "TEMPORAL_TLS_KEY_FILE": key, "TEMPORAL_TLS_CA_FILE": ca,
			"TEMPORAL_TLS_SERVER_NAME": "frontend.example",
		}, ""},
		{"cert without key", map[string]string{"TEMPORAL_TLS_CERT_FILE": cert}, "TEMPORAL_TLS_CERT_FILE and TEMPORAL_TLS_KEY_FILE: set both"},
		{"key without cert", map[string]string{"TEMPORAL_TLS_KEY_FILE": key}, "TEMPORAL_TLS_CERT_FILE and TEMPORAL_TLS_KEY_FILE: set both"},
		{"missing ca", map[string]string{"TEMPORAL_TLS_CA_FILE": missing}, "TEMPORAL_TLS_CA_FILE: cannot read " + missing},
		{"missing key", map[string]string{"TEMPORAL_TLS_CERT_FILE": cert, "TEMPORAL_TLS_KEY_FILE": missing}, "TEMPORAL_TLS_KEY_FILE: cannot read " + missing},
		{"directory", map[string]string{"TEMPORAL_TLS_CA_FILE": dir}, "TEMPORAL_TLS_CA_FILE: " + dir + " is not a file"},
		{"empty cert", map[string]string{"TEMPORAL_TLS_CERT_FILE": empty, "TEMPORAL_TLS_KEY_FILE": key}, "TEMPORAL_TLS_CERT_FILE: " + empty + " is empty"},
		{"bad bool", map[string]string{"TEMPORAL_TLS": "yes please"}, "TEMPORAL_TLS: must be true or false"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := LoadFrom(lookup(tc.env))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if c.TemporalTLSServerName != tc.env["TEMPORAL_TLS_SERVER_NAME"] || c.TemporalAPIKey != tc.env["TEMPORAL_API_KEY"] ||
					c.TemporalTLS != (tc.env["TEMPORAL_TLS"] == "true") || c.TemporalTLSCAFile != tc.env["TEMPORAL_TLS_CA_FILE"] {
					t.Fatalf("loaded %+v from %v", c, tc.env)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want one line containing %q", err, tc.wantErr)
			}
		})
	}
}

// SMTP_FROM must be an address the mail library takes: one that passed a
// looser check failed every send.
func TestSMTPFromIsUsable(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{
		"outreach@example.com.", "outreach@example..com", "outreach;x@example.com", "a@@example.com",
		`out"reach@example.com`, "Outreach <outreach@example.com>", "outreach@localhost", "outreach@bücher.de", "outreach",
	} {
		_, err := LoadFrom(lookup(map[string]string{"SMTP_FROM": bad}))
		if err == nil || !strings.Contains(err.Error(), "SMTP_FROM") || strings.Contains(err.Error(), "\n") {
			t.Errorf("SMTP_FROM %q: %v", bad, err)
		}
	}
	if _, err := LoadFrom(lookup(map[string]string{"SMTP_FROM": "outreach@bücher.de"})); err == nil || !strings.Contains(err.Error(), "xn--bcher-kva.de") {
		t.Errorf("an internationalised domain is not explained: %v", err)
	}
	for _, good := range []string{"outreach@example.com", "ann.writer+outreach@mail.agency.example", "o@xn--bcher-kva.de"} {
		if _, err := LoadFrom(lookup(map[string]string{"SMTP_FROM": good})); err != nil {
			t.Errorf("SMTP_FROM %q refused: %v", good, err)
		}
	}
}

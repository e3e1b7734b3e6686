package config

import (
	"os"
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
	cases := map[string]map[string]string{
		"LOG_LEVEL":            {"LOG_LEVEL": "loud"},
		"LOG_FORMAT":           {"LOG_FORMAT": "xml"},
		"SMTP_PORT":            {"SMTP_PORT": "abc"},
		"IMAP_PORT":            {"IMAP_PORT": "70000"},
		"REPLY_POLL_INTERVAL":  {"REPLY_POLL_INTERVAL": "often"},
		"DATABASE_URL":         {"DATABASE_URL": "mysql://x"},
		"HTTP_ADDR":            {"HTTP_ADDR": "8080"},
		"SMTP_TLS_SKIP_VERIFY": {"SMTP_TLS_SKIP_VERIFY": "maybe"},
		"UNSUBSCRIBE_SECRET":   {"UNSUBSCRIBE_SECRET": "short"},
		"USER_DAILY_CAP":       {"USER_DAILY_CAP": "-1"},
		"IMAP_FETCH_LIMIT":     {"IMAP_FETCH_LIMIT": "0"},
	}
	for name, env := range cases {
		_, err := LoadFrom(lookup(env))
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

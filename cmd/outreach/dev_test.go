package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/api"
	"github.com/backlinkoutreach/outreach/internal/config"
	"github.com/backlinkoutreach/outreach/internal/devserver"
	"github.com/backlinkoutreach/outreach/internal/enginetest"
	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/internal/storetest"
	"github.com/backlinkoutreach/outreach/models"
)

// These tests run `outreach dev` the way a newcomer does: the real binary,
// built here, as a subprocess with its own data directory and free ports,
// starting the real Temporal dev server.

func TestMain(m *testing.M) { enginetest.Main(m, enginetest.MainOptions{}) }

// devSetup is one dev stack's data directory and ports; it survives
// restarts of the process.
type devSetup struct {
	dir                                string
	http, temporal, ui, smtp, imapPort int
	extra                              map[string]string
}

func newDevSetup(t testing.TB) *devSetup {
	t.Helper()
	return &devSetup{
		dir: t.TempDir(), http: enginetest.FreePort(t), temporal: enginetest.FreePort(t), ui: enginetest.FreePort(t),
		smtp: enginetest.FreePort(t), imapPort: enginetest.FreePort(t),
	}
}

func (s *devSetup) base() string { return "http://127.0.0.1:" + strconv.Itoa(s.http) }

// env is the process environment minus every configuration variable of
// the test's own environment, plus this stack's.
func (s *devSetup) env(t testing.TB) []string {
	t.Helper()
	tcli, err := devserver.FindBinary()
	if err != nil {
		t.Fatal(err)
	}
	tcli, err = filepath.Abs(tcli)
	if err != nil {
		t.Fatal(err)
	}
	ours := map[string]bool{}
	for _, v := range config.Vars() {
		ours[v.Name] = true
	}
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !ours[name] && name != devserver.EnvBinary {
			out = append(out, kv)
		}
	}
	vars := map[string]string{
		"OUTREACH_DATA_DIR": s.dir, "HTTP_ADDR": "127.0.0.1:" + strconv.Itoa(s.http),
		"DEV_TEMPORAL_PORT": strconv.Itoa(s.temporal), "DEV_TEMPORAL_UI_PORT": strconv.Itoa(s.ui),
		"DEV_SMTP_ADDR": "127.0.0.1:" + strconv.Itoa(s.smtp), "DEV_IMAP_ADDR": "127.0.0.1:" + strconv.Itoa(s.imapPort),
		devserver.EnvBinary: tcli,
	}
	for k, v := range s.extra {
		vars[k] = v
	}
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	return out
}

// checkPortsFree fails the test for each of the stack's ports that cannot
// be listened on.
func (s *devSetup) checkPortsFree(t testing.TB, when string) {
	t.Helper()
	for _, port := range []int{s.http, s.temporal, s.ui, s.smtp, s.imapPort} {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Errorf("port %d still taken %s: %v", port, when, err)
			continue
		}
		_ = ln.Close()
	}
}

// devProc is one running `outreach dev`.
type devProc struct {
	t      testing.TB
	s      *devSetup
	cmd    *exec.Cmd
	stdout *enginetest.LockedBuffer
	stderr *enginetest.LockedBuffer
	done   chan struct{}
	err    error
}

// start runs `outreach dev`; the test's cleanup kills it if it still runs.
func (s *devSetup) start(t testing.TB) *devProc {
	t.Helper()
	p := &devProc{t: t, s: s, stdout: &enginetest.LockedBuffer{}, stderr: &enginetest.LockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(enginetest.Binary(t), "dev")
	p.cmd.Env = s.env(t)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("outreach dev stdout:\n%s\nstderr:\n%s", p.stdout, p.stderr)
		}
	})
	return p
}

// waitReady polls /readyz until it answers 200.
func (p *devProc) waitReady(timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-p.done:
			p.t.Fatalf("outreach dev exited before it was ready: %v\n%s", p.err, p.stderr)
		default:
		}
		if readyz(p.s.base()) {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("outreach dev not ready after %s", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readyz(base string) bool {
	resp, err := http.Get(base + "/readyz") //nolint:noctx // a probe
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// wait waits for the process to exit and answers its exit error.
func (p *devProc) wait(timeout time.Duration) error {
	p.t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		p.t.Fatalf("outreach dev still running after %s", timeout)
		return nil
	}
}

// interrupt is Ctrl-C: it must stop everything cleanly.
func (p *devProc) interrupt() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		p.t.Fatal(err)
	}
	if err := p.wait(60 * time.Second); err != nil {
		p.t.Fatalf("outreach dev after Ctrl-C: %v\n%s", err, p.stderr)
	}
}

func (p *devProc) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatal(err)
	}
	_ = p.wait(30 * time.Second)
}

var keyInBanner = regexp.MustCompile(`API key +(obk_[0-9a-f]{12}_[A-Za-z0-9_-]{43})\n`)

// key is the API key the banner printed. The banner follows the API's
// start (the API serves first), so /readyz may answer before it is out.
func (p *devProc) key() string {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := keyInBanner.FindStringSubmatch(p.stdout.String()); m != nil {
			return m[1]
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no API key in the banner:\n%s", p.stdout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// call sends a JSON request with key and decodes the answer into out.
func (s *devSetup) call(t testing.TB, key, method, path string, body, out any, want int) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, s.base()+api.BasePath+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// captured lists every captured message visible to key, oldest first.
func (s *devSetup) captured(t testing.TB, key string) []api.DevMessage {
	t.Helper()
	var all []api.DevMessage
	cursor := ""
	for {
		var page api.DevMessageList
		s.call(t, key, http.MethodGet, "/dev/mailbox/messages?limit=500"+cursor, nil, &page, http.StatusOK)
		all = append(all, page.Items...)
		if page.NextCursor == nil {
			break
		}
		cursor = "&cursor=" + *page.NextCursor
	}
	for i, j := 0, len(all)-1; i < j; i, j = i+1, j-1 {
		all[i], all[j] = all[j], all[i]
	}
	return all
}

// byMessageID counts captured messages per Message-ID.
func byMessageID(ms []api.DevMessage) map[string]int {
	out := map[string]int{}
	for _, m := range ms {
		out[m.MessageID]++
	}
	return out
}

// The quickstart walkthrough, exactly as a newcomer runs it, against a
// cold start of the whole stack; then Ctrl-C, and a second start that
// resumes the same data with the same API key.
func TestQuickstartAgainstDevColdStart(t *testing.T) {
	t.Parallel()
	s := newDevSetup(t)
	p := s.start(t)

	script, err := filepath.Abs("../../examples/quickstart.sh")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// The script waits for /readyz itself: the stack is cold when it starts.
	qs := exec.CommandContext(ctx, "sh", script)
	qs.Env = append(os.Environ(), "OUTREACH_URL="+s.base(), "OUTREACH_DATA_DIR="+s.dir, "OUTREACH_API_KEY=")
	out, err := qs.CombinedOutput()
	if err != nil {
		t.Fatalf("quickstart.sh: %v\n%s", err, out)
	}
	for _, want := range []string{
		"reply classified: interested", "example.com: 1 e-mail (the pitch)", `"state":"cancelled"`,
		"updated 2", "response_rate    0.25", "placement_rate   0.25", "Done.",
	} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("quickstart output lacks %q:\n%s", want, out)
		}
	}
	key := p.key()
	info, err := os.Stat(filepath.Join(s.dir, devKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", devKeyFile, info.Mode().Perm())
	}
	before := s.captured(t, key)
	if len(before) != 7 {
		t.Errorf("captured %d messages, want 7 (4 pitches, 3 follow-ups)", len(before))
	}
	for id, n := range byMessageID(before) {
		if n != 1 {
			t.Errorf("Message-ID %s captured %d times", id, n)
		}
	}

	p.interrupt()
	if !strings.Contains(p.stderr.String(), "outreach dev stopped") {
		t.Errorf("no clean stop in the log:\n%s", p.stderr)
	}
	if _, err := os.Stat(filepath.Join(s.dir, temporalPIDFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporal pid file left after a clean stop: %v", err)
	}

	// Running it again resumes: same key, same campaign, same mail.
	p2 := s.start(t)
	p2.waitReady(2 * time.Minute)
	if p2.key() != key {
		t.Errorf("second start printed key %s, want the first one %s", p2.key(), key)
	}
	if !strings.Contains(p2.stdout.String(), "kept in") || strings.Contains(p2.stdout.String(), "new;") {
		t.Errorf("second start should say the key is kept:\n%s", p2.stdout)
	}
	var list api.CampaignList
	s.call(t, key, http.MethodGet, "/campaigns", nil, &list, http.StatusOK)
	if len(list.Items) != 1 || list.Items[0].Name != "SaaS Growth Blogs Q3" ||
		list.Items[0].LeadCounts.ByStatus[string(models.StatusPlaced)] != 1 || list.Items[0].LeadCounts.ByStatus[string(models.StatusReplied)] != 2 {
		t.Errorf("after restart the campaign list is %+v", list.Items)
	}
	if after := s.captured(t, key); len(after) != len(before) {
		t.Errorf("after restart %d captured messages, want %d", len(after), len(before))
	}
	// A newcomer runs it again: a new campaign pitches the same addresses,
	// which the duplicate-subject rule would refuse within 24 hours if the
	// subject were the same.
	again := exec.CommandContext(ctx, "sh", script)
	again.Env = qs.Env
	if out, err := again.CombinedOutput(); err != nil || !bytes.Contains(out, []byte("Done.")) {
		t.Errorf("quickstart.sh run again: %v\n%s", err, out)
	}
	p2.interrupt()
}

// Kill `outreach dev` (SIGKILL) while a campaign sends, and start it again:
// the campaign goes on where it stopped, every e-mail arrives once, none
// twice. A kill inside an SMTP conversation may leave one send unknown
// (never retried), no more.
func TestDevKilledMidCampaignResumes(t *testing.T) {
	t.Parallel()
	const leads = 10
	s := newDevSetup(t)
	p := s.start(t)
	p.waitReady(2 * time.Minute)
	key := p.key()

	var camp api.CampaignOut
	s.call(t, key, http.MethodPost, "/campaigns", map[string]any{
		"name": "Crash course", "keywords": []string{"SaaS"},
		"settings": map[string]any{
			"timezone":        "UTC",
			"window":          map[string]any{"days": []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}, "start": "00:00", "end": "24:00"},
			"min_gap_seconds": 1, "jitter_seconds": 0,
			"sender": map[string]any{"name": "Ann", "site": "https://ann.example"},
			"sequence": []map[string]any{
				{"subject": "Guest post for {website_title}", "body": "Hello,\n\nA guest post about {topic}?\n\n{your_name}"},
				{"body": "Hello again about {topic}.\n\n{your_name}", "delay_days": 15.0 / 86400},
			},
		},
	}, &camp, http.StatusCreated)
	rows := make([]map[string]any, leads)
	for i := range rows {
		rows[i] = map[string]any{
			"website_url": fmt.Sprintf("https://site%d.example.org", i), "website_title": fmt.Sprintf("Site %d", i),
			"contact_email": fmt.Sprintf("editor@site%d.example.org", i),
		}
	}
	var added api.BulkAddResult
	s.call(t, key, http.MethodPost, "/campaigns/"+camp.ID+"/leads/bulk", rows, &added, http.StatusOK)
	if added.Added != leads {
		t.Fatalf("added %d leads, want %d", added.Added, leads)
	}
	s.call(t, key, http.MethodPost, "/campaigns/"+camp.ID+"/launch", nil, nil, http.StatusOK)

	enginetest.WaitFor(t, 2*time.Minute, "the first pitches", func() (bool, string) {
		n := len(s.captured(t, key))
		return n >= 3, fmt.Sprintf("%d captured", n)
	})
	p.kill()
	atKill := len(s.captured2(t))
	if atKill >= 2*leads {
		t.Fatalf("everything was sent (%d) before the kill; the test proves nothing", atKill)
	}
	t.Logf("killed after %d of %d messages", atKill, 2*leads)

	p2 := s.start(t)
	p2.waitReady(2 * time.Minute)
	if p2.key() != key {
		t.Errorf("restart printed another key")
	}
	var stats api.CampaignAnalytics
	enginetest.WaitFor(t, 5*time.Minute, "every step of every lead decided", func() (bool, string) {
		s.call(t, key, http.MethodGet, "/campaigns/"+camp.ID+"/analytics", nil, &stats, http.StatusOK)
		done := stats.AttemptsByState[models.AttemptSent] + stats.AttemptsByState[models.AttemptUnknown]
		return done == 2*leads, fmt.Sprintf("%d sent or unknown: %v; %d captured", done, stats.AttemptsByState, len(s.captured(t, key)))
	})
	time.Sleep(2 * time.Second) // a duplicate would arrive now

	got := s.captured(t, key)
	counts := byMessageID(got)
	for id, n := range counts {
		if n != 1 {
			t.Errorf("Message-ID %s captured %d times", id, n)
		}
	}
	unknown := stats.AttemptsByState[models.AttemptUnknown]
	if unknown > 1 {
		t.Errorf("%d unknown sends after one kill", unknown)
	}
	if int64(len(counts)) < 2*leads-unknown {
		t.Errorf("%d distinct messages captured, want at least %d", len(counts), 2*leads-unknown)
	}
	if len(got) <= atKill {
		t.Errorf("nothing was sent after the restart (%d captured at the kill, %d now)", atKill, len(got))
	}
	for _, m := range got {
		if m.LeadID == nil || m.Step == nil || *m.CampaignID != camp.ID {
			t.Errorf("captured message %s not attributed to the campaign: %+v", m.ID, m)
		}
	}
	p2.interrupt()
}

// captured2 counts the captured messages from the files, while no process
// serves them.
func (s *devSetup) captured2(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(s.dir, "mailbox", "sent", "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// A busy port is one error line naming the address and the variable that
// moves it, and nothing is left running.
func TestDevBusyPort(t *testing.T) {
	t.Parallel()
	cases := []struct {
		variable string
		port     func(*devSetup) int
	}{
		{"HTTP_ADDR", func(s *devSetup) int { return s.http }},
		{"DEV_TEMPORAL_PORT", func(s *devSetup) int { return s.temporal }},
		{"DEV_TEMPORAL_UI_PORT", func(s *devSetup) int { return s.ui }},
		{"DEV_SMTP_ADDR", func(s *devSetup) int { return s.smtp }},
		{"DEV_IMAP_ADDR", func(s *devSetup) int { return s.imapPort }},
	}
	for _, tc := range cases {
		t.Run(tc.variable, func(t *testing.T) {
			t.Parallel()
			s := newDevSetup(t)
			addr := "127.0.0.1:" + strconv.Itoa(tc.port(s))
			busy, err := net.Listen("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = busy.Close() }()
			p := s.start(t)
			if err := p.wait(2 * time.Minute); err == nil {
				t.Fatal("outreach dev started on a busy port")
			}
			var last string
			for line := range strings.SplitSeq(strings.TrimSpace(p.stderr.String()), "\n") {
				last = line
			}
			want := fmt.Sprintf("address %s is already in use (set %s to another", addr, tc.variable)
			if !strings.HasPrefix(last, "outreach: ") || !strings.Contains(last, want) {
				t.Errorf("last line %q should name the address and %s\nstderr:\n%s", last, tc.variable, p.stderr)
			}
			// Nothing left behind: every other port is free again.
			_ = busy.Close()
			s.checkPortsFree(t, "after the failed start")
		})
	}
}

// The dev user's key is created once, kept (mode 0600) and reused; a key
// the database no longer accepts is replaced.
func TestEnsureDevKey(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		path := filepath.Join(t.TempDir(), devKeyFile)
		k1, created, err := ensureDevKey(ctx, db, path)
		if err != nil || !created {
			t.Fatalf("first call: key %q created %v err %v", k1, created, err)
		}
		info, err := os.Stat(path)
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Fatalf("key file: %v %v", info, err)
		}
		k2, created, err := ensureDevKey(ctx, db, path)
		if err != nil || created || k2 != k1 {
			t.Fatalf("second call: key %q created %v err %v, want the first key", k2, created, err)
		}
		u, err := store.Authenticate(ctx, db, k1)
		if err != nil || u.Email != devUserEmail {
			t.Fatalf("key owner %+v %v", u, err)
		}
		if err := store.RevokeKey(ctx, db, k1); err != nil {
			t.Fatal(err)
		}
		k3, created, err := ensureDevKey(ctx, db, path)
		if err != nil || !created || k3 == k1 {
			t.Fatalf("after revocation: key %q created %v err %v, want a new key", k3, created, err)
		}
		u3, err := store.Authenticate(ctx, db, k3)
		if err != nil || u3.ID != u.ID {
			t.Fatalf("new key belongs to %+v (%v), want the same dev user %s", u3, err, u.ID)
		}
		b, _ := os.ReadFile(path)
		if strings.TrimSpace(string(b)) != k3 {
			t.Fatalf("key file holds %q, want the new key", b)
		}
	})
}

// devConfig points SMTP and IMAP at the dev mailbox and Temporal at the
// dev server, shortens the poll interval unless it was set, and keeps what
// the user chose elsewhere.
func TestDevConfig(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"DEV_TEMPORAL_PORT": "7999", "SMTP_HOST": "smtp.example.com", "SMTP_TLS": "tls",
		"IMAP_HOST": "imap.example.com", "IMAP_USERNAME": "me", "USER_DAILY_CAP": "7",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	c, err := config.LoadFrom(lookup)
	if err != nil {
		t.Fatal(err)
	}
	d := devConfig(c, lookup)
	if d.TemporalAddress != "127.0.0.1:7999" || d.SMTPHost != "127.0.0.1" || d.SMTPTLS != "none" ||
		d.IMAPHost != "127.0.0.1" || d.IMAPTLS != "none" || d.IMAPUsername != devIMAPUser || d.IMAPPassword != devIMAPPassword ||
		d.ReplyPollInterval != devPollInterval || d.SMTPFrom != devFrom || d.UserDailyCap != 7 {
		t.Fatalf("dev config %+v", d)
	}
	if _, err := models.NormalizeEmail(d.SMTPFrom); err != nil {
		t.Fatalf("dev sender %q is refused: %v", d.SMTPFrom, err)
	}
	env["REPLY_POLL_INTERVAL"], env["SMTP_FROM"] = "2m", "me@mine.example"
	c, err = config.LoadFrom(lookup)
	if err != nil {
		t.Fatal(err)
	}
	d = devConfig(c, lookup)
	if d.ReplyPollInterval != 2*time.Minute || d.SMTPFrom != "me@mine.example" {
		t.Fatalf("set values not kept: poll %s from %s", d.ReplyPollInterval, d.SMTPFrom)
	}
}

// Ctrl-C while the stack is still starting stops it cleanly too: exit
// status 0, and no port (the Temporal server's included) left taken.
func TestDevInterruptDuringStart(t *testing.T) {
	t.Parallel()
	s := newDevSetup(t)
	p := s.start(t)
	enginetest.WaitFor(t, time.Minute, "the Temporal dev server to be started", func() (bool, string) {
		_, err := os.Stat(filepath.Join(s.dir, temporalDBFile))
		return err == nil, fmt.Sprint(err)
	})
	p.interrupt()
	s.checkPortsFree(t, "after Ctrl-C")
	if _, err := os.Stat(filepath.Join(s.dir, temporalPIDFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporal pid file left after Ctrl-C: %v", err)
	}
}

// The Temporal TLS settings reach the client options of every process,
// and dev mode (whose own dev server speaks plain gRPC) drops them.
func TestTemporalTLSSettingsWiring(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, []byte("ca"), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"TEMPORAL_TLS": "true", "TEMPORAL_TLS_CA_FILE": ca, "TEMPORAL_TLS_SERVER_NAME": "ns.tmprl.cloud",
		"TEMPORAL_API_KEY": "key",
	}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	c, err := config.LoadFrom(lookup)
	if err != nil {
		t.Fatal(err)
	}
	o := (&env{cfg: c}).temporalOptions("worker")
	if !o.TLS.Enabled || o.TLS.CAFile != ca || o.TLS.ServerName != "ns.tmprl.cloud" || o.APIKey != "key" || o.TLS.CertFile != "" {
		t.Fatalf("temporal options %+v", o)
	}
	d := devConfig(c, lookup)
	if d.TemporalTLS || d.TemporalTLSCAFile != "" || d.TemporalTLSServerName != "" || d.TemporalAPIKey != "" {
		t.Fatalf("dev config keeps Temporal TLS settings: %+v", d)
	}
	for name := range vars {
		if !slices.Contains(devOverrides, name) {
			t.Errorf("%s is not in devOverrides: dev mode would ignore it without saying so", name)
		}
	}
}

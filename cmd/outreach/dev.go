package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/api"
	"github.com/backlinkoutreach/outreach/internal/config"
	"github.com/backlinkoutreach/outreach/internal/devmail"
	"github.com/backlinkoutreach/outreach/internal/devserver"
	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/internal/temporalx"
	"github.com/backlinkoutreach/outreach/models"
	"github.com/backlinkoutreach/outreach/worker"
)

// `outreach dev` runs the whole engine on one machine, in one terminal: the
// Temporal dev server with its Web UI, the API and the worker in this
// process, and the dev mailbox. Everything it keeps lives under
// OUTREACH_DATA_DIR:
//
//	outreach.db        the engine's SQLite database (unless DATABASE_URL is set)
//	temporal.db        the Temporal dev server's state
//	temporal.log       the Temporal dev server's own log (this run)
//	temporal.pid       the Temporal dev server's pid while it runs
//	mailbox/           captured mail and the IMAP inbox (internal/devmail)
//	dev-api-key        the dev user's API key (mode 0600)
//	unsubscribe.secret the key signing unsubscribe links
const (
	devUserEmail    = "dev@example.com"
	devKeyFile      = "dev-api-key"
	devFrom         = "outreach@dev.localhost"
	devIMAPUser     = "outreach"
	devIMAPPassword = "outreach-dev"
	// devPollInterval replaces REPLY_POLL_INTERVAL's 5 minutes unless it
	// is set: a reply dropped into the dev inbox by a mail client shows up
	// within seconds (the /dev inject routes also poll at once).
	devPollInterval = 15 * time.Second
	temporalDBFile  = "temporal.db"
	temporalLogFile = "temporal.log"
	temporalPIDFile = "temporal.pid"
)

// devOverrides are the variables `outreach dev` sets itself: it runs its own
// Temporal server and mailbox.
var devOverrides = []string{
	"TEMPORAL_ADDRESS", "TEMPORAL_TLS", "TEMPORAL_TLS_CERT_FILE", "TEMPORAL_TLS_KEY_FILE", "TEMPORAL_TLS_CA_FILE",
	"TEMPORAL_TLS_SERVER_NAME", "TEMPORAL_API_KEY", "SMTP_HOST", "SMTP_PORT", "SMTP_USERNAME", "SMTP_PASSWORD", "SMTP_TLS", "SMTP_TLS_SKIP_VERIFY",
	"IMAP_HOST", "IMAP_PORT", "IMAP_USERNAME", "IMAP_PASSWORD", "IMAP_TLS", "IMAP_TLS_SKIP_VERIFY", "IMAP_MAILBOXES",
}

func devCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "dev",
		Short: "run everything on this machine: Temporal dev server and Web UI, API, worker, dev mailbox and a dev user",
		Long: "Starts the Temporal dev server (with its Web UI), the API and the worker in one process on the embedded\n" +
			"SQLite database, and the dev mailbox (a capturing SMTP server and an IMAP inbox on loopback), and prints\n" +
			"their addresses and the dev user's API key. State is kept under OUTREACH_DATA_DIR: Ctrl-C stops everything\n" +
			"and running it again resumes. Ports: HTTP_ADDR, DEV_TEMPORAL_PORT, DEV_TEMPORAL_UI_PORT, DEV_SMTP_ADDR,\n" +
			"DEV_IMAP_ADDR. TEMPORAL_ADDRESS (no TLS, no API key), SMTP_* (except SMTP_FROM, SMTP_FROM_NAME) and IMAP_* are set\n" +
			"by dev mode.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return e.runDev(cmd) },
	}
}

// devConfig is the configuration of the dev stack, before the mailbox's
// ports are known.
func devConfig(c config.Config, lookup func(string) (string, bool)) config.Config {
	set := func(name string) bool { v, ok := lookup(name); return ok && strings.TrimSpace(v) != "" }
	c.TemporalAddress = net.JoinHostPort("127.0.0.1", strconv.Itoa(c.DevTemporalPort))
	// The dev server speaks plain gRPC and asks for no key.
	c.TemporalTLS, c.TemporalTLSCertFile, c.TemporalTLSKeyFile, c.TemporalTLSCAFile = false, "", "", ""
	c.TemporalTLSServerName, c.TemporalAPIKey = "", ""
	c.SMTPHost, c.SMTPTLS, c.SMTPTLSSkipVerify, c.SMTPUsername, c.SMTPPassword = "127.0.0.1", "none", false, "", ""
	c.IMAPHost, c.IMAPTLS, c.IMAPTLSSkipVerify = "127.0.0.1", "none", false
	c.IMAPUsername, c.IMAPPassword, c.IMAPMailboxes = devIMAPUser, devIMAPPassword, "INBOX"
	if !set("SMTP_FROM") {
		// A recognisable sender in the dev mailbox; .localhost is reserved
		// for local use (RFC 6761).
		c.SMTPFrom = devFrom
	}
	if !set("REPLY_POLL_INTERVAL") {
		c.ReplyPollInterval = devPollInterval
	}
	return c
}

// devStack is what runDev started, stopped in reverse order.
type devStack struct {
	dir      string
	temporal *devserver.Server
	box      *devmail.Mailbox
	db       *gorm.DB
	key      string
	keyNew   bool
}

func (e *env) runDev(cmd *cobra.Command) (err error) {
	ctx := cmd.Context()
	started := time.Now()
	if ignored := setVars(devOverrides); len(ignored) > 0 {
		e.log.Warn("outreach dev runs its own Temporal server and mailbox; ignoring "+strings.Join(ignored, ", "),
			"temporal", "DEV_TEMPORAL_PORT", "mailbox", "DEV_SMTP_ADDR, DEV_IMAP_ADDR")
	}
	e.cfg = devConfig(e.cfg, os.LookupEnv)
	// Absolute, so the Temporal server's command line names its state file
	// the same way whatever directory the next run starts from.
	dir, err := filepath.Abs(e.cfg.DataDir)
	if err != nil {
		return fmt.Errorf("OUTREACH_DATA_DIR %s: %w", e.cfg.DataDir, err)
	}
	e.cfg.DataDir = dir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("OUTREACH_DATA_DIR %s: %w", dir, err)
	}
	lock, err := lockDataDir(dir)
	if err != nil {
		return err
	}
	if lock != nil {
		defer func() { _ = lock.Close() }()
	}
	// Every port is taken (or checked) before anything starts, so a busy
	// one is one clear line and nothing is left half started.
	ln, err := listenTCP(ctx, "HTTP API", "HTTP_ADDR", e.cfg.HTTPAddr)
	if err != nil {
		return err
	}
	// serveOn closes it once serving; this covers a failed start. A second
	// close only reports that the first happened.
	defer func() { _ = ln.Close() }()
	if len(setVars([]string{"PUBLIC_BASE_URL"})) == 0 {
		e.cfg.PublicBaseURL = "http://" + reachable(ln.Addr())
	}
	reaped, err := reapTemporal(ctx, dir, e.log)
	if err != nil {
		return err
	}
	for _, p := range []struct {
		what, name string
		port       int
	}{
		{"Temporal dev server", "DEV_TEMPORAL_PORT", e.cfg.DevTemporalPort},
		{"Temporal Web UI", "DEV_TEMPORAL_UI_PORT", e.cfg.DevTemporalUIPort},
	} {
		if err := probePort(ctx, p.what, p.name, p.port, reaped); err != nil {
			return err
		}
	}

	st, err := e.startDevParts(cmd)
	defer func() {
		st.stop(e.log)
		if ctx.Err() != nil {
			err = nil // Ctrl-C during the start: a stop, not a failure
		}
		if err == nil {
			e.log.Info("outreach dev stopped; run it again to resume", "data", dir)
		}
	}()
	if err != nil {
		return err
	}
	e.cfg.SMTPPort, e.cfg.IMAPPort = st.box.SMTPPort(), st.box.IMAPPort()

	tc, err := temporalx.Dial(ctx, e.temporalOptions("dev"))
	if err != nil {
		return err
	}
	defer tc.Close()
	srv := e.newAPI(st.db, tc, api.DevMailboxRoutes(st.box))

	w, err := e.startWorker(ctx, st.db, tc, worker.Options{})
	if err != nil {
		return err
	}
	// Stopped before the deferred stops: its activities may be talking to
	// the Temporal server and the mailbox.
	defer w.Stop()

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serveOn(gctx, e, ln, srv.Handler()) })
	g.Go(func() error {
		select {
		case <-gctx.Done():
			return nil
		case <-st.temporal.Done():
			return fmt.Errorf("the Temporal dev server stopped unexpectedly; see %s", filepath.Join(dir, temporalLogFile))
		}
	})
	if err := e.printDevBanner(reachable(ln.Addr()), st, time.Since(started)); err != nil {
		e.log.Warn("cannot print the dev banner", "error", err)
	}
	return g.Wait()
}

// startDevParts starts the Temporal dev server, the database (with the dev
// user) and the mailbox side by side: the server's start-up is most of the
// wait. On error, whatever started is in the answer for stop.
func (e *env) startDevParts(cmd *cobra.Command) (*devStack, error) {
	ctx, dir := cmd.Context(), e.cfg.DataDir
	st := &devStack{dir: dir}
	var g errgroup.Group
	g.Go(func() error {
		logf, err := os.OpenFile(filepath.Join(dir, temporalLogFile), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600) //nolint:gosec // under our data directory
		if err != nil {
			return fmt.Errorf("temporal log: %w", err)
		}
		srv, err := devserver.Start(ctx, devserver.Options{
			IP: "127.0.0.1", Port: e.cfg.DevTemporalPort, UIPort: e.cfg.DevTemporalUIPort,
			DBFile: filepath.Join(dir, temporalDBFile), Namespace: e.cfg.TemporalNamespace, Output: logf,
		})
		if err != nil {
			_ = logf.Close()
			return err
		}
		// The file stays open for the server process, which holds its own
		// descriptor; ours is not needed past the start.
		_ = logf.Close()
		st.temporal = srv
		pid := strconv.Itoa(srv.PID()) + "\n"
		if err := os.WriteFile(filepath.Join(dir, temporalPIDFile), []byte(pid), 0o600); err != nil {
			return fmt.Errorf("temporal pid file: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		db, err := e.openDB(ctx, true)
		if err != nil {
			return err
		}
		st.db = db
		st.key, st.keyNew, err = ensureDevKey(ctx, db, filepath.Join(dir, devKeyFile))
		return err
	})
	g.Go(func() error {
		box, err := devmail.Start(ctx, devmail.Options{
			DataDir: dir, SMTPAddr: e.cfg.DevSMTPAddr, IMAPAddr: e.cfg.DevIMAPAddr,
			IMAPUser: devIMAPUser, IMAPPassword: devIMAPPassword, Logger: e.log.With("component", "devmail"),
		})
		if err != nil {
			var le *devmail.ListenError
			if errors.As(err, &le) {
				name := "DEV_SMTP_ADDR"
				if le.Server == "IMAP" {
					name = "DEV_IMAP_ADDR"
				}
				return fmt.Errorf("%w (set %s to another address)", err, name)
			}
			return err
		}
		st.box = box
		return nil
	})
	return st, g.Wait()
}

// stop ends what started, the server last but one: the worker (stopped
// before this runs) may have been talking to it and to the mailbox.
func (st *devStack) stop(log *slog.Logger) {
	if st.temporal != nil {
		st.temporal.Stop()
		_ = os.Remove(filepath.Join(st.dir, temporalPIDFile))
		log.Info("temporal dev server stopped")
	}
	if st.box != nil {
		if err := st.box.Close(); err != nil {
			log.Error("dev mailbox close", "error", err)
		}
	}
	if st.db != nil {
		store.Close(st.db)
	}
}

// printDevBanner prints the addresses and the key on standard output, in
// one write.
func (e *env) printDevBanner(httpAddr string, st *devStack, took time.Duration) error {
	base := "http://" + httpAddr
	keyNote := "kept in " + filepath.Join(e.cfg.DataDir, devKeyFile)
	if st.keyNew {
		keyNote = "new; " + keyNote
	}
	dbNote := "embedded SQLite " + e.cfg.SQLitePath()
	if !e.cfg.UsesSQLite() {
		dbNote = "PostgreSQL (DATABASE_URL)"
	}
	var b []byte
	b = fmt.Appendf(b, "\nBacklink Outreach Engine: dev stack ready in %.1fs\n\n", took.Seconds())
	b = fmt.Appendf(b, "  API              %s%s   (docs: %s/openapi.json)\n", base, api.BasePath, base)
	b = fmt.Appendf(b, "  API key          %s\n", st.key)
	b = fmt.Appendf(b, "                   user %s, %s\n", devUserEmail, keyNote)
	b = fmt.Appendf(b, "  Temporal Web UI  http://%s   (gRPC %s, namespace %s)\n", st.temporal.UIAddress, st.temporal.Address, e.cfg.TemporalNamespace)
	b = fmt.Appendf(b, "  Dev mailbox      SMTP %s (captures every e-mail), IMAP %s (user %s, password %s)\n",
		st.box.SMTPAddr(), st.box.IMAPAddr(), devIMAPUser, devIMAPPassword)
	b = fmt.Appendf(b, "                   %s%s/dev/mailbox/messages lists what was sent; replies poll every %s\n",
		base, api.BasePath, e.cfg.ReplyPollInterval)
	startOver := "delete the directory to start over"
	if !e.cfg.UsesSQLite() {
		// The campaigns are in PostgreSQL; the directory holds only
		// Temporal's state (deleting it loses their workflows, not them).
		startOver = "the directory holds Temporal's state only"
	}
	b = fmt.Appendf(b, "  Data             %s (%s); %s\n\n", e.cfg.DataDir, dbNote, startOver)
	b = append(b, "Walk through a campaign:  sh examples/quickstart.sh      Stop: Ctrl-C\n\n"...)
	_, err := e.stdout.Write(b)
	return err
}

// setVars answers which of names are set (non-empty) in the environment.
func setVars(names []string) []string {
	var out []string
	for _, n := range names {
		if v, ok := os.LookupEnv(n); ok && strings.TrimSpace(v) != "" {
			out = append(out, n)
		}
	}
	return out
}

// listenTCP listens on addr; a busy port is one line naming what wanted
// it and the variable that moves it.
func listenTCP(ctx context.Context, what, variable, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("%s: address %s is already in use (set %s to another port)", what, addr, variable)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: cannot listen on %s (%s): %w", what, addr, variable, err)
	}
	return ln, nil
}

// probePort checks that a port of the Temporal dev server is free. After
// a reap it gives the old server's sockets a few seconds to close.
func probePort(ctx context.Context, what, variable string, port int, patient bool) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := listenTCP(ctx, what, variable, addr)
		if err == nil {
			return ln.Close()
		}
		if !patient || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ensureDevKey answers the dev user's API key: the one kept in path while
// the database still knows it, else a new key (for the dev user, created
// the first time), written to path with mode 0600.
func ensureDevKey(ctx context.Context, db *gorm.DB, path string) (key string, created bool, err error) {
	b, err := os.ReadFile(path) //nolint:gosec // path under our data directory
	switch {
	case err == nil:
		key = strings.TrimSpace(string(b))
		_, aerr := store.Authenticate(ctx, db, key)
		if aerr == nil {
			return key, false, nil
		}
		if !errors.Is(aerr, models.ErrKeyNotFound) {
			return "", false, aerr
		}
		// Revoked, or a database started afresh: issue another.
	case !errors.Is(err, fs.ErrNotExist):
		return "", false, fmt.Errorf("dev API key: %w", err)
	}
	u, err := store.UserByEmail(ctx, db, devUserEmail)
	if errors.Is(err, models.ErrUserNotFound) {
		u, err = store.CreateUser(ctx, db, devUserEmail)
	}
	if err != nil {
		return "", false, fmt.Errorf("dev user: %w", err)
	}
	key, _, err = store.CreateKey(ctx, db, u.ID)
	if err != nil {
		return "", false, fmt.Errorf("dev user: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(key+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("dev API key: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", false, fmt.Errorf("dev API key: %w", err)
	}
	return key, true, nil
}

// reachable is a listener's address as a browser or a mail client can use
// it: one that listens on every interface (HTTP_ADDR=:8080 gives [::]:8080)
// is reached on the loopback address. The unsubscribe links in captured
// mail are built on it.
func reachable(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// reapTemporal stops a Temporal dev server that a killed `outreach dev` on
// this data directory left running (Linux kills it with its parent; other
// systems do not), and waits until it is gone: it holds the ports and the
// state file. It reports whether there was one.
func reapTemporal(ctx context.Context, dir string, log *slog.Logger) (bool, error) {
	path := filepath.Join(dir, temporalPIDFile)
	b, err := os.ReadFile(path) //nolint:gosec // path under our data directory
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("temporal pid file: %w", err)
	}
	// Whatever it names is dealt with below; a pid file that cannot be
	// removed is read again next time, with the same checks.
	defer func() { _ = os.Remove(path) }()
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return false, nil
	}
	dbFile := filepath.Join(dir, temporalDBFile)
	ps := processOf(ctx, pid)
	if !ps.alive() || (ps.cmdline != "" && !ps.runs(dbFile)) {
		return false, nil // gone, or the pid now names another program
	}
	if ps.runs(dbFile) {
		log.Warn("stopping the Temporal dev server a previous outreach dev left running", "pid", pid)
		if p, err := os.FindProcess(pid); err == nil {
			_ = p.Signal(syscall.SIGKILL)
		}
	}
	// A process being killed has no command line any more but still holds
	// its sockets until it turns zombie.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ps := processOf(ctx, pid)
		if !ps.alive() || (ps.cmdline != "" && !ps.runs(dbFile)) {
			return true, nil
		}
		if time.Now().After(deadline) {
			return true, fmt.Errorf("the Temporal dev server left by a previous run (pid %d) does not stop", pid)
		}
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// process is what reapTemporal needs to know of a pid.
type process struct {
	exists, zombie bool
	cmdline        string
}

func (p process) alive() bool { return p.exists && !p.zombie }

// runs reports whether the process is a Temporal dev server on dbFile, so
// a recycled pid is never killed.
func (p process) runs(dbFile string) bool {
	return strings.Contains(p.cmdline, "start-dev") && strings.Contains(p.cmdline, dbFile)
}

func processOf(ctx context.Context, pid int) process {
	id := strconv.Itoa(pid)
	if stat, err := os.ReadFile("/proc/" + id + "/stat"); err == nil { //nolint:gosec // id is a number
		p := process{exists: true}
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
			p.zombie = stat[i+2] == 'Z' || stat[i+2] == 'X'
		}
		cmd, _ := os.ReadFile("/proc/" + id + "/cmdline") //nolint:gosec // id is a number
		p.cmdline = strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " "))
		return p
	} else if _, err := os.Stat("/proc/self"); err == nil {
		return process{} // a /proc without this pid: gone
	}
	out, err := exec.CommandContext(ctx, "ps", "-o", "stat=,command=", "-p", id).Output() //nolint:gosec // a pid
	if err != nil {
		return process{}
	}
	stat, cmd, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	return process{exists: true, zombie: strings.HasPrefix(stat, "Z"), cmdline: strings.TrimSpace(cmd)}
}

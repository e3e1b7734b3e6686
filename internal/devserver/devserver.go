// Package devserver runs the Temporal CLI's development server as a child
// process, for tests and for `outreach dev`. The binary is built by
// `make tools`; nothing is ever downloaded at run time.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
)

// EnvBinary overrides where the Temporal CLI is looked for.
const EnvBinary = "TEMPORAL_CLI"

// SearchAttributes are registered on every dev server the engine starts.
var SearchAttributes = map[string]string{
	"CampaignId": "Keyword",
	"OwnerId":    "Keyword",
	"LeadStatus": "Keyword",
}

// ErrNoBinary means the Temporal CLI has not been built yet.
var ErrNoBinary = errors.New("the Temporal CLI is not built: run `make tools` (it builds .tools/bin/temporal)")

// FindBinary returns the Temporal CLI: $TEMPORAL_CLI, else .tools/bin/temporal
// in the nearest directory (upwards) holding go.mod, else temporal on PATH.
func FindBinary() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		if _, err := os.Stat(p); err != nil { //nolint:gosec // the operator names the binary to run
			return "", fmt.Errorf("%s=%s: %w", EnvBinary, p, err)
		}
		return p, nil
	}
	if dir, err := os.Getwd(); err == nil {
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				p := filepath.Join(dir, ".tools", "bin", "temporal")
				if _, err := os.Stat(p); err == nil {
					return p, nil
				}
				break
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	if p, err := exec.LookPath("temporal"); err == nil {
		return p, nil
	}
	return "", ErrNoBinary
}

// Options configure a dev server.
type Options struct {
	Binary string // empty: FindBinary
	IP     string // default 127.0.0.1
	// Port is the gRPC port; 0 picks a free one.
	Port int
	// UIPort is the Web UI port; 0 with Headless false picks a free one.
	UIPort   int
	Headless bool
	// DBFile keeps state in a SQLite file (WAL pragmas applied); empty
	// keeps it in memory.
	DBFile string
	// Namespace is created at start besides "default".
	Namespace string
	// Output receives the server's own logs; nil discards them.
	Output io.Writer
	// StartTimeout bounds the wait for the server to answer (default 60 s).
	StartTimeout time.Duration
}

// Server is a running dev server.
type Server struct {
	Address   string // host:port of the gRPC frontend
	UIAddress string // host:port of the Web UI, empty when headless
	Namespace string
	cmd       *exec.Cmd
	done      chan struct{}
	waitErr   error
}

// Start launches the dev server and waits until it answers health checks.
func Start(ctx context.Context, o Options) (*Server, error) {
	bin := o.Binary
	if bin == "" {
		var err error
		if bin, err = FindBinary(); err != nil {
			return nil, err
		}
	}
	ip := o.IP
	if ip == "" {
		ip = "127.0.0.1"
	}
	port, err := portOrFree(ctx, ip, o.Port)
	if err != nil {
		return nil, err
	}
	ns := o.Namespace
	if ns == "" {
		ns = "default"
	}
	args := []string{"server", "start-dev", "--ip", ip, "--port", strconv.Itoa(port), "--log-level", "warn"}
	uiAddr := ""
	if o.Headless {
		args = append(args, "--headless")
	} else {
		ui, err := portOrFree(ctx, ip, o.UIPort)
		if err != nil {
			return nil, err
		}
		args = append(args, "--ui-port", strconv.Itoa(ui), "--ui-ip", ip)
		uiAddr = net.JoinHostPort(ip, strconv.Itoa(ui))
	}
	if ns != "default" {
		args = append(args, "--namespace", ns)
	}
	if o.DBFile != "" {
		args = append(args, "--db-filename", o.DBFile,
			"--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal")
	}
	for name, typ := range SearchAttributes {
		args = append(args, "--search-attribute", name+"="+typ)
	}
	// Not tied to ctx: ctx bounds the start, and `outreach dev` stops the
	// server itself (Stop) after its worker has drained.
	cmd := exec.Command(bin, args...) //nolint:gosec,noctx // the binary is ours, the arguments are built here
	out := o.Output
	if out == nil {
		out = io.Discard
	}
	cmd.Stdout, cmd.Stderr = out, out
	// Own process group: Ctrl-C in a terminal reaches us, and we stop the
	// server ourselves after the worker has drained.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	dieWithParent(cmd.SysProcAttr)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start temporal dev server: %w", err)
	}
	s := &Server{Address: net.JoinHostPort(ip, strconv.Itoa(port)), UIAddress: uiAddr, Namespace: ns, cmd: cmd, done: make(chan struct{})}
	go func() { s.waitErr = cmd.Wait(); close(s.done) }()
	timeout := o.StartTimeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	if err := s.waitHealthy(ctx, timeout); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) waitHealthy(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-s.done:
			if s.waitErr == nil {
				return errors.New("temporal dev server exited during start-up")
			}
			return fmt.Errorf("temporal dev server exited during start-up: %w", s.waitErr)
		default:
		}
		c, err := client.DialContext(ctx, client.Options{HostPort: s.Address, Namespace: s.Namespace, Logger: quietLogger{}})
		if err == nil {
			_, herr := c.CheckHealth(ctx, &client.CheckHealthRequest{})
			c.Close()
			if herr == nil {
				return nil
			}
			err = herr
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("temporal dev server at %s not healthy after %s: %w", s.Address, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop ends the server (SIGTERM, then SIGKILL after 10 s) and waits for it.
func (s *Server) Stop() {
	if s == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// PID is the server's process id (`outreach dev` records it, so a run that
// was killed can find a server it left behind).
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Done is closed when the server process has exited.
func (s *Server) Done() <-chan struct{} { return s.done }

func portOrFree(ctx context.Context, ip string, p int) (int, error) {
	if p != 0 {
		return p, nil
	}
	return FreePort(ctx, ip)
}

// FreePort answers a port on ip that nothing listens on now, for a server
// started a moment later. It is taken below the kernel's ephemeral range
// (32768-60999 on Linux): a port from listening on ":0" comes from that
// range, where every outgoing connection on the machine takes its local
// port too, so one may take it before the server binds it (tests running
// side by side met exactly that). Only when 50 tries there fail does it
// fall back to ":0".
func FreePort(ctx context.Context, ip string) (int, error) {
	var lc net.ListenConfig
	for range 50 {
		p := 20000 + rand.IntN(12000) //nolint:gosec // spreading ports, not a secret
		ln, err := lc.Listen(ctx, "tcp", net.JoinHostPort(ip, strconv.Itoa(p)))
		if err != nil {
			continue
		}
		if err := ln.Close(); err != nil {
			return 0, fmt.Errorf("find a free port: %w", err)
		}
		return p, nil
	}
	ln, err := lc.Listen(ctx, "tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port //nolint:forcetypeassert // tcp listener
	if err := ln.Close(); err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	return port, nil
}

// quietLogger silences the SDK while polling for health.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}

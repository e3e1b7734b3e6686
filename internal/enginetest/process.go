package enginetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/backlinkoutreach/outreach/internal/devserver"
	"github.com/backlinkoutreach/outreach/internal/syncbuf"
)

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// Binary builds cmd/outreach once per test process and answers its path;
// Main removes it.
func Binary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "outreach-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "outreach")
		cmd := exec.CommandContext(context.Background(), "go", "build", "-o", binPath, "github.com/backlinkoutreach/outreach/cmd/outreach") //nolint:gosec // our own build into our temporary directory
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %w: %s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func removeBinary() {
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
}

// LockedBuffer collects a subprocess's output while the test reads it.
type LockedBuffer = syncbuf.Buffer

// FreePort answers a loopback port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := devserver.FreePort(context.Background(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

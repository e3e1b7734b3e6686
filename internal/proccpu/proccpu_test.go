//go:build linux

package proccpu

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// A command name with a space and a parenthesis, as a process may
	// name itself.
	line := []byte("4242 (tricky) name) S 1 4242 4242 0 -1 4194560 120 0 0 0 250 130 0 0 20 0 1 0 100 1000 10\n")
	comm, d, ok := parseStat(line)
	if !ok || comm != "tricky) name" || d != 3800*time.Millisecond {
		t.Fatalf("parseStat = %q, %v, %v; want \"tricky) name\", 3.8s, true", comm, d, ok)
	}
	for _, bad := range []string{"", "12 (x) S 1 2", "12 x S 1 2 3 4 5 6 7 8 9 10 11 12 13 14", "1 (x) S 1 2 3 4 5 6 7 8 9 10 u v 0"} {
		if _, _, ok := parseStat([]byte(bad)); ok {
			t.Errorf("parseStat(%q) ok", bad)
		}
	}
}

// A busy child process's CPU is read by its pid and by its command name.
func TestOfAndOfCommand(t *testing.T) {
	// A copy of this test binary under a name no other process has.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "proccpuspin")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "PROCCPU_SPIN=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		d, ok := Of(cmd.Process.Pid)
		byName, n := OfCommand("proccpuspin")
		if ok && d >= 200*time.Millisecond {
			if n != 1 || byName < d {
				t.Fatalf("OfCommand = %v over %d processes; want one with at least %v", byName, n, d)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a spinning process used %v (ok %v) in 20 s", d, ok)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, ok := Of(-1); ok {
		t.Error("Of(-1) ok")
	}
}

// TestMain spins instead of testing when run as the child of
// TestOfAndOfCommand.
func TestMain(m *testing.M) {
	if os.Getenv("PROCCPU_SPIN") != "" {
		for start := time.Now(); time.Since(start) < time.Minute; {
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

//go:build unix

package main

import (
	"net"
	"strings"
	"testing"
)

// One outreach dev per data directory: a second one would stop the first
// one's Temporal server as if a killed run had left it.
func TestLockDataDir(t *testing.T) {
	dir := t.TempDir()
	first, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockDataDir(dir); err == nil || !strings.Contains(err.Error(), "in use by another outreach dev") {
		t.Fatalf("second lock: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := lockDataDir(dir)
	if err != nil {
		t.Fatalf("lock after the first run ended: %v", err)
	}
	_ = again.Close()
}

// A dev stack listening on every interface is reached, and its unsubscribe
// links point, at the loopback address, not at [::] or 0.0.0.0.
func TestReachable(t *testing.T) {
	for in, want := range map[string]string{
		"[::]:8097":      "127.0.0.1:8097",
		"0.0.0.0:8080":   "127.0.0.1:8080",
		"127.0.0.1:8080": "127.0.0.1:8080",
		"[::1]:9000":     "[::1]:9000",
		"10.0.0.5:80":    "10.0.0.5:80",
	} {
		addr, err := net.ResolveTCPAddr("tcp", in)
		if err != nil {
			t.Fatal(err)
		}
		if got := reachable(addr); got != want {
			t.Errorf("reachable(%s) = %s, want %s", in, got, want)
		}
	}
}

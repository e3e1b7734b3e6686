//go:build unix

package main

import (
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

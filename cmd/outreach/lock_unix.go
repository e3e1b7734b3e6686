//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDataDir takes the data directory for this process: a second
// `outreach dev` on it would take the first one's Temporal server for one a
// killed run left behind and stop it (reapTemporal). The lock is the
// kernel's (flock), so it ends with the process, however it ends; the file
// must stay open until then.
func lockDataDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "dev.lock"), os.O_CREATE|os.O_RDWR, 0o600) //nolint:gosec // under our data directory
	if err != nil {
		return nil, fmt.Errorf("OUTREACH_DATA_DIR %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil { //nolint:gosec // a file descriptor fits an int
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("OUTREACH_DATA_DIR %s is in use by another outreach dev: stop it, or give this one another directory", dir)
		}
		return nil, fmt.Errorf("OUTREACH_DATA_DIR %s: lock: %w", dir, err)
	}
	return f, nil
}

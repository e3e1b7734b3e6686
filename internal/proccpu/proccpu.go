// Package proccpu reads how much CPU other processes on the machine have
// used, from Linux's /proc: the benchmarks report the CPU of the servers
// they talk to (the IMAP server's process, PostgreSQL's) beside their own.
package proccpu

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// ticks is USER_HZ, the unit of /proc's CPU times, on Linux.
const ticks = 100

// Of is the CPU time (user and system) process pid has used; ok is false
// when it cannot be read (no such process, not Linux).
func Of(pid int) (d time.Duration, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	_, d, ok = parseStat(b)
	return d, ok
}

// OfCommand sums the CPU time of every process whose command name is
// name (a server's backends and helpers: "postgres"), and answers how many
// there were. Processes that ended are not counted, so it is to be read as
// a difference over a span in which the server's processes live on.
func OfCommand(name string) (time.Duration, int) {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var total time.Duration
	n := 0
	for _, f := range stats {
		b, err := os.ReadFile(f) //nolint:gosec // a path /proc listed
		if err != nil {
			continue // ended meanwhile
		}
		if comm, d, ok := parseStat(b); ok && comm == name {
			total += d
			n++
		}
	}
	return total, n
}

// parseStat reads a /proc/<pid>/stat line: the command name (field 2, in
// parentheses, which may hold spaces and parentheses) and utime + stime
// (fields 14 and 15, in ticks).
func parseStat(b []byte) (comm string, d time.Duration, ok bool) {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return "", 0, false
	}
	f := bytes.Fields(b[end+1:])
	if len(f) < 13 {
		return "", 0, false
	}
	utime, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return "", 0, false
	}
	return string(b[open+1 : end]), time.Duration(utime+stime) * time.Second / ticks, true
}

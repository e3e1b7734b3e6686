//go:build !linux

package devserver

import "syscall"

// dieWithParent has no portable equivalent outside Linux; `outreach dev`
// finds a server left behind by a killed run through its pid file.
func dieWithParent(*syscall.SysProcAttr) {}

package devserver

import "syscall"

// dieWithParent has the kernel kill the server when the process that
// started it dies, even by SIGKILL: its own process group shields it from a
// terminal's Ctrl-C, and an orphan would keep the ports and the state file.
func dieWithParent(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }

package sandbox

import "syscall"

// childProcAttr makes a child process get SIGTERM when the thread that started it dies, so a
// sandbox killed outright (SIGKILL) leaves no Prometheus behind. Ctrl-C and --duration stop
// children in order; this is the backstop.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}

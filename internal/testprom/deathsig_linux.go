package testprom

import (
	"os/exec"
	"syscall"
)

// setDeathSignal makes the kernel kill the test Prometheus if the test binary dies without
// running its cleanup (a panic, a -timeout kill).
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

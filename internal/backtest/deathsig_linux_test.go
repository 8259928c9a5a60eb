package backtest

import (
	"os/exec"
	"syscall"
)

// setDeathSignal kills the test Prometheus if the test binary dies first.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

//go:build !linux

package backtest

import "os/exec"

func setDeathSignal(*exec.Cmd) {}

// Package testprom finds and runs a real Prometheus for tests (internal/backtest and
// internal/promwatch); nothing outside tests imports it. It has no CoucheStor dependencies so
// that any package's internal tests can use it. internal/sandbox has its own runner, for
// `couchestor sandbox`, which scrapes targets rather than serving a backfilled TSDB.
package testprom

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Find returns the prometheus and promtool binaries: from $COUCHESTOR_PROMETHEUS_DIR (set by
// `make test` from hack/prometheus.sh), else from PATH.
func Find() (prometheus, promtool string, err error) {
	if dir := os.Getenv("COUCHESTOR_PROMETHEUS_DIR"); dir != "" {
		p, t := filepath.Join(dir, "prometheus"), filepath.Join(dir, "promtool")
		for _, f := range []string{p, t} {
			if _, err := os.Stat(f); err != nil {
				return "", "", fmt.Errorf("COUCHESTOR_PROMETHEUS_DIR=%s: %v", dir, err)
			}
		}
		return p, t, nil
	}
	p, err1 := exec.LookPath("prometheus")
	t, err2 := exec.LookPath("promtool")
	if err1 != nil || err2 != nil {
		return "", "", errors.New("prometheus and promtool are neither in $COUCHESTOR_PROMETHEUS_DIR nor on PATH")
	}
	return p, t, nil
}

// Backfill converts an OpenMetrics file into TSDB blocks under data with promtool.
func Backfill(promtool, openMetrics, data string) error {
	out, err := exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", openMetrics, data).CombinedOutput()
	if err != nil {
		return fmt.Errorf("promtool tsdb create-blocks-from openmetrics: %v\n%s", err, Tail(string(out)))
	}
	return nil
}

// Server is a Prometheus started by Start.
type Server struct {
	URL string
	cmd *exec.Cmd
}

// Start runs prometheus on a free loopback port with its TSDB in data (created if missing),
// the given configuration (no scrape jobs if empty) and any extra flags; its configuration
// file and log go to dir. It returns once /-/ready answers 200.
func Start(prometheus, dir, data, config string, args ...string) (*Server, error) {
	if config == "" {
		config = "global:\n  scrape_interval: 15s\n"
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, fmt.Sprintf("prometheus-%s.log", strings.ReplaceAll(addr, ":", "_")))
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(prometheus, append([]string{
		"--config.file=" + cfg,
		"--storage.tsdb.path=" + data,
		"--web.listen-address=" + addr,
		"--log.level=warn",
	}, args...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	srv := &Server{URL: "http://" + addr, cmd: cmd}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(90 * time.Second)
	for {
		select {
		case err := <-exited:
			b, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("prometheus exited (%v) before ready:\n%s", err, Tail(string(b)))
		case <-deadline:
			srv.Stop()
			b, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("prometheus not ready after 90s:\n%s", Tail(string(b)))
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := http.Get(srv.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return srv, nil
			}
		}
	}
}

// Stop kills Prometheus and waits (up to about 6 s) until its port is closed, so a test can
// check that the address no longer answers.
func (s *Server) Stop() {
	if s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	// Wait is done by the goroutine started in Start.
	for range 50 {
		conn, err := net.DialTimeout("tcp", strings.TrimPrefix(s.URL, "http://"), 100*time.Millisecond)
		if err != nil {
			return
		}
		conn.Close()
		time.Sleep(20 * time.Millisecond)
	}
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Tail is the last 30 lines of s, for error messages quoting a tool's output.
func Tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-30):], "\n")
}

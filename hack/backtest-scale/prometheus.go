package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// findPrometheus returns the prometheus and promtool binaries of $COUCHESTOR_PROMETHEUS_DIR.
// (internal/testprom does the same for tests; the architecture keeps it to _test.go files.)
func findPrometheus() (prometheus, promtool string, err error) {
	dir := os.Getenv("COUCHESTOR_PROMETHEUS_DIR")
	p, t := filepath.Join(dir, "prometheus"), filepath.Join(dir, "promtool")
	for _, f := range []string{p, t} {
		if _, err := os.Stat(f); err != nil {
			return "", "", fmt.Errorf("COUCHESTOR_PROMETHEUS_DIR=%s: %v", dir, err)
		}
	}
	return p, t, nil
}

type promServer struct {
	URL string
	cmd *exec.Cmd
}

// startPrometheus serves the TSDB in data (no scrape jobs; retention long enough to keep the
// backfilled blocks) on a free loopback port, and returns once /-/ready answers.
func startPrometheus(ctx context.Context, prometheus, dir, data string) (*promServer, error) {
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global:\n  scrape_interval: 15s\n"), 0o600); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	logPath := filepath.Join(dir, "prometheus.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(prometheus, "--config.file="+cfg, "--storage.tsdb.path="+data, "--web.listen-address="+addr,
		"--storage.tsdb.retention.time=10y", "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	srv := &promServer{URL: "http://" + addr, cmd: cmd}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(2 * time.Minute)
	for {
		select {
		case err := <-exited:
			b, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("prometheus exited (%v) before ready:\n%s", err, tail(string(b)))
		case <-deadline:
			srv.stop()
			return nil, errors.New("prometheus not ready after 2m; see " + logPath)
		case <-ctx.Done():
			srv.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if resp, err := http.Get(srv.URL + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return srv, nil
			}
		}
	}
}

func (s *promServer) stop() { _ = s.cmd.Process.Kill() }

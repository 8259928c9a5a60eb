package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Prometheus is a real Prometheus server scraping given targets, in a directory of its own.
type Prometheus struct {
	URL string
	// LogFile is where Prometheus writes its log.
	LogFile  string
	cmd      *exec.Cmd
	done     chan error
	log      *os.File
	stopOnce sync.Once
}

// PrometheusBinary finds the prometheus binary: $COUCHESTOR_PROMETHEUS_DIR (set by the Makefile
// from hack/prometheus.sh), else PATH.
func PrometheusBinary() (string, error) {
	if dir := os.Getenv("COUCHESTOR_PROMETHEUS_DIR"); dir != "" {
		p := filepath.Join(dir, "prometheus")
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("COUCHESTOR_PROMETHEUS_DIR=%s: %w", dir, err)
		}
		return p, nil
	}
	p, err := exec.LookPath("prometheus")
	if err != nil {
		return "", errors.New("prometheus not found: run through `make`, which builds it with hack/prometheus.sh, or put it on PATH")
	}
	return p, nil
}

// StartPrometheus starts Prometheus on a free loopback port, scraping each target (host:port,
// path /metrics) every interval, with its data and log in dir. It returns once Prometheus is
// ready.
func StartPrometheus(ctx context.Context, dir string, targets []string, interval time.Duration) (*Prometheus, error) {
	bin, err := PrometheusBinary()
	if err != nil {
		return nil, err
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: %s
  evaluation_interval: %s
scrape_configs:
- job_name: mayastor-io-engine
  static_configs:
  - targets: ['%s']
`, interval, interval, strings.Join(targets, "', '"))
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start prometheus: %w", err)
	}
	p := &Prometheus{URL: "http://" + addr, LogFile: logf.Name(), cmd: cmd, done: make(chan error, 1), log: logf}
	go func() { p.done <- cmd.Wait() }()

	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(p.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case err := <-p.done:
			logf.Close()
			return nil, fmt.Errorf("prometheus exited before it was ready (%v); see %s", err, logf.Name())
		case <-ctx.Done():
			p.Stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("prometheus not ready within 60s; see %s", logf.Name())
		}
	}
}

// Stop ends Prometheus and waits for it. Calling it again does nothing.
func (p *Prometheus) Stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	p.stopOnce.Do(func() {
		_ = p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		p.log.Close()
	})
}

func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

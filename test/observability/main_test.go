// Package observability tests what CoucheStor ships for monitoring: the alert rules
// (charts/couchestor/files/prometheus-rules.yaml) with the real promtool, their runbooks in
// docs/metrics-alerts.md, and the Grafana dashboard (charts/couchestor/files/dashboard.json):
// every PromQL expression parses, and every metric they name is exported by the operator or by
// Mayastor's io-engine exporter.
//
// promtool comes from COUCHESTOR_PROMETHEUS_DIR, which `make test` sets after building it
// (hack/prometheus.sh, cached). Without it the promtool tests skip, or fail under CI=true.
package observability

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

var repoRoot = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}()

const (
	rulesFile     = "charts/couchestor/files/prometheus-rules.yaml"
	dashboardFile = "charts/couchestor/files/dashboard.json"
	runbookFile   = "docs/metrics-alerts.md"
)

// promtool returns the path of the promtool that hack/prometheus.sh built.
func promtool(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("COUCHESTOR_PROMETHEUS_DIR")
	if dir == "" {
		why := "COUCHESTOR_PROMETHEUS_DIR is not set: run `make test`, which builds promtool with hack/prometheus.sh and sets it"
		if os.Getenv("CI") != "" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	p := filepath.Join(dir, "promtool")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("COUCHESTOR_PROMETHEUS_DIR=%s holds no promtool: %v", dir, err)
	}
	return p
}

// runPromtool runs promtool in dir and fails the test with its output when it fails.
func runPromtool(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(promtool(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func readRepoFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

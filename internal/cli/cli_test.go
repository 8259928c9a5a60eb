package cli

import (
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/billyronks/couchestor/internal/promwatch"
)

func TestServiceProxyURL(t *testing.T) {
	rc := &rest.Config{Host: "https://10.0.0.1:6443"}
	for in, want := range map[string]string{
		"mayastor/mayastor-api-rest:8081":  "https://10.0.0.1:6443/api/v1/namespaces/mayastor/services/mayastor-api-rest:8081/proxy",
		"monitoring/prometheus:web":        "https://10.0.0.1:6443/api/v1/namespaces/monitoring/services/prometheus:web/proxy",
		"monitoring/https:prometheus:9091": "https://10.0.0.1:6443/api/v1/namespaces/monitoring/services/https:prometheus:9091/proxy",
	} {
		got, err := serviceProxyURL(rc, in)
		if err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %q", in, got, err, want)
		}
	}
	if got, _ := serviceProxyURL(&rest.Config{Host: "example.com/prefix/"}, "a/b:1"); got != "https://example.com/prefix/api/v1/namespaces/a/services/b:1/proxy" {
		t.Errorf("host with a path: %q", got)
	}
	for _, bad := range []string{"", "mayastor", "mayastor/api", "/api:1", "ns/api:", "ns/:1", "ns/ftp:api:1", "ns/a:b:c:d", "ns/a/b:1"} {
		if _, err := serviceProxyURL(rc, bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// plan and backtest reach Prometheus the same way: the URL flag as is, or the service proxy
// with the API server's transport.
func TestPrometheusEndpoint(t *testing.T) {
	rc := &rest.Config{Host: "https://10.0.0.1:6443"}
	po := &planOptions{prometheus: promwatch.Config{URL: "http://prom:9090"}}
	if u, rt, where, err := po.prometheusEndpoint(rc); err != nil || u != "http://prom:9090" || rt != nil || where != u {
		t.Errorf("--prometheus-url: got %q, %v, %q, %v", u, rt, where, err)
	}
	po.promService = "monitoring/prometheus:9090"
	u, rt, where, err := po.prometheusEndpoint(rc)
	if err != nil || u != "https://10.0.0.1:6443/api/v1/namespaces/monitoring/services/prometheus:9090/proxy" || rt == nil ||
		where != "service monitoring/prometheus:9090" {
		t.Errorf("--prometheus-service: got %q, %v, %q, %v", u, rt, where, err)
	}
	po.promService = "prometheus"
	if _, _, _, err := po.prometheusEndpoint(rc); err == nil {
		t.Error("a malformed --prometheus-service was accepted")
	}
}

func TestParsePVCRef(t *testing.T) {
	for in, want := range map[string][2]string{
		"pvc/shop/db":                   {"shop", "db"},
		"pvc/db":                        {"", "db"},
		"PVC/shop/db":                   {"shop", "db"},
		"persistentvolumeclaim/shop/db": {"shop", "db"},
	} {
		ns, name, err := parsePVCRef(in, "")
		if err != nil || ns != want[0] || name != want[1] {
			t.Errorf("%s: %q %q %v", in, ns, name, err)
		}
	}
	for _, bad := range []string{"", "db", "pvc/", "pvc//db", "pvc/shop/", "pv/shop/db", "pvc/a/b/c"} {
		if _, _, err := parsePVCRef(bad, ""); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseTier(t *testing.T) {
	for in, want := range map[string]string{"nvme": "NVMe", "NVMe": "NVMe", "sata": "SATA", "SATA": "SATA"} {
		if got, err := ParseTier(in); err != nil || string(got) != want {
			t.Errorf("%s: %q %v", in, got, err)
		}
	}
	if _, err := ParseTier("ssd"); err == nil {
		t.Error("ssd accepted")
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		45 * time.Second: "45s", 90 * time.Second: "1m30s", 10 * time.Minute: "10m", 25 * time.Minute: "25m",
		3*time.Hour + 4*time.Minute: "3h4m", 72 * time.Hour: "3d", -2 * time.Minute: "-2m",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
}

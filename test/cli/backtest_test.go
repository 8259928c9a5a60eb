package clitest

import (
	"context"
	"encoding/json"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/billyronks/couchestor/internal/backtest"
	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/sim"
)

// closedURL is an http URL on a loopback port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return "http://" + addr
}

func writePolicyFile(t *testing.T, name, storageClass string) string {
	t.Helper()
	p := policyFor(name, storageClass, true, "15s")
	p.APIVersion, p.Kind = "storage.billyronks.io/v1", "StoragePolicy"
	b, err := yaml.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// An enabled StoragePolicy in the cluster does not stop backtest (it once crashed on it, with a
// stack trace), and Mayastor out of reach is one line and exit 1, not "no volumes". The plugin
// runs as a binary so that a crash fails this test rather than the test binary.
func TestBacktestMayastorUnreachableWithAnEnabledPolicy(t *testing.T) {
	requireAPIServer(t)
	createPolicy(t, policyFor("cli-bt-enabled", "cli-bt-none", false, "15s"))
	file := writePolicyFile(t, "cli-bt-file", "cli-bt-none")
	for _, which := range [][]string{{"--policy-file", file}, {"--policy", "cli-bt-enabled"}} {
		args := append([]string{"--kubeconfig", kubeconfig, "backtest"}, which...)
		r := runBinary(t, append(args, "--mayastor-url", closedURL(t), "--prometheus-url", closedURL(t), "--timeout", "30s")...)
		oneErrorLine(t, r, 1, "Mayastor at http://127.0.0.1:")
		if !strings.Contains(r.errOut, "--mayastor-service") {
			t.Errorf("%v: the error does not say how to reach Mayastor from outside: %q", which, r.errOut)
		}
	}
}

// With enabled policies in the cluster, backtest replays a policy from the cluster and one from
// a file over the simulator's history.
func TestBacktestWithEnabledPoliciesInTheCluster(t *testing.T) {
	const sc = "cli-backtest"
	st := startWorld(t, sc)
	createPolicy(t, policyFor("cli-bt", sc, false, "15s"))
	createPolicy(t, policyFor("cli-bt-other", "cli-bt-other-class", false, "1m"))
	file := writePolicyFile(t, "cli-bt-from-file", sc)
	time.Sleep(20 * time.Second) // a little history: more than the 15s window

	common := []string{"--mayastor-url", st.SimURL, "--prometheus-url", st.PrometheusURL, "--from", "-1m", "--step", "15s"}
	for _, which := range [][]string{{"--policy", "cli-bt"}, {"--policy-file", file}} {
		r := kc(t, time.Time{}, append(append([]string{"backtest", "-o", "json"}, which...), common...)...)
		if r.code != 0 {
			t.Fatalf("backtest %v: exit %d: %s", which, r.code, r.errOut)
		}
		var report backtest.Report
		if err := json.Unmarshal([]byte(r.out), &report); err != nil {
			t.Fatalf("backtest %v -o json: %v\n%s", which, err, r.out)
		}
		if report.Totals.Volumes+len(report.Skipped) != len(st.PersistentVolumes) || report.Totals.Volumes == 0 || report.Evaluations == 0 {
			t.Errorf("backtest %v: %d volumes, %d evaluations; want the %d simulated volumes replayed", which,
				report.Totals.Volumes, report.Evaluations, len(st.PersistentVolumes))
		}
	}
}

// With Mayastor answering (the simulator alone) and an enabled policy in the cluster: a policy
// selecting no volume, and Prometheus out of reach, are each one line and exit 1.
func TestBacktestPrometheusUnreachableOrNoVolume(t *testing.T) {
	requireAPIServer(t)
	const sc = "cli-bt-noprom"
	sc0, err := sim.LoadScenario("small")
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(sc0)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	ms, err := mayastor.New(mayastor.Config{BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	vols, err := ms.ListAllVolumes(ctx(t))
	if err != nil || len(vols) == 0 {
		t.Fatalf("simulated volumes: %d, %v", len(vols), err)
	}
	pv := mayastorPV(t, vols[0].Spec.UUID, sc)
	t.Cleanup(func() { deletePV(t, pv) })
	createPolicy(t, policyFor("cli-bt-noprom", sc, false, "15s"))

	promURL := closedURL(t)
	common := []string{"--mayastor-url", srv.URL, "--prometheus-url", promURL, "--from", "-1h", "--step", "15s", "--timeout", "30s"}
	none := writePolicyFile(t, "cli-bt-no-volume", "no-such-class")
	oneErrorLine(t, kc(t, time.Time{}, append([]string{"backtest", "--policy-file", none}, common...)...), 1,
		`StoragePolicy "cli-bt-no-volume" selects no Mayastor volume`)

	r := kc(t, time.Time{}, append([]string{"backtest", "--policy", "cli-bt-noprom"}, common...)...)
	oneErrorLine(t, r, 1, "Prometheus at "+promURL)
	if !strings.Contains(r.errOut, "PrometheusUnreachable") && !strings.Contains(r.errOut, "unreachable") || !strings.Contains(r.errOut, "--prometheus-service") {
		t.Errorf("the error does not say Prometheus is out of reach and how to reach it from outside: %q", r.errOut)
	}
}

// deletePV deletes a PersistentVolume made by a test, lifting the pv-protection finalizer no
// controller-manager lifts here.
func deletePV(t *testing.T, name string) {
	c := context.Background()
	var pv corev1.PersistentVolume
	if err := k8sClient.Get(c, client.ObjectKey{Name: name}, &pv); err != nil {
		return
	}
	pv.Finalizers = nil
	_ = k8sClient.Update(c, &pv)
	_ = k8sClient.Delete(c, &pv)
}

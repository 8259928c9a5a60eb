package preflight_test

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	storagek8sv1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/operator"
	"github.com/billyronks/couchestor/internal/preflight"
	"github.com/billyronks/couchestor/internal/promwatch"
	"github.com/billyronks/couchestor/internal/sandbox"
	"github.com/billyronks/couchestor/internal/sim"
	"github.com/billyronks/couchestor/internal/testenv"
)

// The world every test checks: an API server (envtest), the Mayastor simulator (scenario
// "small": three nodes, an NVMe pool tier=hot and a SATA pool tier=cold on each, v2.7.1
// io-engines), a real Prometheus scraping the simulator's exporter and the operator's /metrics
// every second, and the operator itself (dry run, leader election in namespace default).
var (
	restCfg   *rest.Config
	k8s       client.Client
	simURL    string
	promURL   string
	simVols   []string // the published volumes: the exporter measures them
	simIdle   []string // the unpublished ones: no series
	skipWhy   string
	operatorC context.CancelFunc
)

const leaseNS = "default"

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	ctrl.SetLogger(logr.Discard())
	if skipWhy = testenv.SkipReason(); skipWhy == "" {
		if _, err := sandbox.PrometheusBinary(); err != nil {
			skipWhy = err.Error()
		}
	}
	if skipWhy != "" {
		if os.Getenv("CI") != "" {
			fmt.Fprintln(os.Stderr, "FAIL: "+skipWhy)
			return 1
		}
		return m.Run()
	}
	_, file, _, _ := runtime.Caller(0)
	repoRoot := filepath.Join(filepath.Dir(file), "..", "..")
	api, err := testenv.StartAPIServer(repoRoot)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer api.Stop()
	restCfg, k8s = api.Config, api.Client

	sc, err := sim.LoadScenario("small")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	s, err := sim.New(sc)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	simSrv := httptest.NewServer(s.Handler())
	defer simSrv.Close()
	simURL = simSrv.URL
	for _, v := range s.ListVolumes(0, 0).Entries {
		if v.State.Target != nil {
			simVols = append(simVols, v.Spec.UUID)
		} else {
			simIdle = append(simIdle, v.Spec.UUID)
		}
	}
	slices.Sort(simVols)

	metricsAddr, err := freeAddr()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "preflight-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	prom, err := sandbox.StartPrometheus(ctx, dir, []string{strings.TrimPrefix(simURL, "http://"), metricsAddr}, time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer prom.Stop()
	promURL = prom.URL

	cfg, err := operator.Parse("couchestor", []string{"--mayastor-url=" + simURL, "--prometheus-url=" + promURL, "--dry-run",
		"--leader-elect", "--leader-election-namespace=" + leaseNS, "--metrics-bind-address=" + metricsAddr, "--metrics-secure=false",
		"--health-probe-bind-address=127.0.0.1:0"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	opCtx, stopOperator := context.WithCancel(context.Background())
	operatorC = stopOperator
	done := make(chan error, 1)
	go func() { done <- operator.Run(opCtx, cfg, restCfg) }()
	code := m.Run()
	stopOperator()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		fmt.Fprintln(os.Stderr, "the operator did not stop within 30s")
	}
	return code
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func requireWorld(t *testing.T) {
	t.Helper()
	if k8s == nil {
		t.Skip(skipWhy)
	}
}

// checker checks the world, with Mayastor and Prometheus at the URLs given.
func checker(t *testing.T, msURL, promURL string) *preflight.Checker {
	t.Helper()
	ms, err := mayastor.New(mayastor.Config{BaseURL: msURL})
	if err != nil {
		t.Fatal(err)
	}
	cfg := promwatch.DefaultConfig()
	cfg.URL, cfg.Timeout = promURL, 5*time.Second
	prom, err := promwatch.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &preflight.Checker{Kube: k8s, Mayastor: ms, MayastorWhere: msURL, Prometheus: prom, PrometheusWhere: promURL,
		MayastorFix: "fix --mayastor-url", PrometheusFix: "fix --prometheus-url", LeaseNamespace: leaseNS}
}

// byCheck returns the results of one check (a name, or a prefix ending in "/").
func byCheck(results []preflight.Result, check string) []preflight.Result {
	var out []preflight.Result
	for _, r := range results {
		if r.Check == check || strings.HasSuffix(check, "/") && strings.HasPrefix(r.Check, check) {
			out = append(out, r)
		}
	}
	return out
}

func show(results []preflight.Result) string {
	var b strings.Builder
	_ = preflight.Print(&b, results)
	return b.String()
}

// one wants exactly one result of check, of status want, whose What contains each of words, and
// a fix unless ok.
func one(t *testing.T, results []preflight.Result, check string, want preflight.Status, words ...string) preflight.Result {
	t.Helper()
	rs := byCheck(results, check)
	if len(rs) != 1 {
		t.Fatalf("want one %s result, got %d:\n%s", check, len(rs), show(results))
	}
	r := rs[0]
	if r.Status != want {
		t.Errorf("%s: status %s, want %s:\n%s", check, r.Status, want, show(results))
	}
	for _, w := range words {
		if !strings.Contains(r.What, w) {
			t.Errorf("%s: %q does not say %q", check, r.What, w)
		}
	}
	if (r.Fix == "") != (want == preflight.OK) {
		t.Errorf("%s: fix %q with status %s: only ok has none", check, r.Fix, r.Status)
	}
	return r
}

func storageClass(t *testing.T, name, provisioner string) {
	t.Helper()
	sc := &storagek8sv1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: provisioner}
	if err := k8s.Create(context.Background(), sc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), sc) })
}

// mayastorPVs creates a Mayastor PV, of StorageClass sc, for each volume.
func mayastorPVs(t *testing.T, sc string, vols []string) {
	t.Helper()
	for _, id := range vols {
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: sc + "-" + id},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:         corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
				AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				StorageClassName: sc,
				PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
					Driver: storagev1.MayastorCSIDriver, VolumeHandle: id,
				}},
			},
		}
		if err := k8s.Create(context.Background(), pv); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = k8s.Delete(context.Background(), pv) })
	}
}

func policy(t *testing.T, name, sc, window string, enabled bool, sata map[string]string) {
	t.Helper()
	p := &storagev1.StoragePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: storagev1.StoragePolicySpec{
			HighWatermarkIOPS: 5000, LowWatermarkIOPS: 500, SamplingWindow: window, CooldownPeriod: "24h",
			StorageClassName: sc, Enabled: ptr.To(enabled), MaxConcurrentMigrations: 2, MigrationTimeout: "30m",
			NVMePoolSelector: metav1.LabelSelector{MatchLabels: map[string]string{"tier": "hot"}},
			SATAPoolSelector: metav1.LabelSelector{MatchLabels: sata},
		},
	}
	if err := k8s.Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), p) })
}

var cold = map[string]string{"tier": "cold"}

// On a healthy cluster every check is ok: Mayastor answers with v2.7.1 io-engines, Prometheus
// holds the volumes' series, the operator leads and is scraped, and the policy finds three
// pools per tier, selects every volume and has IOPS covering its 5s window for all of them.
func TestHealthyClusterPassesEveryCheck(t *testing.T) {
	requireWorld(t)
	storageClass(t, "healthy", storagev1.MayastorCSIDriver)
	mayastorPVs(t, "healthy", simVols)
	policy(t, "healthy", "healthy", "5s", true, cold)

	c := checker(t, simURL, promURL)
	var results []preflight.Result
	deadline := time.Now().Add(90 * time.Second)
	for {
		results = c.Run(context.Background())
		if preflight.Failed(results) == 0 && len(byCheck(results, "policy/healthy/iops")) == 1 && byCheck(results, "policy/healthy/iops")[0].Status == preflight.OK &&
			len(byCheck(results, "leader")) == 1 && byCheck(results, "leader")[0].Status == preflight.OK && len(byCheck(results, "operator-metrics")) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not every check passed within 90s:\n%s", show(results))
		}
		time.Sleep(time.Second)
	}
	one(t, results, "mayastor", preflight.OK, "3 io-engine nodes", simURL)
	one(t, results, "io-engine-version", preflight.OK, "oldest 2.7")
	one(t, results, "prometheus", preflight.OK, "volume_num_read_ops")
	one(t, results, "leader", preflight.OK, leaseNS+"/"+storagev1.LeaderElectionID)
	one(t, results, "operator-metrics", preflight.OK, "job=mayastor-io-engine")
	one(t, results, "policy/healthy/pools", preflight.OK, "3 pools on NVMe", "3 pools on SATA", "pool-nvme-1")
	one(t, results, "policy/healthy/volumes", preflight.OK, fmt.Sprintf("selects %d volumes", len(simVols)))
	one(t, results, "policy/healthy/iops", preflight.OK, fmt.Sprintf("5s sampling window for all %d volumes", len(simVols)))
	for _, r := range results {
		if r.Status != preflight.OK {
			t.Errorf("not ok on a healthy cluster: %+v", r)
		}
	}
	out := show(results)
	if !strings.HasSuffix(out, fmt.Sprintf("%d ok, 0 warn, 0 fail\n", len(results))) || !strings.HasPrefix(out, "ok    Mayastor's REST API at ") {
		t.Errorf("printed:\n%s", out)
	}
}

// An io-engine older than 2.6 fails the version check, naming the node and its version; one
// whose version cannot be read is a warning; Mayastor unreachable is one failed line, and the
// policies' pool checks, which need it, are left out.
func TestIOEngineVersions(t *testing.T) {
	requireWorld(t)
	sc, err := sim.ParseScenario("old.yaml", []byte(`
nodes:
  - {id: new-1}
  - {id: old-2, version: v2.5.1}
  - {id: dev-3, version: develop}
pools:
  - {id: p1, node: new-1, capacity: 1GiB}
`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	results := checker(t, srv.URL, promURL).Run(context.Background())
	one(t, results, "mayastor", preflight.OK, "3 io-engine nodes")
	rs := byCheck(results, "io-engine-version")
	if len(rs) != 2 || rs[0].Status != preflight.Fail || !strings.Contains(rs[0].What, "old-2 (v2.5.1)") || strings.Contains(rs[0].What, "new-1") ||
		rs[1].Status != preflight.Warn || !strings.Contains(rs[1].What, `dev-3 ("develop")`) {
		t.Errorf("want a fail naming old-2 and a warning naming dev-3:\n%s", show(results))
	}

	srv.Close()
	policy(t, "versions", "versions", "5s", true, cold)
	results = checker(t, srv.URL, promURL).Run(context.Background())
	one(t, results, "mayastor", preflight.Fail, "does not answer GET /v0/nodes", srv.URL)
	if rs := byCheck(results, "io-engine-version"); len(rs) != 0 {
		t.Errorf("versions checked without Mayastor: %+v", rs)
	}
	if rs := byCheck(results, "policy/versions/pools"); len(rs) != 0 {
		t.Errorf("pools checked without Mayastor: %+v", rs)
	}
}

func TestParseVersion(t *testing.T) {
	for s, want := range map[string]string{"v2.7.1": "2.7", "2.6.0": "2.6", "v2.10.0-rc.1": "2.10", "v2.5.1-12-gabcdef0": "2.5", "v3.0": "3.0"} {
		if v, ok := preflight.ParseVersion(s); !ok || v.String() != want {
			t.Errorf("ParseVersion(%q) = %v, %v; want %s", s, v, ok, want)
		}
	}
	for _, s := range []string{"", "develop", "release/2.6", "v2", "2.x"} {
		if v, ok := preflight.ParseVersion(s); ok {
			t.Errorf("ParseVersion(%q) = %v, want not a release", s, v)
		}
	}
	if !(preflight.Version{Major: 2, Minor: 5}).Less(preflight.MinIOEngine) || (preflight.Version{Major: 2, Minor: 6}).Less(preflight.MinIOEngine) ||
		(preflight.Version{Major: 3, Minor: 0}).Less(preflight.MinIOEngine) || !(preflight.Version{Major: 1, Minor: 9}).Less(preflight.MinIOEngine) {
		t.Error("Less does not order releases")
	}
}

// A policy's pools, StorageClass and volumes: a SATA selector matching no pool fails
// (NoSATAPools), a missing StorageClass or one of another provisioner fails, a StorageClass
// without volumes warns; a disabled policy's failures are warnings.
func TestPolicyPoolsAndStorageClass(t *testing.T) {
	requireWorld(t)
	storageClass(t, "pools-ok", storagev1.MayastorCSIDriver)
	mayastorPVs(t, "pools-ok", simVols)
	storageClass(t, "pools-empty", storagev1.MayastorCSIDriver)
	storageClass(t, "pools-nfs", "nfs.csi.k8s.io")
	policy(t, "no-sata", "pools-ok", "5s", true, map[string]string{"tier": "archive"})
	policy(t, "no-sata-disabled", "pools-ok", "5s", false, map[string]string{"tier": "archive"})
	policy(t, "no-class", "no-such-class", "5s", true, cold)
	policy(t, "nfs-class", "pools-nfs", "5s", true, cold)
	policy(t, "empty-class", "pools-empty", "5s", true, cold)

	results := checker(t, simURL, promURL).Run(context.Background())
	r := one(t, results, "policy/no-sata/pools", preflight.Fail, "no Mayastor pool matches sataPoolSelector", storagev1.ReasonNoSATAPools)
	if !strings.Contains(r.Fix, "tier=archive") {
		t.Errorf("the fix %q does not show the selector", r.Fix)
	}
	one(t, results, "policy/no-sata/volumes", preflight.OK, fmt.Sprintf("selects %d volumes", len(simVols)))
	one(t, results, "policy/no-sata-disabled/pools", preflight.Warn, "sataPoolSelector", "(the policy is disabled)")
	if rs := byCheck(results, "policy/no-sata-disabled/iops"); len(rs) != 0 {
		t.Errorf("a disabled policy's IOPS were checked: %+v", rs)
	}
	one(t, results, "policy/no-class/pools", preflight.OK)
	one(t, results, "policy/no-class/volumes", preflight.Fail, `StorageClass "no-such-class" (spec.storageClassName) does not exist`)
	one(t, results, "policy/nfs-class/volumes", preflight.Fail, "provisions with nfs.csi.k8s.io, not Mayastor")
	one(t, results, "policy/empty-class/volumes", preflight.Warn, "selects no volume", "has no Mayastor PersistentVolume yet")
	for _, p := range []string{"no-class", "nfs-class", "empty-class"} {
		if rs := byCheck(results, "policy/"+p+"/iops"); len(rs) != 0 {
			t.Errorf("policy %s selects no volume, yet its IOPS were checked: %+v", p, rs)
		}
	}
}

// A sampling window longer than the history Prometheus holds leaves every volume Unknown
// (PartialHistory): the IOPS check fails and says to wait or shorten the window. Some volumes
// Unknown (an unpublished volume has no series) is a warning.
func TestIOPSNotCoveringTheWindow(t *testing.T) {
	requireWorld(t)
	if len(simIdle) == 0 {
		t.Fatal("scenario small has no unpublished volume any more")
	}
	storageClass(t, "long-window", storagev1.MayastorCSIDriver)
	mayastorPVs(t, "long-window", simVols)
	policy(t, "long-window", "long-window", "10m", true, cold)
	storageClass(t, "some-idle", storagev1.MayastorCSIDriver)
	mayastorPVs(t, "some-idle", append(slices.Clone(simVols), simIdle...))
	policy(t, "some-idle", "some-idle", "5s", true, cold)

	var results []preflight.Result
	deadline := time.Now().Add(60 * time.Second)
	for {
		results = checker(t, simURL, promURL).Run(context.Background())
		// Once Prometheus holds a few scrapes, a 10m window is partly covered.
		long := byCheck(results, "policy/long-window/iops")
		if rs := byCheck(results, "policy/some-idle/iops"); len(rs) == 1 && rs[0].Status == preflight.Warn &&
			len(long) == 1 && strings.Contains(long[0].What, "PartialHistory") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not the warning and failure expected within 60s:\n%s", show(results))
		}
		time.Sleep(time.Second)
	}
	r := one(t, results, "policy/long-window/iops", preflight.Fail, fmt.Sprintf("%d of %d volumes have no IOPS over the 10m sampling window", len(simVols), len(simVols)), "PartialHistory")
	if !strings.Contains(r.Fix, "samplingWindow") {
		t.Errorf("fix %q does not mention the sampling window", r.Fix)
	}
	r = one(t, results, "policy/some-idle/iops", preflight.Warn, fmt.Sprintf("%d of %d volumes have no IOPS", len(simIdle), len(simVols)+len(simIdle)), "NoSeries", simIdle[0])
	if !strings.Contains(r.Fix, "published") {
		t.Errorf("fix %q does not ask whether the volumes are published", r.Fix)
	}
}

// Prometheus unreachable: one failed line naming it, and none of the checks that need it
// (operator metrics, IOPS).
func TestPrometheusUnreachable(t *testing.T) {
	requireWorld(t)
	storageClass(t, "no-prom", storagev1.MayastorCSIDriver)
	mayastorPVs(t, "no-prom", simVols)
	policy(t, "no-prom", "no-prom", "5s", true, cold)
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	results := checker(t, simURL, "http://"+addr).Run(context.Background())
	r := one(t, results, "prometheus", preflight.Fail, "prometheus unreachable", addr)
	if r.Fix != "fix --prometheus-url" {
		t.Errorf("fix %q, want the caller's", r.Fix)
	}
	if n := preflight.Failed(results); n != 1 {
		t.Errorf("%d checks failed, want only Prometheus's:\n%s", n, show(results))
	}
	for _, check := range []string{"operator-metrics", "policy/no-prom/iops"} {
		if rs := byCheck(results, check); len(rs) != 0 {
			t.Errorf("%s checked without Prometheus: %+v", check, rs)
		}
	}
}

// The leader-election Lease: held and renewed recently is ok; renewed long ago, held by no one,
// or absent fails; with NoLeaderElection it is a warning and no Lease is read.
func TestLeaderLease(t *testing.T) {
	requireWorld(t)
	now := time.Now()
	for _, tc := range []struct {
		name    string
		holder  string
		renewed time.Duration // ago; 0: no Lease
		want    preflight.Status
		says    string
	}{
		{"fresh", "operator-abc_1", 3 * time.Second, preflight.OK, "leader operator-abc_1 renewed the Lease"},
		{"stale", "operator-abc_1", 5 * time.Minute, preflight.Fail, "the leader is gone"},
		{"released", "", time.Second, preflight.Fail, "held by no one"},
		{"absent", "", 0, preflight.Fail, "no leader-election Lease"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := "lease-" + tc.name
			if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
				t.Fatal(err)
			}
			if tc.renewed > 0 {
				l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: storagev1.LeaderElectionID},
					Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(tc.holder), LeaseDurationSeconds: ptr.To[int32](15),
						RenewTime: &metav1.MicroTime{Time: now.Add(-tc.renewed)}}}
				if err := k8s.Create(context.Background(), l); err != nil {
					t.Fatal(err)
				}
			}
			c := checker(t, simURL, promURL)
			c.LeaseNamespace = ns
			one(t, c.Run(context.Background()), "leader", tc.want, tc.says)
		})
	}
	c := checker(t, simURL, promURL)
	c.LeaseNamespace, c.NoLeaderElection = "lease-absent", true
	one(t, c.Run(context.Background()), "leader", preflight.Warn, "without --leader-elect")

	// Without a namespace, every namespace is searched: the operator's, and the tests' above.
	c.LeaseNamespace, c.NoLeaderElection = "", false
	rs := byCheck(c.Run(context.Background()), "leader")
	var names []string
	for _, r := range rs {
		names = append(names, string(r.Status)+" "+r.What)
	}
	if len(rs) != 4 || !strings.Contains(strings.Join(names, "\n"), "Lease "+leaseNS+"/") || !strings.Contains(strings.Join(names, "\n"), "Lease lease-stale/") {
		t.Errorf("searching every namespace found:\n%s", strings.Join(names, "\n"))
	}
}

// A Prometheus that scrapes Mayastor but not the operator: the operator-metrics check fails and
// says how to have it scraped; the rest still passes.
func TestOperatorNotScraped(t *testing.T) {
	requireWorld(t)
	prom, err := sandbox.StartPrometheus(context.Background(), t.TempDir(), []string{strings.TrimPrefix(simURL, "http://")}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer prom.Stop()
	c := checker(t, simURL, prom.URL)
	var results []preflight.Result
	deadline := time.Now().Add(30 * time.Second)
	for {
		results = c.Run(context.Background())
		if rs := byCheck(results, "prometheus"); len(rs) == 1 && rs[0].Status == preflight.OK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new Prometheus holds no volume series within 30s:\n%s", show(results))
		}
		time.Sleep(500 * time.Millisecond)
	}
	r := one(t, results, "operator-metrics", preflight.Fail, "no couchestor_build_info series", "not scraped")
	if !strings.Contains(r.Fix, "serviceMonitor.enabled=true") || !strings.Contains(r.Fix, "metrics-reader") {
		t.Errorf("fix %q: want the ServiceMonitor and the metrics-reader ClusterRole", r.Fix)
	}
	one(t, results, "leader", preflight.OK)
}

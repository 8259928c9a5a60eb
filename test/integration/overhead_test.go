package integration

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/controller"
	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/operator"
	"github.com/billyronks/couchestor/internal/sim"
)

// overheadScenario: each rebuild takes 4 s of real time (2GiB at 512MiB/s).
const overheadScenario = `
name: overhead
seed: 11
rebuild_bandwidth: 512MiB
nodes:
  - {id: sata-a}
  - {id: sata-b}
  - {id: sata-c}
  - {id: nvme-a}
  - {id: nvme-b}
  - {id: nvme-c}
  - {id: app-1}
pools:
  - {id: pool-sata-a, node: sata-a, capacity: 1TiB, labels: {openebs.io/created-by: operator-diskpool, tier: cold}}
  - {id: pool-sata-b, node: sata-b, capacity: 1TiB, labels: {openebs.io/created-by: operator-diskpool, tier: cold}}
  - {id: pool-sata-c, node: sata-c, capacity: 1TiB, labels: {openebs.io/created-by: operator-diskpool, tier: cold}}
  - {id: pool-nvme-a, node: nvme-a, capacity: 200GiB, labels: {openebs.io/created-by: operator-diskpool, tier: hot}}
  - {id: pool-nvme-b, node: nvme-b, capacity: 200GiB, labels: {openebs.io/created-by: operator-diskpool, tier: hot}}
  - {id: pool-nvme-c, node: nvme-c, capacity: 200GiB, labels: {openebs.io/created-by: operator-diskpool, tier: hot}}
volumes:
  - uuid: 0c4f3a52-7d1e-4b6a-9a0e-0000000000b1
    size: 2GiB
    replicas: [pool-sata-a]
    published: true
    inclusion: {openebs.io/created-by: operator-diskpool}
  - uuid: 0c4f3a52-7d1e-4b6a-9a0e-0000000000b2
    size: 2GiB
    replicas: [pool-sata-a, pool-sata-b]
    published: true
    nexus_node: app-1
    inclusion: {openebs.io/created-by: operator-diskpool}
  - uuid: 0c4f3a52-7d1e-4b6a-9a0e-0000000000b3
    size: 2GiB
    replicas: [pool-sata-a, pool-sata-b, pool-sata-c]
    published: true
    nexus_node: app-1
    inclusion: {openebs.io/created-by: operator-diskpool}
`

// TestMigrationOverheadPerRound measures, on the real clock, a migration's wall time against the
// rebuild time alone, with the operator's sync poll interval at 1 s: 1-, 2- and 3-replica moves
// (the last two steered by placeholder replicas, docs/mayastor-migration.md). The figures are
// logged (docs/tiermigration.md quotes them; rerun with
// `make test-binaries && KUBEBUILDER_ASSETS=... go test -run TestMigrationOverheadPerRound -v ./test/integration/`);
// the assertion only bounds the overhead at three poll intervals per round, so a slow machine
// does not fail it while a migration that sleeps a whole extra interval per phase would.
func TestMigrationOverheadPerRound(t *testing.T) {
	requireAPIServer(t)
	purgeTierMigrations(t)
	sc, err := sim.ParseScenario("overhead.yaml", []byte(overheadScenario))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(sc, sim.WithClock(clock.RealClock{}))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	ms, err := mayastor.New(mayastor.Config{BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	const poll = time.Second
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme:                 operator.NewScheme(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &controller.TierMigrationReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("couchestor"),
		Options:    controller.Options{MaxConcurrentMigrations: 1, MigrationTimeout: 10 * time.Minute, SyncPollInterval: poll},
		NewStorage: controller.MoverStorage(ms),
	}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Start(ctx) }()
	t.Cleanup(func() {
		purgeTierMigrations(t)
		cancel()
		<-done
	})
	rebuild := time.Duration(2<<30) * time.Second / time.Duration(512<<20)
	for _, tc := range []struct {
		name, volume string
		rounds       int
	}{
		{"overhead-one", "0c4f3a52-7d1e-4b6a-9a0e-0000000000b1", 1},
		{"overhead-two", "0c4f3a52-7d1e-4b6a-9a0e-0000000000b2", 2},
		{"overhead-three", "0c4f3a52-7d1e-4b6a-9a0e-0000000000b3", 3},
	} {
		tm := &storagev1.TierMigration{
			ObjectMeta: metav1.ObjectMeta{Name: tc.name},
			Spec: storagev1.TierMigrationSpec{VolumeID: tc.volume, TargetTier: storagev1.TierNVMe, TargetPoolSelector: hotPools,
				SourcePoolSelector: coldPools, AllowRepublish: true},
		}
		if err := k8sClient.Create(context.Background(), tm); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		got := awaitPhase(t, tc.name, 2*time.Minute, storagev1.PhaseCompleted)
		wall := time.Since(start)
		overhead := (wall - time.Duration(tc.rounds)*rebuild) / time.Duration(tc.rounds)
		t.Logf("%d-replica move: %d round(s), wall %.1fs, rebuild alone %.1fs, overhead %.2fs per round (sync poll %s)",
			tc.rounds, got.Status.Rounds, wall.Seconds(), (time.Duration(tc.rounds) * rebuild).Seconds(), overhead.Seconds(), poll)
		if int(got.Status.Rounds) != tc.rounds {
			t.Errorf("%d rounds, want %d", got.Status.Rounds, tc.rounds)
		}
		if overhead > 3*poll {
			t.Errorf("overhead %.2fs per round exceeds three sync-poll intervals", overhead.Seconds())
		}
	}
}

package observability

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/controller"
	"github.com/billyronks/couchestor/internal/sim"
	"github.com/billyronks/couchestor/internal/tiering"
)

// operatorMetrics scrapes the operator's registry in-process, once a policy and a migration
// exist (per-policy and per-migration series exist only then), and returns the series names a
// query can select: each family, and a histogram's _bucket, _sum and _count.
func operatorMetrics(t *testing.T) map[string]bool {
	t.Helper()
	now := time.Now()
	controller.RecordPolicy(&storagev1.StoragePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "observability-test"},
		Spec:       storagev1.StoragePolicySpec{HighWatermarkIOPS: 5000, LowWatermarkIOPS: 500, Enabled: ptr.To(true)},
		Status: storagev1.StoragePolicyStatus{VolumesWatched: 3, NVMeVolumes: 1, SATAVolumes: 1, UnknownVolumes: 1,
			Conditions: []metav1.Condition{{Type: storagev1.ConditionReady, Status: metav1.ConditionTrue, Reason: storagev1.ReasonEvaluated}}},
	})
	decisions := []tiering.VolumeDecision{{VolumeID: "v1", PVName: "pvc-v1", Claim: "default/data", Action: tiering.ActionStay, Reason: storagev1.ReasonBetweenWatermarks}}
	controller.RecordDecisions("observability-test", decisions)
	tracker := &controller.DecisionTracker{Every: time.Minute}
	tracker.Record("observability-test", decisions, now)
	controller.VolumeDecisions.Use(tracker)
	t.Cleanup(func() { controller.ForgetPolicy("observability-test"); controller.VolumeDecisions.Use(nil) })
	scheme := runtime.NewScheme()
	if err := storagev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	controller.MigrationMetrics.Use(fake.NewClientBuilder().WithScheme(scheme).WithObjects(&storagev1.TierMigration{
		ObjectMeta: metav1.ObjectMeta{Name: "tm-observability"},
		Spec:       storagev1.TierMigrationSpec{VolumeID: "v1", PolicyName: "observability-test", TargetTier: storagev1.TierNVMe},
		Status:     storagev1.TierMigrationStatus{Phase: storagev1.PhaseWaitingSync, Deadline: &metav1.Time{Time: now.Add(time.Hour)}},
	}).Build(), nil)
	t.Cleanup(func() { controller.MigrationMetrics.Use(nil, nil) })

	fams, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	// controller-runtime's per-controller families have series only once a controller runs;
	// registering a probe of the same name fails when the family is registered.
	for _, n := range controllerRuntimeMetrics {
		probe := prometheus.NewCounter(prometheus.CounterOpts{Name: n, Help: "probe"})
		if err := crmetrics.Registry.Register(probe); err == nil {
			crmetrics.Registry.Unregister(probe)
			t.Fatalf("%s is not registered by controller-runtime", n)
		}
		names[n] = true
	}
	for _, f := range fams {
		if len(f.GetMetric()) == 0 {
			continue
		}
		names[f.GetName()] = true
		if f.GetType().String() == "HISTOGRAM" {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				names[f.GetName()+suffix] = true
			}
		}
	}
	return names
}

// controllerRuntimeMetrics are the families of controller-runtime the alerts use.
var controllerRuntimeMetrics = []string{"controller_runtime_reconcile_errors_total"}

// mayastorMetrics is what the io-engine exporter (the simulator's, which follows upstream's
// names) exports for a published volume and its pools.
func mayastorMetrics(t *testing.T) map[string]bool {
	t.Helper()
	sc, err := sim.ParseScenario("observability.yaml", []byte(`
nodes: [{id: n1}]
pools: [{id: p1, node: n1, capacity: 10GiB}]
volumes:
  - uuid: 00000000-0000-4000-8000-000000000001
    size: 1GiB
    replicas: [p1]
    published: true
    nexus_node: n1
    workload: {read_iops: 10, write_iops: 10}
`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.WriteMetrics(&buf, ""); err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(&buf)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for name := range fams {
		names[name] = true
	}
	if !names["volume_num_read_ops"] {
		t.Fatalf("the simulator's exporter lacks volume_num_read_ops: %v", names)
	}
	return names
}

// checkNamesExported fails for each metric expr names that neither exporter has.
func checkNamesExported(t *testing.T, where, expr string, exported ...map[string]bool) {
	t.Helper()
	names := metricNames(expr)
	if len(names) == 0 {
		t.Errorf("%s: no metric name found in %q", where, expr)
	}
	for _, n := range names {
		found := false
		for _, set := range exported {
			found = found || set[n]
		}
		if !found {
			t.Errorf("%s: %s is exported neither by the operator nor by Mayastor's exporter (in %q)", where, n, strings.TrimSpace(expr))
		}
	}
}

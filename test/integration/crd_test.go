package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/tiering"
)

// strict makes the API server refuse unknown fields, as kubectl does by default.
var strict = client.FieldValidation(metav1.FieldValidationStrict)

func samplePolicy(t *testing.T, name string) *unstructured.Unstructured {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "config", "samples", "storage_v1_storagepolicy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(raw, &u.Object); err != nil {
		t.Fatalf("sample policy: %v", err)
	}
	u.SetName(name)
	return u
}

// The sample under config/ is the datasheet's example, verbatim.
func TestSamplePolicyIsTheDatasheetExample(t *testing.T) {
	sheet, err := os.ReadFile(filepath.Join(repoRoot, "..", "shared", "seed", "datasheet.md"))
	if err != nil {
		t.Skipf("datasheet not found beside the repository (%v): nothing to compare with", err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(apiVersion: storage.billyronks.io/v1\nkind: StoragePolicy.*?)```").FindSubmatch(sheet)
	if m == nil {
		t.Fatal("no StoragePolicy example in the datasheet")
	}
	sample, err := os.ReadFile(filepath.Join(repoRoot, "config", "samples", "storage_v1_storagepolicy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if string(m[1]) != string(sample) {
		t.Fatalf("config/samples/storage_v1_storagepolicy.yaml differs from the datasheet example:\n--- datasheet\n%s\n--- sample\n%s", m[1], sample)
	}
}

func TestDatasheetExampleIsAccepted(t *testing.T) {
	requireAPIServer(t)
	c := ctx(t)
	u := samplePolicy(t, "datasheet-example")
	if err := k8sClient.Create(c, u, strict); err != nil {
		t.Fatalf("the datasheet's StoragePolicy example was refused: %v", err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(c, u) })

	var got storagev1.StoragePolicy
	if err := k8sClient.Get(c, types.NamespacedName{Name: "datasheet-example"}, &got); err != nil {
		t.Fatal(err)
	}
	s := got.Spec
	if s.HighWatermarkIOPS != 5000 || s.LowWatermarkIOPS != 500 || s.SamplingWindow != "1h" ||
		s.CooldownPeriod != "24h" || s.StorageClassName != "mayastor" || s.MaxConcurrentMigrations != 2 ||
		s.MigrationTimeout != "30m" || !got.IsEnabled() || s.DryRun ||
		s.NVMePoolSelector.MatchLabels["tier"] != "hot" || s.SATAPoolSelector.MatchLabels["tier"] != "cold" {
		t.Fatalf("stored spec differs from the example: %+v", s)
	}
	// Extras not in the example take their defaults.
	if s.CapacityHeadroomPercent != 10 || s.PreservationMode || s.AllowRepublish {
		t.Fatalf("defaults of the optional extras: %+v", s)
	}
}

func TestMinimalPolicyGetsDefaults(t *testing.T) {
	requireAPIServer(t)
	c := ctx(t)
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "storage.billyronks.io/v1", "kind": "StoragePolicy",
		"metadata": map[string]any{"name": "minimal"},
		"spec": map[string]any{
			"nvmePoolSelector": map[string]any{"matchLabels": map[string]any{"tier": "hot"}},
			"sataPoolSelector": map[string]any{"matchExpressions": []any{
				map[string]any{"key": "tier", "operator": "In", "values": []any{"cold", "archive"}},
			}},
		},
	}}
	if err := k8sClient.Create(c, u, strict); err != nil {
		t.Fatalf("minimal policy refused: %v", err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(c, u) })
	var got storagev1.StoragePolicy
	if err := k8sClient.Get(c, types.NamespacedName{Name: "minimal"}, &got); err != nil {
		t.Fatal(err)
	}
	want := storagev1.StoragePolicySpec{
		HighWatermarkIOPS: 5000, LowWatermarkIOPS: 500, SamplingWindow: "1h", CooldownPeriod: "24h",
		StorageClassName: "mayastor", MaxConcurrentMigrations: 2, MigrationTimeout: "30m", CapacityHeadroomPercent: 10,
	}
	s := got.Spec
	if s.HighWatermarkIOPS != want.HighWatermarkIOPS || s.LowWatermarkIOPS != want.LowWatermarkIOPS ||
		s.SamplingWindow != want.SamplingWindow || s.CooldownPeriod != want.CooldownPeriod ||
		s.StorageClassName != want.StorageClassName || s.MaxConcurrentMigrations != want.MaxConcurrentMigrations ||
		s.MigrationTimeout != want.MigrationTimeout || s.CapacityHeadroomPercent != want.CapacityHeadroomPercent ||
		s.Enabled == nil || !*s.Enabled {
		t.Fatalf("defaults: got %+v", s)
	}
	if len(s.SATAPoolSelector.MatchExpressions) != 1 || s.SATAPoolSelector.MatchExpressions[0].Values[1] != "archive" {
		t.Fatalf("matchExpressions lost: %+v", s.SATAPoolSelector)
	}
}

func TestInvalidPoliciesAreRefusedNamingTheField(t *testing.T) {
	requireAPIServer(t)
	c := ctx(t)
	cases := []struct {
		name   string
		mutate func(spec map[string]any)
		field  string // the message must name this
		also   string // and say this
	}{
		{"low not below high", func(s map[string]any) { s["lowWatermarkIOPS"] = int64(5000) }, "spec.lowWatermarkIOPS", "must be below highWatermarkIOPS"},
		{"low above high", func(s map[string]any) { s["lowWatermarkIOPS"] = int64(9000) }, "spec.lowWatermarkIOPS", "must be below highWatermarkIOPS"},
		{"negative low watermark", func(s map[string]any) { s["lowWatermarkIOPS"] = int64(-1) }, "spec.lowWatermarkIOPS", "greater than or equal to 0"},
		{"negative high watermark", func(s map[string]any) { s["highWatermarkIOPS"] = int64(-5) }, "spec.highWatermarkIOPS", "greater than or equal to 1"},
		{"zero concurrency", func(s map[string]any) { s["maxConcurrentMigrations"] = int64(0) }, "spec.maxConcurrentMigrations", "greater than or equal to 1"},
		{"negative concurrency", func(s map[string]any) { s["maxConcurrentMigrations"] = int64(-2) }, "spec.maxConcurrentMigrations", "greater than or equal to 1"},
		{"unparsable sampling window", func(s map[string]any) { s["samplingWindow"] = "an hour" }, "spec.samplingWindow", "should match"},
		{"zero sampling window", func(s map[string]any) { s["samplingWindow"] = "0s" }, "spec.samplingWindow", "must be a positive duration"},
		{"unparsable cooldown", func(s map[string]any) { s["cooldownPeriod"] = "1d" }, "spec.cooldownPeriod", "should match"},
		{"zero cooldown", func(s map[string]any) { s["cooldownPeriod"] = "0h0m" }, "spec.cooldownPeriod", "must be a positive duration"},
		{"negative migration timeout", func(s map[string]any) { s["migrationTimeout"] = "-30m" }, "spec.migrationTimeout", "should match"},
		{"zero migration timeout", func(s map[string]any) { s["migrationTimeout"] = "0m" }, "spec.migrationTimeout", "must be a positive duration"},
		{"unknown field", func(s map[string]any) { s["highWaterMarkIops"] = int64(10) }, "spec.highWaterMarkIops", "unknown field"},
		{"headroom too large", func(s map[string]any) { s["capacityHeadroomPercent"] = int64(95) }, "spec.capacityHeadroomPercent", "less than or equal to 90"},
		{"missing nvme selector", func(s map[string]any) { delete(s, "nvmePoolSelector") }, "spec.nvmePoolSelector", "Required value"},
		{"watermark of wrong type", func(s map[string]any) { s["highWatermarkIOPS"] = "lots" }, "spec.highWatermarkIOPS", "must be of type integer"},

		// Migration windows and approvals: day names, times, durations and zones.
		{"window day spelled out", setWindow(map[string]any{"days": []any{"Mon", "Tuesday"}}), "spec.migrationWindows[0].days[1]", "Unsupported value"},
		{"window without days", setWindow(map[string]any{"days": []any{}}), "spec.migrationWindows[0].days", "should have at least 1 items"},
		{"window day twice", setWindow(map[string]any{"days": []any{"Mon", "Mon"}}), "spec.migrationWindows[0].days[1]", "Duplicate value"},
		{"window start 24:00", setWindow(map[string]any{"start": "24:00"}), "spec.migrationWindows[0].start", "should match"},
		{"window start without a leading zero", setWindow(map[string]any{"start": "9:00"}), "spec.migrationWindows[0].start", "should match"},
		{"window start with seconds", setWindow(map[string]any{"start": "22:00:00"}), "spec.migrationWindows[0].start", "Too long"},
		{"window longer than a week", setWindow(map[string]any{"duration": "169h"}), "spec.migrationWindows[0].duration", "at most 168h"},
		{"window of zero length", setWindow(map[string]any{"duration": "0m"}), "spec.migrationWindows[0].duration", "at most 168h"},
		{"window duration in days", setWindow(map[string]any{"duration": "1d"}), "spec.migrationWindows[0].duration", "should match"},
		{"unknown time zone", setWindow(map[string]any{"timeZone": "Europe/Atlantis"}), "spec.migrationWindows[0].timeZone", "Unsupported value"},
		{"time zone Local", setWindow(map[string]any{"timeZone": "Local"}), "spec.migrationWindows[0].timeZone", "Unsupported value"},
		{"time zone offset", setWindow(map[string]any{"timeZone": "+02:00"}), "spec.migrationWindows[0].timeZone", "Unsupported value"},
		{"approval mode unknown", func(s map[string]any) { s["approval"] = "Sometimes" }, "spec.approval", "Unsupported value"},
		{"approval timeout zero", func(s map[string]any) { s["approvalTimeout"] = "0s" }, "spec.approvalTimeout", "must be a positive duration"},

		// Label selectors: what metav1.LabelSelectorAsSelector would refuse later.
		{"unknown selector operator", setExprs("nvmePoolSelector", expr("tier", "Near", "hot")), "spec.nvmePoolSelector.matchExpressions", "operator must be In, NotIn, Exists or DoesNotExist"},
		{"lowercase selector operator", setExprs("volumeSelector", expr("app", "in", "db")), "spec.volumeSelector.matchExpressions", "operator must be In, NotIn, Exists or DoesNotExist"},
		{"In without values", setExprs("sataPoolSelector", expr("tier", "In")), "spec.sataPoolSelector.matchExpressions", "values must not be empty when the operator is In or NotIn"},
		{"NotIn with empty values", setExprs("volumeSelector", map[string]any{"key": "app", "operator": "NotIn", "values": []any{}}), "spec.volumeSelector.matchExpressions", "values must not be empty when the operator is In or NotIn"},
		{"Exists with values", setExprs("nvmePoolSelector", expr("tier", "Exists", "hot")), "spec.nvmePoolSelector.matchExpressions", "values must be empty when the operator is Exists or DoesNotExist"},
		{"DoesNotExist with values", setExprs("sataPoolSelector", expr("tier", "In", "cold"), expr("retired", "DoesNotExist", "yes")), "spec.sataPoolSelector.matchExpressions", "values must be empty when the operator is Exists or DoesNotExist"},
		{"expression key with a space", setExprs("nvmePoolSelector", expr("disk tier", "In", "hot")), "spec.nvmePoolSelector.matchExpressions", "key must be a valid label key"},
		{"expression key name too long", setExprs("volumeSelector", expr(strings.Repeat("k", 64), "Exists")), "spec.volumeSelector.matchExpressions", "key must be a valid label key"},
		{"expression key with a bad prefix", setExprs("sataPoolSelector", expr("Example.COM_/tier", "In", "cold")), "spec.sataPoolSelector.matchExpressions", "key must be a valid label key"},
		{"expression key empty", setExprs("nvmePoolSelector", expr("", "Exists")), "spec.nvmePoolSelector.matchExpressions", "key must be a valid label key"},
		{"expression value with a space", setExprs("nvmePoolSelector", expr("tier", "In", "hot", "very hot")), "spec.nvmePoolSelector.matchExpressions", "values must be valid label values"},
		{"expression value too long", setExprs("volumeSelector", expr("app", "In", strings.Repeat("v", 64))), "spec.volumeSelector.matchExpressions[0].values[0]", "Too long"},
		{"too many expressions", setExprs("sataPoolSelector", manyExprs(33)...), "spec.sataPoolSelector.matchExpressions", "Too many"},
		{"label key with two slashes", setLabels("volumeSelector", map[string]any{"app/name/x": "db"}), "spec.volumeSelector.matchLabels", "keys must be valid label keys"},
		{"label key name too long", setLabels("nvmePoolSelector", map[string]any{"example.com/" + strings.Repeat("n", 64): "hot"}), "spec.nvmePoolSelector.matchLabels", "keys must be valid label keys"},
		{"label value with a space", setLabels("sataPoolSelector", map[string]any{"tier": "cold storage"}), "spec.sataPoolSelector.matchLabels", "values must be valid label values"},
		{"label value ending in a dash", setLabels("nvmePoolSelector", map[string]any{"tier": "hot-"}), "spec.nvmePoolSelector.matchLabels", "values must be valid label values"},
		{"label value too long", setLabels("volumeSelector", map[string]any{"app": strings.Repeat("v", 64)}), "spec.volumeSelector.matchLabels.app", "Too long"},
		{"empty nvme selector", func(s map[string]any) { s["nvmePoolSelector"] = map[string]any{} }, "spec.nvmePoolSelector", "must not be empty"},
		{"sata selector with empty lists", func(s map[string]any) {
			s["sataPoolSelector"] = map[string]any{"matchLabels": map[string]any{}, "matchExpressions": []any{}}
		}, "spec.sataPoolSelector", "must not be empty"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := samplePolicy(t, "invalid-"+strings.ReplaceAll(strings.ToLower(tc.name), " ", "-"))
			spec := u.Object["spec"].(map[string]any)
			tc.mutate(spec)
			err := k8sClient.Create(c, u, strict)
			if err == nil {
				_ = k8sClient.Delete(c, u)
				t.Fatalf("case %d: the API server accepted an invalid policy", i)
			}
			if !apierrors.IsInvalid(err) && !apierrors.IsBadRequest(err) {
				t.Fatalf("want Invalid or BadRequest, got %v", err)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.field) || !strings.Contains(msg, tc.also) {
				t.Fatalf("message should name %q and say %q; got: %s", tc.field, tc.also, msg)
			}
			// Refused means nothing was stored.
			var got storagev1.StoragePolicy
			if err := k8sClient.Get(c, types.NamespacedName{Name: u.GetName()}, &got); !apierrors.IsNotFound(err) {
				t.Fatalf("an invalid policy was stored: %v", err)
			}
		})
	}
}

// setWindow sets one valid migration window ("Mon" and "Fri" at 22:00 for 8h in
// Europe/Berlin) with the given fields changed.
func setWindow(changes map[string]any) func(map[string]any) {
	return func(s map[string]any) {
		w := map[string]any{"days": []any{"Mon", "Fri"}, "start": "22:00", "duration": "8h", "timeZone": "Europe/Berlin"}
		for k, v := range changes {
			w[k] = v
		}
		s["migrationWindows"] = []any{w}
	}
}

// expr is one matchExpressions entry; without values the field is left out.
func expr(key, op string, values ...string) map[string]any {
	e := map[string]any{"key": key, "operator": op}
	if len(values) > 0 {
		vs := make([]any, len(values))
		for i, v := range values {
			vs[i] = v
		}
		e["values"] = vs
	}
	return e
}

func manyExprs(n int) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = expr(fmt.Sprintf("label-%d", i), "Exists")
	}
	return out
}

// setExprs replaces the named selector of the spec by one made of these expressions.
func setExprs(field string, exprs ...map[string]any) func(map[string]any) {
	return func(s map[string]any) {
		list := make([]any, len(exprs))
		for i, e := range exprs {
			list[i] = e
		}
		s[field] = map[string]any{"matchExpressions": list}
	}
}

// setLabels replaces the named selector of the spec by one made of these labels.
func setLabels(field string, labels map[string]any) func(map[string]any) {
	return func(s map[string]any) { s[field] = map[string]any{"matchLabels": labels} }
}

// Selectors with every operator, prefixed keys, empty values and the most the schema allows are
// accepted, and LabelSelectorAsSelector takes what was stored.
func TestValidSelectorsAreAccepted(t *testing.T) {
	requireAPIServer(t)
	c := ctx(t)
	u := samplePolicy(t, "valid-selectors")
	spec := u.Object["spec"].(map[string]any)
	setExprs("nvmePoolSelector",
		expr("openebs.io/tier", "In", "hot", "nvme"),
		expr("example.com/"+strings.Repeat("k", 63), "NotIn", "", strings.Repeat("v", 63)),
		expr("retired", "DoesNotExist"),
		expr("Disk_Kind.v2", "Exists"))(spec)
	labels := map[string]any{}
	for i := range 64 {
		labels[fmt.Sprintf("l%d", i)] = "x"
	}
	labels["app.kubernetes.io/name"] = "db"
	delete(labels, "l0")
	setLabels("sataPoolSelector", labels)(spec)
	spec["volumeSelector"] = map[string]any{
		"matchLabels":      map[string]any{"team": ""},
		"matchExpressions": []any{expr("app", "In", "a", "b")},
	}
	if err := k8sClient.Create(c, u, strict); err != nil {
		t.Fatalf("valid selectors refused: %v", err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(c, u) })
	var got storagev1.StoragePolicy
	if err := k8sClient.Get(c, types.NamespacedName{Name: u.GetName()}, &got); err != nil {
		t.Fatal(err)
	}
	for name, sel := range map[string]*metav1.LabelSelector{"nvme": &got.Spec.NVMePoolSelector, "sata": &got.Spec.SATAPoolSelector, "volume": got.Spec.VolumeSelector} {
		if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
			t.Errorf("%s selector accepted by the API server but not by LabelSelectorAsSelector: %v", name, err)
		}
	}
}

func TestStatusGoesThroughTheStatusSubresource(t *testing.T) {
	requireAPIServer(t)
	c := ctx(t)
	u := samplePolicy(t, "status-subresource")
	if err := k8sClient.Create(c, u); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(c, u) })
	var p storagev1.StoragePolicy
	if err := k8sClient.Get(c, types.NamespacedName{Name: u.GetName()}, &p); err != nil {
		t.Fatal(err)
	}

	// A status written through the main resource is dropped.
	p.Status.VolumesWatched = 42
	if err := k8sClient.Update(c, &p); err != nil {
		t.Fatal(err)
	}
	if err := k8sClient.Get(c, types.NamespacedName{Name: u.GetName()}, &p); err != nil {
		t.Fatal(err)
	}
	if p.Status.VolumesWatched != 0 {
		t.Fatal("status was written through the main resource: the status subresource is missing")
	}

	// Through the status subresource it sticks, and the spec cannot change that way.
	gen := p.Generation
	p.Status.VolumesWatched, p.Status.NVMeVolumes, p.Status.SATAVolumes = 3, 1, 2
	p.Status.ObservedGeneration = gen
	meta.SetStatusCondition(&p.Status.Conditions, metav1.Condition{Type: storagev1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Accepted", Message: "ok"})
	now := metav1.Now()
	iops := int64(7200)
	p.Status.RecentMigrations = []storagev1.MigrationRecord{{Volume: "0d4c7f4e-6a0b-4b8e-9f53-3c1f7a1e2d10", To: storagev1.TierNVMe, From: storagev1.TierSATA, ObservedIOPS: &iops, Phase: storagev1.PhaseCompleted, StartTime: &now}}
	p.Spec.HighWatermarkIOPS = 1
	if err := k8sClient.Status().Update(c, &p); err != nil {
		t.Fatal(err)
	}
	var got storagev1.StoragePolicy
	if err := k8sClient.Get(c, types.NamespacedName{Name: u.GetName()}, &got); err != nil {
		t.Fatal(err)
	}
	if got.Status.VolumesWatched != 3 || got.Status.SATAVolumes != 2 || len(got.Status.RecentMigrations) != 1 ||
		!meta.IsStatusConditionTrue(got.Status.Conditions, storagev1.ConditionReady) {
		t.Fatalf("status not stored: %+v", got.Status)
	}
	if got.Spec.HighWatermarkIOPS != 5000 {
		t.Fatalf("the status subresource changed the spec: high watermark %d", got.Spec.HighWatermarkIOPS)
	}

	// The history is bounded.
	for len(got.Status.RecentMigrations) <= 20 {
		got.Status.RecentMigrations = append(got.Status.RecentMigrations, got.Status.RecentMigrations[0])
	}
	if err := k8sClient.Status().Update(c, &got); err == nil || !strings.Contains(err.Error(), "status.recentMigrations") {
		t.Fatalf("a 21-entry history should be refused naming status.recentMigrations, got %v", err)
	}
}

func TestTierMigrationRoundTrips(t *testing.T) {
	requireAPIServer(t)
	c := ctx(t)
	iops := int64(120)
	tm := &storagev1.TierMigration{
		ObjectMeta: metav1.ObjectMeta{Name: "roundtrip"},
		Spec: storagev1.TierMigrationSpec{
			VolumeID:   "0d4c7f4e-6a0b-4b8e-9f53-3c1f7a1e2d10",
			TargetTier: storagev1.TierSATA,
			PolicyName: "example",
			Reason:     storagev1.MigrationReason{Description: "cold", ObservedIOPS: &iops},
		},
	}
	if err := k8sClient.Create(c, tm, strict); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(c, tm) })
	// No default: an empty timeout means the policy's migrationTimeout, else the operator's flag.
	if tm.Spec.Timeout != "" {
		t.Fatalf("timeout should stay empty when not given, got %q", tm.Spec.Timeout)
	}
	start := metav1.Now()
	tm.Status = storagev1.TierMigrationStatus{
		Phase: storagev1.PhaseWaitingSync, SourceTier: storagev1.TierNVMe, SourceReplicas: []string{"r1"},
		OriginalReplicaCount: 1, TargetPool: "pool-sata-2", NewReplica: "r2", SyncProgress: 40,
		Cordons: []storagev1.NodeCordon{{Node: "node-1", Label: "couchestor-roundtrip"}},
		Steps: []storagev1.MigrationStep{
			{Phase: storagev1.PhaseAnalyzing, StartTime: start, CompletionTime: &start, Message: "target pool pool-sata-2"},
			{Phase: storagev1.PhaseWaitingSync, StartTime: start, Message: "rebuild 40%"},
		},
		StartTime: &start,
	}
	if err := k8sClient.Status().Update(c, tm); err != nil {
		t.Fatal(err)
	}
	var got storagev1.TierMigration
	if err := k8sClient.Get(c, types.NamespacedName{Name: "roundtrip"}, &got); err != nil {
		t.Fatal(err)
	}
	if got.Status.Phase != storagev1.PhaseWaitingSync || got.Status.NewReplica != "r2" || len(got.Status.Steps) != 2 ||
		got.Status.Cordons[0].Label != "couchestor-roundtrip" || *got.Spec.Reason.ObservedIOPS != 120 {
		t.Fatalf("round trip lost data: %+v", got)
	}

	// The spec is immutable.
	got.Spec.TargetTier = storagev1.TierNVMe
	if err := k8sClient.Update(c, &got); err == nil || !strings.Contains(err.Error(), "spec is immutable") {
		t.Fatalf("changing the spec should be refused, got %v", err)
	}
}

func TestInvalidTierMigrationsAreRefused(t *testing.T) {
	requireAPIServer(t)
	c := ctx(t)
	cases := []struct {
		name  string
		spec  storagev1.TierMigrationSpec
		field string
	}{
		{"bad tier", storagev1.TierMigrationSpec{VolumeID: "0d4c7f4e-6a0b-4b8e-9f53-3c1f7a1e2d10", TargetTier: "Tape", PolicyName: "p"}, "spec.targetTier"},
		{"bad volume id", storagev1.TierMigrationSpec{VolumeID: "not-a-uuid", TargetTier: storagev1.TierSATA, PolicyName: "p"}, "spec.volumeID"},
		{"no way to find the target pools", storagev1.TierMigrationSpec{VolumeID: "0d4c7f4e-6a0b-4b8e-9f53-3c1f7a1e2d10", TargetTier: storagev1.TierSATA}, "targetPoolSelector or policyName"},
		{"bad timeout", storagev1.TierMigrationSpec{VolumeID: "0d4c7f4e-6a0b-4b8e-9f53-3c1f7a1e2d10", TargetTier: storagev1.TierSATA, PolicyName: "p", Timeout: "0s"}, "spec.timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tm := &storagev1.TierMigration{ObjectMeta: metav1.ObjectMeta{Name: "invalid-" + strings.ReplaceAll(tc.name, " ", "-")}, Spec: tc.spec}
			err := k8sClient.Create(c, tm)
			if err == nil {
				_ = k8sClient.Delete(c, tm)
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("message should name %q: %v", tc.field, err)
			}
		})
	}
}

// Valid windows are accepted, a zone defaults to UTC, approval to Automatic with 24h, and what
// the API server accepts the planner compiles.
func TestValidWindowsAndApprovalAreAccepted(t *testing.T) {
	requireAPIServer(t)
	c := ctx(t)
	u := samplePolicy(t, "valid-windows")
	spec := u.Object["spec"].(map[string]any)
	spec["migrationWindows"] = []any{
		map[string]any{"days": []any{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}, "start": "00:00", "duration": "168h"},
		map[string]any{"days": []any{"Sat"}, "start": "23:59", "duration": "90m", "timeZone": "America/Argentina/Buenos_Aires"},
		map[string]any{"days": []any{"Sun"}, "start": "02:30", "duration": "1h", "timeZone": "Etc/GMT+5"},
	}
	if err := k8sClient.Create(c, u, strict); err != nil {
		t.Fatalf("valid windows refused: %v", err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(c, u) })
	var got storagev1.StoragePolicy
	if err := k8sClient.Get(c, types.NamespacedName{Name: u.GetName()}, &got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.MigrationWindows[0].TimeZone != "UTC" || got.Spec.Approval != storagev1.ApprovalAutomatic || got.Spec.ApprovalTimeout != "24h" {
		t.Fatalf("defaults: zone %q, approval %q, timeout %q", got.Spec.MigrationWindows[0].TimeZone, got.Spec.Approval, got.Spec.ApprovalTimeout)
	}
	if _, err := tiering.CompilePolicy(&got.Spec); err != nil {
		t.Fatalf("accepted by the API server, refused by the planner: %v", err)
	}
}

// A policy's name labels the TierMigrations it starts (storage.billyronks.io/policy), and a label
// value has at most 63 characters: a longer name is refused at admission, not when the first
// migration fails to be created.
func TestPolicyNameFitsALabelValue(t *testing.T) {
	requireAPIServer(t)
	c := ctx(t)
	long := &storagev1.StoragePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: strings.Repeat("p", 64)},
		Spec: storagev1.StoragePolicySpec{HighWatermarkIOPS: 5000, LowWatermarkIOPS: 500,
			NVMePoolSelector: *hotPools, SATAPoolSelector: *coldPools},
	}
	err := k8sClient.Create(c, long)
	if err == nil {
		_ = k8sClient.Delete(c, long)
		t.Fatal("a 64-character policy name was accepted")
	}
	if !strings.Contains(err.Error(), "metadata.name must be at most 63 characters") {
		t.Fatalf("refusal does not say why: %v", err)
	}
	ok := long.DeepCopy()
	ok.Name = strings.Repeat("p", 63)
	if err := k8sClient.Create(c, ok); err != nil {
		t.Fatalf("a 63-character name was refused: %v", err)
	}
	_ = k8sClient.Delete(c, ok)
}

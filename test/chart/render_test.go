package chart

import (
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/billyronks/couchestor/internal/operator"
)

// kustomize renders config/default with the kustomize Go module, as `kubectl apply -k` would.
func kustomize(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(repoRoot, "config", "default"))
	if err != nil {
		t.Fatalf("kustomize build config/default: %v", err)
	}
	out, err := res.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	return decodeAll(t, out)
}

func convert[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	var v T
	if u == nil {
		t.Fatalf("missing %T", v)
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, &v, true); err != nil {
		t.Fatalf("%s does not decode strictly into %T: %v", key(u), v, err)
	}
	return &v
}

func kinds(objs []*unstructured.Unstructured) map[string]string {
	m := map[string]string{}
	for _, u := range objs {
		m[key(u)] = u.GetKind()
	}
	return m
}

// The default chart and the kustomize config install the same objects, and the parts that decide
// how the operator runs are equal: the two installs cannot drift apart.
func TestDefaultRenderMatchesKustomize(t *testing.T) {
	chart := installed(render(t))
	kust := kustomize(t)

	// Kinds and names. The chart leaves the namespace to `helm install --create-namespace`.
	var onlyKust, onlyChart []string
	ck := kinds(chart)
	for k, kind := range kinds(kust) {
		if kind == "Namespace" {
			continue
		}
		if _, ok := ck[k]; !ok {
			onlyKust = append(onlyKust, k)
		}
		delete(ck, k)
	}
	for k := range ck {
		onlyChart = append(onlyChart, k)
	}
	sort.Strings(onlyKust)
	sort.Strings(onlyChart)
	if len(onlyKust)+len(onlyChart) > 0 {
		t.Errorf("objects differ:\n  only in config/default: %v\n  only in the chart: %v", onlyKust, onlyChart)
	}

	// CRDs: the same documents, but for the chart's labels and its keep annotation.
	for _, u := range kust {
		if u.GetKind() == "CustomResourceDefinition" {
			if c := find(chart, u.GetKind(), u.GetName()); c != nil && !equality.Semantic.DeepEqual(withoutHelmMetadata(c).Object, u.Object) {
				t.Errorf("CRD %s differs between the chart and config/crd", u.GetName())
			}
		}
	}

	// RBAC: every Role and ClusterRole has the same rules, every binding the same role and subjects.
	for _, u := range kust {
		c := find(chart, u.GetKind(), u.GetName())
		if c == nil {
			continue
		}
		switch u.GetKind() {
		case "ClusterRole", "Role":
			kr, cr := rulesOf(t, u), rulesOf(t, c)
			if !equality.Semantic.DeepEqual(kr, cr) {
				t.Errorf("%s rules differ:\n  config/: %+v\n  chart:   %+v", key(u), kr, cr)
			}
			if kl, cl := aggregation(u), aggregation(c); kl != cl {
				t.Errorf("%s aggregation labels differ: config/ %q, chart %q", key(u), kl, cl)
			}
		case "ClusterRoleBinding", "RoleBinding":
			kb, cb := bindingOf(t, u), bindingOf(t, c)
			if !equality.Semantic.DeepEqual(kb, cb) {
				t.Errorf("%s differs:\n  config/: %+v\n  chart:   %+v", key(u), kb, cb)
			}
		}
	}

	// The Deployment.
	kd := convert[appsv1.Deployment](t, firstOfKind(kust, "Deployment"))
	cd := convert[appsv1.Deployment](t, firstOfKind(chart, "Deployment"))
	if len(kd.Spec.Template.Spec.Containers) != 1 || len(cd.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("want one container each, got %d (config/) and %d (chart)", len(kd.Spec.Template.Spec.Containers), len(cd.Spec.Template.Spec.Containers))
	}
	kp, cp := kd.Spec.Template.Spec, cd.Spec.Template.Spec
	kc, cc := kp.Containers[0], cp.Containers[0]
	same := func(what string, k, c any) {
		t.Helper()
		if !equality.Semantic.DeepEqual(k, c) {
			t.Errorf("Deployment %s differs:\n  config/: %s\n  chart:   %s", what, show(k), show(c))
		}
	}
	same("replicas", kd.Spec.Replicas, cd.Spec.Replicas)
	same("container name", kc.Name, cc.Name)
	same("image", kc.Image, cc.Image)
	same("env", kc.Env, cc.Env)
	same("ports", kc.Ports, cc.Ports)
	same("container securityContext", kc.SecurityContext, cc.SecurityContext)
	same("pod securityContext", kp.SecurityContext, cp.SecurityContext)
	same("resources", kc.Resources, cc.Resources)
	same("livenessProbe", kc.LivenessProbe, cc.LivenessProbe)
	same("readinessProbe", kc.ReadinessProbe, cc.ReadinessProbe)
	same("terminationGracePeriodSeconds", kp.TerminationGracePeriodSeconds, cp.TerminationGracePeriodSeconds)
	same("serviceAccountName", kp.ServiceAccountName, cp.ServiceAccountName)
	same("default-container annotation", kd.Spec.Template.Annotations["kubectl.kubernetes.io/default-container"],
		cd.Spec.Template.Annotations["kubectl.kubernetes.io/default-container"])

	// Arguments: the chart passes every flag, the kustomize config only those it changes; both
	// must give the operator the same configuration, as its own parser reads them.
	kcfg, err := operator.Parse("couchestor", kc.Args)
	if err != nil {
		t.Fatalf("config/ args %q: %v", kc.Args, err)
	}
	ccfg, err := operator.Parse("couchestor", cc.Args)
	if err != nil {
		t.Fatalf("chart args %q: %v", cc.Args, err)
	}
	if d := fieldDiff("", reflect.ValueOf(*kcfg), reflect.ValueOf(*ccfg)); len(d) > 0 {
		t.Errorf("the operator's configuration differs (config/ args %q, chart args %q):\n  %s", kc.Args, cc.Args, strings.Join(d, "\n  "))
	}
	// Every kustomize argument is one the chart passes too (--flag is --flag=true).
	chartArgs := map[string]bool{}
	for _, a := range cc.Args {
		chartArgs[a] = true
	}
	for _, a := range kc.Args {
		if !chartArgs[a] && !(strings.HasPrefix(a, "--") && !strings.Contains(a, "=") && chartArgs[a+"=true"]) {
			t.Errorf("config/ passes %s, the chart does not (chart args: %q)", a, cc.Args)
		}
	}

	// The metrics Service targets the same port and selects the Deployment's pods.
	for _, objs := range [][]*unstructured.Unstructured{kust, chart} {
		svc := convert[corev1.Service](t, firstOfKind(objs, "Service"))
		dep := convert[appsv1.Deployment](t, firstOfKind(objs, "Deployment"))
		for k, v := range svc.Spec.Selector {
			if dep.Spec.Template.Labels[k] != v {
				t.Errorf("Service %s selects %s=%s, which the Deployment's pods lack", svc.Name, k, v)
			}
		}
	}
	ks := convert[corev1.Service](t, firstOfKind(kust, "Service"))
	cs := convert[corev1.Service](t, firstOfKind(chart, "Service"))
	same("Service ports", ks.Spec.Ports, cs.Spec.Ports)
}

// The chart's ClusterRole has exactly the rules `make manifests` generates (config/rbac/role.yaml).
func TestClusterRoleIsTheGeneratedOne(t *testing.T) {
	var generated rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(readFile(t, "config/rbac/role.yaml"), &generated); err != nil {
		t.Fatal(err)
	}
	chart := render(t)
	name := releaseName + "-" + generated.Name
	c := find(chart, "ClusterRole", name)
	if c == nil {
		t.Fatalf("the chart renders no ClusterRole %s", name)
	}
	if got := rulesOf(t, c); !equality.Semantic.DeepEqual(got, generated.Rules) {
		t.Errorf("ClusterRole %s rules differ from config/rbac/role.yaml: copy its rules into charts/couchestor/templates/rbac.yaml\n  generated: %s\n  chart:     %s",
			name, show(generated.Rules), show(got))
	}
}

// Every option on renders what it says, and the defaults leave the optional objects out.
func TestTemplateAllOptions(t *testing.T) {
	def := render(t)
	all := render(t, "-f", allOptions())
	for _, kind := range []string{"ServiceMonitor", "PrometheusRule", "NetworkPolicy", "PodDisruptionBudget"} {
		if firstOfKind(def, kind) != nil {
			t.Errorf("the default render has a %s", kind)
		}
		if firstOfKind(all, kind) == nil {
			t.Errorf("the all-options render has no %s", kind)
		}
	}
	if find(all, "ConfigMap", releaseName+"-dashboard") == nil || find(def, "ConfigMap", releaseName+"-dashboard") != nil {
		t.Error("the dashboard ConfigMap should be rendered with grafanaDashboard.enabled only")
	}
	for _, name := range []string{"viewer-role", "editor-role"} {
		if find(def, "ClusterRole", releaseName+"-"+name) == nil {
			t.Errorf("no ClusterRole %s-%s by default", releaseName, name)
		}
	}

	dep := convert[appsv1.Deployment](t, firstOfKind(all, "Deployment"))
	c := dep.Spec.Template.Spec.Containers[0]
	if want := "registry.example.com/billyronks/couchestor@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"; c.Image != want {
		t.Errorf("image %q, want %q", c.Image, want)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["metrics"] != 9443 || ports["health"] != 9440 {
		t.Errorf("container ports %v do not follow the bind addresses :9443 and :9440", ports)
	}
	cfg, err := parseWithoutFiles(c.Args)
	if err != nil {
		t.Fatalf("all-options args %q: %v", c.Args, err)
	}
	if !cfg.DryRun || !cfg.PreservationMode || cfg.MayastorHAEnabled || cfg.MaxConcurrentMigrations != 4 ||
		cfg.LeaderElectionNamespace != "couchestor-leases" || cfg.PprofBindAddress != "127.0.0.1:6060" ||
		cfg.Prometheus.BearerTokenFile != "/var/run/secrets/prometheus/token" || cfg.FinishedMigrationsPerVolume != 0 {
		t.Errorf("the operator would not get the values set: %+v", *cfg)
	}
	if r := find(all, "Role", releaseName+"-leader-election-role"); r == nil || r.GetNamespace() != "couchestor-leases" {
		t.Errorf("the leader-election Role should follow config.leaderElectionNamespace: %v", r)
	}

	// The rules and dashboard are the files in charts/couchestor/files, unchanged in meaning.
	var rulesFile map[string]any
	if err := yaml.Unmarshal(readFile(t, "charts/couchestor/files/prometheus-rules.yaml"), &rulesFile); err != nil {
		t.Fatal(err)
	}
	pr := firstOfKind(all, "PrometheusRule")
	if groups, _, _ := unstructured.NestedSlice(pr.Object, "spec", "groups"); !equality.Semantic.DeepEqual(groups, rulesFile["groups"]) {
		t.Errorf("PrometheusRule groups differ from files/prometheus-rules.yaml")
	}
	cm := convert[corev1.ConfigMap](t, find(all, "ConfigMap", releaseName+"-dashboard"))
	if got, want := cm.Data["couchestor.json"], strings.TrimRight(string(readFile(t, "charts/couchestor/files/dashboard.json")), "\n"); got != want {
		t.Errorf("dashboard ConfigMap differs from files/dashboard.json")
	}
	if cm.Labels["grafana_dashboard"] != "1" {
		t.Errorf("dashboard ConfigMap lacks the Grafana sidecar label: %v", cm.Labels)
	}
}

// parseWithoutFiles parses operator args with the file flags blanked (their files do not exist here).
func parseWithoutFiles(args []string) (*operator.Config, error) {
	var kept []string
	files := map[string]string{}
	for _, a := range args {
		name, val, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasSuffix(name, "-file") {
			files[name] = val
			continue
		}
		kept = append(kept, a)
	}
	cfg, err := operator.Parse("couchestor", kept)
	if err != nil {
		return nil, err
	}
	cfg.Prometheus.BearerTokenFile = files["prometheus-bearer-token-file"]
	return cfg, nil
}

// fieldDiff lists the fields of two structs that differ, as "Field: config/ X, chart Y".
func fieldDiff(prefix string, a, b reflect.Value) []string {
	if a.Kind() != reflect.Struct {
		if reflect.DeepEqual(a.Interface(), b.Interface()) {
			return nil
		}
		return []string{fmt.Sprintf("%s: config/ %v, chart %v", prefix, a.Interface(), b.Interface())}
	}
	var out []string
	for i := 0; i < a.NumField(); i++ {
		if !a.Type().Field(i).IsExported() {
			continue
		}
		out = append(out, fieldDiff(prefix+"."+a.Type().Field(i).Name, a.Field(i), b.Field(i))...)
	}
	return out
}

// withoutHelmMetadata is a copy of a rendered CRD without what the chart adds to the generated
// one: its labels and the helm.sh/resource-policy annotation.
func withoutHelmMetadata(u *unstructured.Unstructured) *unstructured.Unstructured {
	c := u.DeepCopy()
	c.SetLabels(nil)
	a := c.GetAnnotations()
	delete(a, "helm.sh/resource-policy")
	c.SetAnnotations(a)
	return c
}

func firstOfKind(objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	for _, u := range objs {
		if u.GetKind() == kind {
			return u
		}
	}
	return nil
}

func rulesOf(t *testing.T, u *unstructured.Unstructured) []rbacv1.PolicyRule {
	t.Helper()
	if u.GetKind() == "Role" {
		return convert[rbacv1.Role](t, u).Rules
	}
	return convert[rbacv1.ClusterRole](t, u).Rules
}

func aggregation(u *unstructured.Unstructured) string {
	var l []string
	for k, v := range u.GetLabels() {
		if strings.HasPrefix(k, "rbac.authorization.k8s.io/aggregate-to-") {
			l = append(l, k+"="+v)
		}
	}
	sort.Strings(l)
	return strings.Join(l, ",")
}

type binding struct {
	RoleRef  rbacv1.RoleRef
	Subjects []rbacv1.Subject
}

func bindingOf(t *testing.T, u *unstructured.Unstructured) binding {
	t.Helper()
	if u.GetKind() == "RoleBinding" {
		b := convert[rbacv1.RoleBinding](t, u)
		return binding{b.RoleRef, b.Subjects}
	}
	b := convert[rbacv1.ClusterRoleBinding](t, u)
	return binding{b.RoleRef, b.Subjects}
}

func show(v any) string {
	b, err := yaml.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%+v", v)
	}
	return strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", "\n           ")
}

// GOMEMLIMIT follows the container's memory limit: 90 % of it when written in whole Mi or Gi, the
// whole limit through the downward API otherwise, none without a limit; goMemLimit wins.
func TestGoMemLimitFollowsTheMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  []string
		want string // a value, "fieldRef", or "" for none
	}{
		{"default 256Mi", nil, "230MiB"},
		{"1Gi", []string{"--set", "resources.limits.memory=1Gi"}, "921MiB"},
		{"100Mi", []string{"--set", "resources.limits.memory=100Mi"}, "90MiB"},
		{"in bytes", []string{"--set-string", "resources.limits.memory=268435456"}, "fieldRef"},
		{"decimal", []string{"--set", "resources.limits.memory=512M"}, "fieldRef"},
		{"no limit", []string{"--set", "resources.limits=null"}, ""},
		{"explicit", []string{"--set", "goMemLimit=100MiB"}, "100MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dep := convert[appsv1.Deployment](t, firstOfKind(render(t, tc.set...), "Deployment"))
			var got string
			for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
				if e.Name != "GOMEMLIMIT" {
					continue
				}
				got = e.Value
				if f := e.ValueFrom; f != nil && f.ResourceFieldRef != nil && f.ResourceFieldRef.Resource == "limits.memory" &&
					f.ResourceFieldRef.Divisor.String() == "1" {
					got = "fieldRef"
				}
			}
			if got != tc.want {
				t.Errorf("GOMEMLIMIT %q, want %q", got, tc.want)
			}
		})
	}
}

package chart

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// renderErr runs helm template and returns its error (nil when it rendered).
func renderErr(t *testing.T, set ...string) error {
	t.Helper()
	args := []string{"template", releaseName, chartDir, "--namespace", releaseNS}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	_, err := helm(t, args...)
	return err
}

func renderSet(t *testing.T, set ...string) []*unstructured.Unstructured {
	t.Helper()
	var args []string
	for _, s := range set {
		args = append(args, "--set", s)
	}
	return render(t, args...)
}

// As a subchart of an umbrella chart: any global value is accepted, global.imageRegistry
// replaces the image's registry and global.imagePullSecrets come before the chart's own.
func TestGlobalValues(t *testing.T) {
	for _, set := range []string{"global.storageClass=fast", "global.anything.nested=1", "global.imageRegistry=", "global.imagePullSecrets=null"} {
		if err := renderErr(t, set); err != nil {
			t.Errorf("--set %s: an umbrella chart's global values must be accepted: %v", set, err)
		}
	}
	image := func(set ...string) string {
		t.Helper()
		return convert[appsv1.Deployment](t, firstOfKind(renderSet(t, set...), "Deployment")).Spec.Template.Spec.Containers[0].Image
	}
	for _, tc := range []struct {
		set  []string
		want string
	}{
		{nil, "ghcr.io/billyronks/couchestor:0.3.0"},
		{[]string{"global.imageRegistry=mirror.example.com:5000"}, "mirror.example.com:5000/billyronks/couchestor:0.3.0"},
		{[]string{"global.imageRegistry=mirror.example.com/ghcr/"}, "mirror.example.com/ghcr/billyronks/couchestor:0.3.0"},
		{[]string{"global.imageRegistry=mirror.example.com", "image.repository=team/couchestor"}, "mirror.example.com/team/couchestor:0.3.0"},
		{[]string{"global.imageRegistry=localhost:5000", "image.repository=localhost/couchestor", "image.tag=dev"}, "localhost:5000/couchestor:dev"},
	} {
		tc.want = strings.Replace(tc.want, "0.3.0", strings.TrimSpace(string(readFile(t, "VERSION"))), 1)
		if got := image(tc.set...); got != tc.want {
			t.Errorf("%v: image %q, want %q", tc.set, got, tc.want)
		}
	}
	dep := convert[appsv1.Deployment](t, firstOfKind(render(t, "--set", "global.imagePullSecrets[0]=mirror", "--set", "global.imagePullSecrets[1].name=shared",
		"--set", "imagePullSecrets[0].name=shared", "--set", "imagePullSecrets[1].name=own"), "Deployment"))
	var got []string
	for _, s := range dep.Spec.Template.Spec.ImagePullSecrets {
		got = append(got, s.Name)
	}
	if want := []string{"mirror", "shared", "own"}; !slices.Equal(got, want) {
		t.Errorf("imagePullSecrets %v, want %v (globals first, each once)", got, want)
	}
	if err := renderErr(t, "global.imageRegistry=has space"); err == nil || !strings.Contains(err.Error(), "schema") {
		t.Errorf("global.imageRegistry with a space: want a schema refusal, got %v", err)
	}
}

// The CRDs are templates made of the generated files (config/crd/bases) and nothing else but
// the chart's labels and, with crds.keep (the default), helm.sh/resource-policy: keep; none is
// rendered with crds.enabled=false, even with --include-crds.
func TestCRDValues(t *testing.T) {
	gen, _ := filepath.Glob(filepath.Join(repoRoot, "config", "crd", "bases", "*.yaml"))
	if len(gen) == 0 {
		t.Fatal("no generated CRDs in config/crd/bases")
	}
	for name, tc := range map[string]struct {
		set  []string
		keep bool
	}{
		"default":    {nil, true},
		"keep false": {[]string{"crds.keep=false"}, false},
	} {
		t.Run(name, func(t *testing.T) {
			objs := renderSet(t, tc.set...)
			var crds []*unstructured.Unstructured
			for _, u := range objs {
				if u.GetKind() == "CustomResourceDefinition" {
					crds = append(crds, u)
				}
			}
			if len(crds) != len(gen) {
				t.Fatalf("%d CRDs rendered, config/crd/bases has %d", len(crds), len(gen))
			}
			for _, g := range gen {
				raw, _ := os.ReadFile(g)
				var want unstructured.Unstructured
				if err := yaml.Unmarshal(bytes.TrimPrefix(raw, []byte("---\n")), &want.Object); err != nil {
					t.Fatal(err)
				}
				c := find(crds, "CustomResourceDefinition", want.GetName())
				if c == nil {
					t.Errorf("CRD %s (%s) not rendered", want.GetName(), filepath.Base(g))
					continue
				}
				if !equality.Semantic.DeepEqual(withoutHelmMetadata(c).Object, want.Object) {
					t.Errorf("rendered CRD %s differs from %s beyond labels and the keep annotation", want.GetName(), filepath.Base(g))
				}
				if got := c.GetAnnotations()["helm.sh/resource-policy"]; (got == "keep") != tc.keep {
					t.Errorf("CRD %s helm.sh/resource-policy %q, keep %v", c.GetName(), got, tc.keep)
				}
				if c.GetLabels()["app.kubernetes.io/managed-by"] != "Helm" {
					t.Errorf("CRD %s lacks the chart's labels: %v", c.GetName(), c.GetLabels())
				}
			}
		})
	}
	for _, u := range renderSet(t, "crds.enabled=false") {
		if u.GetKind() == "CustomResourceDefinition" {
			t.Errorf("crds.enabled=false renders %s", key(u))
		}
	}
}

// The ServiceMonitor sends a token from a Secret (authorization: credentials), never a file of
// Prometheus' pod, and the chart lets Prometheus' ServiceAccount read /metrics.
func TestServiceMonitorAuthorization(t *testing.T) {
	const sa, promNS = "kube-prometheus-stack-prometheus", "monitoring"
	objs := renderSet(t, "serviceMonitor.enabled=true", "serviceMonitor.namespace="+promNS,
		"serviceMonitor.prometheusServiceAccount.name="+sa)

	// The binding: Prometheus' ServiceAccount to the metrics-reader ClusterRole, which allows GET
	// /metrics (what the operator's SubjectAccessReview asks).
	crb := convert[rbacv1.ClusterRoleBinding](t, find(objs, "ClusterRoleBinding", releaseName+"-metrics-reader"))
	if want := []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: promNS}}; !equality.Semantic.DeepEqual(crb.Subjects, want) {
		t.Errorf("metrics-reader binding subjects %+v, want %+v", crb.Subjects, want)
	}
	role := convert[rbacv1.ClusterRole](t, find(objs, "ClusterRole", crb.RoleRef.Name))
	if want := []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}; crb.RoleRef.Kind != "ClusterRole" ||
		!equality.Semantic.DeepEqual(role.Rules, want) {
		t.Errorf("the binding's ClusterRole %s has rules %+v, want %+v", crb.RoleRef.Name, role.Rules, want)
	}

	// The token Secret, for that ServiceAccount, in the ServiceMonitor's namespace.
	secret := convert[corev1.Secret](t, find(objs, "Secret", releaseName+"-prometheus-token"))
	if secret.Type != corev1.SecretTypeServiceAccountToken || secret.Annotations[corev1.ServiceAccountNameKey] != sa || secret.Namespace != promNS {
		t.Errorf("token Secret %s/%s type %s for %q, want %s in %s for %s", secret.Namespace, secret.Name, secret.Type,
			secret.Annotations[corev1.ServiceAccountNameKey], corev1.SecretTypeServiceAccountToken, promNS, sa)
	}
	sm := firstOfKind(objs, "ServiceMonitor")
	endpoint := func(sm *unstructured.Unstructured) map[string]any {
		t.Helper()
		eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
		if len(eps) != 1 {
			t.Fatalf("ServiceMonitor endpoints %v", eps)
		}
		return eps[0].(map[string]any)
	}
	ep := endpoint(sm)
	want := map[string]any{"type": "Bearer", "credentials": map[string]any{"name": secret.Name, "key": "token"}}
	if sm.GetNamespace() != promNS || ep["scheme"] != "https" || !equality.Semantic.DeepEqual(ep["authorization"], want) {
		t.Errorf("ServiceMonitor %s: scheme %v, authorization %v; want https and %v", sm.GetNamespace(), ep["scheme"], ep["authorization"], want)
	}

	// An existing Secret instead: no Secret rendered, the ServiceMonitor reads that one.
	objs = renderSet(t, "serviceMonitor.enabled=true", "serviceMonitor.bearerTokenSecret.name=prom-token", "serviceMonitor.bearerTokenSecret.key=jwt")
	if firstOfKind(objs, "Secret") != nil || find(objs, "ClusterRoleBinding", releaseName+"-metrics-reader") != nil {
		t.Error("with bearerTokenSecret.name and no ServiceAccount: want neither a Secret nor a binding")
	}
	if got, want := endpoint(firstOfKind(objs, "ServiceMonitor"))["authorization"], (map[string]any{"type": "Bearer", "credentials": map[string]any{"name": "prom-token", "key": "jwt"}}); !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("authorization %v, want %v", got, want)
	}

	// Plain HTTP: no token, no Secret.
	objs = renderSet(t, "serviceMonitor.enabled=true", "config.metricsSecure=false")
	if ep := endpoint(firstOfKind(objs, "ServiceMonitor")); ep["authorization"] != nil || ep["scheme"] != nil || firstOfKind(objs, "Secret") != nil {
		t.Errorf("metricsSecure=false: endpoint %v should carry no scheme nor authorization, and no Secret be rendered", ep)
	}

	// Refusals, each in one line naming the value to set.
	for set, says := range map[string]string{
		"serviceMonitor.enabled=true": "prometheusServiceAccount.name",
		"serviceMonitor.enabled=true,serviceMonitor.namespace=monitoring,serviceMonitor.prometheusServiceAccount.name=p,serviceMonitor.prometheusServiceAccount.namespace=prom": "must equal serviceMonitor.namespace",
	} {
		if err := renderErr(t, set); err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("--set %s: want a refusal saying %q, got %v", set, says, err)
		}
	}

	// No render uses the deprecated bearerTokenFile.
	for _, args := range [][]string{{"-f", allOptions()}, {"--set", "serviceMonitor.enabled=true,serviceMonitor.prometheusServiceAccount.name=p"}} {
		out, err := helm(t, append([]string{"template", releaseName, chartDir, "-n", releaseNS}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(out, []byte("bearerTokenFile")) {
			t.Errorf("%v renders bearerTokenFile (deprecated by the Prometheus Operator)", args)
		}
	}
}

// A PodDisruptionBudget can never block a drain: none with one replica, maxUnavailable 1 by
// default, and a minAvailable that leaves no pod to evict is refused.
func TestPodDisruptionBudgetNeverBlocksDrains(t *testing.T) {
	pdb := func(set ...string) *policyv1.PodDisruptionBudget {
		t.Helper()
		u := firstOfKind(renderSet(t, set...), "PodDisruptionBudget")
		if u == nil {
			return nil
		}
		return convert[policyv1.PodDisruptionBudget](t, u)
	}
	if p := pdb("podDisruptionBudget.enabled=true"); p != nil {
		t.Errorf("replicaCount 1: a PodDisruptionBudget is rendered: %+v", p.Spec)
	}
	if p := pdb("podDisruptionBudget.enabled=true", "podDisruptionBudget.minAvailable=1"); p != nil {
		t.Errorf("replicaCount 1, minAvailable 1: a PodDisruptionBudget is rendered (it would block every drain): %+v", p.Spec)
	}
	p := pdb("podDisruptionBudget.enabled=true", "replicaCount=2")
	if p == nil || p.Spec.MaxUnavailable == nil || p.Spec.MaxUnavailable.IntValue() != 1 || p.Spec.MinAvailable != nil {
		t.Fatalf("replicaCount 2: want maxUnavailable 1, got %+v", p)
	}
	dep := convert[appsv1.Deployment](t, firstOfKind(renderSet(t, "replicaCount=2"), "Deployment"))
	for k, v := range p.Spec.Selector.MatchLabels {
		if dep.Spec.Template.Labels[k] != v {
			t.Errorf("the budget selects %s=%s, which the Deployment's pods lack", k, v)
		}
	}
	if p := pdb("podDisruptionBudget.enabled=true", "replicaCount=3", "podDisruptionBudget.minAvailable=2"); p == nil ||
		p.Spec.MinAvailable == nil || p.Spec.MinAvailable.IntValue() != 2 || p.Spec.MaxUnavailable != nil {
		t.Errorf("replicaCount 3, minAvailable 2: want minAvailable 2 alone, got %+v", p)
	}
	for _, set := range []string{
		"podDisruptionBudget.enabled=true,replicaCount=2,podDisruptionBudget.minAvailable=2",
		"podDisruptionBudget.enabled=true,replicaCount=2,podDisruptionBudget.minAvailable=100%",
	} {
		if err := renderErr(t, set); err == nil || !strings.Contains(err.Error(), "block every drain") {
			t.Errorf("--set %s: want a refusal saying it would block every drain, got %v", set, err)
		}
	}
	for _, set := range []string{"podDisruptionBudget.maxUnavailable=0", "podDisruptionBudget.maxUnavailable=0%"} {
		if err := renderErr(t, set); err == nil || !strings.Contains(err.Error(), "schema") {
			t.Errorf("--set %s: want a schema refusal, got %v", set, err)
		}
	}
}

// Read access is aggregated to view by default; write access to edit/admin only when asked.
func TestEditorRoleIsNotAggregatedByDefault(t *testing.T) {
	for _, tc := range []struct {
		set      []string
		view     bool
		edit     bool
		what     string
		rendered bool
	}{
		{nil, true, false, "defaults", true},
		{[]string{"rbac.aggregateEditorToEditRoles=true"}, true, true, "aggregateEditorToEditRoles", true},
		{[]string{"rbac.aggregateToDefaultRoles=false"}, false, false, "aggregateToDefaultRoles=false", true},
		{[]string{"rbac.create=false"}, false, false, "rbac.create=false", false},
	} {
		objs := renderSet(t, tc.set...)
		viewer, editor := find(objs, "ClusterRole", releaseName+"-viewer-role"), find(objs, "ClusterRole", releaseName+"-editor-role")
		if (viewer != nil) != tc.rendered || (editor != nil) != tc.rendered {
			t.Errorf("%s: viewer rendered %v, editor rendered %v, want %v", tc.what, viewer != nil, editor != nil, tc.rendered)
			continue
		}
		if !tc.rendered {
			continue
		}
		if got := viewer.GetLabels()["rbac.authorization.k8s.io/aggregate-to-view"] == "true"; got != tc.view {
			t.Errorf("%s: viewer aggregated to view %v, want %v", tc.what, got, tc.view)
		}
		for _, l := range []string{"rbac.authorization.k8s.io/aggregate-to-edit", "rbac.authorization.k8s.io/aggregate-to-admin"} {
			if got := editor.GetLabels()[l] == "true"; got != tc.edit {
				t.Errorf("%s: editor %s %v, want %v", tc.what, l, got, tc.edit)
			}
		}
		if aggregation(editor) != "" && !tc.edit {
			t.Errorf("%s: editor role aggregated: %s", tc.what, aggregation(editor))
		}
	}
}

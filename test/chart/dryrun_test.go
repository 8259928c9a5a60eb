package chart

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/billyronks/couchestor/internal/operator"
	"github.com/billyronks/couchestor/internal/testenv"
)

// Every object of the default render and of the all-options render is accepted by a real
// kube-apiserver (server-side dry-run: validation, defaulting and admission, nothing stored),
// after the chart's CRDs are installed the way `helm install` does: first.
func TestRenderedObjectsPassServerSideDryRun(t *testing.T) {
	requireHelm(t)
	if why := testenv.SkipReason(); why != "" {
		if os.Getenv("CI") != "" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	def := render(t)
	all := render(t, "-f", allOptions())

	// The chart's CRDs (created for real here, as the first objects of an install, so that the
	// rest can be dry-run), then stand-ins for the Prometheus Operator's (ServiceMonitor and
	// PrometheusRule, which this repository does not ship).
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(chartDir, "files", "crds"), filepath.Join(repoRoot, "test", "chart", "testdata", "monitoring-crds")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start envtest: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	scheme := operator.NewScheme()
	_ = apiextensionsv1.AddToScheme(scheme)
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// What an install finds in place: the namespaces (helm --create-namespace and the monitoring
	// stack's), and the PriorityClass the all-options values name.
	for _, ns := range []string{releaseNS, "monitoring", "couchestor-leases"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	if err := c.Create(ctx, &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "couchestor-test-priority"}, Value: 1000}); err != nil {
		t.Fatal(err)
	}

	// config/default too: the kustomize install is held to the same standard; and the
	// ServiceMonitor example of config/prometheus.
	monitor := decodeAll(t, readFile(t, "config/prometheus/monitor.yaml"))
	for _, u := range monitor {
		if u.GetKind() == "ServiceMonitor" {
			if eps, _, _ := unstructured.NestedSlice(u.Object, "spec", "endpoints"); len(eps) != 1 || eps[0].(map[string]any)["bearerTokenFile"] != nil {
				t.Errorf("config/prometheus/monitor.yaml: want one endpoint without bearerTokenFile, got %v", eps)
			}
		}
	}
	for name, objs := range map[string][]*unstructured.Unstructured{"defaults": def, "all options": all, "config/default": kustomize(t), "config/prometheus": monitor} {
		t.Run(name, func(t *testing.T) {
			n := 0
			for _, u := range objs {
				if u.GetKind() == "Namespace" {
					continue // created above
				}
				obj := u.DeepCopy()
				// Strict: an unknown or duplicated field is an error, not a warning.
				write := func() error { return c.Create(ctx, obj, client.DryRunAll, client.FieldValidation("Strict")) }
				if u.GetKind() == "CustomResourceDefinition" {
					// Installed above: the rendered one must be a valid update of it.
					var cur unstructured.Unstructured
					cur.SetGroupVersionKind(u.GroupVersionKind())
					if err := c.Get(ctx, client.ObjectKeyFromObject(u), &cur); err != nil {
						t.Errorf("%s: %v", key(u), err)
						continue
					}
					obj.SetResourceVersion(cur.GetResourceVersion())
					write = func() error { return c.Update(ctx, obj, client.DryRunAll, client.FieldValidation("Strict")) }
				}
				if err := write(); err != nil {
					t.Errorf("%s: %v", key(u), err)
					continue
				}
				n++
			}
			if n < 8 && name != "config/prometheus" || name == "config/prometheus" && n != 3 {
				t.Errorf("only %d objects dry-run", n)
			}
			t.Logf("%d objects accepted", n)
		})
	}
}

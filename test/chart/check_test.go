package chart

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagek8sv1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/operator"
	"github.com/billyronks/couchestor/internal/preflight"
	"github.com/billyronks/couchestor/internal/promwatch"
	"github.com/billyronks/couchestor/internal/testenv"
)

// installed drops the hooks (the helm test's objects), which `helm install` does not create.
func installed(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	return slices.DeleteFunc(slices.Clone(objs), func(u *unstructured.Unstructured) bool { return u.GetAnnotations()["helm.sh/hook"] != "" })
}

// The helm test Pod runs `couchestor check` from the operator's image with exactly the operator's
// arguments, as the test's own ServiceAccount; every object of the test is a test hook.
func TestCheckHookRunsTheOperatorsCheck(t *testing.T) {
	objs := render(t)
	hooks := 0
	for _, u := range objs {
		if u.GetAnnotations()["helm.sh/hook"] == "" {
			continue
		}
		hooks++
		if u.GetAnnotations()["helm.sh/hook"] != "test" || !strings.HasSuffix(u.GetName(), "-check") {
			t.Errorf("%s: hook %q, want a test named *-check", key(u), u.GetAnnotations()["helm.sh/hook"])
		}
	}
	if hooks != 6 {
		t.Errorf("%d test hook objects, want 6 (ServiceAccount, ClusterRole and binding, Role and binding, Pod)", hooks)
	}
	pod := convert[corev1.Pod](t, find(objs, "Pod", releaseName+"-check"))
	dep := convert[appsv1.Deployment](t, firstOfKind(objs, "Deployment"))
	c, op := pod.Spec.Containers[0], dep.Spec.Template.Spec.Containers[0]
	if c.Image != op.Image || pod.Spec.RestartPolicy != corev1.RestartPolicyNever || pod.Spec.ServiceAccountName != releaseName+"-check" {
		t.Errorf("check Pod: image %q (operator %q), restartPolicy %q, serviceAccount %q", c.Image, op.Image, pod.Spec.RestartPolicy, pod.Spec.ServiceAccountName)
	}
	if len(c.Args) == 0 || c.Args[0] != "check" || !slices.Equal(c.Args[1:], op.Args) {
		t.Errorf("check Pod args %q, want check and the operator's %q", c.Args, op.Args)
	}
	if _, err := operator.Parse("couchestor check", c.Args[1:]); err != nil {
		t.Errorf("the check's arguments do not parse: %v", err)
	}
	if !equality.Semantic.DeepEqual(c.SecurityContext, op.SecurityContext) {
		t.Errorf("check container securityContext %+v, want the operator's", c.SecurityContext)
	}

	// The Lease's Role follows the leader-election namespace, and is left out without leader election.
	objs = render(t, "--set", "config.leaderElectionNamespace=couchestor-leases")
	if r := find(objs, "Role", releaseName+"-check"); r == nil || r.GetNamespace() != "couchestor-leases" {
		t.Errorf("the check's Role should be in config.leaderElectionNamespace: %v", r)
	}
	objs = render(t, "--set", "config.leaderElect=false")
	if find(objs, "Role", releaseName+"-check") != nil || find(objs, "RoleBinding", releaseName+"-check") != nil {
		t.Error("without leader election the check reads no Lease, so needs no Role")
	}
}

// The test's RBAC is exactly what the checks read: run as a user bound to nothing but the
// rendered ClusterRole and Role, the checks meet no refusal; without any one of the rules, some
// check is refused. So no rule is granted that no code path uses, and none is missing.
func TestCheckHookRBACIsWhatTheChecksRead(t *testing.T) {
	requireHelm(t)
	if why := testenv.SkipReason(); why != "" {
		if os.Getenv("CI") != "" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	objs := render(t)
	clusterRules := rulesOf(t, find(objs, "ClusterRole", releaseName+"-check"))
	leaseRules := rulesOf(t, find(objs, "Role", releaseName+"-check"))

	api, err := testenv.StartAPIServer(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin := api.Client
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: releaseNS}}))
	must(admin.Create(ctx, &storagek8sv1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "mayastor-nvme"}, Provisioner: storagev1.MayastorCSIDriver}))
	must(admin.Create(ctx, &storagev1.StoragePolicy{ObjectMeta: metav1.ObjectMeta{Name: "rbac"}, Spec: storagev1.StoragePolicySpec{
		HighWatermarkIOPS: 5000, LowWatermarkIOPS: 500, SamplingWindow: "1h", CooldownPeriod: "24h", StorageClassName: "mayastor-nvme",
		Enabled: ptr.To(true), MaxConcurrentMigrations: 2, MigrationTimeout: "30m",
		NVMePoolSelector: metav1.LabelSelector{MatchLabels: map[string]string{"tier": "hot"}},
		SATAPoolSelector: metav1.LabelSelector{MatchLabels: map[string]string{"tier": "cold"}},
	}}))

	// run checks as a fresh user granted clusterRules cluster-wide and leaseRules in the
	// release's namespace, and returns the results that were refused.
	n := 0
	run := func(clusterRules, leaseRules []rbacv1.PolicyRule) []string {
		n++
		user := "check-" + string(rune('a'+n))
		cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: user}, Rules: clusterRules}
		role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: user, Namespace: releaseNS}, Rules: leaseRules}
		must(admin.Create(ctx, cr))
		must(admin.Create(ctx, role))
		must(admin.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: user}, Subjects: []rbacv1.Subject{{Kind: "User", Name: user}}}))
		must(admin.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user, Namespace: releaseNS},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: user}, Subjects: []rbacv1.Subject{{Kind: "User", Name: user}}}))
		u, err := api.Env.AddUser(envtest.User{Name: user}, nil)
		must(err)
		kube, err := client.New(u.Config(), client.Options{Scheme: operator.NewScheme()})
		must(err)
		ms, err := mayastor.New(mayastor.Config{BaseURL: "http://127.0.0.1:1"})
		must(err)
		pc := promwatch.DefaultConfig()
		pc.URL = "http://127.0.0.1:1"
		prom, err := promwatch.New(pc)
		must(err)
		var refused []string
		// RBAC takes effect at once in envtest's authorizer, but allow it a moment.
		for range 20 {
			refused = nil
			results := (&preflight.Checker{Kube: kube, Mayastor: ms, Prometheus: prom, LeaseNamespace: releaseNS}).Run(ctx)
			for _, r := range results {
				if strings.Contains(r.What, "forbidden") {
					refused = append(refused, r.Check+": "+r.What)
				}
			}
			if len(refused) == 0 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		return refused
	}
	if refused := run(clusterRules, leaseRules); len(refused) > 0 {
		t.Fatalf("the chart's check RBAC is not enough:\n%s", strings.Join(refused, "\n"))
	}
	all := append(slices.Clone(clusterRules), leaseRules...)
	for i := range all {
		var c, l []rbacv1.PolicyRule
		for j, r := range all {
			if j == i {
				continue
			}
			if j < len(clusterRules) {
				c = append(c, r)
			} else {
				l = append(l, r)
			}
		}
		if refused := run(c, l); len(refused) == 0 {
			t.Errorf("rule %+v is granted but no check needs it", all[i])
		}
	}
}

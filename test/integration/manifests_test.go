package integration

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// readObjects decodes every YAML document of a file under config/.
func readObjects(t *testing.T, rel string) []*unstructured.Unstructured {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "config", rel))
	if err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

// The Deployment carries the product's security posture, resources, probes and ports.
func TestDeploymentManifestMatchesTheDatasheet(t *testing.T) {
	var dep appsv1.Deployment
	for _, u := range readObjects(t, "manager/manager.yaml") {
		if u.GetKind() == "Deployment" {
			raw, _ := yaml.Marshal(u.Object)
			if err := yaml.UnmarshalStrict(raw, &dep); err != nil {
				t.Fatalf("Deployment does not decode strictly: %v", err)
			}
		}
	}
	if len(dep.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(dep.Spec.Template.Spec.Containers))
	}
	pod := dep.Spec.Template.Spec
	c := pod.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != 65534 || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) != 0 ||
		sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("container security context differs from the product's posture: %+v", sc)
	}
	if psc := pod.SecurityContext; psc == nil || psc.RunAsUser == nil || *psc.RunAsUser != 65534 || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("pod security context: %+v", psc)
	}
	want := map[string]map[corev1.ResourceName]string{
		"requests": {corev1.ResourceCPU: "100m", corev1.ResourceMemory: "128Mi"},
		"limits":   {corev1.ResourceCPU: "500m", corev1.ResourceMemory: "256Mi"},
	}
	for kind, list := range map[string]corev1.ResourceList{"requests": c.Resources.Requests, "limits": c.Resources.Limits} {
		for name, q := range want[kind] {
			got := list[name]
			if got.Cmp(resource.MustParse(q)) != 0 {
				t.Errorf("%s %s: want %s, got %s", kind, name, q, got.String())
			}
		}
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["metrics"] != 8080 || ports["health"] != 8081 {
		t.Errorf("ports: %v", ports)
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Port.String() != "health" ||
		c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("probes must be on the health port (8081): %+v %+v", c.LivenessProbe, c.ReadinessProbe)
	}
}

// Every install manifest is a valid object for the real API server (server-side dry run).
func TestInstallManifestsAreValid(t *testing.T) {
	requireAPIServer(t)
	c := ctx(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "system"}}
	if err := k8sClient.Create(c, ns); err != nil && !isAlreadyExists(err) {
		t.Fatal(err)
	}
	for _, f := range []string{"rbac/role.yaml", "rbac/role_binding.yaml", "rbac/service_account.yaml",
		"rbac/leader_election_role.yaml", "rbac/leader_election_role_binding.yaml", "rbac/metrics_reader_role.yaml", "manager/manager.yaml",
		"default/metrics_service.yaml", "samples/storage_v1_storagepolicy.yaml", "samples/storage_v1_tiermigration.yaml"} {
		for _, u := range readObjects(t, f) {
			if u.GetKind() == "Namespace" {
				continue
			}
			if err := k8sClient.Create(c, u, client.DryRunAll, strict); err != nil {
				t.Errorf("%s: %s %s refused: %v", f, u.GetKind(), u.GetName(), err)
			}
		}
	}
}

// Package chart tests the Helm chart charts/couchestor with Helm itself (a pinned helm v4 built by
// hack/helm.sh; `make test` sets COUCHESTOR_HELM), against the operator's own flags, the generated
// RBAC and CRDs, the kustomize config (rendered with the kustomize Go module), and a real
// kube-apiserver (envtest, KUBEBUILDER_ASSETS) that server-side dry-runs every rendered object.
package chart

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

var (
	repoRoot string
	chartDir string
	helmBin  string
	helmEnv  []string
	tmpRoot  string
)

func TestMain(m *testing.M) {
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	chartDir = filepath.Join(repoRoot, "charts", "couchestor")
	var err error
	if tmpRoot, err = os.MkdirTemp("", "couchestor-chart-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	helmBin = os.Getenv("COUCHESTOR_HELM")
	// Helm keeps caches and configuration under $HOME; give it its own, empty ones.
	helmEnv = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(tmpRoot, "helm-cache"),
		"HELM_CONFIG_HOME="+filepath.Join(tmpRoot, "helm-config"),
		"HELM_DATA_HOME="+filepath.Join(tmpRoot, "helm-data"),
		"KUBECONFIG="+filepath.Join(tmpRoot, "no-kubeconfig"))
	code := m.Run()
	_ = os.RemoveAll(tmpRoot)
	os.Exit(code)
}

// requireHelm skips the test when no helm binary was given outside CI, and fails it under CI.
func requireHelm(t *testing.T) {
	t.Helper()
	if helmBin != "" {
		return
	}
	why := "COUCHESTOR_HELM is not set: run `make test`, which builds helm through hack/helm.sh, or COUCHESTOR_HELM=$(hack/helm.sh) go test ./test/chart"
	if os.Getenv("CI") != "" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// helm runs the helm binary and returns its stdout; on failure the error carries stderr.
func helm(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	requireHelm(t)
	cmd := exec.Command(helmBin, args...)
	cmd.Env = helmEnv
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes(), nil
}

const (
	releaseName = "couchestor"
	releaseNS   = "couchestor-system"
)

// render runs `helm template` on the chart (CRDs included) with the given values files and
// --set arguments, and decodes every object.
func render(t *testing.T, extra ...string) []*unstructured.Unstructured {
	t.Helper()
	args := append([]string{"template", releaseName, chartDir, "--namespace", releaseNS, "--include-crds"}, extra...)
	out, err := helm(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return decodeAll(t, out)
}

// allOptions is the values file that turns every optional part of the chart on.
func allOptions() string {
	return filepath.Join(repoRoot, "test", "chart", "testdata", "all-options.yaml")
}

func decodeAll(t *testing.T, raw []byte) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatalf("decode rendered YAML: %v\n%s", err, raw)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

func readFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func key(u *unstructured.Unstructured) string {
	if u.GetNamespace() == "" {
		return u.GetKind() + "/" + u.GetName()
	}
	return u.GetKind() + "/" + u.GetNamespace() + "/" + u.GetName()
}

func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, u := range objs {
		if u.GetKind() == kind && u.GetName() == name {
			return u
		}
	}
	return nil
}

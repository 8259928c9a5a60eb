// Package clitest runs `kubectl couchestor` against a real kube-apiserver and etcd (envtest),
// the Mayastor simulator and a real Prometheus scraping it; `make test` builds them and sets
// KUBEBUILDER_ASSETS and COUCHESTOR_PROMETHEUS_DIR.
package clitest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/cli"
	"github.com/billyronks/couchestor/internal/testenv"
)

var (
	testEnv    *envtest.Environment
	restCfg    *rest.Config
	k8sClient  client.Client
	kubeconfig string
	repoRoot   string
	workDir    string
	skipWhy    string
)

func TestMain(m *testing.M) {
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Join(filepath.Dir(file), "..", "..")
	var err error
	if workDir, err = os.MkdirTemp("", "couchestor-cli-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := run(m)
	_ = os.RemoveAll(workDir)
	os.Exit(code)
}

func run(m *testing.M) int {
	if skipWhy = testenv.SkipReason(); skipWhy != "" {
		if os.Getenv("CI") != "" {
			fmt.Fprintln(os.Stderr, "FAIL: "+skipWhy)
			return 1
		}
		return m.Run()
	}
	api, err := testenv.StartAPIServer(repoRoot)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer api.Stop()
	testEnv, restCfg, k8sClient = api.Env, api.Config, api.Client
	// A kubeconfig, as a user of the plugin has one.
	user, err := testEnv.AddUser(envtest.User{Name: "cli-admin", Groups: []string{"system:masters"}}, nil)
	if err == nil {
		var kc []byte
		if kc, err = user.KubeConfig(); err == nil {
			kubeconfig = filepath.Join(workDir, "kubeconfig")
			err = os.WriteFile(kubeconfig, kc, 0o600)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "kubeconfig: %v\n", err)
		return 1
	}
	return m.Run()
}

func requireAPIServer(t *testing.T) {
	t.Helper()
	if testEnv == nil {
		t.Skip(skipWhy)
	}
}

func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return c
}

// result is one run of the plugin.
type result struct {
	code        int
	out, errOut string
}

// kc runs the plugin in this process against the test API server, through the kubeconfig.
func kc(t *testing.T, now time.Time, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	opts := &cli.Options{Out: &out, ErrOut: &errOut}
	if !now.IsZero() {
		opts.Now = func() time.Time { return now }
	}
	code := cli.Run(ctx(t), opts, append([]string{"--kubeconfig", kubeconfig}, args...))
	return result{code, out.String(), errOut.String()}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds cmd/kubectl-couchestor once.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binPath = filepath.Join(workDir, "kubectl-couchestor")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/kubectl-couchestor")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// runBinary runs the built plugin and returns its exit status, stdout and stderr.
func runBinary(t *testing.T, args ...string) result {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(c, binary(t), args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errOut.String()}
}

func createNamespace(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := k8sClient.Create(ctx(t), ns); err != nil {
		t.Fatal(err)
	}
}

// bindClaim makes PVC namespace/name bound to the PV, as the PV controller would (envtest runs
// no controller): the claim names the volume, the volume's claimRef names the claim.
func bindClaim(t *testing.T, namespace, name, pvName string) {
	t.Helper()
	c := ctx(t)
	var pv corev1.PersistentVolume
	if err := k8sClient.Get(c, client.ObjectKey{Name: pvName}, &pv); err != nil {
		t.Fatal(err)
	}
	sc := pv.Spec.StorageClassName
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: &sc,
			VolumeName:       pvName,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	if err := k8sClient.Create(c, pvc); err != nil {
		t.Fatal(err)
	}
	pv.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: namespace, Name: name, UID: pvc.UID}
	if err := k8sClient.Update(c, &pv); err != nil {
		t.Fatal(err)
	}
}

// mayastorPV creates a Mayastor PV for volume uuid in a StorageClass.
func mayastorPV(t *testing.T, uuid, storageClass string) string {
	t.Helper()
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pvc-" + uuid},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:         corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: storageClass,
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
				Driver: storagev1.MayastorCSIDriver, VolumeHandle: uuid,
			}},
		},
	}
	if err := k8sClient.Create(ctx(t), pv); err != nil {
		t.Fatal(err)
	}
	return pv.Name
}

func policyFor(name, storageClass string, dryRun bool, window string) *storagev1.StoragePolicy {
	enabled := true
	return &storagev1.StoragePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: storagev1.StoragePolicySpec{
			HighWatermarkIOPS: 5000, LowWatermarkIOPS: 500, SamplingWindow: window, CooldownPeriod: "24h",
			StorageClassName:        storageClass,
			NVMePoolSelector:        metav1.LabelSelector{MatchLabels: map[string]string{"tier": "hot"}},
			SATAPoolSelector:        metav1.LabelSelector{MatchLabels: map[string]string{"tier": "cold"}},
			MaxConcurrentMigrations: 10, MigrationTimeout: "10m", Enabled: &enabled, DryRun: dryRun,
		},
	}
}

func createPolicy(t *testing.T, p *storagev1.StoragePolicy) {
	t.Helper()
	if err := k8sClient.Create(ctx(t), p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), p) })
}

// oneErrorLine checks a failed run printed exactly one line, "error: ..." containing want.
func oneErrorLine(t *testing.T, r result, wantCode int, want string) {
	t.Helper()
	if r.code != wantCode {
		t.Errorf("exit status %d, want %d (stdout %q, stderr %q)", r.code, wantCode, r.out, r.errOut)
	}
	msg := strings.TrimSuffix(r.errOut, "\n")
	if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "error: ") || !strings.Contains(msg, want) {
		t.Errorf("want one line \"error: ...%s...\", got %q", want, r.errOut)
	}
}

// Package integration runs CoucheStor's API types and binary against a real kube-apiserver and
// etcd (envtest), built from source by hack/envtest-binaries.sh; `make test` points
// KUBEBUILDER_ASSETS at them.
package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/billyronks/couchestor/internal/testenv"
)

var (
	testEnv   *envtest.Environment
	restCfg   *rest.Config
	k8sClient client.Client
	repoRoot  string
	binDir    string
	skipWhy   string
)

func TestMain(m *testing.M) {
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Join(filepath.Dir(file), "..", "..")
	var err error
	if binDir, err = os.MkdirTemp("", "couchestor-bin-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := run(m)
	_ = os.RemoveAll(binDir)
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
	return m.Run()
}

// requireAPIServer skips the test when no API server could be started outside CI.
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

func isAlreadyExists(err error) bool { return apierrors.IsAlreadyExists(err) }

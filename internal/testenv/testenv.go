// Package testenv starts the kube-apiserver and etcd (envtest) that test/cli and
// test/integration run against; only tests import it.
package testenv

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/billyronks/couchestor/internal/operator"
)

// SkipReason is why no API server can be started, or "" if one can.
func SkipReason() string {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return "KUBEBUILDER_ASSETS is not set: run `make test`, which builds kube-apiserver and etcd and sets it"
	}
	return ""
}

// APIServer is a kube-apiserver and etcd holding CoucheStor's CRDs, and a client for it with
// the operator's scheme.
type APIServer struct {
	Env    *envtest.Environment
	Config *rest.Config
	Client client.Client
}

// StartAPIServer starts an API server with the CRDs under repoRoot/config/crd/bases.
func StartAPIServer(repoRoot string) (*APIServer, error) {
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(repoRoot, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("start envtest: %w", err)
	}
	a := &APIServer{Env: env, Config: cfg}
	if a.Client, err = client.New(cfg, client.Options{Scheme: operator.NewScheme()}); err != nil {
		a.Stop()
		return nil, fmt.Errorf("client: %w", err)
	}
	return a, nil
}

// Stop stops the API server and etcd, reporting a failure on stderr.
func (a *APIServer) Stop() {
	if err := a.Env.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stop envtest: %v\n", err)
	}
}

package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// `couchestor check` takes the operator's own flags: a bad one is a usage error (exit 2, one
// line); with Mayastor and Prometheus unreachable it prints a failed line for each and exits 1.
// The operator's flags keep their meaning: `couchestor --mayastor-url=ftp://x` is still refused.
func TestBinaryCheck(t *testing.T) {
	bin := buildBinary(t)
	run := func(args ...string) (int, string, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, out.String(), errOut.String()
	}
	code, _, errOut := run("check", "--mayastor-url=ftp://x")
	if code != 2 || !strings.HasPrefix(errOut, "couchestor check: --mayastor-url: malformed URL") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("check --mayastor-url=ftp://x: exit %d, %q", code, errOut)
	}

	user, err := testEnv.AddUser(envtest.User{Name: "check-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	ms, prom := "http://"+freeAddr(t), "http://"+freeAddr(t)
	code, out, errOut := run("check", "--kubeconfig="+kubeconfig, "--mayastor-url="+ms, "--prometheus-url="+prom,
		"--leader-elect", "--leader-election-namespace=check-nowhere")
	if code != 1 {
		t.Fatalf("exit %d, want 1; stdout:\n%s\nstderr: %s", code, out, errOut)
	}
	for _, want := range []string{
		"fail  Mayastor's REST API at " + ms + " does not answer GET /v0/nodes",
		"fail  Prometheus at " + prom + ": prometheus unreachable",
		"fail  no leader-election Lease couchestor.storage.billyronks.io in namespace check-nowhere",
		"fix: set the chart's config.mayastorUrl",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
}

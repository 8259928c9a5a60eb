package clitest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/cli"
	"github.com/billyronks/couchestor/internal/testenv"
)

// kubectl's flags mean what they mean in kubectl: --as impersonates (the API server answers for
// that user), --context and --server choose the cluster, --request-timeout bounds a request.
func TestKubectlConfigFlags(t *testing.T) {
	requireAPIServer(t)
	oneErrorLine(t, kc(t, time.Time{}, "status", "-A", "--as", "cli-nobody"), 1, `User "cli-nobody" cannot list resource "tiermigrations"`)
	if r := kc(t, time.Time{}, "status", "-A", "--as", "cli-nobody", "--as-group", "system:masters"); r.code != 0 {
		t.Errorf("--as with --as-group system:masters: %+v", r)
	}
	oneErrorLine(t, kc(t, time.Time{}, "status", "--context", "no-such-context"), 1, `context "no-such-context" does not exist`)
	oneErrorLine(t, kc(t, time.Time{}, "status", "--server", "https://127.0.0.1:1"), 1, "127.0.0.1:1")
	oneErrorLine(t, kc(t, time.Time{}, "status", "--request-timeout", "soon"), 1, "Invalid timeout value")
	if r := kc(t, time.Time{}, "status", "-A", "--request-timeout", "30s"); r.code != 0 {
		t.Errorf("--request-timeout 30s: %+v", r)
	}
}

// status --watch prints the table again when a TierMigration changes, until interrupted, and
// keeps a migration that ends while it watches.
func TestStatusWatch(t *testing.T) {
	requireAPIServer(t)
	const uuid = "6d1a0f3e-2b7c-4e55-8c1d-00000000c001"
	createNamespace(t, "watch")
	pv := mayastorPV(t, uuid, "cli-watch")
	bindClaim(t, "watch", "logs", pv)

	for _, tc := range []struct {
		output   []string
		started  func(string) bool
		moved    func(string) bool
		finished func(string) bool
	}{
		{nil,
			func(s string) bool { return strings.Contains(s, "No TierMigration in flight") },
			func(s string) bool { return strings.Contains(s, "watch/logs") && strings.Contains(s, "WaitingSync") },
			func(s string) bool { return strings.Contains(s, "Completed") }},
		{[]string{"-o", "name"},
			func(string) bool { return true },
			func(s string) bool { return strings.Contains(s, "tiermigration.storage.billyronks.io/cli-watch-") },
			func(s string) bool { return strings.Count(s, "tiermigration.storage.billyronks.io/") >= 3 }},
	} {
		t.Run(strings.Join(append([]string{"status"}, tc.output...), " "), func(t *testing.T) {
			var out, errOut testenv.SyncBuffer
			c, cancel := context.WithCancel(context.Background())
			done := make(chan int)
			go func() {
				args := append([]string{"--kubeconfig", kubeconfig, "status", "-n", "watch", "--watch"}, tc.output...)
				done <- cli.Run(c, &cli.Options{Out: &out, ErrOut: &errOut}, args)
			}()
			wait := func(what string, cond func(string) bool) {
				t.Helper()
				deadline := time.Now().Add(20 * time.Second)
				for !cond(out.String() + errOut.String()) {
					if time.Now().After(deadline) {
						cancel()
						t.Fatalf("status --watch: no %s:\nstdout %s\nstderr %s", what, out.String(), errOut.String())
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
			wait("first listing", tc.started)
			time.Sleep(300 * time.Millisecond) // the watch starts after the listing
			tm := newMigration(t, "cli-watch-"+fmt.Sprint(len(tc.output)), uuid, pv, storagev1.TierSATA)
			tm.Status.Phase, tm.Status.SourceTier = storagev1.PhaseWaitingSync, storagev1.TierNVMe
			setStatus(t, tm)
			wait("migration in WaitingSync", tc.moved)
			tm.Status.Phase = storagev1.PhaseCompleted
			setStatus(t, tm)
			wait("migration Completed", tc.finished)
			cancel()
			select {
			case code := <-done:
				if code != 0 {
					t.Errorf("status --watch ended with %d: %s", code, errOut.String())
				}
			case <-time.After(10 * time.Second):
				t.Fatal("status --watch did not end when interrupted")
			}
			if err := k8sClient.Delete(context.Background(), tm); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// move --dry-run=client prints the TierMigration and sends nothing; --dry-run=server lets the
// API server validate it and stores nothing, so a TierMigration the CRD's schema refuses is
// refused; the bare --dry-run (once the migration dry run) is a usage error.
func TestMoveDryRun(t *testing.T) {
	requireAPIServer(t)
	createNamespace(t, "dryrun")
	const good = "6d1a0f3e-2b7c-4e55-8c1d-00000000d001"
	bindClaim(t, "dryrun", "good", mayastorPV(t, good, "cli-dryrun"))
	// A volume handle Mayastor never makes: the TierMigration's volumeID is no UUID, which the
	// plugin does not check and the CRD's schema refuses.
	bindClaim(t, "dryrun", "bad", mayastorPV(t, "not-a-uuid", "cli-dryrun"))
	createPolicy(t, policyFor("cli-dryrun", "cli-dryrun", false, "1h"))
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	name := fmt.Sprintf("nvme-%s-%d", good, now.Unix()/60)

	nothingCreated := func(name string) {
		t.Helper()
		var tm storagev1.TierMigration
		if err := k8sClient.Get(ctx(t), client.ObjectKey{Name: name}, &tm); !apierrors.IsNotFound(err) {
			t.Errorf("TierMigration %s: %v, want none", name, err)
		}
	}

	r := kc(t, now, "move", "pvc/dryrun/good", "--to", "nvme", "--dry-run=client", "-o", "yaml")
	var tm storagev1.TierMigration
	if err := yaml.Unmarshal([]byte(r.out), &tm); err != nil || r.code != 0 || tm.Name != name || tm.Kind != "TierMigration" ||
		tm.Spec.VolumeID != good || tm.Spec.TargetTier != storagev1.TierNVMe {
		t.Errorf("move --dry-run=client -o yaml: %v exit %d\n%s%s", err, r.code, r.out, r.errOut)
	}
	nothingCreated(name)

	r = kc(t, now, "move", "pvc/dryrun/good", "--to", "nvme", "--dry-run=server")
	if r.code != 0 || r.out != "tiermigration.storage.billyronks.io/"+name+" created (server dry run)\n" {
		t.Errorf("move --dry-run=server: exit %d, %q %q", r.code, r.out, r.errOut)
	}
	nothingCreated(name)
	r = kc(t, now, "move", "pvc/dryrun/good", "--to", "nvme", "--dry-run=server", "-o", "json")
	if err := json.Unmarshal([]byte(r.out), &tm); err != nil || tm.UID == "" || tm.Name != name {
		t.Errorf("move --dry-run=server -o json: want the object the API server would store (with a uid): %v\n%s", err, r.out)
	}
	nothingCreated(name)

	// The plugin would send it (client dry run prints it); the API server refuses it.
	if r := kc(t, now, "move", "pvc/dryrun/bad", "--to", "nvme", "--dry-run=client"); r.code != 0 || !strings.Contains(r.out, "created (dry run)") {
		t.Errorf("move --dry-run=client of the bad volume: %+v", r)
	}
	oneErrorLine(t, kc(t, now, "move", "pvc/dryrun/bad", "--to", "nvme", "--dry-run=server"), 1, "create TierMigration: TierMigration.storage.billyronks.io")
	oneErrorLine(t, kc(t, now, "move", "pvc/dryrun/bad", "--to", "nvme", "--dry-run=server"), 1, "spec.volumeID")
	nothingCreated(fmt.Sprintf("nvme-not-a-uuid-%d", now.Unix()/60))

	oneErrorLine(t, kc(t, now, "move", "pvc/dryrun/good", "--to", "nvme", "--dry-run"), 2, "--dry-run: give a value: none, server or client")
	oneErrorLine(t, kc(t, now, "move", "pvc/dryrun/good", "--to", "nvme", "--dry-run=maybe"), 2, `--dry-run: "maybe" is not one of none, server, client`)
	nothingCreated(name)

	r = kc(t, now, "move", "pvc/dryrun/good", "--to", "nvme", "--dry-run=none")
	if r.code != 0 || r.out != "tiermigration.storage.billyronks.io/"+name+" created\n" {
		t.Fatalf("move --dry-run=none: %+v", r)
	}
	t.Cleanup(func() {
		_ = k8sClient.Delete(context.Background(), &storagev1.TierMigration{ObjectMeta: tm.ObjectMeta})
	})
}

// Completion asks the cluster: PVC names for move and plan (in -n, the context's namespace, a
// namespace typed, or every one with -A), TierMigrations waiting for approval for approve.
func TestCompletionFromTheCluster(t *testing.T) {
	requireAPIServer(t)
	createNamespace(t, "complete")
	bindClaim(t, "complete", "alpha", mayastorPV(t, "6d1a0f3e-2b7c-4e55-8c1d-00000000e001", "cli-complete"))
	bindClaim(t, "complete", "beta", mayastorPV(t, "6d1a0f3e-2b7c-4e55-8c1d-00000000e002", "cli-complete"))
	waiting := newMigration(t, "cli-complete-waiting", "6d1a0f3e-2b7c-4e55-8c1d-00000000e003", "", storagev1.TierNVMe)
	waiting.Status.Phase = storagev1.PhaseWaitingApproval
	setStatus(t, waiting)
	newMigration(t, "cli-complete-pending", "6d1a0f3e-2b7c-4e55-8c1d-00000000e004", "", storagev1.TierNVMe)

	complete := func(args ...string) []string {
		t.Helper()
		r := kc(t, time.Time{}, append([]string{"__complete"}, args...)...)
		if r.code != 0 {
			t.Fatalf("__complete %v: %+v", args, r)
		}
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(r.out), "\n") {
			if !strings.HasPrefix(line, ":") && !strings.HasPrefix(line, "-") && !strings.HasPrefix(line, "_activeHelp_") {
				got = append(got, line)
			}
		}
		return got
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"move", ""}, "pvc/"},
		{[]string{"move", "-n", "complete", "pvc/"}, "pvc/alpha pvc/beta"},
		{[]string{"plan", "--namespace=complete", "pvc/b"}, "pvc/beta"},
		{[]string{"move", "pvc/complete/"}, "pvc/complete/alpha pvc/complete/beta"},
		{[]string{"move", "-A", "pvc/complete/a"}, "pvc/complete/alpha"},
		{[]string{"move", "pvc/"}, ""}, // the context's namespace, default, has no PVC
		{[]string{"approve", "cli-complete-"}, "cli-complete-waiting"},
		{[]string{"reject", ""}, "cli-complete-waiting"},
		{[]string{"status", "-n", "compl"}, "complete"},
	} {
		if got := strings.Join(complete(tc.args...), " "); got != tc.want {
			t.Errorf("__complete %v: %q, want %q", tc.args, got, tc.want)
		}
	}

	// kubectl (1.26+) completes "kubectl couchestor move -n complete pvc/" by running the
	// shipped script, found on PATH beside the plugin, with the words after "couchestor".
	script := filepath.Join(repoRoot, "hack", "kubectl_complete-couchestor")
	cmd := exec.Command(script, "--kubeconfig", kubeconfig, "move", "-n", "complete", "pvc/a")
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(binary(t))+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.Output()
	if err != nil || !strings.HasPrefix(string(out), "pvc/alpha\n:") {
		t.Errorf("kubectl_complete-couchestor: %v %q", err, out)
	}
}

// version prints the plugin's version, the API server's, and the operator's when one is
// installed; --client alone does not contact the cluster.
func TestVersion(t *testing.T) {
	requireAPIServer(t)
	r := kc(t, time.Time{}, "version")
	if r.code != 0 || !strings.HasPrefix(r.out, "Client Version: ") || !strings.Contains(r.out, "\nServer Version: v1.") ||
		!strings.Contains(r.out, "Operator Version: unknown") {
		t.Errorf("version: %+v", r)
	}
	r = kc(t, time.Time{}, "version", "--client", "--server", "https://127.0.0.1:1")
	if r.code != 0 || strings.Contains(r.out, "Server") {
		t.Errorf("version --client: %+v", r)
	}
	r = kc(t, time.Time{}, "version", "-o", "json")
	var v cli.VersionReport
	if err := json.Unmarshal([]byte(r.out), &v); err != nil || v.Client == "" || !strings.HasPrefix(v.Server, "v1.") {
		t.Errorf("version -o json: %v %+v", err, r)
	}
	if r := kc(t, time.Time{}, "version", "-o", "jsonpath={.serverVersion}"); r.code != 0 || r.out != v.Server {
		t.Errorf("version -o jsonpath: %+v", r)
	}
}

package clitest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

// move resolves the PVC to its volume and creates the TierMigration the policy controller would
// name, taking the policy that selects the volume; a second move of a volume in flight, an
// unknown PVC, a bad tier and a malformed reference are one-line errors with status 1 or 2.
func TestMoveCreatesTheTierMigrationOfAPVC(t *testing.T) {
	requireAPIServer(t)
	const uuid = "6d1a0f3e-2b7c-4e55-8c1d-00000000a001"
	createNamespace(t, "move")
	pv := mayastorPV(t, uuid, "cli-move")
	bindClaim(t, "move", "data", pv)
	policy := policyFor("cli-move", "cli-move", false, "1h")
	policy.Spec.PreservationMode = true
	createPolicy(t, policy)

	now := time.Date(2026, 3, 1, 12, 34, 56, 0, time.UTC)
	r := kc(t, now, "move", "pvc/move/data", "--to", "NVMe", "--allow-republish")
	want := fmt.Sprintf("nvme-%s-%d", uuid, now.Unix()/60)
	if r.code != 0 || r.out != "tiermigration.storage.billyronks.io/"+want+" created\n" {
		t.Fatalf("move: exit %d, stdout %q, stderr %q; want the TierMigration %s", r.code, r.out, r.errOut, want)
	}
	var tm storagev1.TierMigration
	if err := k8sClient.Get(ctx(t), client.ObjectKey{Name: want}, &tm); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), tm.DeepCopy()) })
	s := tm.Spec
	if s.VolumeID != uuid || s.PersistentVolumeName != pv || s.TargetTier != storagev1.TierNVMe || s.PolicyName != "cli-move" ||
		!s.AllowRepublish || s.DryRun || !s.PreservationMode || !strings.Contains(s.Reason.Description, "pvc/move/data") ||
		tm.Labels[storagev1.LabelVolume] != uuid || tm.Labels[storagev1.LabelPolicy] != "cli-move" {
		t.Errorf("TierMigration %s: %+v labels %v", tm.Name, s, tm.Labels)
	}

	// The volume has a migration in flight now: refused.
	oneErrorLine(t, kc(t, now.Add(time.Minute), "move", "pvc/data", "-n", "move", "--to", "sata"), 1, "already has TierMigration "+want+" in flight")

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"move", "pvc/move/missing", "--to", "sata"}, 1, "PersistentVolumeClaim move/missing not found"},
		{[]string{"move", "pvc/move/data", "--to", "ssd"}, 2, `--to: "ssd" is not a tier: use nvme or sata`},
		{[]string{"move", "pv/move/data", "--to", "sata"}, 2, `"pv/move/data": want pvc/NAMESPACE/NAME`},
		{[]string{"move", "pvc/a/b/c", "--to", "sata"}, 2, "want pvc/NAMESPACE/NAME"},
		{[]string{"move", "pvc/move/data"}, 2, `required flag(s) "to" not set`},
		{[]string{"move", "--to", "sata"}, 2, "accepts 1 arg(s), received 0"},
		{[]string{"move", "pvc/move/data", "--to", "sata", "--policy", "nope"}, 1, `StoragePolicy "nope" not found`},
		{[]string{"no-such-command"}, 2, `unknown command "no-such-command"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) { oneErrorLine(t, kc(t, now, tc.args...), tc.code, tc.want) })
	}

	// A volume no policy selects needs --policy (the migration takes its pool selectors).
	const other = "6d1a0f3e-2b7c-4e55-8c1d-00000000a002"
	bindClaim(t, "move", "unselected", mayastorPV(t, other, "cli-move-none"))
	oneErrorLine(t, kc(t, now, "move", "pvc/move/unselected", "--to", "sata"), 1, "no StoragePolicy selects PersistentVolume pvc-"+other)
	r = kc(t, now, "move", "pvc/move/unselected", "--to", "sata", "--policy", "cli-move", "--migration-dry-run")
	if r.code != 0 {
		t.Fatalf("move --policy: exit %d: %s", r.code, r.errOut)
	}
	var dry storagev1.TierMigration
	if err := k8sClient.Get(ctx(t), client.ObjectKey{Name: fmt.Sprintf("sata-%s-%d", other, now.Unix()/60)}, &dry); err != nil || !dry.Spec.DryRun ||
		dry.Spec.TargetTier != storagev1.TierSATA {
		t.Errorf("move --policy --migration-dry-run: %v %+v", err, dry.Spec)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), &dry) })
}

// status shows the migrations in flight, by PVC, with phase, sync progress and time left to the
// deadline; finished ones only with --all.
func TestStatusShowsMigrationsInFlight(t *testing.T) {
	requireAPIServer(t)
	const uuid, done = "6d1a0f3e-2b7c-4e55-8c1d-00000000b001", "6d1a0f3e-2b7c-4e55-8c1d-00000000b002"
	createNamespace(t, "status")
	pv := mayastorPV(t, uuid, "cli-status")
	bindClaim(t, "status", "events", pv)
	now := time.Now().Truncate(time.Second)
	inFlight := newMigration(t, "sata-status-in-flight", uuid, pv, storagev1.TierSATA)
	inFlight.Status = storagev1.TierMigrationStatus{Phase: storagev1.PhaseWaitingSync, SourceTier: storagev1.TierNVMe, SyncProgress: 42,
		StartTime: &metav1.Time{Time: now.Add(-2 * time.Minute)}, Deadline: &metav1.Time{Time: now.Add(10 * time.Minute)},
		Checkpoint: &storagev1.MigrationCheckpoint{MigrationID: "m", VolumeID: "v", TargetSelector: "tier=hot", Replicas: 2,
			Placeholders: []storagev1.ReplicaRef{{ID: "c0c4e570-1111-8222-8333-444455556666", Pool: "pool-sata-1"}}}}
	setStatus(t, inFlight)
	finished := newMigration(t, "nvme-status-finished", done, "", storagev1.TierNVMe)
	finished.Status = storagev1.TierMigrationStatus{Phase: storagev1.PhaseCompleted, SyncProgress: 100}
	setStatus(t, finished)

	// kubectl's namespaces: the context's (default) has none of it; -n and -A show it.
	if r := kc(t, now, "status"); r.code != 0 || strings.Contains(r.out, inFlight.Name) ||
		!strings.Contains(r.errOut, "No TierMigration in flight for the PVCs of namespace default") {
		t.Errorf("status in the context's namespace: exit %d, stdout %q, stderr %q", r.code, r.out, r.errOut)
	}
	for _, scope := range [][]string{{"-n", "status"}, {"-A"}, {"--all-namespaces"}} {
		r := kc(t, now, append([]string{"status"}, scope...)...)
		if r.code != 0 {
			t.Fatalf("status %v: exit %d: %s", scope, r.code, r.errOut)
		}
		var row string
		for _, line := range strings.Split(r.out, "\n") {
			if strings.HasPrefix(line, inFlight.Name) {
				row = line
			}
		}
		for _, want := range []string{"status/events", "NVMe", "SATA", "WaitingSync", "42%", "10m"} {
			if !strings.Contains(row, want) {
				t.Errorf("status %v: row lacks %q: %q\n%s", scope, want, row, r.out)
			}
		}
		header, _, _ := strings.Cut(r.out, "\n")
		if strings.Join(strings.Fields(header), " ") != "NAME PVC POLICY FROM TO PHASE SYNCED TIME LEFT PLACEHOLDERS AGE" || strings.Contains(r.out, finished.Name) {
			t.Errorf("status %v: want the documented header and no finished migration:\n%s", scope, r.out)
		}
	}
	// The finished migration has no PVC: only -A shows it.
	if r := kc(t, now, "status", "-n", "status", "--include-finished"); strings.Contains(r.out, finished.Name) {
		t.Errorf("status -n status --include-finished shows a migration of no PVC of the namespace:\n%s", r.out)
	}

	if r := kc(t, now, "status", "-n", "status", "--no-headers"); r.code != 0 || !strings.HasPrefix(r.out, inFlight.Name+" ") || strings.Contains(r.out, "NAME") {
		t.Errorf("status --no-headers: want rows only:\n%s", r.out)
	}
	if r := kc(t, now, "status", "-n", "status", "-o", "wide"); !strings.Contains(r.out, "VOLUME") || !strings.Contains(r.out, uuid) || !strings.Contains(r.out, pv) {
		t.Errorf("status -o wide: want the volume and the PV:\n%s", r.out)
	}

	// -o json is kubectl's: the TierMigration objects, as a list.
	r := kc(t, now.Add(11*time.Minute), "status", "-A", "-o", "json")
	var list struct {
		Kind  string                    `json:"kind"`
		Items []storagev1.TierMigration `json:"items"`
	}
	if err := json.Unmarshal([]byte(r.out), &list); err != nil || r.code != 0 {
		t.Fatalf("status -o json: %v (exit %d)\n%s", err, r.code, r.out)
	}
	var got *storagev1.TierMigration
	for i := range list.Items {
		if list.Items[i].Name == inFlight.Name {
			got = &list.Items[i]
		}
	}
	if list.Kind != "TierMigrationList" || got == nil || got.Kind != "TierMigration" || got.APIVersion != "storage.billyronks.io/v1" ||
		got.Status.Phase != storagev1.PhaseWaitingSync || got.Status.SyncProgress != 42 || len(got.Status.Checkpoint.Placeholders) != 1 {
		t.Errorf("status -o json: kind %q, %+v", list.Kind, got)
	}
	if r := kc(t, now, "status", "-A", "-o", "yaml"); r.code != 0 || !strings.Contains(r.out, "kind: TierMigrationList") || !strings.Contains(r.out, "name: "+inFlight.Name) {
		t.Errorf("status -o yaml: %q %q", r.out, r.errOut)
	}
	if r := kc(t, now, "status", "-n", "status", "-o", "name"); r.code != 0 || r.out != "tiermigration.storage.billyronks.io/"+inFlight.Name+"\n" {
		t.Errorf("status -o name: %q %q", r.out, r.errOut)
	}
	if r := kc(t, now, "status", "-n", "status", "-o", "jsonpath={.items[*].status.syncProgress}"); r.code != 0 || r.out != "42" {
		t.Errorf("status -o jsonpath: %q %q", r.out, r.errOut)
	}
	oneErrorLine(t, kc(t, now, "status", "-o", "xml"), 2, `--output: "xml"`)
	if r := kc(t, now.Add(11*time.Minute), "status", "-A"); !strings.Contains(r.out, "overdue 1m") {
		t.Errorf("status past the deadline: want \"overdue 1m\":\n%s", r.out)
	}
	for _, finishedToo := range []string{"--include-finished", "--all"} {
		if r := kc(t, now, "status", "-A", finishedToo); !strings.Contains(r.out, finished.Name) || !strings.Contains(r.out, "Completed") {
			t.Errorf("status -A %s: want the finished migration too:\n%s", finishedToo, r.out)
		}
	}
}

func newMigration(t *testing.T, name, uuid, pv string, to storagev1.Tier) *storagev1.TierMigration {
	t.Helper()
	tm := &storagev1.TierMigration{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{storagev1.LabelVolume: uuid}},
		Spec:       storagev1.TierMigrationSpec{VolumeID: uuid, PersistentVolumeName: pv, TargetTier: to, PolicyName: "cli-status"},
	}
	if err := k8sClient.Create(ctx(t), tm); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), tm) })
	return tm
}

func setStatus(t *testing.T, tm *storagev1.TierMigration) {
	t.Helper()
	if err := k8sClient.Status().Update(ctx(t), tm); err != nil {
		t.Fatal(err)
	}
}

// The binary: --help is cobra's (--flag), completion scripts are generated, bad input exits 1
// or 2 with one line, and a real kubeconfig is used.
func TestBinary(t *testing.T) {
	requireAPIServer(t)
	r := runBinary(t, "--help")
	for _, want := range []string{"kubectl couchestor [command]", "plan", "status", "move", "completion", "--kubeconfig string", "--context string"} {
		if r.code != 0 || !strings.Contains(r.out, want) {
			t.Errorf("--help lacks %q (exit %d):\n%s", want, r.code, r.out)
		}
	}
	r = runBinary(t, "move", "--help")
	if !strings.Contains(r.out, "      --to string") || !strings.Contains(r.out, "      --allow-republish") || !strings.Contains(r.out, "      --dry-run") {
		t.Errorf("move --help:\n%s", r.out)
	}
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		if r := runBinary(t, "completion", shell); r.code != 0 || len(r.out) < 100 {
			t.Errorf("completion %s: exit %d, %d bytes: %s", shell, r.code, len(r.out), r.errOut)
		}
	}
	if r := runBinary(t, "__complete", "move", "pvc/x", "--to", ""); r.code != 0 || !strings.Contains(r.out, "nvme\nsata\n") {
		t.Errorf("completion of --to: %q %q", r.out, r.errOut)
	}
	if r := runBinary(t, "--version"); r.code != 0 || !strings.HasPrefix(r.out, "kubectl couchestor version ") {
		t.Errorf("--version: %q", r.out)
	}
	oneErrorLine(t, runBinary(t, "--kubeconfig", kubeconfig, "move", "pvc/nowhere/nothing", "--to", "nvme"), 1, "PersistentVolumeClaim nowhere/nothing not found")
	oneErrorLine(t, runBinary(t, "--kubeconfig", kubeconfig, "move", "pvc/nowhere/nothing", "--to", "tape"), 2, `--to: "tape" is not a tier`)
	oneErrorLine(t, runBinary(t, "plan", "--bogus"), 2, "unknown flag: --bogus")
	if r := runBinary(t, "--kubeconfig", kubeconfig, "status"); r.code != 0 {
		t.Errorf("status through the kubeconfig: exit %d: %s", r.code, r.errOut)
	}
}

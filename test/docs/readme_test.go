package docs

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

// The README's install applies the sample policy (config/samples, enabled and not in dry run)
// as a dry run, in a StorageClass a Mayastor install creates: its commands are run here with
// kubectl standing for "print what would be applied".
func TestREADMEAppliesTheSampleAsADryRun(t *testing.T) {
	root := repoRoot(t)
	readme := read(t, filepath.Join(root, "README.md"))
	_, install, ok := strings.Cut(readme, "\n## Install\n")
	if !ok {
		t.Fatal("README.md has no Install section")
	}
	_, block, ok := strings.Cut(install, "```sh\n")
	if ok {
		block, _, ok = strings.Cut(block, "```")
	}
	if !ok {
		t.Fatal("README.md's Install section has no sh block")
	}
	const sample = "config/samples/storage_v1_storagepolicy.yaml"
	var cmd []string
	for _, line := range strings.Split(strings.ReplaceAll(block, "\\\n", ""), "\n") {
		line = strings.TrimSpace(line)
		if strings.Contains(line, sample) {
			cmd = append(cmd, line)
		}
	}
	if len(cmd) != 1 || !strings.HasSuffix(cmd[0], "| kubectl apply -f -") {
		t.Fatalf("want one command applying %s through a pipe, got %q", sample, cmd)
	}
	sh := exec.Command("bash", "-c", "set -euo pipefail; kubectl() { cat; }; "+cmd[0])
	sh.Dir = root
	out, err := sh.Output()
	if err != nil {
		t.Fatalf("%s: %v", cmd[0], err)
	}
	var applied, original storagev1.StoragePolicy
	if err := yaml.UnmarshalStrict(out, &applied); err != nil {
		t.Fatalf("what README applies is not a StoragePolicy: %v\n%s", err, out)
	}
	if err := yaml.UnmarshalStrict([]byte(read(t, filepath.Join(root, sample))), &original); err != nil {
		t.Fatal(err)
	}
	if !applied.Spec.DryRun || !applied.IsEnabled() {
		t.Errorf("README applies the sample with enabled=%v dryRun=%v, want an enabled dry run", applied.IsEnabled(), applied.Spec.DryRun)
	}
	if sc := applied.Spec.StorageClassName; sc != "openebs-single-replica" && sc != "mayastor-single-replica" {
		t.Errorf("README applies the sample in StorageClass %q, which neither Mayastor install creates", sc)
	}
	// Nothing else changed.
	applied.Spec.DryRun, applied.Spec.StorageClassName = original.Spec.DryRun, original.Spec.StorageClassName
	a, _ := yaml.Marshal(applied)
	o, _ := yaml.Marshal(original)
	if string(a) != string(o) {
		t.Errorf("README changes more of the sample than dryRun and storageClassName:\n%s\nwant\n%s", a, o)
	}
}

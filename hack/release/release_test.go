package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// The release is built here for this machine's platform only (cross-compiling the plugin for
// all five takes minutes on a small machine); COUCHESTOR_RELEASE_PLATFORMS=all builds every
// one. The template is rendered for all five in TestManifestCoversEveryKrewPlatform.

var repoRoot = filepath.Join("..", "..")

// krewManifest is the part of krew's Plugin (krew.googlecontainertools.github.com/v1alpha2)
// that a release fills.
type krewManifest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string `json:"version"`
		Homepage         string `json:"homepage"`
		ShortDescription string `json:"shortDescription"`
		Description      string `json:"description"`
		Caveats          string `json:"caveats"`
		Platforms        []struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			SHA256 string `json:"sha256"`
			Bin    string `json:"bin"`
			Files  []struct {
				From string `json:"from"`
				To   string `json:"to"`
			} `json:"files"`
		} `json:"platforms"`
	} `json:"spec"`
}

// checkManifest checks the manifest's structure against what krew requires and what the
// archives hold, and returns it.
func checkManifest(t *testing.T, path string, wantPlatforms []string, sums map[string]string) *krewManifest {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m krewManifest
	// Strict: a field krew's Plugin does not have is a typo.
	if err := yaml.UnmarshalStrict(b, &m); err != nil {
		t.Fatalf("manifest: %v\n%s", err, b)
	}
	if m.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || m.Kind != "Plugin" || m.Metadata.Name != "couchestor" ||
		!strings.HasPrefix(m.Spec.Version, "v") || m.Spec.ShortDescription == "" || m.Spec.Description == "" || m.Spec.Homepage == "" {
		t.Errorf("manifest header: %+v", m)
	}
	var got []string
	for _, p := range m.Spec.Platforms {
		osArch := p.Selector.MatchLabels["os"] + "/" + p.Selector.MatchLabels["arch"]
		got = append(got, osArch)
		archive := filepath.Base(p.URI)
		wantBin := "kubectl-couchestor"
		if p.Selector.MatchLabels["os"] == "windows" {
			wantBin += ".exe"
		}
		if !strings.HasPrefix(p.URI, "https://") || p.Bin != wantBin || len(p.SHA256) != 64 || len(p.Files) == 0 {
			t.Errorf("platform %s: %+v", osArch, p)
		}
		if sums != nil && sums[archive] != p.SHA256 {
			t.Errorf("platform %s: sha256 %s, the archive %s has %s", osArch, p.SHA256, archive, sums[archive])
		}
		var from []string
		for _, f := range p.Files {
			from = append(from, f.From)
		}
		if !slices.Contains(from, p.Bin) || !slices.Contains(from, "LICENSE") {
			t.Errorf("platform %s: files %v lack the binary or LICENSE", osArch, from)
		}
	}
	if !slices.Equal(got, wantPlatforms) {
		t.Errorf("platforms %v, want %v", got, wantPlatforms)
	}
	return &m
}

// krewTool runs one of the krew tools pinned in hack/krew/go.mod.
func krewTool(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"-C", filepath.Join(repoRoot, "hack", "krew"), "tool"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go tool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestReleaseArchivesChecksumsAndManifest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin")
	}
	platforms := []string{runtime.GOOS + "/" + runtime.GOARCH}
	if os.Getenv("COUCHESTOR_RELEASE_PLATFORMS") == "all" {
		platforms = KrewPlatforms
	}
	out := t.TempDir()
	epoch := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	o := Options{Version: "9.8.7", Platforms: platforms, Out: out, RepoRoot: repoRoot, Template: "plugins/couchestor.yaml", Epoch: epoch}
	if _, err := Build(o); err != nil {
		t.Fatal(err)
	}

	// checksums.txt is sha256sum's: one line per archive, each right.
	sums := map[string]string{}
	b, err := os.ReadFile(filepath.Join(out, "checksums.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		archive, err := os.ReadFile(filepath.Join(out, name))
		if !ok || err != nil {
			t.Fatalf("checksums.txt line %q: %v", line, err)
		}
		if h := sha256.Sum256(archive); hex.EncodeToString(h[:]) != sum {
			t.Errorf("%s: checksums.txt says %s, the file has %x", name, sum, h)
		}
		sums[name] = sum
	}
	if len(sums) != len(platforms) {
		t.Errorf("checksums.txt has %d archives, want %d", len(sums), len(platforms))
	}
	manifest := filepath.Join(out, "couchestor.yaml")
	m := checkManifest(t, manifest, platforms, sums)
	if m.Spec.Version != "v9.8.7" || !strings.HasSuffix(m.Spec.Platforms[0].URI, "/v9.8.7/kubectl-couchestor_v9.8.7_"+strings.ReplaceAll(platforms[0], "/", "_")+".tar.gz") {
		t.Errorf("manifest version %q, uri %q", m.Spec.Version, m.Spec.Platforms[0].URI)
	}

	// The host's archive: the binary (stamped with the version), LICENSE and the completion script.
	host := filepath.Join(out, filepath.Base(m.Spec.Platforms[0].URI))
	files := untarGz(t, host)
	for name, mode := range map[string]int64{"kubectl-couchestor": 0o755, "LICENSE": 0o644, "kubectl_complete-couchestor": 0o755} {
		if f, ok := files[name]; !ok || f.mode != mode || !f.modTime.Equal(epoch) {
			t.Errorf("%s in %s: %+v, want mode %o, time %v", name, host, f, mode, epoch)
		}
	}

	// A second build of the same tree gives the same bytes.
	again := o
	again.Out = t.TempDir()
	if _, err := Build(again); err != nil {
		t.Fatal(err)
	}
	if b2, _ := os.ReadFile(filepath.Join(again.Out, "checksums.txt")); !bytes.Equal(b, b2) {
		t.Errorf("rebuild differs:\n%s\n%s", b, b2)
	}

	// krew's own validation, then krew installing the archive from the manifest (it checks the
	// sha256 and extracts the files) and the installed plugin running.
	krewTool(t, nil, "validate-krew-manifest", "-manifest", manifest, "-skip-install")
	krewRoot := t.TempDir()
	krewTool(t, []string{"KREW_ROOT=" + krewRoot, "KREW_OS=" + runtime.GOOS, "KREW_ARCH=" + runtime.GOARCH, "KREW_NO_UPGRADE_CHECK=1"},
		"krew", "install", "--manifest", manifest, "--archive", host)
	v, err := exec.Command(filepath.Join(krewRoot, "bin", "kubectl-couchestor"), "version", "--client").CombinedOutput()
	if err != nil || !strings.Contains(string(v), "Client Version: v9.8.7 ") {
		t.Errorf("the plugin krew installed: %v %s", err, v)
	}
	if _, err := os.Stat(filepath.Join(krewRoot, "store", "couchestor", "v9.8.7", "kubectl_complete-couchestor")); err != nil {
		t.Errorf("krew did not keep the completion script where the manifest's caveats say: %v", err)
	}

	// A manifest with a wrong checksum is refused by krew.
	bad := filepath.Join(t.TempDir(), "couchestor.yaml")
	mb, _ := os.ReadFile(manifest)
	if err := os.WriteFile(bad, bytes.ReplaceAll(mb, []byte(m.Spec.Platforms[0].SHA256), []byte(strings.Repeat("a", 64))), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "-C", filepath.Join(repoRoot, "hack", "krew"), "tool", "krew", "install", "--manifest", bad, "--archive", host)
	cmd.Env = append(os.Environ(), "KREW_ROOT="+t.TempDir(), "KREW_OS="+runtime.GOOS, "KREW_ARCH="+runtime.GOARCH, "KREW_NO_UPGRADE_CHECK=1")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "checksum") {
		t.Errorf("krew installed an archive whose checksum is not the manifest's: %v\n%s", err, out)
	}
}

// The template, filled for every platform krew needs, is a valid krew manifest.
func TestManifestCoversEveryKrewPlatform(t *testing.T) {
	m := &Manifest{Version: "v1.2.3"}
	for _, p := range KrewPlatforms {
		goos, goarch, _ := strings.Cut(p, "/")
		bin := "kubectl-couchestor"
		if goos == "windows" {
			bin += ".exe"
		}
		m.Platforms = append(m.Platforms, Platform{OS: goos, Arch: goarch, URI: "https://example.com/" + goos + "_" + goarch + ".tar.gz",
			SHA256: strings.Repeat("ab", 32), Bin: bin, Files: []string{bin, "LICENSE"}})
	}
	b, err := Render(filepath.Join(repoRoot, "plugins", "couchestor.yaml"), m)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "couchestor.yaml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	checkManifest(t, path, KrewPlatforms, nil)
	if testing.Short() {
		return
	}
	krewTool(t, nil, "validate-krew-manifest", "-manifest", path, "-skip-install")
}

// Windows archives are zip files krew extracts: the same entries, the same time stamps.
func TestZipArchive(t *testing.T) {
	epoch := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b, err := zipArchive([]archiveFile{{"kubectl-couchestor.exe", []byte("MZ"), 0o755}, {"LICENSE", []byte("license"), 0o644}}, epoch)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		if !f.Modified.Equal(epoch) {
			t.Errorf("%s: modified %v", f.Name, f.Modified)
		}
	}
	if !slices.Equal(names, []string{"kubectl-couchestor.exe", "LICENSE"}) || zr.File[0].Mode().Perm() != 0o755 {
		t.Errorf("zip: %v, mode %v", names, zr.File[0].Mode())
	}
}

type tarEntry struct {
	mode    int64
	modTime time.Time
	size    int
}

func untarGz(t *testing.T, path string) map[string]tarEntry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	out := map[string]tarEntry{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		out[h.Name] = tarEntry{h.Mode, h.ModTime, len(data)}
	}
}

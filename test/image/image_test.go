// Package image tests the release image that `make image` (hack/image) builds: it builds it once
// into a temporary directory with the same program, then opens the OCI layout and the docker
// tarballs, checks the config, the labels and every file of every layer, and runs the host
// platform's binary.
package image

import (
	"archive/tar"
	"bytes"
	"crypto/x509"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

const (
	repository = "ghcr.io/billyronks/couchestor"
	sourceURL  = "https://github.com/billyronks/couchestor"
)

// wantPlatforms are the platforms `make image` builds, in index order.
var wantPlatforms = []v1.Platform{
	{OS: "linux", Architecture: "amd64"},
	{OS: "linux", Architecture: "arm64", Variant: "v8"},
}

// wantFiles are the only regular files the image may hold.
var wantFiles = []string{"couchestor", "etc/group", "etc/passwd", "etc/ssl/certs/ca-certificates.crt"}

// shells are names no entry of the image may have.
var shells = []string{"sh", "bash", "ash", "dash", "zsh", "ksh", "busybox", "toybox"}

func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func version(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	v := strings.TrimSpace(string(b))
	if !regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$`).MatchString(v) {
		t.Fatalf("VERSION %q is not MAJOR.MINOR.PATCH[-PRERELEASE] (no leading v)", v)
	}
	return v
}

// expected is what the labels must say for this checkout.
type expected struct {
	version, revision string
	created           time.Time
}

// expect is what the labels must say: read when the image is built, so a commit made while the
// tests run does not count.
func expect(t testing.TB) expected {
	t.Helper()
	built(t)
	return builtFor
}

func expectNow(t testing.TB) expected {
	t.Helper()
	root := repoRoot(t)
	e := expected{version: version(t), revision: "unknown", created: time.Unix(0, 0).UTC()}
	if out, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output(); err == nil {
		e.revision = strings.TrimSpace(string(out))
	}
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("SOURCE_DATE_EPOCH=%q", s)
		}
		e.created = time.Unix(n, 0).UTC()
	} else if out, err := exec.Command("git", "-C", root, "log", "-1", "--format=%ct", "HEAD").Output(); err == nil {
		n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		e.created = time.Unix(n, 0).UTC()
	}
	return e
}

var (
	builderOnce sync.Once
	builderPath string
	builderErr  error
	builderDir  string

	imageOnce sync.Once
	imageDir  string
	imageErr  error
	builtFor  expected
)

// runBuilder compiles hack/image once and runs it with args from the repository root.
func runBuilder(t testing.TB, args ...string) {
	t.Helper()
	builderOnce.Do(func() {
		builderDir, builderErr = os.MkdirTemp("", "couchestor-image-test-")
		if builderErr != nil {
			return
		}
		builderPath = filepath.Join(builderDir, "image-builder")
		cmd := exec.Command("go", "build", "-o", builderPath, "./hack/image")
		cmd.Dir = repoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			builderErr = errors.New("go build ./hack/image: " + err.Error() + "\n" + string(out))
		}
	})
	if builderErr != nil {
		t.Fatal(builderErr)
	}
	cmd := exec.Command(builderPath, args...)
	cmd.Dir = repoRoot(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("hack/image %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("hack/image %s:\n%s", strings.Join(args, " "), out)
}

// built is the output directory of one `hack/image` run with the default platforms, shared by
// every test of the package.
func built(t testing.TB) string {
	t.Helper()
	imageOnce.Do(func() {
		imageDir, imageErr = os.MkdirTemp("", "couchestor-image-")
		if imageErr != nil {
			return
		}
		builtFor = expectNow(t)
		start := time.Now()
		runBuilder(t, "-out", imageDir)
		t.Logf("image built in %s", time.Since(start).Round(time.Second))
	})
	if imageErr != nil {
		t.Fatal(imageErr)
	}
	return imageDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range []string{imageDir, builderDir} {
		if d != "" {
			os.RemoveAll(d)
		}
	}
	os.Exit(code)
}

// --- the layout -------------------------------------------------------------------------------

// openIndex opens the layout's one multi-arch index and checks index.json names it by version.
func openIndex(t *testing.T) v1.ImageIndex {
	t.Helper()
	dir := filepath.Join(built(t), "oci")
	b, err := os.ReadFile(filepath.Join(dir, "oci-layout"))
	if err != nil {
		t.Fatal(err)
	}
	var ol struct {
		ImageLayoutVersion string `json:"imageLayoutVersion"`
	}
	if err := json.Unmarshal(b, &ol); err != nil || ol.ImageLayoutVersion != "1.0.0" {
		t.Fatalf("oci-layout %s: want imageLayoutVersion 1.0.0 (%v)", b, err)
	}
	top, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 {
		t.Fatalf("index.json has %d descriptors, want 1 (the multi-arch index)", len(im.Manifests))
	}
	d := im.Manifests[0]
	v := version(t)
	if d.MediaType != types.OCIImageIndex {
		t.Errorf("index.json descriptor media type %s, want %s", d.MediaType, types.OCIImageIndex)
	}
	if got := d.Annotations["org.opencontainers.image.ref.name"]; got != v {
		t.Errorf("ref.name %q, want %q", got, v)
	}
	if got := d.Annotations["io.containerd.image.name"]; got != repository+":"+v {
		t.Errorf("io.containerd.image.name %q, want %q", got, repository+":"+v)
	}
	idx, err := top.ImageIndex(d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

func TestLayoutIndex(t *testing.T) {
	idx := openIndex(t)
	// Every digest, size and media type, every layer's diff ID against the config: what a
	// registry or a runtime checks when it pulls.
	if err := validate.Index(idx); err != nil {
		t.Fatalf("validate: %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if im.MediaType != types.OCIImageIndex {
		t.Errorf("index media type %s", im.MediaType)
	}
	var got []v1.Platform
	for _, d := range im.Manifests {
		if d.MediaType != types.OCIManifestSchema1 {
			t.Errorf("%s: media type %s, want %s", d.Digest, d.MediaType, types.OCIManifestSchema1)
		}
		if d.Platform == nil {
			t.Fatalf("%s has no platform", d.Digest)
		}
		got = append(got, *d.Platform)
	}
	if !slices.EqualFunc(got, wantPlatforms, func(a, b v1.Platform) bool { return a.Equals(b) }) {
		t.Errorf("platforms %v, want %v", got, wantPlatforms)
	}
	checkLabels(t, "index annotations", im.Annotations)
}

func checkLabels(t *testing.T, what string, got map[string]string) {
	t.Helper()
	e := expect(t)
	want := map[string]string{
		"org.opencontainers.image.version":  e.version,
		"org.opencontainers.image.revision": e.revision,
		"org.opencontainers.image.source":   sourceURL,
		"org.opencontainers.image.licenses": "Apache-2.0",
		"org.opencontainers.image.created":  e.created.Format(time.RFC3339),
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s=%q, want %q", what, k, got[k], v)
		}
	}
}

// platformImages returns the layout's image of each platform, keyed by platform string.
func platformImages(t *testing.T) map[string]v1.Image {
	t.Helper()
	idx := openIndex(t)
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	imgs := map[string]v1.Image{}
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		imgs[d.Platform.String()] = img
	}
	return imgs
}

func TestImageConfig(t *testing.T) {
	e := expect(t)
	for p, img := range platformImages(t) {
		t.Run(p, func(t *testing.T) {
			m, err := img.Manifest()
			if err != nil {
				t.Fatal(err)
			}
			if m.Config.MediaType != types.OCIConfigJSON {
				t.Errorf("config media type %s", m.Config.MediaType)
			}
			for _, l := range m.Layers {
				if l.MediaType != types.OCILayer {
					t.Errorf("layer %s media type %s, want %s", l.Digest, l.MediaType, types.OCILayer)
				}
			}
			checkLabels(t, "manifest annotations", m.Annotations)
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cf.Platform().String() != p {
				t.Errorf("config platform %s, index says %s", cf.Platform(), p)
			}
			c := cf.Config
			if c.User != "65534:65534" {
				t.Errorf("User %q, want 65534:65534 (non-root)", c.User)
			}
			if !slices.Equal(c.Entrypoint, []string{"/couchestor"}) || len(c.Cmd) != 0 {
				t.Errorf("Entrypoint %q Cmd %q, want [/couchestor] and no Cmd", c.Entrypoint, c.Cmd)
			}
			var ports []string
			for port := range c.ExposedPorts {
				ports = append(ports, port)
			}
			sort.Strings(ports)
			if !slices.Equal(ports, []string{"8080/tcp", "8081/tcp"}) {
				t.Errorf("ExposedPorts %v, want 8080/tcp (metrics) and 8081/tcp (health)", ports)
			}
			checkLabels(t, "config labels", c.Labels)
			if !cf.Created.Time.Equal(e.created) {
				t.Errorf("created %s, want %s (SOURCE_DATE_EPOCH or the commit time)", cf.Created.Time, e.created)
			}
			if len(cf.History) != len(m.Layers) {
				t.Errorf("%d history entries for %d layers", len(cf.History), len(m.Layers))
			}
			for _, h := range cf.History {
				if !h.Created.Time.Equal(e.created) {
					t.Errorf("history %q created %s, want %s", h.CreatedBy, h.Created.Time, e.created)
				}
			}
		})
	}
}

// imageFile is one entry of the image's file system, from whichever layer added it last.
type imageFile struct {
	hdr  *tar.Header
	data []byte
}

// files reads every layer of img in order (no whiteouts are expected; one is an error).
func files(t *testing.T, img v1.Image) map[string]imageFile {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	fsys := map[string]imageFile{}
	for i, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("layer %d: %v", i, err)
			}
			name := strings.Trim(path.Clean("/"+h.Name), "/")
			if strings.HasPrefix(path.Base(name), ".wh.") {
				t.Errorf("layer %d: whiteout %s", i, h.Name)
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			fsys[name] = imageFile{hdr: h, data: data}
		}
		rc.Close()
	}
	return fsys
}

func TestImageFiles(t *testing.T) {
	e := expect(t)
	for p, img := range platformImages(t) {
		t.Run(p, func(t *testing.T) {
			fsys := files(t, img)
			var regular []string
			for name, f := range fsys {
				h := f.hdr
				if slices.Contains(shells, path.Base(name)) {
					t.Errorf("%s: a shell in the image", name)
				}
				switch h.Typeflag {
				case tar.TypeReg:
					regular = append(regular, name)
				case tar.TypeDir:
				default:
					t.Errorf("%s: type %q; only files and directories belong in the image", name, h.Typeflag)
				}
				if h.Uid != 0 || h.Gid != 0 {
					t.Errorf("%s: owner %d:%d, want 0:0 (the process, 65534, must not own its files)", name, h.Uid, h.Gid)
				}
				if h.Mode&0o7022 != 0 {
					t.Errorf("%s: mode %o is setuid/setgid/sticky or group/world writable", name, h.Mode)
				}
				if !h.ModTime.Equal(e.created) {
					t.Errorf("%s: mtime %s, want %s", name, h.ModTime, e.created)
				}
			}
			sort.Strings(regular)
			if !slices.Equal(regular, wantFiles) {
				t.Errorf("files %v, want exactly %v", regular, wantFiles)
			}
			if m := fsys["couchestor"].hdr; m == nil || m.Mode&0o111 != 0o111 {
				t.Errorf("/couchestor is not executable by all")
			}
			if !strings.Contains(string(fsys["etc/passwd"].data), "\nnobody:x:65534:65534:") {
				t.Errorf("/etc/passwd has no nobody user with uid 65534:\n%s", fsys["etc/passwd"].data)
			}
			checkCABundle(t, fsys["etc/ssl/certs/ca-certificates.crt"].data)
			checkBinary(t, p, fsys["couchestor"].data, e)
		})
	}
}

func checkCABundle(t *testing.T, b []byte) {
	t.Helper()
	n := 0
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatalf("CA bundle certificate %d: %v", n, err)
		}
		if !c.IsCA {
			t.Errorf("CA bundle certificate %s is not a CA", c.Subject)
		}
		n++
	}
	if len(bytes.TrimSpace(b)) != 0 {
		t.Errorf("CA bundle has %d bytes that are not PEM", len(b))
	}
	if n < 100 {
		t.Errorf("CA bundle holds %d roots; the NSS store has well over 100", n)
	}
}

// checkBinary checks the binary is a static Linux executable for the platform, built as the
// release process says.
func checkBinary(t *testing.T, platform string, bin []byte, e expected) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("/couchestor is not ELF: %v", err)
	}
	wantMachine := map[string]elf.Machine{"linux/amd64": elf.EM_X86_64, "linux/arm64/v8": elf.EM_AARCH64}[platform]
	if f.Machine != wantMachine {
		t.Errorf("ELF machine %s, want %s", f.Machine, wantMachine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("/couchestor is dynamically linked (%s)", p.Type)
		}
	}
	info, err := buildinfo.Read(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("build info: %v", err)
	}
	if info.Path != "github.com/billyronks/couchestor/cmd/couchestor" {
		t.Errorf("main package %s", info.Path)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	arch := strings.Split(platform, "/")[1]
	for k, v := range map[string]string{"CGO_ENABLED": "0", "-trimpath": "true", "GOOS": "linux", "GOARCH": arch} {
		if settings[k] != v {
			t.Errorf("build setting %s=%q, want %q", k, settings[k], v)
		}
	}
	// -trimpath keeps -ldflags out of the build info: the stamped version is checked by running
	// the binary (TestBinaryVersion) and, for every platform, by finding it in the binary.
	if !bytes.Contains(bin, []byte(e.version)) {
		t.Errorf("the binary does not hold the version %q", e.version)
	}
	// The go command stamps vcs.* only where .git is a directory (not in a git worktree, whose
	// .git is a file).
	if st, err := os.Stat(filepath.Join(repoRoot(t), ".git")); err == nil && st.IsDir() {
		if settings["vcs.revision"] != e.revision {
			t.Errorf("vcs.revision %q, want %q", settings["vcs.revision"], e.revision)
		}
	} else if settings["vcs.revision"] == "" {
		t.Logf("no vcs.revision in the build info: %s/.git is not a directory", repoRoot(t))
	}
}

// TestBinaryVersion runs the host platform's binary, taken out of the image, with --version.
func TestBinaryVersion(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("the image's binaries are for Linux; this is %s", runtime.GOOS)
	}
	var img v1.Image
	for p, i := range platformImages(t) {
		if strings.HasPrefix(p, "linux/"+runtime.GOARCH) {
			img = i
		}
	}
	if img == nil {
		t.Skipf("no image for linux/%s", runtime.GOARCH)
	}
	bin := filepath.Join(t.TempDir(), "couchestor")
	if err := os.WriteFile(bin, files(t, img)["couchestor"].data, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("couchestor --version: %v\n%s", err, out)
	}
	v := version(t)
	want := "couchestor " + v + " ("
	if !strings.HasPrefix(string(out), want) {
		t.Errorf("couchestor --version printed %q, want it to start with %q", out, want)
	}
}

// --- the docker tarballs -----------------------------------------------------------------------

func TestDockerTarballs(t *testing.T) {
	v := version(t)
	imgs := platformImages(t)
	for _, p := range wantPlatforms {
		t.Run(p.String(), func(t *testing.T) {
			file := filepath.Join(built(t), "couchestor-"+v+"-"+p.OS+"-"+p.Architecture+".tar")
			// What `docker load` reads: manifest.json, naming the config and the layers by path.
			manifest := tarMember(t, file, "manifest.json")
			var entries []struct {
				Config   string
				RepoTags []string
				Layers   []string
			}
			if err := json.Unmarshal(manifest, &entries); err != nil {
				t.Fatalf("manifest.json: %v", err)
			}
			if len(entries) != 1 || !slices.Equal(entries[0].RepoTags, []string{repository + ":" + v}) {
				t.Fatalf("manifest.json %s: want one image tagged %s:%s", manifest, repository, v)
			}
			for _, member := range append([]string{entries[0].Config}, entries[0].Layers...) {
				tarMember(t, file, member)
			}

			img, err := tarball.ImageFromPath(file, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := validate.Image(img); err != nil {
				t.Fatalf("validate: %v", err)
			}
			ref := imgs[p.String()]
			if a, b := digests(t, img), digests(t, ref); !slices.Equal(a, b) {
				t.Errorf("config and layers %v in the tarball, %v in the layout", a, b)
			}
		})
	}
}

// digests are an image's config digest and its layers' digests.
func digests(t *testing.T, img v1.Image) []v1.Hash {
	t.Helper()
	c, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	hs := []v1.Hash{c}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, d)
	}
	return hs
}

func tarMember(t *testing.T, file, member string) []byte {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			t.Fatalf("%s has no %s", filepath.Base(file), member)
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == member {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
}

// TestReproducible builds the host platform's image a second time: same source, same digest.
func TestReproducible(t *testing.T) {
	var host v1.Platform
	for _, p := range wantPlatforms {
		if p.Architecture == runtime.GOARCH {
			host = p
		}
	}
	if host.OS == "" {
		host = wantPlatforms[0]
	}
	first := platformImages(t)[host.String()]
	again := t.TempDir()
	runBuilder(t, "-out", again, "-platforms", host.String())
	top, err := layout.ImageIndexFromPath(filepath.Join(again, "oci"))
	if err != nil {
		t.Fatal(err)
	}
	im, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	idx, err := top.ImageIndex(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	im, err = idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	a, err := first.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Digest != a {
		t.Errorf("second build of %s: %v, first build: %s", host, im.Manifests, a)
	}
}

// Command release builds the kubectl plugin's release archives, one per platform krew installs
// (linux and darwin on amd64 and arm64, windows on amd64), their sha256 checksums, and the krew
// manifest filled from them (plugins/couchestor.yaml is its template):
//
//	go run ./hack/release -version 0.3.0 -out bin/release
//
// writes bin/release/kubectl-couchestor_v0.3.0_<os>_<arch>.tar.gz (.zip for windows), each with
// the binary, LICENSE and the kubectl_complete-couchestor completion script,
// bin/release/checksums.txt (sha256sum's format) and bin/release/couchestor.yaml.
// Archive entries carry SOURCE_DATE_EPOCH, else the commit time of HEAD, so that a rebuild of
// the same commit gives the same archives.
package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// KrewPlatforms are the platforms a release has by default: those krew users run.
var KrewPlatforms = []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64", "windows/amd64"}

const (
	binary           = "kubectl-couchestor"
	completionScript = "kubectl_complete-couchestor"
	module           = "github.com/billyronks/couchestor"
)

// Options say what to build and where.
type Options struct {
	// Version is the release, with or without its leading v.
	Version string
	// Platforms are os/arch pairs.
	Platforms []string
	// Out is the directory the archives, checksums.txt and the manifest are written to.
	Out string
	// RepoRoot is the module's directory; Template the krew manifest template in it.
	RepoRoot, Template string
	// URLBase is where the archives are downloaded from: URLBase/<archive>.
	URLBase string
	// Epoch is the time stamped on archive entries.
	Epoch time.Time
	// Log receives a line per archive; nil for none.
	Log io.Writer
}

// Platform is one archive, as the manifest template sees it.
type Platform struct {
	OS, Arch string
	// Archive is the file's name; URI where it is downloaded from; SHA256 its checksum.
	Archive, URI, SHA256 string
	// Bin is the binary krew links onto PATH; Files the archive's entries krew keeps.
	Bin   string
	Files []string
}

// Manifest is what the template is filled with.
type Manifest struct {
	Version   string
	Platforms []Platform
}

func main() {
	wd, _ := os.Getwd()
	o := Options{RepoRoot: wd, Log: os.Stderr}
	var platforms, epoch string
	flag.StringVar(&o.Version, "version", "", "the release, e.g. 0.3.0 (default: the VERSION file)")
	flag.StringVar(&platforms, "platforms", strings.Join(KrewPlatforms, ","), "comma-separated os/arch pairs")
	flag.StringVar(&o.Out, "out", "bin/release", "output directory")
	flag.StringVar(&o.Template, "manifest-template", "plugins/couchestor.yaml", "the krew manifest template")
	flag.StringVar(&o.URLBase, "url-base", "", "where the archives are downloaded from (default: the GitHub release of the version)")
	flag.StringVar(&epoch, "source-date-epoch", os.Getenv("SOURCE_DATE_EPOCH"), "Unix time stamped on archive entries (default: the commit time of HEAD)")
	flag.Parse()
	if err := o.complete(platforms, epoch); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(2)
	}
	if _, err := Build(o); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

func (o *Options) complete(platforms, epoch string) error {
	if o.Version == "" {
		b, err := os.ReadFile(filepath.Join(o.RepoRoot, "VERSION"))
		if err != nil {
			return fmt.Errorf("-version not given and no VERSION file: %w", err)
		}
		o.Version = strings.TrimSpace(string(b))
	}
	o.Platforms = strings.Split(platforms, ",")
	switch {
	case epoch != "":
		sec, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil {
			return fmt.Errorf("-source-date-epoch %q: not a Unix time", epoch)
		}
		o.Epoch = time.Unix(sec, 0)
	default:
		out, err := exec.Command("git", "-C", o.RepoRoot, "log", "-1", "--format=%ct").Output()
		if sec, perr := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && perr == nil {
			o.Epoch = time.Unix(sec, 0)
		} else {
			o.Epoch = time.Now()
		}
	}
	return nil
}

// Build writes the archives, checksums.txt and the filled manifest; it returns the manifest.
func Build(o Options) (*Manifest, error) {
	version := "v" + strings.TrimPrefix(o.Version, "v")
	if o.URLBase == "" {
		o.URLBase = "https://github.com/billyronks/couchestor/releases/download/" + version
	}
	if len(o.Platforms) == 0 {
		return nil, fmt.Errorf("no platform")
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	license, err := os.ReadFile(filepath.Join(o.RepoRoot, "LICENSE"))
	if err != nil {
		return nil, err
	}
	completion, err := os.ReadFile(filepath.Join(o.RepoRoot, "hack", completionScript))
	if err != nil {
		return nil, err
	}
	m := &Manifest{Version: version}
	var sums strings.Builder
	for _, p := range o.Platforms {
		goos, goarch, ok := strings.Cut(strings.TrimSpace(p), "/")
		if !ok || goos == "" || goarch == "" {
			return nil, fmt.Errorf("platform %q: want os/arch", p)
		}
		bin := binary
		if goos == "windows" {
			bin += ".exe"
		}
		exe, err := buildBinary(o, version, goos, goarch)
		if err != nil {
			return nil, err
		}
		files := []archiveFile{{bin, exe, 0o755}, {"LICENSE", license, 0o644}}
		if goos != "windows" { // a sh script: kubectl on Windows has no use for it
			files = append(files, archiveFile{completionScript, completion, 0o755})
		}
		name := fmt.Sprintf("%s_%s_%s_%s", binary, version, goos, goarch)
		var archive []byte
		if goos == "windows" {
			name += ".zip"
			archive, err = zipArchive(files, o.Epoch)
		} else {
			name += ".tar.gz"
			archive, err = tarGzArchive(files, o.Epoch)
		}
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(o.Out, name), archive, 0o644); err != nil {
			return nil, err
		}
		sum := sha256.Sum256(archive)
		hexSum := hex.EncodeToString(sum[:])
		fmt.Fprintf(&sums, "%s  %s\n", hexSum, name)
		plat := Platform{OS: goos, Arch: goarch, Archive: name, URI: o.URLBase + "/" + name, SHA256: hexSum, Bin: bin}
		for _, f := range files {
			plat.Files = append(plat.Files, f.name)
		}
		m.Platforms = append(m.Platforms, plat)
		if o.Log != nil {
			fmt.Fprintf(o.Log, "%s  %s\n", hexSum, filepath.Join(o.Out, name))
		}
	}
	if err := os.WriteFile(filepath.Join(o.Out, "checksums.txt"), []byte(sums.String()), 0o644); err != nil {
		return nil, err
	}
	manifest, err := Render(filepath.Join(o.RepoRoot, o.Template), m)
	if err != nil {
		return nil, err
	}
	return m, os.WriteFile(filepath.Join(o.Out, "couchestor.yaml"), manifest, 0o644)
}

// Render fills the krew manifest template.
func Render(templatePath string, m *Manifest) ([]byte, error) {
	text, err := os.ReadFile(templatePath)
	if err != nil {
		return nil, err
	}
	tmpl, err := template.New(filepath.Base(templatePath)).Option("missingkey=error").Parse(string(text))
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, m); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// buildBinary cross-compiles the plugin, static and stamped with the version, as make build.
func buildBinary(o Options, version, goos, goarch string) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "couchestor-release-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, binary)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X "+module+"/internal/version.Version="+version,
		"-o", out, "./cmd/kubectl-couchestor")
	cmd.Dir = o.RepoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build for %s/%s: %v\n%s", goos, goarch, err, b)
	}
	return os.ReadFile(out)
}

type archiveFile struct {
	name string
	data []byte
	mode int64
}

func tarGzArchive(files []archiveFile, epoch time.Time) ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	gz.ModTime = epoch
	tw := tar.NewWriter(gz)
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func zipArchive(files []archiveFile, epoch time.Time) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		hdr := &zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: epoch.UTC()}
		hdr.SetMode(os.FileMode(f.mode))
		w, err := zw.CreateHeader(hdr)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

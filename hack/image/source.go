package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

const versionPkg = "github.com/billyronks/couchestor/internal/version"

type options struct {
	root, out  string
	version    string
	revision   string
	repository string
	created    time.Time
	platforms  []v1.Platform
}

// gitRevision is HEAD's commit, or "unknown" outside a git checkout.
func gitRevision(root string) string {
	out, err := git(root, "rev-parse", "HEAD")
	if err != nil {
		fmt.Fprintf(os.Stderr, "image: no git revision (%v); labelling it unknown\n", err)
		return "unknown"
	}
	if st, err := git(root, "status", "--porcelain", "--untracked-files=no"); err == nil && st != "" {
		fmt.Fprintf(os.Stderr, "image: the work tree has uncommitted changes; the image is labelled with HEAD %s\n", out)
	}
	return out
}

// creationTime is SOURCE_DATE_EPOCH (https://reproducible-builds.org/specs/source-date-epoch/)
// when set, else the commit time of HEAD, else the Unix epoch: never the clock, so a rebuild of
// the same source gives the same image.
func creationTime(root string) (time.Time, error) {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a non-negative number of seconds", s)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	out, err := git(root, "log", "-1", "--format=%ct", "HEAD")
	if err != nil {
		fmt.Fprintf(os.Stderr, "image: no commit time (%v); created is the Unix epoch\n", err)
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(out, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("git log: commit time %q: %v", out, err)
	}
	return time.Unix(n, 0).UTC(), nil
}

func git(root string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// parsePlatforms reads "linux/amd64,linux/arm64". arm64 gets the variant v8, as registries and
// runtimes expect.
func parsePlatforms(s string) ([]v1.Platform, error) {
	var ps []v1.Platform
	seen := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		parts := strings.Split(f, "/")
		if len(parts) < 2 || len(parts) > 3 || parts[0] != "linux" || parts[1] == "" {
			return nil, fmt.Errorf("platform %q: want linux/ARCH[/VARIANT]", f)
		}
		p := v1.Platform{OS: parts[0], Architecture: parts[1]}
		if len(parts) == 3 {
			p.Variant = parts[2]
		} else if p.Architecture == "arm64" {
			p.Variant = "v8"
		}
		if seen[p.String()] {
			return nil, fmt.Errorf("platform %q given twice", f)
		}
		seen[p.String()] = true
		ps = append(ps, p)
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("no platform")
	}
	return ps, nil
}

// goBuild cross-compiles cmd/couchestor for p into dir and returns the binary's path. The
// version and revision are stamped with -X (a symbol the version package does not declare is
// ignored by the linker); the toolchain also records vcs.revision in the build info. (With
// -trimpath the build info does not keep -ldflags, so `couchestor --version` is where the
// version shows.)
func goBuild(o options, p v1.Platform, dir string) (string, error) {
	bin := filepath.Join(dir, "couchestor")
	ldflags := strings.Join([]string{
		"-s", "-w", "-buildid=",
		"-X", versionPkg + ".Version=" + o.version,
		"-X", versionPkg + ".Revision=" + o.revision,
	}, " ")
	args := []string{"build", "-trimpath", "-ldflags", ldflags, "-o", bin}
	if o.revision != "unknown" {
		// Record vcs.revision, vcs.time and vcs.modified in the build info (go version -m),
		// whatever GOFLAGS says; outside a git checkout there is nothing to record.
		args = append(args, "-buildvcs=true")
	}
	cmd := exec.Command("go", append(args, "./cmd/couchestor")...)
	cmd.Dir = o.root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture, "GOWORK=off")
	if p.Architecture == "arm" && strings.HasPrefix(p.Variant, "v") {
		cmd.Env = append(cmd.Env, "GOARM="+strings.TrimPrefix(p.Variant, "v"))
	}
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	fmt.Fprintf(os.Stderr, "image: go build %s (%s)\n", p.String(), o.version)
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build for %s: %v", p.String(), err)
	}
	return bin, nil
}

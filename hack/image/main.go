// Command image builds CoucheStor's OCI image without a Docker engine (`make image`).
//
// For every platform (linux/amd64 and linux/arm64 by default) it cross-compiles the static
// operator binary (CGO_ENABLED=0, -trimpath, the version from the VERSION file and the git
// revision stamped in), and stacks two layers on no base image at all:
//
//	/etc/passwd, /etc/group                  nobody (65534) and its group, for tools that look it up
//	/etc/ssl/certs/ca-certificates.crt       the Mozilla roots from golang.org/x/crypto/x509roots/fallback/bundle
//	/couchestor                              the binary (root-owned, 0755), the ENTRYPOINT
//
// There is no shell, no package manager, nothing else. The config runs as 65534:65534, exposes
// 8080/tcp (metrics) and 8081/tcp (health), and carries the org.opencontainers.image.* labels
// (version, revision, source, licenses, created, title, description, url).
//
// It writes, under -out (bin/image by default):
//
//	oci/                                     an OCI image layout whose index.json names one multi-arch
//	                                         image index, annotated org.opencontainers.image.ref.name=<version>
//	                                         (skopeo copy --all oci:bin/image/oci:<version> ..., crane push bin/image/oci ...)
//	couchestor-<version>-<os>-<arch>.tar     one `docker load`-able tarball per platform, tagged <repository>:<version>
//
// Every timestamp is the creation time: SOURCE_DATE_EPOCH when set, else the commit time of HEAD,
// so two builds of one commit with one Go toolchain give the same digests.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "image: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.root, "root", ".", "repository root (holds VERSION, go.mod and cmd/couchestor)")
	fs.StringVar(&o.out, "out", "bin/image", "output directory (replaced)")
	fs.StringVar(&o.version, "version", "", "release version (default: the VERSION file)")
	fs.StringVar(&o.revision, "revision", "", "source revision (default: git rev-parse HEAD)")
	fs.StringVar(&o.repository, "repository", "ghcr.io/billyronks/couchestor", "image repository the tarballs are tagged with")
	platforms := fs.String("platforms", "linux/amd64,linux/arm64", "comma-separated os/arch[/variant] list")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if o.root, err = filepath.Abs(o.root); err != nil {
		return err
	}
	if o.out, err = filepath.Abs(o.out); err != nil {
		return err
	}
	if o.version == "" {
		if o.version, err = readVersion(o.root); err != nil {
			return err
		}
	}
	if o.revision == "" {
		o.revision = gitRevision(o.root)
	}
	if o.created, err = creationTime(o.root); err != nil {
		return err
	}
	if o.platforms, err = parsePlatforms(*platforms); err != nil {
		return err
	}
	res, err := build(o)
	if err != nil {
		return err
	}
	fmt.Printf("image %s:%s (revision %s, created %s)\n", o.repository, o.version, o.revision, o.created.Format("2006-01-02T15:04:05Z"))
	fmt.Printf("  index  %s  %s\n", res.indexDigest, filepath.Join(o.out, "oci"))
	for _, p := range res.platforms {
		fmt.Printf("  %-12s %s  %s\n", p.platform, p.digest, p.tarball)
	}
	return nil
}

// readVersion returns the VERSION file's first line, which must look like a semantic version.
func readVersion(root string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, "VERSION"))
	if err != nil {
		return "", err
	}
	v := strings.TrimSpace(string(b))
	if err := checkVersion(v); err != nil {
		return "", fmt.Errorf("VERSION: %w", err)
	}
	return v, nil
}

// checkVersion accepts MAJOR.MINOR.PATCH with an optional -prerelease, no leading "v": the image
// tag, the chart's appVersion and the binary's --version all print it as it is.
func checkVersion(v string) error {
	core, _, _ := strings.Cut(v, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return fmt.Errorf("%q is not MAJOR.MINOR.PATCH", v)
	}
	for _, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" || (len(p) > 1 && p[0] == '0') {
			return fmt.Errorf("%q is not MAJOR.MINOR.PATCH", v)
		}
	}
	return nil
}

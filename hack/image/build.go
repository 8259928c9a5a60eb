package main

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	sourceURL   = "https://github.com/billyronks/couchestor"
	binaryPath  = "couchestor"
	runAsUser   = "65534:65534"
	metricsPort = "8080/tcp"
	healthPort  = "8081/tcp"
)

type platformResult struct {
	platform string
	digest   v1.Hash
	tarball  string
}

type result struct {
	indexDigest v1.Hash
	platforms   []platformResult
}

// labels are the OCI pre-defined annotation keys, set both as config labels (what `docker
// inspect` shows) and as manifest and index annotations (what registries show).
func labels(o options) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "couchestor",
		"org.opencontainers.image.description": "CoucheStor moves OpenEBS Mayastor volumes between an NVMe and a SATA tier from the IOPS each volume does.",
		"org.opencontainers.image.url":         sourceURL,
		"org.opencontainers.image.source":      sourceURL,
		"org.opencontainers.image.version":     o.version,
		"org.opencontainers.image.revision":    o.revision,
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.created":     o.created.Format("2006-01-02T15:04:05Z"),
	}
}

func build(o options) (result, error) {
	var res result
	if err := os.RemoveAll(o.out); err != nil {
		return res, err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return res, err
	}
	tag, err := name.NewTag(o.repository + ":" + o.version)
	if err != nil {
		return res, fmt.Errorf("image reference: %v", err)
	}
	base, err := baseEntries()
	if err != nil {
		return res, err
	}
	baseTar, err := tarLayer(base, o.created)
	if err != nil {
		return res, err
	}

	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range o.platforms {
		dir := filepath.Join(o.out, "build", p.OS+"-"+p.Architecture+p.Variant)
		bin, err := goBuild(o, p, dir)
		if err != nil {
			return res, err
		}
		img, err := platformImage(o, p, baseTar, bin)
		if err != nil {
			return res, fmt.Errorf("%s: %v", p.String(), err)
		}
		digest, err := img.Digest()
		if err != nil {
			return res, err
		}
		tb := filepath.Join(o.out, tarballName(o.version, p))
		if err := tarball.WriteToFile(tb, tag, img); err != nil {
			return res, fmt.Errorf("%s: docker tarball: %v", p.String(), err)
		}
		plat := p
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &plat},
		})
		res.platforms = append(res.platforms, platformResult{platform: p.String(), digest: digest, tarball: tb})
		if err := os.RemoveAll(dir); err != nil {
			return res, err
		}
	}
	if err := os.RemoveAll(filepath.Join(o.out, "build")); err != nil {
		return res, err
	}
	idx = mutate.Annotations(idx, labels(o)).(v1.ImageIndex)
	if res.indexDigest, err = idx.Digest(); err != nil {
		return res, err
	}

	lp, err := layout.Write(filepath.Join(o.out, "oci"), mutate.IndexMediaType(empty.Index, types.OCIImageIndex))
	if err != nil {
		return res, fmt.Errorf("OCI layout: %v", err)
	}
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		// skopeo and crane select a layout's image by this (oci:DIR:<version>);
		"org.opencontainers.image.ref.name": o.version,
		// containerd (ctr import, docker load with the containerd store) names it by this.
		"io.containerd.image.name": tag.String(),
	})); err != nil {
		return res, fmt.Errorf("OCI layout: %v", err)
	}
	// The layout writer leaves blobs 0600 and index.json 0755: make every file world-readable
	// and none executable, like any other build output.
	err = filepath.WalkDir(o.out, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		return os.Chmod(p, 0o644)
	})
	return res, err
}

// platformImage is the image of one platform: the base layer, the binary's layer, the config.
func platformImage(o options, p v1.Platform, baseTar []byte, bin string) (v1.Image, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	binTar, err := tarLayer([]entry{{name: binaryPath, mode: 0o755, data: data}}, o.created)
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: o.created}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for _, l := range []struct {
		tar     []byte
		created string
	}{
		{baseTar, "hack/image: /etc/passwd, /etc/group (nobody 65534), /etc/ssl/certs/ca-certificates.crt (golang.org/x/crypto/x509roots/fallback)"},
		{binTar, fmt.Sprintf("hack/image: /couchestor %s (%s, CGO_ENABLED=0 -trimpath)", o.version, p.String())},
	} {
		layer, err := tarball.LayerFromOpener(opener(l.tar), tarball.WithMediaType(types.OCILayer))
		if err != nil {
			return nil, err
		}
		img, err = mutate.Append(img, mutate.Addendum{
			Layer:     layer,
			MediaType: types.OCILayer,
			History:   v1.History{Created: created, CreatedBy: l.created, Comment: "built without a container engine"},
		})
		if err != nil {
			return nil, err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Created = created
	cf.OS = p.OS
	cf.Architecture = p.Architecture
	cf.Variant = p.Variant
	cf.Author = sourceURL
	cf.Config = v1.Config{
		User:         runAsUser,
		Entrypoint:   []string{"/" + binaryPath},
		WorkingDir:   "/",
		ExposedPorts: map[string]struct{}{metricsPort: {}, healthPort: {}},
		Labels:       labels(o),
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	return mutate.Annotations(img, labels(o)).(v1.Image), nil
}

// tarballName is couchestor-<version>-<os>-<arch>[-<variant>].tar; arm64's default variant v8 is
// left out of the name.
func tarballName(version string, p v1.Platform) string {
	n := fmt.Sprintf("couchestor-%s-%s-%s", version, p.OS, p.Architecture)
	if p.Variant != "" && !(p.Architecture == "arm64" && p.Variant == "v8") {
		n += "-" + p.Variant
	}
	return n + ".tar"
}

func opener(b []byte) tarball.Opener {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

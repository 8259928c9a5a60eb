package main

import (
	"archive/tar"
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// entry is one file or directory of a layer. Every entry is owned by root: the process runs as
// 65534 and can write none of them.
type entry struct {
	name string // relative, slash-separated, no leading "/"
	mode int64  // permission bits
	dir  bool
	data []byte
}

// tarLayer writes entries (and every parent directory they need) as an uncompressed tar, sorted
// by name, with mtime fixed and no user or group names, so the same entries always give the same
// bytes.
func tarLayer(entries []entry, mtime time.Time) ([]byte, error) {
	all := map[string]entry{}
	for _, e := range entries {
		name := strings.Trim(path.Clean("/"+e.name), "/")
		if name == "" {
			return nil, fmt.Errorf("entry %q has no name", e.name)
		}
		if _, dup := all[name]; dup {
			return nil, fmt.Errorf("entry %q given twice", name)
		}
		e.name = name
		all[name] = e
		for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
			if _, ok := all[dir]; !ok {
				all[dir] = entry{name: dir, mode: 0o755, dir: true}
			}
		}
	}
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime = mtime.UTC().Truncate(time.Second)
	for _, n := range names {
		e := all[n]
		h := &tar.Header{
			Name:    e.name,
			Mode:    e.mode,
			ModTime: mtime,
			Uid:     0,
			Gid:     0,
			Format:  tar.FormatPAX,
		}
		if e.dir {
			h.Typeflag = tar.TypeDir
			h.Name += "/"
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if !e.dir {
			if _, err := io.Copy(tw, bytes.NewReader(e.data)); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// baseEntries is what the image holds besides the binary: the nobody user and group, and the CA
// roots.
func baseEntries() ([]entry, error) {
	certs, err := caBundle()
	if err != nil {
		return nil, err
	}
	return []entry{
		{name: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n")},
		{name: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnobody:x:65534:\n")},
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: certs},
	}, nil
}

// caBundle is the PEM bundle of the Mozilla (NSS) roots that golang.org/x/crypto/x509roots/
// fallback embeds, at the version go.mod pins. Roots NSS trusts only for certificates issued
// before a distrust-after date carry a constraint a PEM file cannot express: they are left out,
// so the file never trusts more than NSS does. Go's crypto/x509 reads this path on Linux.
func caBundle() ([]byte, error) {
	var buf bytes.Buffer
	n := 0
	for r := range bundle.Roots() {
		if r.Constraint != nil {
			continue
		}
		if _, err := x509.ParseCertificate(r.Certificate); err != nil {
			return nil, fmt.Errorf("fallback bundle: %v", err)
		}
		if err := pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: r.Certificate}); err != nil {
			return nil, err
		}
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("fallback bundle holds no unconstrained root")
	}
	return buf.Bytes(), nil
}

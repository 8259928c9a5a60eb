package main

import (
	"archive/tar"
	"bytes"
	"io"
	"testing"
	"time"
)

func TestTarLayerIsDeterministic(t *testing.T) {
	mtime := time.Unix(1700000000, 0)
	a, err := tarLayer([]entry{{name: "b/c", mode: 0o644, data: []byte("x")}, {name: "/a", mode: 0o755, data: []byte("y")}}, mtime)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tarLayer([]entry{{name: "a", mode: 0o755, data: []byte("y")}, {name: "b/c", mode: 0o644, data: []byte("x")}}, mtime.Add(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("the same entries in another order (and a sub-second mtime) gave other bytes")
	}
	var got []string
	tr := tar.NewReader(bytes.NewReader(a))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" || !h.ModTime.Equal(mtime) {
			t.Errorf("%s: owner %d:%d (%q:%q) mtime %s", h.Name, h.Uid, h.Gid, h.Uname, h.Gname, h.ModTime)
		}
		got = append(got, h.Name)
	}
	want := []string{"a", "b/", "b/c"}
	if len(got) != len(want) {
		t.Fatalf("entries %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("entries %q, want %q", got, want)
		}
	}
	if _, err := tarLayer([]entry{{name: "a"}, {name: "/a/"}}, mtime); err == nil {
		t.Error("a name given twice was accepted")
	}
}

func TestCheckVersion(t *testing.T) {
	for v, ok := range map[string]bool{
		"0.1.0": true, "1.22.333": true, "1.0.0-rc.1": true,
		"v0.1.0": false, "0.1": false, "01.0.0": false, "0.1.x": false, "": false, "0..1": false,
	} {
		if err := checkVersion(v); (err == nil) != ok {
			t.Errorf("checkVersion(%q) = %v, want ok=%v", v, err, ok)
		}
	}
}

func TestParsePlatforms(t *testing.T) {
	ps, err := parsePlatforms("linux/amd64, linux/arm64")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0].String() != "linux/amd64" || ps[1].String() != "linux/arm64/v8" {
		t.Errorf("got %v", ps)
	}
	for _, bad := range []string{"", "darwin/arm64", "linux", "linux/amd64,linux/amd64", "linux/arm/v7/x"} {
		if _, err := parsePlatforms(bad); err == nil {
			t.Errorf("parsePlatforms(%q) accepted", bad)
		}
	}
}

func TestCABundle(t *testing.T) {
	b, err := caBundle()
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte("-----BEGIN CERTIFICATE-----")); n < 100 {
		t.Errorf("%d roots, want over 100", n)
	}
}

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestGeneratedFileIsFresh: api/v1/zz_generated.timezones.go lists the zones of this Go's
// zoneinfo.zip (run `make generate` after a Go upgrade), and each of them loads.
func TestGeneratedFileIsFresh(t *testing.T) {
	names, err := Zones()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join("..", "..", "api", "v1", "zz_generated.timezones.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, Render(names)) {
		t.Fatal("api/v1/zz_generated.timezones.go is stale: run `make generate manifests` and commit")
	}
	for _, n := range []string{"UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"} {
		if _, err := time.LoadLocation(n); err != nil {
			t.Fatal(err)
		}
	}
}

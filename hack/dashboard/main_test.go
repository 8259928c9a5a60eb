package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The committed dashboard is what the generator makes: change main.go, then run
// `go run ./hack/dashboard` from the repository root.
func TestCommittedDashboardIsGenerated(t *testing.T) {
	want, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join("..", "..", DefaultOutput))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from a fresh generation: run `go run ./hack/dashboard` and commit it", DefaultOutput)
	}
	// Twice the same bytes: the output does not depend on map order.
	again, _ := Generate()
	if !bytes.Equal(again, want) {
		t.Fatal("two generations differ")
	}
}

// Command apidocs writes docs/api-reference.md from the CRDs in config/crd/bases: every field of
// StoragePolicy and TierMigration with its type, default, validation and description. Run it
// from the repository root after `make manifests`; test/docs fails when the committed file and a
// fresh rendering differ.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/billyronks/couchestor/hack/apidocs/reference"
)

func main() {
	crds := flag.String("crds", "config/crd/bases", "directory of the CRD YAML files")
	out := flag.String("out", "docs/api-reference.md", "file to write; - for standard output")
	flag.Parse()
	if err := run(*crds, *out); err != nil {
		fmt.Fprintln(os.Stderr, "apidocs:", err)
		os.Exit(1)
	}
}

func run(dir, out string) error {
	files, err := reference.Files(dir)
	if err != nil {
		return err
	}
	md, err := reference.Generate(files)
	if err != nil {
		return err
	}
	if out == "-" {
		_, err = os.Stdout.Write(md)
		return err
	}
	return os.WriteFile(out, md, 0o644)
}

// Command kubectl-couchestor is the kubectl plugin `kubectl couchestor`: plan (what every
// StoragePolicy would do right now, and why), status (migrations in flight) and move (a PVC to
// NVMe or SATA). Copy it onto PATH; kubectl finds it by its name.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/billyronks/couchestor/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Command couchestor is the CoucheStor operator: it moves OpenEBS Mayastor volumes between an NVMe
// and a SATA tier from the IOPS each volume does, as StoragePolicy objects say.
//
// `couchestor check [flags]` runs the preflight checks instead (the chart's helm test), with
// the operator's own flags: the same Mayastor, Prometheus and leader-election settings.
package main

import (
	"errors"
	"fmt"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/billyronks/couchestor/internal/operator"
	"github.com/billyronks/couchestor/internal/version"
)

func main() {
	name, args := "couchestor", os.Args[1:]
	check := len(args) > 0 && args[0] == "check"
	if check {
		name, args = "couchestor check", args[1:]
	}
	cfg, err := operator.Parse(name, args)
	if errors.Is(err, operator.ErrHelp) {
		operator.Usage(os.Stdout, name)
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(2)
	}
	if cfg.ShowVersion {
		fmt.Println(version.String("couchestor"))
		return
	}
	if check {
		os.Exit(runCheck(cfg))
	}
	operator.SetupLogging(cfg)
	restCfg, err := operator.RESTConfig(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "couchestor: %v\n", err)
		os.Exit(1)
	}
	if err := operator.Run(ctrl.SetupSignalHandler(), cfg, restCfg); err != nil {
		fmt.Fprintf(os.Stderr, "couchestor: %v\n", err)
		os.Exit(1)
	}
}

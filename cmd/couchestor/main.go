// Command couchestor is the CoucheStor operator: it moves OpenEBS Mayastor volumes between an NVMe
// and a SATA tier from the IOPS each volume does, as StoragePolicy objects say.
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
	cfg, err := operator.Parse("couchestor", os.Args[1:])
	if errors.Is(err, operator.ErrHelp) {
		operator.Usage(os.Stdout, "couchestor")
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "couchestor: %v\n", err)
		os.Exit(2)
	}
	if cfg.ShowVersion {
		fmt.Println(version.String("couchestor"))
		return
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

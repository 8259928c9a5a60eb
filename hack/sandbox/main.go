// Command sandbox runs CoucheStor on this machine with nothing but Go: a local kube-apiserver
// and etcd, the Mayastor simulator (scenario "sandbox": four single-tier io-engine nodes and
// nine volumes, some hot on SATA, some cold on NVMe, some changing after a few minutes), a real
// Prometheus scraping the simulator's io-engine exporter, the operator, and the sample
// StoragePolicy (config/samples). It shows a live view: the policy on top, then per volume its IOPS
// against the watermarks, its tier and its migration's phase and sync progress, redrawn in
// place on a terminal and appended when it changes otherwise. The operator, simulator,
// Prometheus, kube-apiserver and etcd log to files under --work-dir, named in the view.
// `make run` starts it; Ctrl-C (or --duration) stops everything.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/billyronks/couchestor/internal/sandbox"
	"github.com/billyronks/couchestor/internal/sim"
)

func main() {
	o := sandbox.RunOptions{Out: os.Stdout, TTY: sandbox.IsTerminal(os.Stdout)}
	flag.StringVar(&o.Scenario, "scenario", "sandbox", "simulator scenario: an embedded name (sandbox, small, scale-10k) or a YAML file")
	flag.Float64Var(&o.Speed, "speed", 1, "simulated seconds per wall-clock second (also multiplies every IOPS figure)")
	flag.StringVar(&o.SamplingWindow, "sampling-window", "1m", "the sample policy's samplingWindow (short, so IOPS are known soon)")
	flag.DurationVar(&o.ScrapeInterval, "scrape-interval", 5*time.Second, "Prometheus scrape interval (the IOPS resolution)")
	rebuild := flag.String("rebuild-bandwidth", "1GiB", "rebuild rate per second, replacing the scenario's (0: keep it)")
	flag.DurationVar(&o.Refresh, "refresh", 2*time.Second, "how often the view is redrawn")
	duration := flag.Duration("duration", 0, "stop after this long (0: run until Ctrl-C)")
	flag.StringVar(&o.WorkDir, "work-dir", filepath.Join("bin", "sandbox"), "emptied, then receives the kubeconfig, Prometheus data and every log")
	flag.StringVar(&o.MetricsBindAddress, "metrics-bind-address", "127.0.0.1:8080", "the operator's metrics address")
	flag.StringVar(&o.HealthProbeBindAddress, "health-probe-bind-address", "127.0.0.1:8081", "the operator's health probe address")
	flag.IntVar(&o.SyncPollIntervalSeconds, "sync-poll-interval-seconds", 2, "the operator's replica sync check interval")
	flag.Parse()
	if err := run(o, *rebuild, *duration); err != nil {
		fmt.Fprintf(os.Stderr, "sandbox: %v\n", err)
		os.Exit(1)
	}
}

func run(o sandbox.RunOptions, rebuild string, duration time.Duration) error {
	bw, err := sim.ParseByteSize(rebuild)
	if err != nil {
		return fmt.Errorf("--rebuild-bandwidth: %w", err)
	}
	o.RebuildBandwidth = uint64(bw)
	if o.WorkDir, err = filepath.Abs(o.WorkDir); err != nil {
		return err
	}
	_, file, _, _ := runtime.Caller(0)
	o.RepoRoot = filepath.Join(filepath.Dir(file), "..", "..")
	if _, err := os.Stat(filepath.Join(o.RepoRoot, "config", "crd", "bases")); err != nil {
		o.RepoRoot = "." // built with -trimpath: run it from the repository
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	return sandbox.Run(ctx, o)
}

// Command sandbox runs CoucheStor on this machine with nothing but Go: a local kube-apiserver
// and etcd, the Mayastor simulator (scenario "small": three nodes, an NVMe and a SATA pool on
// each, a dozen volumes of mixed temperature), a real Prometheus scraping the simulator's
// io-engine exporter, the operator, and a sample StoragePolicy. It prints the policy's status as
// it changes. `make run` starts it; Ctrl-C stops everything.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/operator"
	"github.com/billyronks/couchestor/internal/sandbox"
)

func main() {
	scenario := flag.String("scenario", "small", "simulator scenario: an embedded name or a YAML file")
	speed := flag.Float64("speed", 1, "simulated seconds per wall-clock second")
	window := flag.String("sampling-window", "1m", "the sample policy's samplingWindow (short, so IOPS are known soon)")
	duration := flag.Duration("duration", 0, "stop after this long (0: run until Ctrl-C)")
	workDir := flag.String("work-dir", filepath.Join("bin", "sandbox"), "kubeconfig, Prometheus data and logs go here")
	flag.Parse()
	if err := run(*scenario, *speed, *window, *duration, *workDir); err != nil {
		fmt.Fprintf(os.Stderr, "sandbox: %v\n", err)
		os.Exit(1)
	}
}

func run(scenario string, speed float64, window string, duration time.Duration, workDir string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	if err := os.RemoveAll(workDir); err != nil {
		return err
	}
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return err
	}
	workDir, _ = filepath.Abs(workDir)
	_, file, _, _ := runtime.Caller(0)
	repoRoot := filepath.Join(filepath.Dir(file), "..", "..")

	say("starting a local kube-apiserver and etcd, the Mayastor simulator and Prometheus ...")
	// Rebuilds at 1 GiB/s finish in seconds at real time; speeding the clock up instead would
	// inflate every IOPS figure by the same factor.
	st, err := sandbox.Start(ctx, sandbox.Options{RepoRoot: repoRoot, WorkDir: workDir, Scenario: scenario, Speed: speed,
		ScrapeInterval: 5 * time.Second, RebuildBandwidth: 1 << 30})
	if err != nil {
		return err
	}
	defer st.Stop()
	say("API server kubeconfig: %s", st.Kubeconfig)
	say("Mayastor simulator:    %s (REST /v0, exporter /metrics, faults /admin)", st.SimURL)
	say("Prometheus:            %s", st.PrometheusURL)

	policy := samplePolicy(window)
	if err := st.Client.Create(ctx, policy); err != nil {
		return fmt.Errorf("create the sample StoragePolicy: %w", err)
	}
	say("StoragePolicy %q created (the datasheet example, samplingWindow %s, allowRepublish)", policy.Name, window)

	cfg, err := operator.Parse("couchestor", []string{
		"--prometheus-url=" + st.PrometheusURL, "--mayastor-url=" + st.SimURL,
		"--metrics-bind-address=127.0.0.1:8080", "--health-probe-bind-address=127.0.0.1:8081",
		"--log-level=info",
	})
	if err != nil {
		return err
	}
	operator.SetupLogging(cfg)
	opErr := make(chan error, 1)
	go func() { opErr <- operator.Run(ctx, cfg, st.RESTConfig) }()
	say("operator running: metrics http://127.0.0.1:8080/metrics, health http://127.0.0.1:8081/readyz")

	var last string
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			say("stopping")
			return nil
		case err := <-opErr:
			return fmt.Errorf("operator stopped: %w", err)
		case <-tick.C:
			if out := renderStatus(ctx, st, policy.Name); out != last {
				fmt.Printf("[sandbox %s]\n%s", time.Now().Format("15:04:05"), out)
				last = out
			}
		}
	}
}

func samplePolicy(window string) *storagev1.StoragePolicy {
	enabled := true
	return &storagev1.StoragePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "example"},
		Spec: storagev1.StoragePolicySpec{
			HighWatermarkIOPS: 5000, LowWatermarkIOPS: 500, SamplingWindow: window, CooldownPeriod: "24h",
			StorageClassName:        "mayastor",
			NVMePoolSelector:        metav1.LabelSelector{MatchLabels: map[string]string{"tier": "hot"}},
			SATAPoolSelector:        metav1.LabelSelector{MatchLabels: map[string]string{"tier": "cold"}},
			MaxConcurrentMigrations: 2, MigrationTimeout: "30m", Enabled: &enabled,
			// In the small scenario most volumes' nexus sits on the node of the replica to retire,
			// which a replica-count decrease never removes; the sandbox opts in to moving the
			// nexus (a brief I/O pause in a real cluster) so those volumes can move too.
			AllowRepublish: true,
		},
	}
}

// renderStatus shows the policy's status and its TierMigrations, as kubectl get would.
func renderStatus(ctx context.Context, st *sandbox.Stack, name string) string {
	var p storagev1.StoragePolicy
	if err := st.Client.Get(ctx, types.NamespacedName{Name: name}, &p); err != nil {
		return fmt.Sprintf("get policy: %v\n", err)
	}
	var buf strings.Builder
	w := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tWATCHED\tNVME\tSATA\tUNKNOWN\tMIGRATING\tREADY\tMESSAGE")
	ready := meta.FindStatusCondition(p.Status.Conditions, storagev1.ConditionReady)
	status, msg := "-", ""
	if ready != nil {
		status, msg = string(ready.Status), ready.Reason+": "+ready.Message
	}
	fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", p.Name, p.Status.VolumesWatched, p.Status.NVMeVolumes,
		p.Status.SATAVolumes, p.Status.UnknownVolumes, p.Status.ActiveMigrations, status, strings.TrimSpace(msg))
	_ = w.Flush()

	var tms storagev1.TierMigrationList
	if err := st.Client.List(ctx, &tms); err != nil || len(tms.Items) == 0 {
		return buf.String()
	}
	w = tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "  TIERMIGRATION\tFROM\tTO\tPHASE\tSYNC\tWHY / RESULT")
	for _, tm := range tms.Items {
		why := tm.Spec.Reason.Description
		if tm.Status.Error != "" {
			why = tm.Status.Error
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%d%%\t%s\n", tm.Name, tm.Status.SourceTier, tm.Spec.TargetTier, tm.Status.Phase, tm.Status.SyncProgress, why)
	}
	_ = w.Flush()
	return buf.String()
}

func say(format string, args ...any) {
	fmt.Printf("[sandbox %s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/operator"
)

// RunOptions shape `make run`.
type RunOptions struct {
	// RepoRoot holds config/crd/bases.
	RepoRoot string
	// WorkDir is emptied, then receives the kubeconfig, Prometheus's data and every log.
	WorkDir string
	// Scenario is the simulator scenario: an embedded name or a file.
	Scenario string
	// Speed is simulated seconds per wall-clock second.
	Speed float64
	// SamplingWindow is the sample policy's samplingWindow.
	SamplingWindow string
	// ScrapeInterval of Prometheus.
	ScrapeInterval time.Duration
	// RebuildBandwidth replaces the scenario's (bytes per second); 0 keeps it.
	RebuildBandwidth uint64
	// Refresh is how often the view is redrawn.
	Refresh time.Duration
	// MetricsBindAddress and HealthProbeBindAddress are the operator's.
	MetricsBindAddress, HealthProbeBindAddress string
	// SyncPollIntervalSeconds is the operator's --sync-poll-interval-seconds.
	SyncPollIntervalSeconds int
	// Out receives the view; TTY says whether it is a terminal (frames redrawn in place).
	Out io.Writer
	TTY bool
}

// PolicyName is the sample StoragePolicy the sandbox creates.
const PolicyName = "example"

// OperatorLog is the operator's log file in the work directory.
const OperatorLog = "operator.log"

// Run brings the sandbox up (API server, simulator, Prometheus, the operator in this process
// with its log in WorkDir/operator.log, the sample policy), shows the live view until ctx ends,
// then stops everything it started, in order, and returns once every child process has exited.
func Run(ctx context.Context, o RunOptions) error {
	if o.Refresh <= 0 {
		o.Refresh = 2 * time.Second
	}
	if o.SyncPollIntervalSeconds <= 0 {
		o.SyncPollIntervalSeconds = 2
	}
	started := time.Now()
	if err := os.RemoveAll(o.WorkDir); err != nil {
		return err
	}
	if err := os.MkdirAll(o.WorkDir, 0o755); err != nil {
		return err
	}
	opLogPath := filepath.Join(o.WorkDir, OperatorLog)
	opLog, err := os.Create(opLogPath)
	if err != nil {
		return err
	}
	defer opLog.Close()
	setupOperatorLogging(opLog)

	say := func(format string, args ...any) {
		fmt.Fprintf(o.Out, "[sandbox %s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
	say("starting a local kube-apiserver and etcd, the Mayastor simulator (scenario %s) and Prometheus ...", o.Scenario)
	st, err := Start(ctx, Options{RepoRoot: o.RepoRoot, WorkDir: o.WorkDir, Scenario: o.Scenario, Speed: o.Speed,
		ScrapeInterval: o.ScrapeInterval, RebuildBandwidth: o.RebuildBandwidth, ExtraScrapeTargets: operatorTargets(o.MetricsBindAddress)})
	if err != nil {
		return err
	}
	defer st.Stop()

	policy := SamplePolicy(o.SamplingWindow)
	if err := st.Client.Create(ctx, policy); err != nil {
		return fmt.Errorf("create the sample StoragePolicy: %w", err)
	}
	cfg, err := operator.Parse("couchestor", []string{
		"--prometheus-url=" + st.PrometheusURL, "--mayastor-url=" + st.SimURL,
		// Plain HTTP on loopback, so that `curl` on the address the view prints just works.
		"--metrics-bind-address=" + o.MetricsBindAddress, "--metrics-secure=false", "--health-probe-bind-address=" + o.HealthProbeBindAddress,
		// As the chart runs it: with a leader-election Lease (kubectl couchestor check reads it).
		"--leader-elect", "--leader-election-namespace=default",
		fmt.Sprintf("--sync-poll-interval-seconds=%d", o.SyncPollIntervalSeconds),
		"--log-level=info",
	})
	if err != nil {
		return err
	}
	opCtx, stopOperator := context.WithCancel(context.Background())
	defer stopOperator()
	opErr := make(chan error, 1)
	go func() { opErr <- operator.Run(opCtx, cfg, st.RESTConfig) }()
	// waitOperator stops the operator (if still running) and waits for it.
	operatorDone := false
	waitOperator := func() error {
		stopOperator()
		if operatorDone {
			return nil
		}
		select {
		case err := <-opErr:
			operatorDone = true
			return err
		case <-time.After(30 * time.Second):
			return errors.New("the operator did not stop within 30s")
		}
	}
	defer func() { _ = waitOperator() }()

	col, err := NewCollector(st, policy.Name)
	if err != nil {
		return err
	}
	screen := NewScreen(o.Out, o.TTY, Banner(st, o, opLogPath))
	head := func(now time.Time) string {
		return fmt.Sprintf("CoucheStor sandbox  %s  up %s  (Ctrl-C stops everything)", now.Format("15:04:05"), now.Sub(started).Round(time.Second))
	}
	draw := func() View {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		v := col.Collect(c)
		screen.Show(head(v.At), Render(v), v.Key())
		return v
	}
	draw()
	tick := time.NewTicker(o.Refresh)
	defer tick.Stop()
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-opErr:
			operatorDone = true
			runErr = fmt.Errorf("the operator stopped: %v; see %s", err, rel(opLogPath))
			break loop
		case <-tick.C:
			draw()
		}
	}

	// The last frame, kept on screen (and in a headless log) above the shutdown lines.
	screen.last = ""
	final := draw()
	say("stopping: the operator, then Prometheus, the simulator, kube-apiserver and etcd")
	if err := waitOperator(); err != nil && runErr == nil {
		runErr = fmt.Errorf("operator: %w; see %s", err, rel(opLogPath))
	}
	st.Stop()
	say("stopped after %s; %s; logs in %s", time.Since(started).Round(time.Second), final.Tally, rel(o.WorkDir))
	return runErr
}

// SamplePolicy is the sample policy (config/samples) with the sandbox's sampling window.
func SamplePolicy(window string) *storagev1.StoragePolicy {
	enabled := true
	return &storagev1.StoragePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: PolicyName},
		Spec: storagev1.StoragePolicySpec{
			HighWatermarkIOPS: 5000, LowWatermarkIOPS: 500, SamplingWindow: window, CooldownPeriod: "24h",
			StorageClassName:        "mayastor",
			NVMePoolSelector:        metav1.LabelSelector{MatchLabels: map[string]string{"tier": "hot"}},
			SATAPoolSelector:        metav1.LabelSelector{MatchLabels: map[string]string{"tier": "cold"}},
			MaxConcurrentMigrations: 2, MigrationTimeout: "30m", Enabled: &enabled,
			// A 1-replica volume's nexus sits on its replica's node, which a replica-count
			// decrease never removes; the sandbox opts in to moving the nexus (a brief I/O pause
			// in a real cluster) so such volumes can move (docs/mayastor-migration.md).
			AllowRepublish: true,
		},
	}
}

// Banner is the view's fixed part: where everything is and where each log goes.
func Banner(st *Stack, o RunOptions, operatorLog string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "kubectl      KUBECONFIG=%s kubectl get storagepolicies,tiermigrations\n", rel(st.Kubeconfig))
	fmt.Fprintf(&b, "Mayastor     %s (REST /v0, exporter /metrics, faults /admin)   Prometheus %s\n", st.SimURL, st.PrometheusURL)
	fmt.Fprintf(&b, "operator     metrics %s, health %s\n", httpURL(o.MetricsBindAddress, "/metrics"), httpURL(o.HealthProbeBindAddress, "/readyz"))
	logs := []string{"operator " + rel(operatorLog)}
	for _, l := range []struct{ name, path string }{
		{"simulator", st.Logs.Simulator}, {"prometheus", st.Logs.Prometheus},
		{"kube-apiserver", st.Logs.APIServer}, {"etcd", st.Logs.Etcd},
	} {
		if l.path != "" {
			logs = append(logs, l.name+" "+rel(l.path))
		}
	}
	fmt.Fprintf(&b, "logs         %s\n\n", strings.Join(logs, "  "))
	return b.String()
}

// operatorTargets is the operator's /metrics as a Prometheus target, none when it is off.
func operatorTargets(metricsAddr string) []string {
	if metricsAddr == "0" || metricsAddr == "" {
		return nil
	}
	if strings.HasPrefix(metricsAddr, ":") {
		metricsAddr = "127.0.0.1" + metricsAddr
	}
	return []string{metricsAddr}
}

func httpURL(addr, path string) string {
	if addr == "0" {
		return "off"
	}
	if strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr
	}
	return "http://" + addr + path
}

// rel shows path relative to the working directory when it is below it.
func rel(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	if r, err := filepath.Rel(wd, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}

// setupOperatorLogging sends controller-runtime's and client-go's logs (stack traces
// included) to w instead of the terminal.
func setupOperatorLogging(w io.Writer) {
	ec := zapcore.EncoderConfig{
		TimeKey: "ts", LevelKey: "level", NameKey: "logger", MessageKey: "msg", StacktraceKey: "stacktrace",
		LineEnding: zapcore.DefaultLineEnding, EncodeLevel: zapcore.LowercaseLevelEncoder,
		EncodeTime: zapcore.ISO8601TimeEncoder, EncodeDuration: zapcore.StringDurationEncoder,
	}
	opts := zap.Options{Development: false, Level: zapcore.InfoLevel, DestWriter: w, Encoder: zapcore.NewConsoleEncoder(ec)}
	logger := zap.New(zap.UseFlagOptions(&opts))
	ctrl.SetLogger(logger)
	klog.SetLogger(logger.WithName("klog"))
}

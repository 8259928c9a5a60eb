//go:build linux

// Command backtest-scale measures `kubectl couchestor backtest` end to end at scale: the real
// plugin binary, run under /usr/bin/time -v, against a real kube-apiserver holding a
// PersistentVolume per volume of the Mayastor simulator's scenario (scale-10k: 10,000 volumes)
// and a real Prometheus holding --days of IOPS history for every one of them, backfilled with
// promtool.
//
// Steps: start kube-apiserver and etcd (envtest) and the sandbox without its Prometheus (the
// simulator and its PVs); generate the history of the simulated volumes' uuids as OpenMetrics,
// streamed to a file (5m scrapes, volume_num_read_ops and volume_num_write_ops per volume:
// hot, cold, in-band, daily crossing, changing and gappy volumes); backfill it with promtool in
// one or two passes; start Prometheus on it behind a loopback proxy that counts and times the
// range queries; build ./cmd/kubectl-couchestor and run `backtest --policy-file` at each
// --steps over the whole history; print wall time, peak RSS, CPU, range queries and the load
// average of each run.
//
//	KUBEBUILDER_ASSETS=... COUCHESTOR_PROMETHEUS_DIR=... go run ./hack/backtest-scale [--steps 1h,5m] [--reuse]
//
// See docs/backtest.md ("Measured at scale").
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/billyronks/couchestor/internal/sandbox"
)

type options struct {
	scenario       string
	days           int
	steps          []time.Duration
	repeat         int
	workDir        string
	reuse          bool
	keepText       bool
	scrapeInterval time.Duration
	maxBlock       time.Duration
	window         time.Duration
	binary         string
	beforeBinary   string
	extraArgs      string
}

func main() {
	var o options
	var steps string
	flag.StringVar(&o.scenario, "volumes-scenario", "scale-10k", "simulator scenario whose volumes get a history: an embedded name or a YAML file")
	flag.IntVar(&o.days, "days", 14, "days of history, and of the backtest's range")
	flag.StringVar(&steps, "steps", "1h,5m", "the backtest's --step values to measure, in order")
	flag.IntVar(&o.repeat, "repeat", 1, "run the backtest this many times at each step")
	flag.StringVar(&o.workDir, "work-dir", filepath.Join("bin", "backtest-scale"), "kubeconfig, policy, binaries, Prometheus data, logs and outputs")
	flag.BoolVar(&o.reuse, "reuse", false, "reuse the TSDB of an earlier run in --work-dir when it holds the same volumes and --days (skips generation and backfill)")
	flag.BoolVar(&o.keepText, "keep-openmetrics", false, "keep the generated OpenMetrics file (several GB) after the backfill")
	flag.DurationVar(&o.scrapeInterval, "scrape-interval", 5*time.Minute, "interval between two generated samples of a series (at most Prometheus's 5m lookback)")
	flag.DurationVar(&o.maxBlock, "max-block-duration", 486*time.Hour, "promtool's --max-block-duration: promtool parses the whole file once per block range, so one block range as large as the history (486h is the largest Prometheus compaction range under 31 days)")
	flag.DurationVar(&o.window, "sampling-window", time.Hour, "the policy's samplingWindow")
	flag.StringVar(&o.binary, "plugin-binary", "", "run this kubectl-couchestor binary instead of building ./cmd/kubectl-couchestor")
	flag.StringVar(&o.beforeBinary, "before-binary", "", "also run this kubectl-couchestor binary (e.g. built from an older commit) at each step, right before the one under test, for a before/after in the same conditions")
	flag.StringVar(&o.extraArgs, "backtest-args", "", "extra arguments for the backtest command, space-separated")
	flag.Parse()
	for _, f := range strings.Split(steps, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil || d <= 0 {
			fmt.Fprintf(os.Stderr, "backtest-scale: --steps: %q is not a positive duration\n", f)
			os.Exit(2)
		}
		o.steps = append(o.steps, d)
	}
	if o.scrapeInterval > 5*time.Minute || o.scrapeInterval <= 0 {
		fmt.Fprintln(os.Stderr, "backtest-scale: --scrape-interval must be in (0, 5m]: beyond Prometheus's 5m lookback every instant is Unknown")
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "backtest-scale: %v\n", err)
		os.Exit(1)
	}
}

func say(format string, args ...any) {
	fmt.Printf("[backtest-scale %s] %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// manifest describes a generated TSDB, so that --reuse can tell whether it fits.
type manifest struct {
	Volumes        string        `json:"volumesSHA256"`
	Count          int           `json:"volumes"`
	Days           int           `json:"days"`
	Begin          time.Time     `json:"begin"` // first sample
	End            time.Time     `json:"end"`   // last sample
	ScrapeInterval time.Duration `json:"scrapeInterval"`
	Samples        int64         `json:"samples"`
	TextBytes      int64         `json:"openMetricsBytes"`
	Generate       time.Duration `json:"generate"`
	Backfill       time.Duration `json:"backfill"`
	BlockDuration  time.Duration `json:"maxBlockDuration"`
	Created        time.Time     `json:"created"`
}

func run(o options) error {
	for _, v := range []string{"KUBEBUILDER_ASSETS", "COUCHESTOR_PROMETHEUS_DIR"} {
		if os.Getenv(v) == "" {
			return fmt.Errorf("%s is not set: run `make backtest-scale` (docs/backtest.md)", v)
		}
	}
	if _, err := os.Stat("/usr/bin/time"); err != nil {
		return errors.New("/usr/bin/time (GNU time) is needed for the peak RSS of the command")
	}
	prometheus, promtool, err := findPrometheus()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	_, file, _, _ := runtime.Caller(0)
	repoRoot, _ := filepath.Abs(filepath.Join(filepath.Dir(file), "..", ".."))
	workDir, err := filepath.Abs(o.workDir)
	if err != nil {
		return err
	}
	tsdbDir := filepath.Join(workDir, "tsdb")
	manifestPath := filepath.Join(workDir, "tsdb.json")
	if o.reuse {
		// Everything but the TSDB and its manifest goes.
		entries, _ := os.ReadDir(workDir)
		for _, e := range entries {
			if e.Name() != "tsdb" && e.Name() != "tsdb.json" {
				_ = os.RemoveAll(filepath.Join(workDir, e.Name()))
			}
		}
	} else if err := os.RemoveAll(workDir); err != nil {
		return err
	}
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return err
	}

	// 1. The plugin binary first, so the compiler does not compete with what is timed.
	bin := o.binary
	if bin == "" {
		bin = filepath.Join(workDir, "kubectl-couchestor")
		say("go build ./cmd/kubectl-couchestor")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/kubectl-couchestor")
		build.Dir, build.Stdout, build.Stderr = repoRoot, os.Stdout, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("go build ./cmd/kubectl-couchestor: %w", err)
		}
	}

	// 2. kube-apiserver and etcd, then the simulator and a PV per simulated volume.
	say("starting kube-apiserver and etcd (envtest)")
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(repoRoot, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	restCfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("start the local API server: %w", err)
	}
	defer func() { _ = env.Stop() }()
	user, err := env.AddUser(envtest.User{Name: "backtest-scale", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return err
	}
	kubeconfig := filepath.Join(workDir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		return err
	}
	say("starting the simulator (scenario %s) and creating a PersistentVolume per volume", o.scenario)
	t := time.Now()
	st, err := sandbox.Start(ctx, sandbox.Options{RepoRoot: repoRoot, WorkDir: workDir, Scenario: o.scenario, RESTConfig: restCfg, NoPrometheus: true})
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	// Not st.Stop(): on a borrowed API server it deletes every PV one by one; env.Stop() ends it.
	defer st.StopSimulator()
	var ids []string
	for _, pv := range st.PersistentVolumes {
		ids = append(ids, strings.TrimPrefix(pv, "pvc-"))
	}
	slices.Sort(ids)
	sum := sha256.Sum256([]byte(strings.Join(ids, ",")))
	volsHash := hex.EncodeToString(sum[:])
	say("%d PVs in %s", len(ids), time.Since(t).Round(time.Millisecond))

	// 3. The history: reused, or generated and backfilled.
	var mf manifest
	reused := false
	if o.reuse {
		if b, err := os.ReadFile(manifestPath); err == nil && json.Unmarshal(b, &mf) == nil &&
			mf.Volumes == volsHash && mf.Days == o.days && mf.ScrapeInterval == o.scrapeInterval {
			reused = true
			say("reusing %s: %d volumes, %s to %s, %d samples (generated in %s, backfilled in %s on %s)", tsdbDir, mf.Count,
				mf.Begin.Format(time.RFC3339), mf.End.Format(time.RFC3339), mf.Samples, mf.Generate.Round(time.Second), mf.Backfill.Round(time.Second), mf.Created.Format(time.RFC3339))
		} else {
			say("--reuse: no TSDB for these volumes and --days in %s; generating one", workDir)
		}
	}
	if !reused {
		_ = os.RemoveAll(tsdbDir)
		_ = os.Remove(manifestPath)
		end := time.Now().Add(-10 * time.Minute).Truncate(o.scrapeInterval)
		// The history starts two windows before the first evaluation, so the first is covered.
		begin := end.Add(-time.Duration(o.days)*24*time.Hour - 2*o.window)
		mf = manifest{Volumes: volsHash, Count: len(ids), Days: o.days, Begin: begin, End: end, ScrapeInterval: o.scrapeInterval,
			BlockDuration: o.maxBlock, Created: time.Now().UTC()}
		text := filepath.Join(workDir, "history.om")
		say("generating %d days of history for %d volumes every %s into %s", o.days, len(ids), o.scrapeInterval, text)
		t := time.Now()
		if mf.Samples, mf.TextBytes, err = writeHistory(text, ids, begin, end, o.scrapeInterval); err != nil {
			return err
		}
		mf.Generate = time.Since(t)
		say("%d samples, %.2f GB of OpenMetrics in %s (load %s)", mf.Samples, float64(mf.TextBytes)/1e9, mf.Generate.Round(time.Second), loadAvg())
		say("promtool tsdb create-blocks-from openmetrics --max-block-duration=%s", o.maxBlock)
		t = time.Now()
		out, err := exec.CommandContext(ctx, promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet",
			"--max-block-duration="+o.maxBlock.String(), text, tsdbDir).CombinedOutput()
		if err != nil {
			return fmt.Errorf("promtool: %v\n%s", err, tail(string(out)))
		}
		mf.Backfill = time.Since(t)
		blocks, _ := filepath.Glob(filepath.Join(tsdbDir, "01*"))
		say("backfilled in %s, %d blocks (load %s)", mf.Backfill.Round(time.Second), len(blocks), loadAvg())
		if !o.keepText {
			_ = os.Remove(text)
		}
		b, _ := json.MarshalIndent(mf, "", "  ")
		if err := os.WriteFile(manifestPath, b, 0o644); err != nil {
			return err
		}
	}

	// 4. Prometheus on the backfilled TSDB, behind a counting proxy.
	promDir := filepath.Join(workDir, "prometheus")
	if err := os.MkdirAll(promDir, 0o755); err != nil {
		return err
	}
	t = time.Now()
	srv, err := startPrometheus(ctx, prometheus, promDir, tsdbDir)
	if err != nil {
		return err
	}
	defer srv.stop()
	say("Prometheus %s ready in %s", srv.URL, time.Since(t).Round(time.Millisecond))
	proxy, err := newCounter(srv.URL)
	if err != nil {
		return err
	}

	// 5. The policy and the command.
	policyFile := filepath.Join(workDir, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(policyYAML(o.window)), 0o644); err != nil {
		return err
	}
	from := mf.End.Add(-time.Duration(o.days) * 24 * time.Hour)
	var results []result
	binaries := []struct{ label, path string }{{"after", bin}}
	if o.beforeBinary != "" {
		binaries = []struct{ label, path string }{{"before", o.beforeBinary}, {"after", bin}}
	}
	for _, step := range o.steps {
		for r := range o.repeat {
			for _, b := range binaries {
				promCPU := processCPU(srv.cmd.Process.Pid)
				res, err := runBacktest(ctx, o, b.path, kubeconfig, policyFile, st.SimURL, proxy, from, mf.End, step,
					filepath.Join(workDir, fmt.Sprintf("step-%s-%s-%d", step, b.label, r+1)))
				if err != nil {
					return err
				}
				res.binary = b.label
				res.promCPU = processCPU(srv.cmd.Process.Pid) - promCPU
				res.print(os.Stdout)
				results = append(results, res)
			}
		}
	}
	printSummary(os.Stdout, o, mf, reused, len(ids), from, results)
	return nil
}

// policyYAML is the replayed policy: the datasheet's watermarks over the scenario's tier=hot and
// tier=cold pools.
func policyYAML(window time.Duration) string {
	return fmt.Sprintf(`apiVersion: storage.billyronks.io/v1
kind: StoragePolicy
metadata:
  name: backtest-scale
spec:
  storageClassName: mayastor
  highWatermarkIOPS: 5000
  lowWatermarkIOPS: 500
  samplingWindow: %s
  cooldownPeriod: 24h
  maxConcurrentMigrations: 10
  nvmePoolSelector:
    matchLabels: {tier: hot}
  sataPoolSelector:
    matchLabels: {tier: cold}
`, promDuration(window))
}

func promDuration(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	if d%time.Minute == 0 {
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

// result is one measured run of the command.
type result struct {
	step                time.Duration
	binary              string
	cmdline             string
	loadBefore, loadEnd string
	wall                time.Duration
	userCPU, sysCPU     time.Duration
	maxRSSKiB           int64
	promCPU             time.Duration // Prometheus's user + system CPU during the command
	ranges, instants    int64
	queryTimes          []queryTime
	reported            int // the report's rangeQueries
	evaluations         int
	totals              map[string]any
}

func runBacktest(ctx context.Context, o options, bin, kubeconfig, policyFile, simURL string, proxy *counter, from, to time.Time, step time.Duration, out string) (result, error) {
	res := result{step: step}
	args := []string{"-v", bin, "backtest", "--kubeconfig=" + kubeconfig, "--policy-file=" + policyFile,
		"--mayastor-url=" + simURL, "--prometheus-url=" + proxy.url,
		"--from=" + from.UTC().Format(time.RFC3339), "--to=" + to.UTC().Format(time.RFC3339), "--step=" + step.String(),
		// The whole command is bounded by --timeout (30m by default for backtest); the measurement
		// wants its time, not the timeout's.
		"--timeout=30m", "-o", "json"}
	if o.extraArgs != "" {
		args = append(args, strings.Fields(o.extraArgs)...)
	}
	res.cmdline = "/usr/bin/time " + strings.Join(args, " ")
	stdout, err := os.Create(out + ".json")
	if err != nil {
		return res, err
	}
	defer stdout.Close()
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, "/usr/bin/time", args...)
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	proxy.reset()
	res.loadBefore = loadAvg()
	say("step %s: %s", step, res.cmdline)
	err = cmd.Run()
	res.loadEnd = loadAvg()
	_ = os.WriteFile(out+".time", []byte(stderr.String()), 0o644)
	if err != nil {
		return res, fmt.Errorf("backtest at step %s: %v\n%s", step, err, tail(stderr.String()))
	}
	res.ranges, res.instants, res.queryTimes = proxy.snapshot()
	tv := stderr.String()
	res.wall = parseElapsed(field(tv, "Elapsed (wall clock) time (h:mm:ss or m:ss)"))
	res.userCPU = seconds(field(tv, "User time (seconds)"))
	res.sysCPU = seconds(field(tv, "System time (seconds)"))
	res.maxRSSKiB, _ = strconv.ParseInt(field(tv, "Maximum resident set size (kbytes)"), 10, 64)

	b, err := os.ReadFile(out + ".json")
	if err != nil {
		return res, err
	}
	var rep struct {
		Evaluations  int            `json:"evaluations"`
		RangeQueries int            `json:"rangeQueries"`
		Totals       map[string]any `json:"totals"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return res, fmt.Errorf("the command's JSON report: %w", err)
	}
	res.reported, res.evaluations, res.totals = rep.RangeQueries, rep.Evaluations, rep.Totals
	return res, nil
}

func field(timeOutput, name string) string {
	for _, l := range strings.Split(timeOutput, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), name+": "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func seconds(s string) time.Duration {
	f, _ := strconv.ParseFloat(s, 64)
	return time.Duration(f * float64(time.Second))
}

// parseElapsed reads GNU time's h:mm:ss or m:ss.ss.
func parseElapsed(s string) time.Duration {
	var d time.Duration
	for _, p := range strings.Split(s, ":") {
		f, _ := strconv.ParseFloat(p, 64)
		d = d*60 + time.Duration(f*float64(time.Second))
	}
	return d
}

func (r *result) print(w io.Writer) {
	fmt.Fprintf(w, "\n%s, step %s: %d evaluations; wall %.1f s, user %.1f s, sys %.1f s, peak RSS %.1f MiB; Prometheus CPU %.1f s; range queries %d sent (%d reported), instant queries %d; load %s → %s\n",
		r.binary, r.step, r.evaluations, r.wall.Seconds(), r.userCPU.Seconds(), r.sysCPU.Seconds(), float64(r.maxRSSKiB)/1024, r.promCPU.Seconds(),
		r.ranges, r.reported, r.instants, r.loadBefore, r.loadEnd)
	var total time.Duration
	var bytes int64
	for _, q := range r.queryTimes {
		total += q.took
		bytes += q.bytes
	}
	fmt.Fprintf(w, "  range queries: %s summed (Prometheus evaluating and answering), %.1f MB answered\n", total.Round(time.Millisecond), float64(bytes)/1e6)
	for _, q := range r.queryTimes {
		fmt.Fprintf(w, "    +%6.2fs %6.2fs %7.1f MB  %s\n", q.start.Seconds(), q.took.Seconds(), float64(q.bytes)/1e6, q.what)
	}
	fmt.Fprintf(w, "  totals: %v\n", r.totals)
}

func printSummary(w io.Writer, o options, mf manifest, reused bool, volumes int, from time.Time, results []result) {
	host, _ := os.Hostname()
	fmt.Fprintf(w, "\n== kubectl couchestor backtest, %d volumes × %d days (%s to %s), samplingWindow %s\n", volumes, o.days,
		from.UTC().Format(time.RFC3339), mf.End.UTC().Format(time.RFC3339), o.window)
	fmt.Fprintf(w, "machine: %s, %d CPUs, %s; %s\n", host, runtime.NumCPU(), runtime.Version(), time.Now().UTC().Format(time.RFC3339))
	how := "generated and backfilled in this run"
	if reused {
		how = "reused (--reuse), generated on " + mf.Created.Format(time.RFC3339)
	}
	fmt.Fprintf(w, "history: %d samples every %s, %.2f GB of OpenMetrics generated in %s, backfilled by promtool (--max-block-duration=%s) in %s; %s\n",
		mf.Samples, mf.ScrapeInterval, float64(mf.TextBytes)/1e9, mf.Generate.Round(time.Second), mf.BlockDuration, mf.Backfill.Round(time.Second), how)
	fmt.Fprintf(w, "\n| binary | step | evaluations | wall | user + sys CPU | peak RSS | Prometheus CPU | range queries | load (1m, 5m, 15m) before |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range results {
		fmt.Fprintf(w, "| %s | %s | %d | %.1f s | %.1f + %.1f s | %.0f MiB | %.1f s | %d | %s |\n", r.binary, r.step, r.evaluations, r.wall.Seconds(),
			r.userCPU.Seconds(), r.sysCPU.Seconds(), float64(r.maxRSSKiB)/1024, r.promCPU.Seconds(), r.ranges, r.loadBefore)
	}
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// tail is the last 30 lines of s.
func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-30):], "\n")
}

// processCPU is a process's user + system CPU so far, from /proc/<pid>/stat (in clock ticks
// of 1/100 s, Linux's USER_HZ).
func processCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses and may hold spaces.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	user, _ := strconv.ParseInt(f[11], 10, 64)
	sys, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(user+sys) * 10 * time.Millisecond
}

//go:build linux

// Command scale is CoucheStor's scale harness. It brings up the sandbox once (a local
// kube-apiserver and etcd, the Mayastor simulator with a large scenario and a PersistentVolume
// per simulated volume, a real Prometheus scraping the simulator), and then runs each scenario in
// turn on it: the operator as a process of its own, behind loopback proxies that count its
// Mayastor and Prometheus requests, with the scenario's dry-run StoragePolicies; it waits until
// the policies watch their volumes with IOPS known, measures for --duration, stops the operator
// and removes the policies and TierMigrations before the next scenario.
//
// Scenarios (--policies, a comma-separated list): 1 is one policy selecting every volume; N > 1
// is N policies selecting 10,000/N volumes each (the PVs carry the label scale-group=g00…) plus
// one selecting every volume. --before-binary adds scenario 1 once more with another operator
// binary (e.g. one built from an older commit), in the same sandbox and conditions.
//
// Per scenario it measures the cycle (one observation plus the policy reconciles that follow
// it), the operator's memory (VmRSS, VmHWM, Go heap), Mayastor and Prometheus requests per
// cycle (by route), and CPU between cycles, and prints each figure beside its goal.
//
//	KUBEBUILDER_ASSETS=... COUCHESTOR_PROMETHEUS_DIR=... go run ./hack/scale [--policies 1,100] [--duration 3m]
//
// See docs/scale.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/sandbox"
)

type options struct {
	scenario        string
	policies        []int
	duration        time.Duration
	keep            bool
	workDir         string
	window          string
	scrapeInterval  time.Duration
	poll            time.Duration
	readyTimeout    time.Duration
	maxConcurrent   int
	pprof           bool
	logLevel        string
	moves           bool
	operatorBinary  string
	beforeBinary    string
	observeInterval time.Duration
	goMemLimit      string
	volumes         int
}

func main() {
	var o options
	var policies string
	flag.StringVar(&o.scenario, "volumes-scenario", "scale-10k", "simulator scenario: an embedded name or a YAML file")
	var volumes string
	flag.StringVar(&volumes, "volumes", "", "generate the scenario instead: scale-10k with every group's count scaled to this many volumes in all (e.g. 1000 or 100000); "+
		"several (1000,10000,100000): run the whole measurement at each size, one after another, and print the curve; empty: --volumes-scenario")
	flag.StringVar(&policies, "policies", "1,100", "scenarios to run, in order: 1 = one policy selecting every volume; N > 1 = N policies selecting 1/N of the volumes each (label scale-group) plus one selecting every volume")
	flag.DurationVar(&o.duration, "duration", 3*time.Minute, "measurement period of each scenario, after its policies watch their volumes and know their IOPS")
	flag.BoolVar(&o.keep, "keep", false, "leave everything running after the last scenario, until Ctrl-C")
	flag.StringVar(&o.workDir, "work-dir", filepath.Join("bin", "scale"), "kubeconfig, operator binary and logs, Prometheus data and profiles go here (emptied first)")
	flag.StringVar(&o.window, "sampling-window", "2m", "the policies' samplingWindow (IOPS are known once Prometheus holds 95% of it)")
	flag.DurationVar(&o.scrapeInterval, "scrape-interval", 15*time.Second, "Prometheus's scrape interval of the simulator's exporter")
	flag.DurationVar(&o.poll, "poll", 5*time.Second, "how often the operator's /metrics and /proc are read during the measurement")
	flag.DurationVar(&o.readyTimeout, "ready-timeout", 10*time.Minute, "longest wait, after the operator starts, for the policies to watch their volumes with IOPS known")
	flag.IntVar(&o.maxConcurrent, "max-concurrent-migrations", 10, "--max-concurrent-migrations of the operator and the policies' maxConcurrentMigrations")
	flag.BoolVar(&o.pprof, "pprof", false, "run the operator with --pprof-bind-address and save heap, allocation and CPU profiles; the profiler perturbs the figures")
	flag.StringVar(&o.logLevel, "operator-log-level", "debug", "the operator's --log-level; at debug the operator logs each observation and each policy decision with their durations, from which the cycle's wall time is read")
	flag.BoolVar(&o.moves, "moves", false, "give the policies the sample policy's watermarks (5000/500 IOPS), so that they plan thousands of dry-run migrations; "+
		"without it the watermarks are 1000000/1, the few volumes under 1 IOPS on NVMe are dry-run demoted first, and then nothing moves (steady state)")
	flag.StringVar(&o.operatorBinary, "operator-binary", "", "run this operator binary instead of building ./cmd/couchestor")
	flag.StringVar(&o.beforeBinary, "before-binary", "", "also run each scenario with this operator binary (e.g. built from an older commit), right after the operator under test; --observe-interval is not passed to it")
	flag.StringVar(&o.goMemLimit, "gomemlimit", "", "run the operator with GOMEMLIMIT set to this (e.g. 115MiB, what the chart sets for a 128Mi memory limit); empty: not set")
	flag.DurationVar(&o.observeInterval, "observe-interval", 0, "pass --observe-interval to the operator (0: not passed, the operator's default, 30s; an operator from before the observer has no such flag)")
	flag.Parse()
	var sizes []int
	for f := range strings.SplitSeq(volumes, ",") {
		if f = strings.TrimSpace(f); f == "" && volumes == "" {
			break
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "scale: --volumes: %q is not a positive number of volumes\n", f)
			os.Exit(2)
		}
		sizes = append(sizes, n)
	}
	for _, f := range strings.Split(policies, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "scale: --policies: %q is not a positive number\n", f)
			os.Exit(2)
		}
		o.policies = append(o.policies, n)
	}

	if len(sizes) < 2 {
		if len(sizes) == 1 {
			o.volumes = sizes[0]
		}
		_, code, err := run(o)
		exit(code, err)
	}
	// The curve: the whole measurement at each size, each in its own work directory.
	var points []curvePoint
	for _, n := range sizes {
		on := o
		on.volumes = n
		on.workDir = filepath.Join(o.workDir, strconv.Itoa(n))
		say("=== %d volumes (work dir %s) ===", n, on.workDir)
		reports, code, err := run(on)
		if err != nil {
			fmt.Fprintf(os.Stderr, "scale: %d volumes: %v\n", n, err)
		}
		for _, r := range reports {
			points = append(points, curvePoint{volumes: n, r: r})
		}
		if code != 0 {
			printCurve(os.Stdout, points)
			exit(code, err)
		}
	}
	printCurve(os.Stdout, points)
	exit(0, nil)
}

func exit(code int, err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "scale: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func say(format string, args ...any) {
	fmt.Printf("[scale %s] %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// shared is what every scenario runs on.
type shared struct {
	o                    options
	repoRoot, workDir    string
	kubeconfig           string
	st                   *sandbox.Stack
	msProxy, promProxy   *counter
	msURL, promURL       string
	volumes, unpublished int
	groups               int // PVs labelled scale-group=g00… in this many groups (0: not labelled)
	groupSize            map[string]int
	setup                setupFigures
}

type setupFigures struct {
	machine         string
	apiServerStart  time.Duration
	sandboxStart    time.Duration
	pvs, pvSeen     int
	pvCreate        time.Duration
	pvFirst, pvLast time.Duration
	labelTook       time.Duration
}

// run runs the scenarios on one simulated cluster and returns their reports and the exit code: 0,
// 1 for a setup failure, 3 if an operator died.
func run(o options) ([]*report, int, error) {
	for _, v := range []string{"KUBEBUILDER_ASSETS", "COUCHESTOR_PROMETHEUS_DIR"} {
		if os.Getenv(v) == "" {
			return nil, 1, fmt.Errorf("%s is not set (see docs/scale.md)", v)
		}
	}
	groups := 0
	for _, n := range o.policies {
		if n > 1 {
			if groups != 0 && groups != n {
				return nil, 1, fmt.Errorf("--policies: one group count per run (%d and %d asked for)", groups, n)
			}
			groups = n
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	nScenarios := len(o.policies)
	if o.beforeBinary != "" {
		nScenarios *= 2
	}
	// Bounded: setup (PV creation included), then per scenario the wait for IOPS, the
	// measurement and the teardown.
	ctx, cancel := context.WithTimeout(ctx, 20*time.Minute+time.Duration(nScenarios)*(o.readyTimeout+o.duration+2*time.Minute))
	defer cancel()

	_, file, _, _ := runtime.Caller(0)
	repoRoot, _ := filepath.Abs(filepath.Join(filepath.Dir(file), "..", ".."))
	workDir, err := filepath.Abs(o.workDir)
	if err != nil {
		return nil, 1, err
	}
	if err := os.RemoveAll(workDir); err != nil {
		return nil, 1, err
	}
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return nil, 1, err
	}
	if o.volumes > 0 {
		path, n, err := sandbox.ScaledScenario(workDir, o.volumes)
		if err != nil {
			return nil, 1, fmt.Errorf("--volumes %d: %w", o.volumes, err)
		}
		say("generated %s: %d volumes (scale-10k scaled)", path, n)
		o.scenario = path
	}
	sh := &shared{o: o, repoRoot: repoRoot, workDir: workDir, groups: groups}
	host, _ := os.Hostname()
	sh.setup.machine = fmt.Sprintf("%s, %d CPUs, %s/%s, %s", host, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())

	// 1. The operator binary, first, so the compiler does not compete with what is timed.
	bin := o.operatorBinary
	if bin == "" {
		pkg := "./cmd/couchestor"
		bin = filepath.Join(workDir, "couchestor")
		say("go build %s", pkg)
		t := time.Now()
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
		build.Dir, build.Stdout, build.Stderr = repoRoot, os.Stdout, os.Stderr
		if err := build.Run(); err != nil {
			return nil, 1, fmt.Errorf("go build %s: %w", pkg, err)
		}
		say("built in %s", time.Since(t).Round(time.Millisecond))
	}
	for _, b := range []string{bin, o.beforeBinary} {
		if b == "" {
			continue
		}
		if _, err := os.Stat(b); err != nil {
			return nil, 1, fmt.Errorf("operator binary: %w", err)
		}
	}

	// 2. The API server, started here rather than by the sandbox so that PV creation can be
	// watched and timed from the outside.
	say("starting kube-apiserver and etcd (envtest)")
	t := time.Now()
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(repoRoot, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	restCfg, err := env.Start()
	if err != nil {
		return nil, 1, fmt.Errorf("start the local API server: %w", err)
	}
	defer func() { _ = env.Stop() }()
	sh.setup.apiServerStart = time.Since(t)
	user, err := env.AddUser(envtest.User{Name: "scale-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, 1, err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return nil, 1, err
	}
	sh.kubeconfig = filepath.Join(workDir, "kubeconfig")
	if err := os.WriteFile(sh.kubeconfig, kc, 0o600); err != nil {
		return nil, 1, err
	}
	cs := kubernetes.NewForConfigOrDie(restCfg)
	pvw, err := watchPVCreation(ctx, cs)
	if err != nil {
		return nil, 1, err
	}

	// 3. The sandbox on that API server: simulator, a PV per simulated volume, Prometheus.
	say("starting the sandbox: scenario %s, Prometheus scraping every %s", o.scenario, o.scrapeInterval)
	t = time.Now()
	st, err := sandbox.Start(ctx, sandbox.Options{
		RepoRoot: repoRoot, WorkDir: workDir, Scenario: o.scenario, ScrapeInterval: o.scrapeInterval,
		RESTConfig: restCfg,
	})
	if err != nil {
		return nil, 1, fmt.Errorf("sandbox: %w", err)
	}
	// Not st.Stop(): on a borrowed API server it deletes every PV, one by one; env.Stop() ends
	// the API server and its etcd instead.
	defer st.StopPrometheus()
	sh.st = st
	sh.setup.sandboxStart = time.Since(t)
	sh.setup.pvs = len(st.PersistentVolumes)
	first, last, n := pvw.result()
	sh.setup.pvFirst, sh.setup.pvLast, sh.setup.pvSeen = first.Sub(t), last.Sub(t), n
	sh.setup.pvCreate = last.Sub(first)
	say("sandbox up in %s: %d PVs created in %s (first at +%s, last at +%s); simulator %s, Prometheus %s",
		sh.setup.sandboxStart.Round(time.Millisecond), sh.setup.pvs, sh.setup.pvCreate.Round(time.Millisecond),
		sh.setup.pvFirst.Round(time.Millisecond), sh.setup.pvLast.Round(time.Millisecond), st.SimURL, st.PrometheusURL)

	mc, err := mayastor.New(mayastor.Config{BaseURL: st.SimURL})
	if err != nil {
		return nil, 1, err
	}
	vols, err := mc.ListAllVolumes(ctx)
	if err != nil {
		return nil, 1, err
	}
	for _, v := range vols {
		if v.State.Target == nil {
			sh.unpublished++
		}
	}
	sh.volumes = len(vols)

	// 4. Group labels for the scenarios with many policies, before any operator runs.
	if groups > 0 {
		t = time.Now()
		say("labelling %d PVs scale-group=g00…g%02d", len(st.PersistentVolumes), groups-1)
		if sh.groupSize, err = labelGroups(ctx, cs, st.PersistentVolumes, groups); err != nil {
			return nil, 1, err
		}
		sh.setup.labelTook = time.Since(t)
		say("labelled in %s", sh.setup.labelTook.Round(time.Millisecond))
	}

	// 5. Loopback proxies count and time the operator's Mayastor and Prometheus requests.
	if sh.msProxy, err = newCounter("mayastor", st.SimURL); err != nil {
		return nil, 1, err
	}
	if sh.promProxy, err = newCounter("prometheus", st.PrometheusURL); err != nil {
		return nil, 1, err
	}
	if sh.msURL, err = serveLoopback(sh.msProxy); err != nil {
		return nil, 1, err
	}
	if sh.promURL, err = serveLoopback(sh.promProxy); err != nil {
		return nil, 1, err
	}

	// 6. The scenarios, one after another.
	var scs []scenario
	for _, n := range o.policies {
		scs = append(scs, scenario{policies: n, binary: bin, label: "after", observeInterval: o.observeInterval})
		if o.beforeBinary != "" {
			scs = append(scs, scenario{policies: n, binary: o.beforeBinary, label: "before"})
		}
	}
	var reports []*report
	code := 0
	for i := range scs {
		sc := &scs[i]
		sc.name = fmt.Sprintf("%d-%s-%dpolicies", i+1, sc.label, sc.policies)
		rep, c, err := sh.runScenario(ctx, sc)
		if rep != nil {
			reports = append(reports, rep)
		}
		if err != nil {
			say("scenario %s: %v", sc.name, err)
			code = max(code, c)
			if ctx.Err() != nil {
				break
			}
		}
	}
	printSetup(os.Stdout, sh)
	for _, r := range reports {
		r.print(os.Stdout)
	}
	printSummary(os.Stdout, reports)
	if o.keep {
		say("--keep: kubeconfig %s; simulator %s; Prometheus %s. Ctrl-C to stop.", sh.kubeconfig, st.SimURL, st.PrometheusURL)
		<-ctx.Done()
	}
	say("tearing down")
	if code != 0 {
		return reports, code, errors.New("a scenario failed (see above)")
	}
	return reports, 0, nil
}

// pvWatch records when PersistentVolumes are created, from a watch opened before the sandbox
// starts creating them.
type pvWatch struct {
	done        chan struct{}
	mu          sync.Mutex
	first, last time.Time
	n           int
}

func watchPVCreation(ctx context.Context, cs kubernetes.Interface) (*pvWatch, error) {
	w, err := cs.CoreV1().PersistentVolumes().Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("watch PersistentVolumes: %w", err)
	}
	pw := &pvWatch{done: make(chan struct{})}
	go func() {
		defer close(pw.done)
		defer w.Stop()
		for ev := range w.ResultChan() {
			if ev.Type != watch.Added {
				continue
			}
			if _, ok := ev.Object.(*corev1.PersistentVolume); !ok {
				continue
			}
			now := time.Now()
			pw.mu.Lock()
			if pw.n == 0 {
				pw.first = now
			}
			pw.last = now
			pw.n++
			pw.mu.Unlock()
		}
	}()
	go func() {
		<-ctx.Done()
		w.Stop()
	}()
	return pw, nil
}

// result waits a moment for the last events to arrive, then stops the watch.
func (pw *pvWatch) result() (first, last time.Time, n int) {
	time.Sleep(time.Second)
	pw.mu.Lock()
	defer pw.mu.Unlock()
	return pw.first, pw.last, pw.n
}

func serveLoopback(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

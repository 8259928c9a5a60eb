//go:build linux

// Command scale is CoucheStor's scale harness. It brings up the sandbox (a local kube-apiserver
// and etcd, the Mayastor simulator with a large scenario and a PersistentVolume per simulated
// volume, a real Prometheus scraping the simulator), builds cmd/couchestor and runs it as a
// process of its own, creates one dry-run StoragePolicy over every volume, waits until the
// policy watches every volume and knows their IOPS, and then measures for --duration: reconcile
// time (the operator's histogram, and each reconcile exactly when the harness sees them one at a
// time), Prometheus and Mayastor requests per reconcile (counted by loopback proxies in front of
// both), the operator's memory (VmRSS, VmHWM, Go heap) and CPU (utime+stime, between reconciles
// and per reconcile). It prints the figures beside the datasheet's and the design goals, and
// exits non-zero if the operator died or the setup failed.
//
//	KUBEBUILDER_ASSETS=... COUCHESTOR_PROMETHEUS_DIR=... go run ./hack/scale [--duration 3m]
//
// See docs/scale.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/sandbox"
)

type options struct {
	scenario       string
	duration       time.Duration
	keep           bool
	workDir        string
	window         string
	scrapeInterval time.Duration
	poll           time.Duration
	readyTimeout   time.Duration
	maxConcurrent  int
	pprof          bool
	logLevel       string
	moves          bool
}

func main() {
	var o options
	flag.StringVar(&o.scenario, "volumes-scenario", "scale-10k", "simulator scenario: an embedded name or a YAML file")
	flag.DurationVar(&o.duration, "duration", 3*time.Minute, "measurement period, after the policy watches every volume and knows their IOPS")
	flag.BoolVar(&o.keep, "keep", false, "leave everything running after the measurement, until Ctrl-C")
	flag.StringVar(&o.workDir, "work-dir", filepath.Join("bin", "scale"), "kubeconfig, operator binary and log, Prometheus data and profiles go here (emptied first)")
	flag.StringVar(&o.window, "sampling-window", "2m", "the policy's samplingWindow (IOPS are known once Prometheus holds 95% of it)")
	flag.DurationVar(&o.scrapeInterval, "scrape-interval", 15*time.Second, "Prometheus's scrape interval of the simulator's exporter")
	flag.DurationVar(&o.poll, "poll", 5*time.Second, "how often the operator's /metrics and /proc are read during the measurement")
	flag.DurationVar(&o.readyTimeout, "ready-timeout", 10*time.Minute, "longest wait, after the operator starts, for the policy to watch every volume with IOPS known")
	flag.IntVar(&o.maxConcurrent, "max-concurrent-migrations", 10, "--max-concurrent-migrations of the operator and the policy's maxConcurrentMigrations")
	flag.BoolVar(&o.pprof, "pprof", false, "run the operator with --pprof-bind-address and save heap, allocation and CPU profiles; the profiler perturbs the figures")
	flag.StringVar(&o.logLevel, "operator-log-level", "info", "the operator's --log-level")
	flag.BoolVar(&o.moves, "moves", false, "give the policy the datasheet's watermarks (5000/500 IOPS), so that it plans thousands of dry-run migrations and reconciles again on each; "+
		"without it the watermarks are 1000000/1, the few volumes under 1 IOPS on NVMe are dry-run demoted first, and then nothing moves and the policy reconciles every 30 s (steady state)")
	flag.Parse()

	code, err := run(o)
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

// run returns the exit code: 0, 1 for a setup failure, 3 if the operator died.
func run(o options) (int, error) {
	for _, v := range []string{"KUBEBUILDER_ASSETS", "COUCHESTOR_PROMETHEUS_DIR"} {
		if os.Getenv(v) == "" {
			return 1, fmt.Errorf("%s is not set (see docs/scale.md)", v)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Bounded: setup (PV creation included) and the wait for IOPS, the measurement, teardown.
	ctx, cancel := context.WithTimeout(ctx, 20*time.Minute+o.readyTimeout+o.duration)
	defer cancel()

	_, file, _, _ := runtime.Caller(0)
	repoRoot, _ := filepath.Abs(filepath.Join(filepath.Dir(file), "..", ".."))
	workDir, err := filepath.Abs(o.workDir)
	if err != nil {
		return 1, err
	}
	if err := os.RemoveAll(workDir); err != nil {
		return 1, err
	}
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return 1, err
	}
	rep := &report{opts: o, started: time.Now().UTC(), loadStart: loadAvg()}
	host, _ := os.Hostname()
	rep.machine = fmt.Sprintf("%s, %d CPUs, %s/%s, %s", host, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())

	// 1. The operator binary, first, so the compiler does not compete with what is timed.
	pkg, bin := "./cmd/couchestor", filepath.Join(workDir, "couchestor")
	say("go build %s", pkg)
	t := time.Now()
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	build.Dir, build.Stdout, build.Stderr = repoRoot, os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		return 1, fmt.Errorf("go build %s: %w", pkg, err)
	}
	say("built in %s", time.Since(t).Round(time.Millisecond))

	// 2. The API server, started here rather than by the sandbox so that PV creation can be
	// watched and timed from the outside.
	say("starting kube-apiserver and etcd (envtest)")
	t = time.Now()
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(repoRoot, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	restCfg, err := env.Start()
	if err != nil {
		return 1, fmt.Errorf("start the local API server: %w", err)
	}
	defer func() { _ = env.Stop() }()
	rep.apiServerStart = time.Since(t)
	user, err := env.AddUser(envtest.User{Name: "scale-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return 1, err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return 1, err
	}
	kubeconfig := filepath.Join(workDir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		return 1, err
	}

	pvw, err := watchPVCreation(ctx, kubernetes.NewForConfigOrDie(restCfg))
	if err != nil {
		return 1, err
	}

	// 3. The sandbox on that API server: simulator, a PV per simulated volume, Prometheus.
	say("starting the sandbox: scenario %s, Prometheus scraping every %s", o.scenario, o.scrapeInterval)
	t = time.Now()
	st, err := sandbox.Start(ctx, sandbox.Options{
		RepoRoot: repoRoot, WorkDir: workDir, Scenario: o.scenario, ScrapeInterval: o.scrapeInterval,
		RESTConfig: restCfg,
	})
	if err != nil {
		return 1, fmt.Errorf("sandbox: %w", err)
	}
	// Not st.Stop(): on a borrowed API server it deletes every PV, one by one; env.Stop() ends
	// the API server and its etcd instead.
	defer st.StopPrometheus()
	rep.sandboxStart = time.Since(t)
	rep.pvs = len(st.PersistentVolumes)
	first, last, n := pvw.result()
	rep.pvFirst, rep.pvLast, rep.pvSeen = first.Sub(t), last.Sub(t), n
	rep.pvCreate = last.Sub(first)
	say("sandbox up in %s: %d PVs created in %s (first at +%s, last at +%s); simulator %s, Prometheus %s",
		rep.sandboxStart.Round(time.Millisecond), rep.pvs, rep.pvCreate.Round(time.Millisecond),
		rep.pvFirst.Round(time.Millisecond), rep.pvLast.Round(time.Millisecond), st.SimURL, st.PrometheusURL)

	mc, err := mayastor.New(mayastor.Config{BaseURL: st.SimURL})
	if err != nil {
		return 1, err
	}
	vols, err := mc.ListAllVolumes(ctx)
	if err != nil {
		return 1, err
	}
	for _, v := range vols {
		if v.State.Target == nil {
			rep.unpublished++
		}
	}
	rep.volumes = len(vols)

	// 4. Loopback proxies count and time the operator's Mayastor and Prometheus requests.
	msProxy, err := newCounter("mayastor", st.SimURL)
	if err != nil {
		return 1, err
	}
	promProxy, err := newCounter("prometheus", st.PrometheusURL)
	if err != nil {
		return 1, err
	}
	msURL, err := serveLoopback(msProxy)
	if err != nil {
		return 1, err
	}
	promURL, err := serveLoopback(promProxy)
	if err != nil {
		return 1, err
	}

	// 5. The operator, a process of its own.
	metricsAddr, err := freeAddr()
	if err != nil {
		return 1, err
	}
	healthAddr, err := freeAddr()
	if err != nil {
		return 1, err
	}
	pprofAddr := ""
	if o.pprof {
		if pprofAddr, err = freeAddr(); err != nil {
			return 1, err
		}
	}
	logPath := filepath.Join(workDir, "operator.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return 1, err
	}
	defer logf.Close()
	args := []string{
		"--kubeconfig=" + kubeconfig, "--prometheus-url=" + promURL, "--mayastor-url=" + msURL,
		"--metrics-bind-address=" + metricsAddr, "--metrics-secure=false", "--health-probe-bind-address=" + healthAddr,
		fmt.Sprintf("--max-concurrent-migrations=%d", o.maxConcurrent), "--log-level=" + o.logLevel,
	}
	if pprofAddr != "" {
		args = append(args, "--pprof-bind-address="+pprofAddr)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "GODEBUG=gctrace=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	rep.operatorCmd = bin + " " + strings.Join(args, " ")
	say("starting the operator: %s", rep.operatorCmd)
	if err := cmd.Start(); err != nil {
		return 1, fmt.Errorf("start the operator: %w", err)
	}
	opStart := time.Now()
	pid := cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	died := func() error {
		select {
		case err := <-exited:
			if err == nil {
				err = errors.New("exited with status 0")
			}
			exited <- err // keep it for the next caller
			return fmt.Errorf("the operator (pid %d) died: %v; see %s", pid, err, logPath)
		default:
			return nil
		}
	}
	defer func() {
		if died() == nil {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(15 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
		}
	}()
	metricsURL := "http://" + metricsAddr + "/metrics"

	// 6. One dry-run policy over every volume.
	policy := scalePolicy(o)
	if err := st.Client.Create(ctx, policy); err != nil {
		return 1, fmt.Errorf("create the StoragePolicy: %w", err)
	}
	say("StoragePolicy %q created: dryRun, watermarks %d/%d IOPS, samplingWindow %s, pools tier=hot / tier=cold, maxConcurrentMigrations %d",
		policy.Name, policy.Spec.HighWatermarkIOPS, policy.Spec.LowWatermarkIOPS, o.window, o.maxConcurrent)

	// 7. Wait until it watches every volume and knows the IOPS of every published one.
	say("waiting for volumesWatched=%d and IOPS known (unknownVolumes ≤ %d unpublished)%s; Prometheus needs 95%% of the %s window",
		rep.pvs, rep.unpublished, map[bool]string{false: " and no migration active or planned", true: ""}[o.moves], o.window)
	deadline := time.Now().Add(o.readyTimeout)
	var lastMsg string
	for {
		if err := died(); err != nil {
			return 3, err
		}
		var p storagev1.StoragePolicy
		if err := st.Client.Get(ctx, types.NamespacedName{Name: policy.Name}, &p); err != nil {
			return 1, err
		}
		s := p.Status
		msg := fmt.Sprintf("watched %d, NVMe %d, SATA %d, unknown %d, active %d, planned %d", s.VolumesWatched, s.NVMeVolumes,
			s.SATAVolumes, s.UnknownVolumes, s.ActiveMigrations, s.PlannedMigrations)
		if c := meta.FindStatusCondition(s.Conditions, storagev1.ConditionReady); c != nil {
			msg += fmt.Sprintf("; Ready=%s %s", c.Status, c.Reason)
		}
		if msg != lastMsg {
			say("policy: %s", msg)
			lastMsg = msg
		}
		if rep.firstWatched == 0 && int(s.VolumesWatched) == rep.pvs {
			rep.firstWatched = time.Since(opStart)
		}
		quiet := o.moves || (s.ActiveMigrations == 0 && s.PlannedMigrations == 0)
		if int(s.VolumesWatched) == rep.pvs && int(s.UnknownVolumes) <= rep.unpublished && s.LastReconcileTime != nil && quiet {
			rep.iopsKnown = time.Since(opStart)
			rep.statusAtReady = s
			break
		}
		if time.Now().After(deadline) {
			return 1, fmt.Errorf("the policy did not reach volumesWatched=%d with IOPS known within %s (last: %s)", rep.pvs, o.readyTimeout, msg)
		}
		select {
		case <-ctx.Done():
			return 1, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
	say("ready %s after the operator started; measuring for %s", rep.iopsKnown.Round(time.Second), o.duration)

	// 8. Measure.
	m := &measurer{pid: pid, metricsURL: metricsURL, logPath: logPath, ms: msProxy, prom: promProxy, promURL: st.PrometheusURL, client: st.Client}
	if o.pprof {
		m.pprofURL = "http://" + pprofAddr
		m.profDir = workDir
	}
	if err := m.measure(ctx, o.duration, o.poll, died); err != nil {
		rep.fill(m)
		rep.print(os.Stdout)
		if died() != nil {
			return 3, died()
		}
		return 1, err
	}
	rep.loadEnd = loadAvg()
	rep.fill(m)
	rep.print(os.Stdout)
	if m.profiles != "" {
		fmt.Println(m.profiles)
	}
	if err := died(); err != nil {
		return 3, err
	}

	if o.keep {
		say("--keep: kubeconfig %s; simulator %s; Prometheus %s; operator pid %d, metrics %s, log %s. Ctrl-C to stop.",
			kubeconfig, st.SimURL, st.PrometheusURL, pid, metricsURL, logPath)
		select {
		case <-ctx.Done():
		case <-exited:
			exited <- errors.New("exited")
		}
	}
	say("tearing down")
	return 0, nil
}

func (o options) pkg() string {
	if o.pprof {
		return "cmd/couchestor with --pprof-bind-address"
	}
	return "cmd/couchestor"
}

func scalePolicy(o options) *storagev1.StoragePolicy {
	enabled := true
	// Steady state: every volume but the few doing under 1 IOPS on NVMe is between the
	// watermarks. (0 cannot be asked for: the field is omitempty and the CRD defaults it to 500.)
	high, low := int64(1_000_000), int64(1)
	if o.moves {
		high, low = 5000, 500 // the datasheet's example
	}
	return &storagev1.StoragePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "scale"},
		Spec: storagev1.StoragePolicySpec{
			HighWatermarkIOPS: high, LowWatermarkIOPS: low, SamplingWindow: o.window, CooldownPeriod: "24h",
			StorageClassName:        "mayastor",
			NVMePoolSelector:        metav1.LabelSelector{MatchLabels: map[string]string{"tier": "hot"}},
			SATAPoolSelector:        metav1.LabelSelector{MatchLabels: map[string]string{"tier": "cold"}},
			MaxConcurrentMigrations: int32(o.maxConcurrent), MigrationTimeout: "30m", Enabled: &enabled,
			DryRun: true,
		},
	}
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

// report gathers everything printed at the end.
type report struct {
	opts                  options
	started               time.Time
	machine               string
	loadStart, loadEnd    string
	apiServerStart        time.Duration
	sandboxStart          time.Duration
	pvs, pvSeen           int
	pvCreate              time.Duration
	pvFirst, pvLast       time.Duration
	volumes, unpublished  int
	operatorCmd           string
	firstWatched          time.Duration
	iopsKnown             time.Duration
	statusAtReady         storagev1.StoragePolicyStatus
	m                     *measurer
	ms, prom              counts
	promLat               []float64
	msLat                 []float64
	reconciles            float64
	meanRSS, maxRSS, hwm  uint64
	idleMilli             float64
	idleMilliNoScrape     float64
	avgMilli              float64
	cpuPerReconcile       float64
	scrapeCPUPerScrape    float64
	idleIntervals         int
	reconcileHist         hist
	exact                 []float64
	heapInuse, heapAlloc  float64
	goSys, processRSS     float64
	gc                    gcTrace
	tmBefore, tmAfter     int
	apiRequests           float64
	promServerQueries     float64
	promServerSeconds     float64
	scrapeDur, scrapeSamp float64
}

func (r *report) fill(m *measurer) {
	r.m = m
	if len(m.samples) < 2 {
		return
	}
	a, b := m.samples[0], m.samples[len(m.samples)-1]
	r.reconcileHist = b.recon.minus(a.recon)
	r.reconciles = r.reconcileHist.count
	r.exact = m.exact
	r.ms = m.msEnd.minus(m.msStart)
	r.prom = m.promEnd.minus(m.promStart)
	r.msLat = m.ms.latencies(m.msStart)
	r.promLat = m.prom.latencies(m.promStart)
	var sum uint64
	for _, s := range m.samples {
		sum += s.rss
		r.maxRSS = max(r.maxRSS, s.rss)
	}
	r.meanRSS = sum / uint64(len(m.samples))
	r.hwm = b.hwm
	r.heapInuse = b.fam.value("go_memstats_heap_inuse_bytes", nil)
	r.heapAlloc = b.fam.value("go_memstats_heap_alloc_bytes", nil)
	r.goSys = b.fam.value("go_memstats_sys_bytes", nil)
	r.processRSS = b.fam.value("process_resident_memory_bytes", nil)
	r.apiRequests = b.fam.value("rest_client_requests_total", nil) - a.fam.value("rest_client_requests_total", nil)

	// CPU. Interval i runs from sample i-1 to sample i and holds one harness scrape of
	// /metrics (the one at sample i-1). It is idle when no reconcile ended in it or in the
	// intervals either side (a reconcile can start in the interval before the one it ends in,
	// and its garbage is collected after it), and the operator had no Mayastor or Prometheus
	// request in flight during it.
	ended := func(i int) bool {
		if i < 1 || i >= len(m.samples) {
			return true // unknown: count as busy
		}
		return m.samples[i].recon.count != m.samples[i-1].recon.count
	}
	var idleCPU, idleSecs, scrapeCPU float64
	for i := 1; i < len(m.samples); i++ {
		p, s := m.samples[i-1], m.samples[i]
		dt := s.t.Sub(p.t).Seconds()
		cpu := s.cpuBefore - p.cpuBefore
		scrapeCPU += p.cpuAfter - p.cpuBefore
		if ended(i-1) || ended(i) || ended(i+1) || m.ms.busy(p.t, s.t) || m.prom.busy(p.t, s.t) {
			continue
		}
		idleCPU += cpu
		idleSecs += dt
		r.idleIntervals++
	}
	total := b.cpuBefore - a.cpuBefore
	span := b.t.Sub(a.t).Seconds()
	r.avgMilli = 1000 * total / span
	nScrapes := float64(len(m.samples) - 1)
	r.scrapeCPUPerScrape = scrapeCPU / nScrapes
	if idleSecs > 0 {
		r.idleMilli = 1000 * idleCPU / idleSecs
		// Each idle interval holds one harness scrape; take its mean cost off.
		r.idleMilliNoScrape = math.Max(0, 1000*(idleCPU-r.scrapeCPUPerScrape*float64(r.idleIntervals))/idleSecs)
	} else {
		r.idleMilli, r.idleMilliNoScrape = math.NaN(), math.NaN()
	}
	if r.reconciles > 0 {
		idleRate := 0.0
		if idleSecs > 0 {
			idleRate = idleCPU / idleSecs
		}
		r.cpuPerReconcile = (total - idleRate*span) / r.reconciles
	}
	r.gc = m.gc
	r.tmBefore, r.tmAfter = m.tmBefore, m.tmAfter
	r.promServerQueries = m.promServerQueries
	r.promServerSeconds = m.promServerSeconds
	r.scrapeDur, r.scrapeSamp = m.scrapeDur, m.scrapeSamples
}

func ms(s float64) string {
	if math.IsNaN(s) {
		return "n/a"
	}
	return fmt.Sprintf("%.1f ms", s*1000)
}

func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }

func (r *report) print(out *os.File) {
	fmt.Fprintf(out, "\n=== CoucheStor scale harness: %s ===\n", r.started.Format(time.RFC3339))
	fmt.Fprintf(out, "machine: %s; load average %s (start) → %s (end)\n", r.machine, r.loadStart, r.loadEnd)
	mode := "steady state (watermarks 1000000/1: nothing left to move)"
	if r.opts.moves {
		mode = "--moves (watermarks 5000/500, dry-run TierMigrations)"
	}
	fmt.Fprintf(out, "policy: %s; operator %s\n", mode, r.opts.pkg())
	fmt.Fprintf(out, "scenario %s: %d Mayastor volumes (%d unpublished, no series), %d PVs; Prometheus scrape every %s; samplingWindow %s\n",
		r.opts.scenario, r.volumes, r.unpublished, r.pvs, r.opts.scrapeInterval, r.opts.window)
	fmt.Fprintf(out, "setup: kube-apiserver+etcd %s; sandbox.Start %s, of which PV creation %s (%d PVs, %.0f/s; first PV at +%s)\n",
		r.apiServerStart.Round(time.Millisecond), r.sandboxStart.Round(time.Millisecond), r.pvCreate.Round(time.Millisecond),
		r.pvSeen, float64(r.pvSeen)/math.Max(r.pvCreate.Seconds(), 1e-9), r.pvFirst.Round(time.Millisecond))
	fmt.Fprintf(out, "operator: volumesWatched=%d %s after start; IOPS known %s after start (Prometheus coverage)\n",
		r.pvs, r.firstWatched.Round(time.Second), r.iopsKnown.Round(time.Second))
	s := r.statusAtReady
	fmt.Fprintf(out, "status at ready: watched %d, NVMe %d, SATA %d, unknown %d, active %d, planned %d\n",
		s.VolumesWatched, s.NVMeVolumes, s.SATAVolumes, s.UnknownVolumes, s.ActiveMigrations, s.PlannedMigrations)
	if r.m == nil || len(r.m.samples) < 2 {
		fmt.Fprintln(out, "no measurement")
		return
	}
	span := r.m.samples[len(r.m.samples)-1].t.Sub(r.m.samples[0].t)
	rec := r.reconciles
	per := func(n float64) string {
		if rec == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.1f", n/rec)
	}
	fmt.Fprintf(out, "measured for %s: %.0f StoragePolicy reconciles (%d seen one at a time, timed exactly); %d idle intervals of %s\n\n",
		span.Round(time.Second), rec, len(r.exact), r.idleIntervals, r.opts.poll)

	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "FIGURE\tMEASURED (10k)\tDATASHEET\tDESIGN GOAL")
	h := r.reconcileHist
	mean := math.NaN()
	if h.count > 0 {
		mean = h.sum / h.count
	}
	fmt.Fprintf(w, "reconcile time, mean (histogram)\t%s\t< 30 s for 100 volumes\t< 1 s for 10,000 volumes\n", ms(mean))
	fmt.Fprintf(w, "reconcile time, p50 / p99 (buckets)\t%s / %s\t\t\n", ms(h.quantile(0.5)), ms(h.quantile(0.99)))
	fmt.Fprintf(w, "reconcile time, exact min / median / max\t%s / %s / %s\t\t\n", ms(exactQuantile(r.exact, 0)), ms(exactQuantile(r.exact, 0.5)), ms(exactQuantile(r.exact, 1)))
	fmt.Fprintf(w, "Prometheus requests per reconcile\t%s (%s)\t\tone or two per policy, independent of volumes\n", per(float64(r.prom.total)), r.prom)
	fmt.Fprintf(w, "Prometheus query latency, median / max (via proxy)\t%s / %s\t< 5 s\t\n", ms(exactQuantile(r.promLat, 0.5)), ms(exactQuantile(r.promLat, 1)))
	if r.promServerQueries > 0 {
		fmt.Fprintf(w, "Prometheus /api/v1/query, server-side mean\t%s over %.0f queries\t\t\n", ms(r.promServerSeconds/r.promServerQueries), r.promServerQueries)
	}
	fmt.Fprintf(w, "Prometheus response bytes per reconcile\t%s MB\t\t\n", per(float64(r.prom.bytes)/1e6))
	fmt.Fprintf(w, "Mayastor requests per reconcile\t%s (%s)\t\t~20 volume pages of 500 + pools\n", per(float64(r.ms.total)), r.ms)
	fmt.Fprintf(w, "Mayastor request latency, median / max (via proxy)\t%s / %s\t\t\n", ms(exactQuantile(r.msLat, 0.5)), ms(exactQuantile(r.msLat, 1)))
	fmt.Fprintf(w, "Mayastor response bytes per reconcile\t%s MB\t\t\n", per(float64(r.ms.bytes)/1e6))
	fmt.Fprintf(w, "API server requests per reconcile (rest_client_requests_total)\t%s\t\t\n", per(r.apiRequests))
	fmt.Fprintf(w, "memory: VmRSS mean / max during measurement\t%s / %s\t~50 MB at 100 volumes\t≤ 64 MiB RSS at 10,000 volumes\n", mib(float64(r.meanRSS)), mib(float64(r.maxRSS)))
	fmt.Fprintf(w, "memory: VmHWM (peak since start)\t%s\t\t\n", mib(float64(r.hwm)))
	fmt.Fprintf(w, "Go heap in use / alloc / runtime sys (end)\t%s / %s / %s\t\t\n", mib(r.heapInuse), mib(r.heapAlloc), mib(r.goSys))
	fmt.Fprintf(w, "GC cycles during measurement, live heap max / last (gctrace)\t%d, %.0f MB / %.0f MB (goal %.0f MB)\t\t\n", r.gc.cycles, r.gc.maxLiveMB, r.gc.lastLiveMB, r.gc.lastGoalMB)
	if r.idleIntervals > 0 {
		fmt.Fprintf(w, "CPU idle between reconciles\t%.2fm (%.2fm less the harness's /metrics reads)\t< 10m\t< 5m\n", r.idleMilli, r.idleMilliNoScrape)
	} else {
		fmt.Fprintf(w, "CPU idle between reconciles\tn/a: no %s interval without a reconcile\t< 10m\t< 5m\n", r.opts.poll)
	}
	fmt.Fprintf(w, "CPU average over the measurement\t%.1fm\t\t\n", r.avgMilli)
	fmt.Fprintf(w, "CPU per reconcile\t%.0f ms CPU\t\t\n", r.cpuPerReconcile*1000)
	fmt.Fprintf(w, "CPU per harness /metrics read\t%.1f ms\t\t\n", r.scrapeCPUPerScrape*1000)
	fmt.Fprintf(w, "TierMigrations (dry run): before / after measurement\t%d / %d\t\t\n", r.tmBefore, r.tmAfter)
	if r.scrapeDur > 0 {
		fmt.Fprintf(w, "context: Prometheus scrape of the simulator\t%s, %.0f samples\t\t\n", ms(r.scrapeDur), r.scrapeSamp)
	}
	_ = w.Flush()
	fmt.Fprintln(out)
}

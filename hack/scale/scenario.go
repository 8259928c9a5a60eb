//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

// groupLabel is the PV label the group policies select on.
const groupLabel = "scale-group"

// scenario is one operator run: a binary and a number of policies.
type scenario struct {
	name            string
	label           string // "after" (the operator under test) or "before" (--before-binary)
	policies        int
	binary          string
	observeInterval time.Duration
}

func groupName(i int) string { return fmt.Sprintf("g%02d", i) }

// labelGroups gives PV i the label scale-group=g<i mod groups>, with a few concurrent writers.
func labelGroups(ctx context.Context, cs kubernetes.Interface, pvs []string, groups int) (map[string]int, error) {
	size := map[string]int{}
	for i := range pvs {
		size[groupName(i%groups)]++
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	work := make(chan int)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, groupLabel, groupName(i%groups))
				if _, err := cs.CoreV1().PersistentVolumes().Patch(ctx, pvs[i], types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("label PV %s: %w", pvs[i], err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := range pvs {
		if ctx.Err() != nil {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	return size, firstErr
}

// policiesFor builds a scenario's policies: "scale" over every volume, and for N > 1 also
// "scale-g00"… each selecting one group.
func (sh *shared) policiesFor(sc *scenario) []*storagev1.StoragePolicy {
	out := []*storagev1.StoragePolicy{scalePolicy(sh.o, "scale", nil)}
	if sc.policies > 1 {
		for g := 0; g < sc.policies; g++ {
			sel := &metav1.LabelSelector{MatchLabels: map[string]string{groupLabel: groupName(g)}}
			out = append(out, scalePolicy(sh.o, "scale-"+groupName(g), sel))
		}
	}
	return out
}

func scalePolicy(o options, name string, volumes *metav1.LabelSelector) *storagev1.StoragePolicy {
	enabled := true
	// Steady state: every volume but the few doing under 1 IOPS on NVMe is between the
	// watermarks. (0 cannot be asked for: the field is omitempty and the CRD defaults it to 500.)
	high, low := int64(1_000_000), int64(1)
	if o.moves {
		high, low = 5000, 500 // the sample policy's (config/samples)
	}
	return &storagev1.StoragePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: storagev1.StoragePolicySpec{
			HighWatermarkIOPS: high, LowWatermarkIOPS: low, SamplingWindow: o.window, CooldownPeriod: "24h",
			StorageClassName:        "mayastor",
			VolumeSelector:          volumes,
			NVMePoolSelector:        metav1.LabelSelector{MatchLabels: map[string]string{"tier": "hot"}},
			SATAPoolSelector:        metav1.LabelSelector{MatchLabels: map[string]string{"tier": "cold"}},
			MaxConcurrentMigrations: int32(o.maxConcurrent), MigrationTimeout: "30m", Enabled: &enabled,
			DryRun: true,
		},
	}
}

// runScenario starts the operator, creates the policies, waits for them, measures, stops the
// operator and removes the policies and TierMigrations. The exit code is 1 for a setup failure,
// 3 if the operator died.
func (sh *shared) runScenario(ctx context.Context, sc *scenario) (*report, int, error) {
	o := sh.o
	dir := filepath.Join(sh.workDir, sc.name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, 1, err
	}
	policies := sh.policiesFor(sc)
	rep := &report{opts: o, sc: *sc, started: time.Now().UTC(), loadStart: loadAvg(), nPolicies: len(policies),
		volumes: sh.volumes, unpublished: sh.unpublished, pvs: sh.setup.pvs}
	say("=== scenario %s: %d StoragePolicies, operator %s", sc.name, len(policies), sc.binary)

	metricsAddr, err := freeAddr()
	if err != nil {
		return nil, 1, err
	}
	healthAddr, err := freeAddr()
	if err != nil {
		return nil, 1, err
	}
	pprofAddr := ""
	if o.pprof {
		if pprofAddr, err = freeAddr(); err != nil {
			return nil, 1, err
		}
	}
	logPath := filepath.Join(dir, "operator.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, 1, err
	}
	defer logf.Close()
	args := []string{
		"--kubeconfig=" + sh.kubeconfig, "--prometheus-url=" + sh.promURL, "--mayastor-url=" + sh.msURL,
		"--metrics-bind-address=" + metricsAddr, "--health-probe-bind-address=" + healthAddr,
		fmt.Sprintf("--max-concurrent-migrations=%d", o.maxConcurrent), "--log-level=" + o.logLevel,
	}
	if sc.observeInterval > 0 {
		args = append(args, "--observe-interval="+sc.observeInterval.String())
	}
	// /metrics is read over plain HTTP; operators that serve it over HTTPS by default have a
	// flag to turn that off (the "before" binary predates it).
	if help, _ := exec.Command(sc.binary, "--help").CombinedOutput(); strings.Contains(string(help), "metrics-secure") {
		args = append(args, "--metrics-secure=false")
	}
	if pprofAddr != "" {
		args = append(args, "--pprof-bind-address="+pprofAddr)
	}
	cmd := exec.Command(sc.binary, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "GODEBUG=gctrace=1")
	if o.goMemLimit != "" {
		cmd.Env = append(cmd.Env, "GOMEMLIMIT="+o.goMemLimit)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	rep.operatorCmd = sc.binary + " " + strings.Join(args, " ")
	if o.goMemLimit != "" {
		rep.operatorCmd = "GOMEMLIMIT=" + o.goMemLimit + " " + rep.operatorCmd
	}
	say("starting the operator: %s", rep.operatorCmd)
	if err := cmd.Start(); err != nil {
		return nil, 1, fmt.Errorf("start the operator: %w", err)
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
		sh.cleanUp(ctx)
	}()

	c := sh.st.Client
	for _, p := range policies {
		if err := c.Create(ctx, p); err != nil {
			return nil, 1, fmt.Errorf("create StoragePolicy %s: %w", p.Name, err)
		}
	}
	say("%d StoragePolicies created: dryRun, watermarks %d/%d IOPS, samplingWindow %s, pools tier=hot / tier=cold",
		len(policies), policies[0].Spec.HighWatermarkIOPS, policies[0].Spec.LowWatermarkIOPS, o.window)

	// Wait until "scale" watches every volume and knows the IOPS of every published one, and every
	// group policy watches its group; without --moves, until no migration is active or planned.
	say("waiting for the policies to watch their volumes with IOPS known (unknown ≤ %d unpublished)%s; Prometheus needs 95%% of the %s window",
		sh.unpublished, map[bool]string{false: " and no migration active or planned", true: ""}[o.moves], o.window)
	deadline := time.Now().Add(o.readyTimeout)
	var lastMsg string
	for {
		if err := died(); err != nil {
			return rep, 3, err
		}
		var list storagev1.StoragePolicyList
		if err := c.List(ctx, &list); err != nil {
			return rep, 1, err
		}
		ready, msg := sh.policiesReady(list.Items, o.moves)
		if ready && !o.moves {
			// A policy's status counts the migrations it decided at its last reconcile; dry-run
			// migrations it no longer counts may still be analysing (reading the replica map).
			var tms storagev1.TierMigrationList
			if err := c.List(ctx, &tms); err != nil {
				return rep, 1, err
			}
			running := 0
			for i := range tms.Items {
				if !tms.Items[i].Status.Phase.IsTerminal() {
					running++
				}
			}
			if running > 0 {
				ready = false
				msg += fmt.Sprintf("; %d TierMigration(s) not ended", running)
			}
		}
		if msg != lastMsg {
			say("policies: %s", msg)
			lastMsg = msg
		}
		if ready {
			rep.iopsKnown = time.Since(opStart)
			break
		}
		if time.Now().After(deadline) {
			return rep, 1, fmt.Errorf("the policies were not ready within %s (last: %s)", o.readyTimeout, msg)
		}
		select {
		case <-ctx.Done():
			return rep, 1, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
	say("ready %s after the operator started; measuring for %s", rep.iopsKnown.Round(time.Second), o.duration)

	m := &measurer{pid: pid, metricsURL: "http://" + metricsAddr + "/metrics", logPath: logPath, ms: sh.msProxy, prom: sh.promProxy,
		promURL: sh.st.PrometheusURL, client: c}
	if o.pprof {
		m.pprofURL = "http://" + pprofAddr
		m.profDir = dir
		m.bin = sc.binary
	}
	err = m.measure(ctx, o.duration, o.poll, died)
	rep.loadEnd = loadAvg()
	rep.fill(m)
	if m.profiles != "" {
		say("profiles: %s", filepath.Join(dir, "profiles.txt"))
		rep.profiles = filepath.Join(dir, "profiles.txt")
	}
	if err != nil {
		if died() != nil {
			return rep, 3, died()
		}
		return rep, 1, err
	}
	if err := died(); err != nil {
		return rep, 3, err
	}
	return rep, 0, nil
}

// policiesReady: "scale" watches every PV with IOPS known for every published volume; each group
// policy watches its group; every policy has been decided at least once (lastReconcileTime and a
// Ready condition); without moves, nothing active or planned.
func (sh *shared) policiesReady(items []storagev1.StoragePolicy, moves bool) (bool, string) {
	ready := true
	var all *storagev1.StoragePolicyStatus
	groupsDone, active, planned := 0, int32(0), int32(0)
	for i := range items {
		p := &items[i]
		s := &p.Status
		active += s.ActiveMigrations
		planned += s.PlannedMigrations
		decided := s.LastReconcileTime != nil && meta.FindStatusCondition(s.Conditions, storagev1.ConditionReady) != nil
		if p.Name == "scale" {
			all = s
			if !decided || int(s.VolumesWatched) != sh.setup.pvs || int(s.UnknownVolumes) > sh.unpublished {
				ready = false
			}
			continue
		}
		g := strings.TrimPrefix(p.Name, "scale-")
		if decided && int(s.VolumesWatched) == sh.groupSize[g] {
			groupsDone++
		} else {
			ready = false
		}
	}
	if all == nil {
		return false, "no status yet"
	}
	if !moves && (active > 0 || planned > 0) {
		ready = false
	}
	msg := fmt.Sprintf("scale: watched %d, NVMe %d, SATA %d, unknown %d, active %d, planned %d", all.VolumesWatched, all.NVMeVolumes,
		all.SATAVolumes, all.UnknownVolumes, all.ActiveMigrations, all.PlannedMigrations)
	if c := meta.FindStatusCondition(all.Conditions, storagev1.ConditionReady); c != nil {
		msg += fmt.Sprintf("; Ready=%s %s", c.Status, c.Reason)
	}
	if len(items) > 1 {
		msg += fmt.Sprintf("; group policies decided over their group: %d/%d; all policies: active %d, planned %d", groupsDone, len(items)-1, active, planned)
	}
	return ready, msg
}

// cleanUp removes the scenario's policies and TierMigrations (their finalizers first: no
// operator runs now to remove them), so the next scenario starts from the same state.
func (sh *shared) cleanUp(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	c := sh.st.Client
	var tms storagev1.TierMigrationList
	if err := c.List(ctx, &tms); err == nil {
		for i := range tms.Items {
			tm := &tms.Items[i]
			if len(tm.Finalizers) > 0 {
				_ = c.Patch(ctx, tm, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`)))
			}
			_ = c.Delete(ctx, tm)
		}
	}
	var pols storagev1.StoragePolicyList
	if err := c.List(ctx, &pols); err == nil {
		for i := range pols.Items {
			p := &pols.Items[i]
			if len(p.Finalizers) > 0 {
				_ = c.Patch(ctx, p, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`)))
			}
			_ = c.Delete(ctx, p)
		}
	}
	for ctx.Err() == nil {
		var ps storagev1.StoragePolicyList
		var ts storagev1.TierMigrationList
		if c.List(ctx, &ps) == nil && c.List(ctx, &ts) == nil && len(ps.Items) == 0 && len(ts.Items) == 0 {
			say("policies and TierMigrations removed")
			return
		}
		time.Sleep(time.Second)
	}
}

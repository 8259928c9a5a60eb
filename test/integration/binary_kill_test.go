package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/testenv"
)

// SIGKILL inside the cordon window with the operator down for minutes, with
// nothing in-process: the real cmd/couchestor binary against the envtest API server and
// cmd/mayastor-sim as a separate process, driven and observed over HTTP only (the sim's /v0 and
// /admin endpoints). TestAdversarialCrashInCordonWindow plays the same kill in-process with a fake
// clock; this one proves it with a real process death (no deferred code, no graceful shutdown, an
// HTTP call left in flight) and a fresh process resuming from the API server.

var (
	simBuildOnce sync.Once
	simBinPath   string
	simBuildErr  error
)

// buildSimBinary compiles cmd/mayastor-sim once per test run, into binDir (as buildBinary).
func buildSimBinary(t *testing.T) string {
	t.Helper()
	simBuildOnce.Do(func() {
		simBinPath = filepath.Join(binDir, "mayastor-sim")
		cmd := exec.Command("go", "build", "-o", simBinPath, "./cmd/mayastor-sim")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			simBuildErr = fmt.Errorf("go build mayastor-sim: %v\n%s", err, out)
		}
	})
	if simBuildErr != nil {
		t.Fatal(simBuildErr)
	}
	return simBinPath
}

// proc is a child process of the test.
type proc struct {
	name   string
	cmd    *exec.Cmd
	out    *testenv.SyncBuffer
	exited chan struct{}
	err    error // valid once exited is closed
}

func startProc(t *testing.T, name, bin string, stdout io.Writer, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, out: &testenv.SyncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stderr = p.out
	p.cmd.Stdout = p.out
	if stdout != nil {
		p.cmd.Stdout = io.MultiWriter(p.out, stdout)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", p.name, p.out.String())
		}
	})
	return p
}

func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil && p.running() {
		t.Fatalf("kill %s: %v", p.name, err)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not die within 10s of SIGKILL", p.name)
	}
}

// stop interrupts the process (SIGKILL after 10 s).
func (p *proc) stop() {
	if !p.running() {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// simProc is cmd/mayastor-sim running as a process.
type simProc struct {
	*proc
	url string
}

var reSimServing = regexp.MustCompile(`serving (http://\S+)`)

// startSimProcess runs the simulator on a port of its choosing and waits for its address.
func startSimProcess(t *testing.T, args ...string) *simProc {
	t.Helper()
	pr, pw := io.Pipe()
	t.Cleanup(func() { _ = pw.Close() }) // registered first, so it runs after the process is stopped
	p := startProc(t, "mayastor-sim", buildSimBinary(t), pw, append([]string{"--listen", "127.0.0.1:0"}, args...)...)
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := reSimServing.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
				break
			}
		}
		_, _ = io.Copy(io.Discard, pr) // keep the simulator's stdout flowing
	}()
	select {
	case url := <-addr:
		return &simProc{proc: p, url: url}
	case <-p.exited:
		t.Fatalf("mayastor-sim exited: %v\n%s", p.err, p.out.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("mayastor-sim did not say where it serves within 30s:\n%s", p.out.String())
	}
	return nil
}

var simHTTP = &http.Client{Timeout: 10 * time.Second}

// call sends a JSON request to the simulator and decodes a 2xx answer into out (if not nil).
func (s *simProc) call(method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := simHTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(raw)))
	}
	if out != nil && len(raw) > 0 {
		return json.Unmarshal(raw, out)
	}
	return nil
}

func (s *simProc) must(t *testing.T, method, path string, body any, out any) {
	t.Helper()
	if err := s.call(method, path, body, out); err != nil {
		t.Fatal(err)
	}
}

// increaseArrived says whether the one-shot latency fault on put_volume_replica_count is used
// up: an increase has reached the simulator (it lands once its latency passed).
func (s *simProc) increaseArrived(t *testing.T) bool {
	t.Helper()
	return s.oneShotUsed(t, "put_volume_replica_count")
}

// oneShotUsed says whether the counted faults on op are used up: a call of op has reached the
// simulator. (Faults with no count stay until cleared, so pass an op with one counted fault.)
func (s *simProc) oneShotUsed(t *testing.T, op string) bool {
	t.Helper()
	var faults []struct {
		Operation string `json:"operation"`
		Count     int    `json:"count"`
	}
	s.must(t, http.MethodGet, "/admin/faults", nil, &faults)
	for _, f := range faults {
		if f.Operation == op && f.Count > 0 {
			return false
		}
	}
	return true
}

// now is the simulator's clock.
func (s *simProc) now(t *testing.T) time.Time {
	t.Helper()
	var b struct {
		Now time.Time `json:"now"`
	}
	s.must(t, http.MethodGet, "/admin/clock", nil, &b)
	return b.Now
}

func (s *simProc) volume(id string) (mayastor.Volume, error) {
	var v mayastor.Volume
	err := s.call(http.MethodGet, "/v0/volumes/"+id, nil, &v)
	return v, err
}

// cordons lists every CoucheStor cordon as node=label, sorted.
func (s *simProc) cordons() ([]string, error) {
	var nodes []mayastor.Node
	if err := s.call(http.MethodGet, "/v0/nodes", nil, &nodes); err != nil {
		return nil, err
	}
	var out []string
	for _, n := range nodes {
		for _, l := range n.CordonLabels() {
			if strings.HasPrefix(l, "couchestor-migration-") {
				out = append(out, n.ID+"="+l)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// healthyReplicas: Online replicas that, on a published volume, are Online children with no
// rebuild running (the sampler's rule 1, sampler_test.go).
func healthyReplicas(v mayastor.Volume) []string {
	var out []string
	for id, r := range v.State.ReplicaTopology {
		ok := r.State == mayastor.ReplicaStateOnline
		if v.State.Target != nil {
			ok = ok && r.ChildStatus == mayastor.ChildStateOnline && r.RebuildProgress == nil
		}
		if ok {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// redundancyWatch reads a volume from the simulator every 50 ms and records any reading with
// fewer healthy replicas than floor, and any failed read.
type redundancyWatch struct {
	once     sync.Once
	mu       sync.Mutex
	reads    int
	dips     []string
	errs     []string
	done     chan struct{}
	finished chan struct{}
}

func watchRedundancy(s *simProc, volumeID string, floor int) *redundancyWatch {
	w := &redundancyWatch{done: make(chan struct{}), finished: make(chan struct{})}
	go func() {
		defer close(w.finished)
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		for {
			v, err := s.volume(volumeID)
			w.mu.Lock()
			w.reads++
			switch {
			case err != nil:
				w.errs = append(w.errs, fmt.Sprintf("%s: %v", time.Now().Format("15:04:05.000"), err))
			default:
				if h := healthyReplicas(v); len(h) < floor {
					var rs []string
					for id, r := range v.State.ReplicaTopology {
						rs = append(rs, fmt.Sprintf("%s@%s(%s/%s)", short(id), r.Pool, r.State, r.ChildStatus))
					}
					slices.Sort(rs)
					w.dips = append(w.dips, fmt.Sprintf("%s: %d healthy replica(s) < %d, status %s, num_replicas %d, replicas %v",
						time.Now().Format("15:04:05.000"), len(h), floor, v.State.Status, v.Spec.NumReplicas, rs))
				}
			}
			w.mu.Unlock()
			select {
			case <-w.done:
				return
			case <-tk.C:
			}
		}
	}()
	return w
}

// stop ends the watch and fails the test on any dip or failed read (once).
func (w *redundancyWatch) stop(t *testing.T) {
	t.Helper()
	w.once.Do(func() { w.report(t) })
}

func (w *redundancyWatch) report(t *testing.T) {
	t.Helper()
	close(w.done)
	<-w.finished
	w.mu.Lock()
	defer w.mu.Unlock()
	t.Logf("redundancy watch: %d reads, %d dips, %d failed reads", w.reads, len(w.dips), len(w.errs))
	for i, d := range w.dips {
		if i == 5 {
			t.Errorf("... and %d more dips", len(w.dips)-5)
			break
		}
		t.Errorf("redundancy: %s", d)
	}
	if len(w.errs) > 0 {
		t.Errorf("the simulator failed %d volume read(s), e.g. %s", len(w.errs), w.errs[0])
	}
}

// killTestKubeconfig makes a user bound to nothing but config/rbac/role.yaml (as
// leastPrivilegeKubeconfig, under names of its own), so the kill test also proves the role is
// enough for a whole move, cordons and restart included.
func killTestKubeconfig(t *testing.T) string {
	t.Helper()
	return kubeconfigBoundToManagerRole(t, "couchestor-kill-test")
}

func recordedCordons(tm *storagev1.TierMigration) []string {
	var out []string
	for _, c := range tm.Status.Cordons {
		out = append(out, fmt.Sprintf("%+v", c))
	}
	if cp := tm.Status.Checkpoint; cp != nil {
		for _, c := range cp.Cordons {
			out = append(out, fmt.Sprintf("checkpoint %+v", c))
		}
	}
	return out
}

// The operator process is SIGKILLed inside the cordon window of a promotion that needs a cordon
// (scenario small: volume ...001, 1 replica on SATA on io-engine-1; NVMe wins the scheduler's
// choice only on io-engine-2, so io-engine-3 is cordoned for the increase). Every cordon call is
// slowed by 2 s of latency, so the window is wide. The operator stays down while 5 minutes of
// simulated time pass, then a fresh process finishes the move: Completed (Moved) with every
// replica on NVMe, no CoucheStor cordon left 60 s (simulated) after the end, the volume never
// below the healthy replicas it started with (read every 50 ms), and a final message that agrees
// with the volume. Two kill points:
//
//   - recorded: the migration has recorded the cordon in its status (it records before it
//     applies) and its PUT is in flight: the cordon lands after its caller died, and the status
//     never learned it was answered;
//   - applied: a node carries the cordon label, and the increase the operator sent once the
//     cordon was answered (also slowed by 2 s) is in flight: it lands while no operator runs, and
//     its replica rebuilds during the minutes the operator is down.
func TestBinaryKilledInsideTheCordonWindow(t *testing.T) {
	requireAPIServer(t)
	bin := buildBinary(t)
	buildSimBinary(t)
	kubeconfig := killTestKubeconfig(t)
	for _, tc := range []struct {
		name      string
		onApplied bool
	}{
		{"recorded, cordon call in flight", false},
		{"applied on a node", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "kill-in-cordon-window-recorded"
			if tc.onApplied {
				name = "kill-in-cordon-window-applied"
			}
			killInCordonWindow(t, bin, kubeconfig, name, tc.onApplied)
		})
	}
}

func killInCordonWindow(t *testing.T, bin, kubeconfig, name string, onApplied bool) {
	began := time.Now()
	const (
		speed         = 20.0             // simulated seconds per wall second: the 20GiB rebuild takes ~10 s
		cordonGrace   = 60 * time.Second // simulated
		down          = 5 * time.Minute  // simulated time passing while no operator runs
		cordonLatency = "2s"
	)
	purgeTierMigrations(t)
	t.Cleanup(func() { purgeTierMigrations(t) }) // runs after the operator is stopped

	s := startSimProcess(t, "--scenario", "small", "--speed", strconv.FormatFloat(speed, 'f', -1, 64))
	before, err := s.volume(smallVolSATA1)
	if err != nil {
		t.Fatal(err)
	}
	floor := len(healthyReplicas(before))
	if floor != 1 || len(before.State.ReplicaTopology) != 1 {
		t.Fatalf("scenario small: want volume %s with 1 healthy replica, got %+v", smallVolSATA1, before.State)
	}
	// Every cordon call of either operator process takes 2 s (wall) before it lands.
	s.must(t, http.MethodPost, "/admin/faults", map[string]any{"operation": "put_node_cordon", "mode": "latency", "latency": cordonLatency}, nil)
	// A 1 ms one-shot fault marks the first cordon call's arrival: once it is used up, that call
	// is in the simulator and lands 2 s later. (The migration records a cordon in its status
	// before it sends it: a kill between the two would leave no cordon call in flight.)
	s.must(t, http.MethodPost, "/admin/faults", map[string]any{"operation": "put_node_cordon", "mode": "latency", "latency": "1ms", "count": 1}, nil)
	if onApplied {
		// The operator raises the count as soon as its cordons are answered, then lifts them:
		// without latency on that call the window with the label on the node is a few ms wide.
		// The first increase takes 2 s too, so it is in flight when the operator dies.
		s.must(t, http.MethodPost, "/admin/faults", map[string]any{"operation": "put_volume_replica_count", "mode": "latency", "latency": cordonLatency, "count": 1}, nil)
	}
	watch := watchRedundancy(s, smallVolSATA1, floor)
	t.Cleanup(func() { watch.stop(t) })

	operatorArgs := []string{
		"--kubeconfig", kubeconfig, "--mayastor-url", s.url,
		"--prometheus-url", "http://" + freeAddr(t), // nothing listens: TierMigrations need no Prometheus
		"--cordon-sweep-interval=2s", "--sync-poll-interval-seconds=1",
		"--metrics-bind-address=0", "--log-level=debug",
	}
	startOperator := func(n int) *proc {
		return startProc(t, fmt.Sprintf("operator #%d", n), bin, nil, append(slices.Clone(operatorArgs), "--health-probe-bind-address", freeAddr(t))...)
	}

	op1 := startOperator(1)
	tm := &storagev1.TierMigration{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: storagev1.TierMigrationSpec{
		VolumeID: smallVolSATA1, TargetTier: storagev1.TierNVMe, TargetPoolSelector: hotPools, SourcePoolSelector: coldPools,
		AllowRepublish: true, Timeout: "10m",
	}}
	if err := k8sClient.Create(context.Background(), tm, strict); err != nil {
		t.Fatal(err)
	}

	// The cordon window: a node carries the cordon (onApplied), or the migration has recorded
	// one (it records before it applies). Kill the operator there.
	var why string
	if err := wait.PollUntilContextTimeout(context.Background(), 5*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		if !op1.running() {
			t.Fatalf("operator #1 exited before the cordon window: %v", op1.err)
		}
		if onApplied {
			// The cordon is on the node and the increase sent once it was answered has reached
			// the simulator (its one-shot latency fault is used up): it is in flight for 2 s.
			if c, err := s.cordons(); err == nil && len(c) > 0 && s.increaseArrived(t) {
				why = fmt.Sprintf("node cordon %v applied, the increase in flight", c)
			}
		} else if cur := getTM(t, name); len(recordedCordons(cur)) > 0 && s.oneShotUsed(t, "put_node_cordon") {
			why = fmt.Sprintf("cordon recorded in status (%s), its call in flight", cur.Status.Phase)
		}
		return why != "", nil
	}); err != nil {
		cur := getTM(t, name)
		t.Fatalf("no cordon recorded or applied within 30s; phase %s%s", cur.Status.Phase, stepsOf(cur))
	}
	op1.kill(t)
	killedAt := time.Now()
	atKill := getTM(t, name)
	volAtKill, _ := s.volume(smallVolSATA1)
	t.Logf("SIGKILL %s after the TierMigration was created: %s; phase %s, cordons recorded %v, num_replicas %d",
		killedAt.Sub(began).Round(time.Millisecond), why, atKill.Status.Phase, recordedCordons(atKill), volAtKill.Spec.NumReplicas)
	if len(recordedCordons(atKill)) == 0 {
		t.Fatalf("a node was cordoned but the migration recorded no cordon at its death: %+v", atKill.Status)
	}

	// The cordon call in flight lands with its caller dead: the node is cordoned and nobody runs
	// to lift it.
	var left []string
	eventually(t, 10*time.Second, 20*time.Millisecond, "a node cordoned after the kill", func() (bool, string) {
		if left, err = s.cordons(); err != nil {
			t.Fatal(err)
		}
		return len(left) > 0, "no node is cordoned after the kill: the test does not exercise the restart path"
	})
	if onApplied {
		// The increase in flight lands too; the minutes below then rebuild its replica while no
		// operator runs.
		eventually(t, 10*time.Second, 20*time.Millisecond, "the increase in flight at the kill landed", func() (bool, string) {
			v, err := s.volume(smallVolSATA1)
			if err != nil {
				t.Fatal(err)
			}
			return v.Spec.NumReplicas == 2, fmt.Sprintf("num_replicas %d", v.Spec.NumReplicas)
		})
	}
	// Down for minutes of simulated time.
	s.must(t, http.MethodPost, "/admin/clock/advance", map[string]string{"duration": down.String()}, nil)
	time.Sleep(2 * time.Second) // a fixed wait: checks that nothing lifts the cordons meanwhile
	stillLeft, err := s.cordons()
	if err != nil {
		t.Fatal(err)
	}
	if len(stillLeft) == 0 {
		t.Fatalf("the cordons %v were lifted while no operator ran", left)
	}
	if cur := getTM(t, name); cur.Status.Phase != atKill.Status.Phase || cur.ResourceVersion != atKill.ResourceVersion {
		t.Fatalf("the TierMigration changed while no operator ran: %s → %s", atKill.Status.Phase, cur.Status.Phase)
	}
	volDown, err := s.volume(smallVolSATA1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("operator down %s wall (+%s simulated advance); meanwhile cordons %v, num_replicas %d, %d healthy replica(s)",
		time.Since(killedAt).Round(time.Millisecond), down, stillLeft, volDown.Spec.NumReplicas, len(healthyReplicas(volDown)))

	op2 := startOperator(2)
	restarted := time.Now()
	end := awaitPhase(t, name, 50*time.Second, storagev1.PhaseCompleted, storagev1.PhaseFailed)
	simEnd := s.now(t)
	t.Logf("operator #2 ended the migration %s after its start: %s%s", time.Since(restarted).Round(time.Millisecond), end.Status.Phase, stepsOf(end))
	if !op2.running() {
		t.Errorf("operator #2 exited: %v", op2.err)
	}

	// No CoucheStor cordon 60 s (simulated) after the end. The deadline is simulated time: no
	// wall-clock timeout.
	_ = wait.PollUntilContextCancel(context.Background(), 50*time.Millisecond, true, func(context.Context) (bool, error) {
		c, err := s.cordons()
		if err != nil {
			t.Fatal(err)
		}
		if len(c) == 0 {
			return true, nil
		}
		if now := s.now(t); now.Sub(simEnd) > cordonGrace {
			t.Fatalf("cordons left %s (simulated) after the migration ended: %v", now.Sub(simEnd).Round(time.Second), c)
		}
		return false, nil
	}) // never errs: its context is never done
	if len(end.Status.Cordons) > 0 {
		t.Errorf("the ended migration still records cordons: %+v", end.Status.Cordons)
	}

	// The outcome, and a final message consistent with the volume.
	_, reason, msg := succeededReason(end)
	if end.Status.Phase != storagev1.PhaseCompleted || reason != storagev1.ReasonMoved {
		t.Fatalf("want Completed (%s), got %s %s: %s%s", storagev1.ReasonMoved, end.Status.Phase, reason, msg, stepsOf(end))
	}
	after, err := s.volume(smallVolSATA1)
	if err != nil {
		t.Fatal(err)
	}
	var pools []mayastor.Pool
	s.must(t, http.MethodGet, "/v0/pools", nil, &pools)
	tier := map[string]string{}
	for _, p := range pools {
		if p.Spec != nil {
			tier[p.ID] = p.Spec.Labels["tier"]
		}
	}
	healthy := healthyReplicas(after)
	if len(after.State.ReplicaTopology) == 0 || len(healthy) < floor {
		t.Errorf("after the move: %d replicas, %d healthy (want at least %d)", len(after.State.ReplicaTopology), len(healthy), floor)
	}
	for id, r := range after.State.ReplicaTopology {
		if tier[r.Pool] != "hot" {
			t.Errorf("the migration says %q (%s) but replica %s is on %s (tier %q)", msg, reason, id, r.Pool, tier[r.Pool])
		}
	}
	for _, id := range replicaIDsOf(before) {
		if _, ok := after.State.ReplicaTopology[id]; ok {
			t.Errorf("the source replica %s is still there after %q", id, msg)
		}
	}
	final := finalMessage(end)
	if m := reHealthyOf.FindStringSubmatch(final); m != nil {
		if h, _ := strconv.Atoi(m[1]); h != len(healthy) {
			t.Errorf("the message says %q, the volume has %d healthy replicas", m[0], len(healthy))
		}
		if n, _ := strconv.Atoi(m[2]); n != len(after.State.ReplicaTopology) {
			t.Errorf("the message says %q, the volume has %d replicas", m[0], len(after.State.ReplicaTopology))
		}
	}
	if m := reNumRepl.FindStringSubmatch(final); m != nil {
		if n, _ := strconv.Atoi(m[1]); n != int(after.Spec.NumReplicas) {
			t.Errorf("the message says %q, the volume has num_replicas %d", m[0], after.Spec.NumReplicas)
		}
	}
	if m := reReplaced.FindStringSubmatch(final); m != nil {
		for _, id := range strings.Fields(m[1]) {
			if _, ok := after.State.ReplicaTopology[id]; !ok {
				t.Errorf("the message says %q, but replica %s is not on the volume", m[0], id)
			}
		}
		for _, id := range strings.Fields(m[2]) {
			if _, ok := after.State.ReplicaTopology[id]; ok {
				t.Errorf("the message says %q, but replica %s is still on the volume", m[0], id)
			}
		}
	}
	watch.stop(t)
	t.Logf("final: %q; volume %s on %v; wall %s", final, smallVolSATA1, poolsOfVolume(after), time.Since(began).Round(time.Millisecond))
}

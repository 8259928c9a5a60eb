package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
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
	"github.com/billyronks/couchestor/internal/mover"
	"github.com/billyronks/couchestor/internal/sim"
)

// The real cmd/couchestor binary SIGKILLed at each new step of a move that steers the core
// agent's replica map with placeholder replicas: with a placeholder create sent but not landed,
// with it landed but its answer not delivered, and with a placeholder delete about to be sent. As
// TestBinaryKilledInsideTheCordonWindow, the simulator runs as its own process and the API server
// is envtest's; between them and the operator sits a proxy of the test's that holds the one
// request where the kill happens, so each kill point is exact.

// killVolume: 3 replicas on SATA behind a target on app-1 (remote): the move keeps its moved
// replicas behind the remaining sources with placeholder replicas, no republish.
const killVolume = "0c4f3a52-7d1e-4b6a-9a0e-0000000000c3"

var killScenario = sim.PureTiersScenario("kill-placeholder", 7, "1GiB", `
  - uuid: 0c4f3a52-7d1e-4b6a-9a0e-0000000000c3
    size: 10GiB
    replicas: [pool-sata-a, pool-sata-b, pool-sata-c]
    published: true
    nexus_node: app-1
    inclusion: {openebs.io/created-by: operator-diskpool}
`)

// killPoint is where the operator dies.
type killPoint int

const (
	// killCreateSent: the placeholder create reached the proxy; it is sent on to the simulator
	// once the operator is dead, so it lands with its caller gone.
	killCreateSent killPoint = iota
	// killCreateLanded: the simulator created the placeholder; the operator dies before the
	// answer reaches it.
	killCreateLanded
	// killBeforeDelete: the operator is about to delete a placeholder; it dies and the delete is
	// never sent on.
	killBeforeDelete
)

// killProxy forwards the operator's Mayastor calls to the simulator and holds the first call
// its point matches: it reports the call on hit and waits for resume (closed once the operator
// is dead) before going on.
type killProxy struct {
	target string
	point  killPoint
	url    string
	once   sync.Once
	hit    chan string
	resume chan struct{}
}

func newKillProxy(t *testing.T, target string, point killPoint) *killProxy {
	t.Helper()
	p := &killProxy{target: target, point: point, hit: make(chan string, 1), resume: make(chan struct{})}
	srv := httptest.NewServer(p)
	t.Cleanup(func() {
		p.release()
		srv.Close()
	})
	p.url = srv.URL
	return p
}

// release lets a held call go on (idempotent).
func (p *killProxy) release() {
	select {
	case <-p.resume:
	default:
		close(p.resume)
	}
}

// matches: a placeholder create (PUT) or delete (DELETE) through the pool endpoint, as the
// point wants.
func (p *killProxy) matches(r *http.Request) bool {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/v0/"), "/")
	if len(parts) != 4 || parts[0] != "pools" || parts[2] != "replicas" || !mover.IsPlaceholderID(parts[3]) {
		return false
	}
	if p.point == killBeforeDelete {
		return r.Method == http.MethodDelete
	}
	return r.Method == http.MethodPut
}

func (p *killProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	held := false
	if p.matches(r) {
		p.once.Do(func() { held = true })
	}
	what := r.Method + " " + r.URL.Path
	if held && p.point != killCreateLanded {
		p.hit <- what
		<-p.resume
		if p.point == killBeforeDelete {
			http.Error(w, "the test dropped this call", http.StatusBadGateway)
			return
		}
	}
	// Forward even when the caller is gone: the call was sent.
	req, err := http.NewRequestWithContext(context.Background(), r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer func() { _ = resp.Body.Close() }()
	answer, _ := io.ReadAll(resp.Body)
	if held && p.point == killCreateLanded {
		p.hit <- fmt.Sprintf("%s answered %d", what, resp.StatusCode)
		<-p.resume
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(answer)
}

// placeholders lists the CoucheStor placeholder replicas in the simulator's replica map.
func (s *simProc) placeholders(t *testing.T) []string {
	t.Helper()
	var specs mayastor.Specs
	s.must(t, http.MethodGet, "/v0/specs", nil, &specs)
	var out []string
	for _, r := range specs.Replicas {
		if mover.IsPlaceholderID(r.UUID) {
			out = append(out, r.UUID)
		}
	}
	return out
}

func checkpointPlaceholders(tm *storagev1.TierMigration) []string {
	var out []string
	if cp := tm.Status.Checkpoint; cp != nil {
		for _, p := range cp.Placeholders {
			out = append(out, p.ID)
		}
	}
	return out
}

// TestBinaryKilledAroundAPlaceholder: a 3-replica volume behind a remote target moves from SATA
// to NVMe; the operator is SIGKILLed at one of three points, then a fresh process finishes the
// move. Each time: the placeholder the dead process was creating is recorded in the TierMigration
// (it records before it creates), the move completes (Moved) with all three replicas on NVMe and
// none of the sources left, no CoucheStor placeholder is left in GET /v0/specs within one sweep
// interval (2 s) of the end nor recorded in the status, and the volume never has fewer than three
// healthy replicas (read every 50 ms).
func TestBinaryKilledAroundAPlaceholder(t *testing.T) {
	requireAPIServer(t)
	bin := buildBinary(t)
	buildSimBinary(t)
	kubeconfig := killTestKubeconfig(t)
	for _, tc := range []struct {
		name  string
		point killPoint
	}{
		{"create sent, not landed", killCreateSent},
		{"create landed, answer not delivered", killCreateLanded},
		{"just before a delete", killBeforeDelete},
	} {
		t.Run(tc.name, func(t *testing.T) {
			killAroundPlaceholder(t, bin, kubeconfig, fmt.Sprintf("kill-placeholder-%d", tc.point), tc.point)
		})
	}
}

func killAroundPlaceholder(t *testing.T, bin, kubeconfig, name string, point killPoint) {
	began := time.Now()
	const (
		speed         = 20.0 // simulated seconds per wall second: each 10GiB rebuild takes ~0.5 s
		sweepInterval = 2 * time.Second
	)
	purgeTierMigrations(t)
	t.Cleanup(func() { purgeTierMigrations(t) }) // runs after the operator is stopped

	scenario := filepath.Join(t.TempDir(), "kill-placeholder.yaml")
	if err := os.WriteFile(scenario, []byte(killScenario), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startSimProcess(t, "--scenario", scenario, "--speed", strconv.FormatFloat(speed, 'f', -1, 64))
	before, err := s.volume(killVolume)
	if err != nil {
		t.Fatal(err)
	}
	floor := len(healthyReplicas(before))
	if floor != 3 || before.State.Target == nil || before.State.Target.Node != "app-1" {
		t.Fatalf("scenario: want volume %s with 3 healthy replicas behind a target on app-1, got %+v", killVolume, before.State)
	}
	p := newKillProxy(t, s.url, point)
	watch := watchRedundancy(s, killVolume, floor)
	t.Cleanup(func() { watch.stop(t) })

	operatorArgs := []string{
		"--kubeconfig", kubeconfig, "--mayastor-url", p.url,
		"--prometheus-url", "http://" + freeAddr(t), // nothing listens: TierMigrations need no Prometheus
		"--cordon-sweep-interval=" + sweepInterval.String(), "--sync-poll-interval-seconds=1",
		"--metrics-bind-address=0", "--log-level=debug",
	}
	startOperator := func(n int) *proc {
		return startProc(t, fmt.Sprintf("operator #%d", n), bin, nil, append(slices.Clone(operatorArgs), "--health-probe-bind-address", freeAddr(t))...)
	}
	op1 := startOperator(1)
	tm := &storagev1.TierMigration{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: storagev1.TierMigrationSpec{
		VolumeID: killVolume, TargetTier: storagev1.TierNVMe, TargetPoolSelector: hotPools, SourcePoolSelector: coldPools,
		Timeout: "10m",
	}}
	if err := k8sClient.Create(context.Background(), tm, strict); err != nil {
		t.Fatal(err)
	}

	var what string
	select {
	case what = <-p.hit:
	case <-op1.exited:
		t.Fatalf("operator #1 exited before the kill point: %v", op1.err)
	case <-time.After(30 * time.Second):
		cur := getTM(t, name)
		t.Fatalf("the kill point was not reached within 30s; phase %s%s", cur.Status.Phase, stepsOf(cur))
	}
	op1.kill(t)
	killedAt := time.Now()
	p.release()
	atKill := getTM(t, name)
	held := path.Base(strings.Fields(what)[1]) // the placeholder's uuid
	t.Logf("SIGKILL %s after the TierMigration was created, holding %s; phase %s, placeholders recorded %v, in the map %v",
		killedAt.Sub(began).Round(time.Millisecond), what, atKill.Status.Phase, checkpointPlaceholders(atKill), s.placeholders(t))
	if !slices.Contains(checkpointPlaceholders(atKill), held) {
		t.Errorf("placeholder %s was being created or deleted by the dead process but its TierMigration does not record it: %v", held, checkpointPlaceholders(atKill))
	}
	switch point {
	case killCreateSent:
		// The create sent on after the death lands with its caller gone.
		eventually(t, 5*time.Second, 20*time.Millisecond, fmt.Sprintf("the create of %s held at the kill landed", held), func() (bool, string) {
			in := s.placeholders(t)
			return slices.Contains(in, held), fmt.Sprintf("placeholders in the replica map %v", in)
		})
	case killCreateLanded, killBeforeDelete:
		if !slices.Contains(s.placeholders(t), held) {
			t.Fatalf("placeholder %s is not in the replica map at the kill: %v", held, s.placeholders(t))
		}
	}

	op2 := startOperator(2)
	restarted := time.Now()
	end := awaitPhase(t, name, 50*time.Second, storagev1.PhaseCompleted, storagev1.PhaseFailed)
	endedAt := time.Now()
	t.Logf("operator #2 ended the migration %s after its start: %s%s", endedAt.Sub(restarted).Round(time.Millisecond), end.Status.Phase, stepsOf(end))
	if !op2.running() {
		t.Errorf("operator #2 exited: %v", op2.err)
	}
	_, reason, msg := succeededReason(end)
	if end.Status.Phase != storagev1.PhaseCompleted || reason != storagev1.ReasonMoved {
		t.Fatalf("want Completed (%s), got %s %s: %s%s", storagev1.ReasonMoved, end.Status.Phase, reason, msg, stepsOf(end))
	}

	// No placeholder within one sweep interval of the end, none recorded.
	eventually(t, time.Until(endedAt.Add(sweepInterval)), 20*time.Millisecond, fmt.Sprintf("no placeholder in the replica map within the sweep interval (%s) of the migration's end", sweepInterval), func() (bool, string) {
		left := s.placeholders(t)
		return len(left) == 0, fmt.Sprintf("placeholders %v still in the replica map %s after the migration ended", left, time.Since(endedAt).Round(time.Millisecond))
	})
	gone := time.Since(endedAt)
	var recorded []string
	if err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, sweepInterval, true, func(context.Context) (bool, error) {
		recorded = checkpointPlaceholders(getTM(t, name))
		return len(recorded) == 0, nil
	}); err != nil {
		t.Errorf("the ended migration still records placeholders %v, none is in the replica map", recorded)
	}

	after, err := s.volume(killVolume)
	if err != nil {
		t.Fatal(err)
	}
	for id, r := range after.State.ReplicaTopology {
		if !strings.HasPrefix(r.Pool, "pool-nvme-") {
			t.Errorf("the migration says %q but replica %s is on %s", msg, id, r.Pool)
		}
	}
	for _, id := range replicaIDsOf(before) {
		if _, ok := after.State.ReplicaTopology[id]; ok {
			t.Errorf("the source replica %s is still there after %q", id, msg)
		}
	}
	if h := healthyReplicas(after); len(h) != 3 || after.Spec.NumReplicas != 3 {
		t.Errorf("after the move: num_replicas %d, %d healthy replicas, want 3 and 3", after.Spec.NumReplicas, len(h))
	}
	watch.stop(t)
	t.Logf("placeholders gone %s after the end; volume on %v; wall %s", gone.Round(time.Millisecond), poolsOfVolume(after), time.Since(began).Round(time.Millisecond))
}

package sandbox_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/billyronks/couchestor/internal/sandbox"
	"github.com/billyronks/couchestor/internal/testenv"
)

// requireTools skips the test, or fails it under CI=true, when kube-apiserver, etcd or
// Prometheus are not at hand (`make test` builds them and sets the environment).
func requireTools(t *testing.T) {
	t.Helper()
	why := testenv.SkipReason()
	if _, err := sandbox.PrometheusBinary(); why == "" && err != nil {
		why = err.Error()
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal(why)
	}
	t.Skip(why)
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// proc is a process seen below the sandbox: its command name and start time (clock ticks after
// boot), which tell it apart from a later process given the same PID.
type proc struct {
	comm  string
	start string
}

// readStat returns a process's command name, parent PID and start time from /proc/PID/stat;
// ok is false when there is no such process or it has exited (a zombie).
func readStat(pid int) (comm string, ppid int, start string, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, "", false
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return "", 0, "", false
	}
	// After "(comm) ": state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
	// cmajflt utime stime cutime cstime priority nice num_threads itrealvalue starttime.
	f := strings.Fields(s[end+1:])
	if len(f) < 20 || f[0] == "Z" {
		return "", 0, "", false
	}
	ppid, _ = strconv.Atoi(f[1])
	return s[open+1 : end], ppid, f[19], true
}

// descendants returns every process whose ancestry leads to root.
func descendants(root int) map[int]proc {
	ents, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	info := map[int]proc{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if comm, ppid, start, ok := readStat(pid); ok {
			parent[pid], info[pid] = ppid, proc{comm, start}
		}
	}
	out := map[int]proc{}
	for pid := range parent {
		for p, hops := parent[pid], 0; p > 1 && hops < 64; p, hops = parent[p], hops+1 {
			if p == root {
				out[pid] = info[pid]
				break
			}
		}
	}
	return out
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// syncBuffer collects the sandbox's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) WriteString(x string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.WriteString(x)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var tallyRE = regexp.MustCompile(`migrations: (\d+) promoted, (\d+) demoted, (\d+) failed, (\d+) in flight`)

// The sandbox, as `make run` starts it but headless and faster (a 15 s sampling window, a 1 s
// scrape interval, 4 GiB/s rebuilds): its view shows at least one promotion and one demotion
// Completed, in plain appended frames without the operator's log; Ctrl-C (SIGINT) stops it
// cleanly; and every process it started (etcd, kube-apiserver, Prometheus) is gone when it
// returns, checked by PID.
func TestSandboxHeadlessPromotesDemotesAndLeavesNoProcess(t *testing.T) {
	requireTools(t)
	root := repoRoot()
	dir := t.TempDir()
	bin := filepath.Join(dir, "sandbox")
	build := exec.Command("go", "build", "-o", bin, "./hack/sandbox")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./hack/sandbox: %v\n%s", err, out)
	}

	work := filepath.Join(dir, "work")
	const limit = 170 * time.Second // the sandbox's own --duration, a backstop
	cmd := exec.Command(bin, "--duration="+limit.String(), "--work-dir="+work,
		"--sampling-window=15s", "--scrape-interval=1s", "--rebuild-bandwidth=4GiB", "--refresh=1s",
		"--metrics-bind-address=0", "--health-probe-bind-address="+freeAddr(t))
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// If this test binary dies, so does the sandbox (and its Prometheus, through its own
	// death signal).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid

	var out syncBuffer
	bothDone := make(chan struct{})
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			out.WriteString(line + "\n")
			if m := tallyRE.FindStringSubmatch(line); m != nil && !signalled && m[1] != "0" && m[2] != "0" {
				signalled = true
				close(bothDone)
			}
		}
	}()

	// Watch the sandbox's process tree until it exits.
	seen := map[int]proc{}
	exited := make(chan error, 1)
	go func() {
		<-readDone
		exited <- cmd.Wait()
	}()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(limit + 90*time.Second)
	interrupted := false
	var waitErr error
watch:
	for {
		select {
		case <-tick.C:
			for p, info := range descendants(pid) {
				seen[p] = info
			}
		case <-bothDone:
			bothDone = nil
			interrupted = true
			t.Logf("a promotion and a demotion completed; interrupting the sandbox (Ctrl-C)")
			for p, info := range descendants(pid) {
				seen[p] = info
			}
			_ = cmd.Process.Signal(os.Interrupt)
		case waitErr = <-exited:
			break watch
		case <-deadline:
			_ = cmd.Process.Kill()
			for p := range seen {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
			t.Fatalf("the sandbox did not stop within %s of its --duration; output:\n%s\nstderr:\n%s", 90*time.Second, out.String(), stderr.String())
		}
	}
	text := out.String()
	t.Logf("sandbox output (last 3000 bytes):\n%s", text[max(0, len(text)-3000):])
	if waitErr != nil {
		t.Errorf("the sandbox exited with %v; stderr:\n%s", waitErr, stderr.String())
	}

	// No process left behind: every process seen below the sandbox is gone (or its PID now
	// belongs to a process started later).
	names := map[string]bool{}
	for p, info := range seen {
		names[info.comm] = true
		if _, _, start, ok := readStat(p); ok && start == info.start {
			t.Errorf("process %d (%s) is still there after the sandbox returned", p, info.comm)
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	}
	for _, want := range []string{"etcd", "kube-apiserver", "prometheus"} {
		if !names[want] {
			t.Errorf("never saw %s among the sandbox's child processes (saw %v): the check above proves nothing", want, names)
		}
	}

	if !interrupted {
		t.Fatalf("no frame showed a promotion and a demotion completed within %s", limit)
	}
	// The last frame: the tally, and the rows of the moved volumes on their new tier.
	tallies := tallyRE.FindAllStringSubmatch(text, -1)
	last := tallies[len(tallies)-1]
	if last[1] == "0" || last[2] == "0" {
		t.Errorf("final tally %q: want a promotion and a demotion", last[0])
	}
	frame := text[strings.LastIndex(text, "StoragePolicy "+sandbox.PolicyName):]
	var promotedRow, demotedRow bool
	for _, l := range strings.Split(frame, "\n") {
		f := strings.Fields(l)
		switch {
		case strings.Contains(l, "-> NVMe Completed (Moved)"):
			promotedRow = true
			if len(f) < 2 || f[1] != "NVMe" {
				t.Errorf("promoted volume not shown on NVMe: %q", l)
			}
		case strings.Contains(l, "-> SATA Completed (Moved)"):
			demotedRow = true
			if len(f) < 2 || f[1] != "SATA" {
				t.Errorf("demoted volume not shown on SATA: %q", l)
			}
		}
	}
	if !promotedRow || !demotedRow {
		t.Errorf("final frame lacks a completed promotion (%v) or demotion (%v):\n%s", promotedRow, demotedRow, frame)
	}
	if !strings.Contains(text, "stopped after") {
		t.Error("no shutdown line")
	}

	// Headless: frames appended, no escape sequences; the operator's log is in the file the
	// view names, not in the output.
	if strings.Contains(text, "\x1b") {
		t.Error("headless output holds escape sequences")
	}
	opLog := filepath.Join(work, sandbox.OperatorLog)
	if !strings.Contains(text, "operator "+opLog) {
		t.Errorf("the view does not name the operator log %s", opLog)
	}
	for _, marker := range []string{"\tinfo\t", "\terror\t", "Reconciler error", "stacktrace", "starting manager"} {
		if strings.Contains(text, marker) || strings.Contains(stderr.String(), marker) {
			t.Errorf("operator log line (%q) on the terminal", marker)
		}
	}
	if b, err := os.ReadFile(opLog); err != nil || !bytes.Contains(b, []byte("starting manager")) {
		t.Errorf("operator log %s: %v; want the operator's lines in it", opLog, err)
	}
	if b, err := os.ReadFile(filepath.Join(work, "simulator.log")); err != nil || !bytes.Contains(b, []byte("replica_count")) {
		t.Errorf("simulator log: %v; want the replica-count changes in it", err)
	}
	for _, name := range []string{"kube-apiserver.log", "etcd.log", filepath.Join("prometheus", "prometheus.log")} {
		if _, err := os.Stat(filepath.Join(work, name)); err != nil {
			t.Error(err)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestBadFlagsGiveOneLineErrorAndNonZeroExit(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("nodes: [{id: n1}]\npools: [{id: p1, node: n2, capacity: 1GiB}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--speed", "0"}, 2, "--speed"},
		{[]string{"--speed", "fast"}, 2, "speed"},
		{[]string{"--listen", "0.0.0.0:30011"}, 2, "loopback"},
		{[]string{"--listen", "nonsense"}, 2, "--listen"},
		{[]string{"--bogus"}, 2, "bogus"},
		{[]string{"extra"}, 2, "unexpected argument"},
		{[]string{"--seed", "-1"}, 2, "seed"},
		{[]string{"--scenario", "no-such-scenario"}, 1, "no-such-scenario"},
		{[]string{"--scenario", bad}, 1, bad + ":2: pools[0].node: unknown node"},
	}
	for _, tc := range cases {
		var out, errb bytes.Buffer
		code := run(context.Background(), tc.args, &out, &errb, nil)
		msg := errb.String()
		if code != tc.code || strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "mayastor-sim: ") || !strings.Contains(msg, tc.msg) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and one line containing %q", tc.args, code, msg, tc.code, tc.msg)
		}
	}
}

func TestServesScenarioAndShutsDownGracefully(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan int, 1)
	var out, errb bytes.Buffer
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--scenario", "small", "--speed", "100", "--seed", "7"},
			&out, &errb, func(a string) { addrc <- a })
	}()
	var addr string
	select {
	case addr = <-addrc:
	case code := <-done:
		t.Fatalf("exited early with %d: %s", code, errb.String())
	}
	get := func(path string) []byte {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return b
	}
	var nodes []map[string]any
	if err := json.Unmarshal(get("/v0/nodes"), &nodes); err != nil || len(nodes) != 3 {
		t.Fatalf("nodes: %v %v", nodes, err)
	}
	// At speed x100 a wall-clock second is 100 simulated seconds.
	var before, after struct{ Now time.Time }
	_ = json.Unmarshal(get("/admin/clock"), &before)
	time.Sleep(200 * time.Millisecond)
	_ = json.Unmarshal(get("/admin/clock"), &after)
	if d := after.Now.Sub(before.Now); d < 15*time.Second || d > 2*time.Minute {
		t.Fatalf("simulated time advanced %v in 200ms at x100", d)
	}
	if !strings.Contains(string(get("/metrics")), "volume_num_read_ops{") {
		t.Fatal("no volume series on /metrics")
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after shutdown: %s", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no shutdown within 10s")
	}
	if !strings.Contains(out.String(), "stopped") {
		t.Fatalf("stdout %q", out.String())
	}
}

//go:build linux

package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestParseCycles(t *testing.T) {
	log := "gc 1 @0.1s 0%: 1+1+1 ms clock, 1+1/1/1+1 ms cpu, 4->4->2 MB, 5 MB goal, 0 MB stacks, 0 MB globals, 2 P\n" +
		"2026-11-30T23:24:17.544Z\tdebug\tobserver\tobserved\t{\"volumes\": 10000, \"took\": \"1.5s\"}\n" +
		"2026-11-30T23:24:17.567Z\tdebug\tevaluated policy\t{\"name\": \"a\", \"took\": \"20ms\"}\n" +
		"2026-11-30T23:24:17.600Z\tdebug\tevaluated policy\t{\"name\": \"b\", \"took\": \"30ms\"}\n" +
		"2026-11-30T23:24:49.000Z\tdebug\tobserver\tobserved\t{\"volumes\": 10000, \"took\": \"1s\"}\n"
	p := filepath.Join(t.TempDir(), "operator.log")
	if err := os.WriteFile(p, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	cs, err := parseCycles(p, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 {
		t.Fatalf("cycles = %d, want 2", len(cs))
	}
	c := cs[0]
	if !c.complete || cs[1].complete {
		t.Errorf("complete = %v, %v; want true, false", c.complete, cs[1].complete)
	}
	if c.decided != 2 || c.decideSum != 50*time.Millisecond || c.observe != 1500*time.Millisecond {
		t.Errorf("cycle = %+v", c)
	}
	if got, want := c.wall(), 1556*time.Millisecond; got != want {
		t.Errorf("wall = %s, want %s", got, want)
	}
}

// procMem reads this test's own memory: VmRSS is RssAnon + RssFile (+ RssShmem), each > 0.
func TestProcMem(t *testing.T) {
	m, err := procMem(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.rss == 0 || m.hwm < m.rss || m.anon == 0 || m.file == 0 || m.anon+m.file > m.rss {
		t.Fatalf("VmRSS %d, VmHWM %d, RssAnon %d, RssFile %d", m.rss, m.hwm, m.anon, m.file)
	}
}

package clitest

import (
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/billyronks/couchestor/internal/preflight"
)

// check with Prometheus unreachable: Mayastor's lines are ok, Prometheus's is one failed line
// naming it with the fix, the exit status is 1 and stderr says how many checks failed, on one
// line. -o json says the same.
func TestCheckPrometheusUnreachable(t *testing.T) {
	st := startWorld(t, "cli-check")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	args := []string{"check", "--mayastor-url", st.SimURL, "--prometheus-url", closed, "--leader-elect=false"}
	r := kc(t, time.Time{}, args...)
	oneErrorLine(t, r, 1, "1 check failed")
	lines := strings.Split(strings.TrimSuffix(r.out, "\n"), "\n")
	var promLines []string
	for _, l := range lines {
		if strings.Contains(l, "Prometheus at") {
			promLines = append(promLines, l)
		}
	}
	if len(promLines) != 1 || !strings.HasPrefix(promLines[0], "fail  Prometheus at "+closed+": prometheus unreachable") ||
		!strings.Contains(promLines[0], "  fix: point --prometheus-url") {
		t.Errorf("want one failed Prometheus line with its fix, got:\n%s", r.out)
	}
	if !strings.HasPrefix(lines[0], "ok    Mayastor's REST API at "+st.SimURL) || !strings.Contains(r.out, "\nok    every io-engine is 2.6 or later") ||
		!strings.Contains(r.out, "\nwarn  the operator runs without --leader-elect") || !strings.HasSuffix(lines[len(lines)-1], "1 fail") {
		t.Errorf("output:\n%s", r.out)
	}

	r = kc(t, time.Time{}, append(args, "-o", "json")...)
	var results []preflight.Result
	if err := json.Unmarshal([]byte(r.out), &results); err != nil || r.code != 1 {
		t.Fatalf("-o json: exit %d, %v:\n%s", r.code, err, r.out)
	}
	if preflight.Failed(results) != 1 || results[0].Check != "mayastor" || results[0].Status != preflight.OK {
		t.Errorf("-o json: %+v", results)
	}
}

// Bad command lines are usage errors (exit 2), one line each.
func TestCheckBadInput(t *testing.T) {
	requireAPIServer(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"check", "extra"}, `unexpected argument "extra"`},
		{[]string{"check", "-o", "wide"}, `--output: "wide" is not one of table, json, yaml`},
		{[]string{"check", "--mayastor-url", "ftp://x"}, "--mayastor-url"},
		{[]string{"check", "--prometheus-url", "::"}, "--prometheus-url"},
		{[]string{"check", "--mayastor-service", "nope"}, "--mayastor-service"},
	} {
		oneErrorLine(t, kc(t, time.Time{}, tc.args...), 2, tc.want)
	}
}

package preflight

import (
	"cmp"
	"fmt"
	"regexp"
	"strconv"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// MinIOEngine is the oldest io-engine that exports volume_num_read_ops and volume_num_write_ops,
// the per-volume counters CoucheStor's IOPS come from (Mayastor 2.6).
var MinIOEngine = Version{Major: 2, Minor: 6}

// Version is an io-engine's major.minor release.
type Version struct{ Major, Minor int }

func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// Less reports whether v is an older release than w.
func (v Version) Less(w Version) bool {
	return v.Major < w.Major || v.Major == w.Major && v.Minor < w.Minor
}

// releaseRE reads the release at the start of an io-engine's version string: "v2.7.1",
// "2.6.0", "v2.8.0-rc.1", "v2.7.1-12-gabcdef0".
var releaseRE = regexp.MustCompile(`^v?(\d+)\.(\d+)(\D|$)`)

// ParseVersion reads the release an io-engine reports; false when the string does not start
// with one (a development build's branch name, say).
func ParseVersion(s string) (Version, bool) {
	m := releaseRE.FindStringSubmatch(s)
	if m == nil {
		return Version{}, false
	}
	major, err1 := strconv.Atoi(m[1])
	minor, err2 := strconv.Atoi(m[2])
	if err1 != nil || err2 != nil {
		return Version{}, false
	}
	return Version{Major: major, Minor: minor}, true
}

// nodeVersion is the version a node's io-engine reports: its state's (what the running
// io-engine registered with), else its spec's (the last one recorded). The control plane fills
// both from the io-engine's registration (control-plane/agents/src/bin/core/node/specs.rs:42-62)
// and serves them since 2.7; an older control plane, or an io-engine that does not send it,
// leaves them empty.
func nodeVersion(n *mayastor.Node) string {
	var state, spec string
	if n.State != nil {
		state = n.State.Version
	}
	if n.Spec != nil {
		spec = n.Spec.Version
	}
	return cmp.Or(state, spec)
}

func (c *Checker) checkMayastor(nodes []mayastor.Node, err error) []Result {
	if err != nil {
		return []Result{{Status: Fail, Check: "mayastor", What: fmt.Sprintf("Mayastor's REST API at %s does not answer GET /v0/nodes: %s", c.MayastorWhere, oneLine(err.Error())),
			Fix: c.MayastorFix}}
	}
	if len(nodes) == 0 {
		return []Result{{Status: Fail, Check: "mayastor", What: fmt.Sprintf("Mayastor at %s lists no io-engine node", c.MayastorWhere),
			Fix: "no io-engine has registered: check the io-engine pods in Mayastor's namespace (they run on nodes labelled openebs.io/engine=mayastor)"}}
	}
	out := []Result{{Status: OK, Check: "mayastor", What: fmt.Sprintf("Mayastor's REST API at %s answers: %s", c.MayastorWhere, plural(len(nodes), "io-engine node", "io-engine nodes"))}}

	var old, unknown []string
	oldest := Version{Major: 1 << 30}
	for i := range nodes {
		n := &nodes[i]
		raw := nodeVersion(n)
		v, ok := ParseVersion(raw)
		switch {
		case !ok:
			unknown = append(unknown, fmt.Sprintf("%s (%q)", n.ID, raw))
		case v.Less(MinIOEngine):
			old = append(old, fmt.Sprintf("%s (%s)", n.ID, raw))
		}
		if ok && v.Less(oldest) {
			oldest = v
		}
	}
	if len(old) > 0 {
		out = append(out, Result{Status: Fail, Check: "io-engine-version",
			What: fmt.Sprintf("io-engine older than %s on %s: it exports no volume IOPS metrics, so every volume stays Unknown", MinIOEngine, list(old, 5)),
			Fix:  fmt.Sprintf("upgrade Mayastor (OpenEBS) to %s or later", MinIOEngine)})
	}
	if len(unknown) > 0 {
		out = append(out, Result{Status: Warn, Check: "io-engine-version",
			What: fmt.Sprintf("io-engine version not reported on %s (Mayastor's REST API reports it from 2.7)", list(unknown, 5)),
			Fix:  fmt.Sprintf("make sure every io-engine is %s or later (kubectl get pods -o wide in Mayastor's namespace shows the images); the Prometheus check shows whether volume IOPS metrics exist", MinIOEngine)})
	}
	if len(old) == 0 && len(unknown) == 0 {
		out = append(out, Result{Status: OK, Check: "io-engine-version",
			What: fmt.Sprintf("every io-engine is %s or later (oldest %s)", MinIOEngine, oldest)})
	}
	return out
}

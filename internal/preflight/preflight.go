// Package preflight checks that CoucheStor can work in a cluster: Mayastor's REST API answers and
// every io-engine exports volume IOPS (2.6 or later), each StoragePolicy's pool selectors find
// pools on both tiers and its StorageClass selects volumes, Prometheus answers the IOPS query
// over the sampling window for those volumes, and the operator's leader is alive and scraped.
// Each check gives one Result: ok, warn or fail, what was found and, unless ok, how to fix it.
//
// The kubectl plugin (`kubectl couchestor check`) and the operator's binary (`couchestor check`,
// the Helm chart's test hook) both run Checker.Run; only how they reach the cluster differs.
// Nothing here writes.
package preflight

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/promwatch"
)

// Status is a check's outcome.
type Status string

const (
	// OK: nothing to do.
	OK Status = "ok"
	// Warn: CoucheStor works, but not everywhere or not yet (a policy selecting no volume yet,
	// a version the check cannot read); the fix says what to look at.
	Warn Status = "warn"
	// Fail: CoucheStor cannot do its job until this is fixed; the check exits non-zero.
	Fail Status = "fail"
)

// Result is one check's outcome.
type Result struct {
	Status Status `json:"status"`
	// Check names the check: mayastor, io-engine-version, prometheus, leader, operator-metrics,
	// or policy/NAME/{spec,pools,volumes,iops}.
	Check string `json:"check"`
	// What is what was found, one sentence.
	What string `json:"what"`
	// Fix says how to fix it (empty when ok).
	Fix string `json:"fix,omitempty"`
}

// MayastorReader is what the checks read of Mayastor's REST API. *mayastor.Client satisfies it.
type MayastorReader interface {
	ListNodes(ctx context.Context) ([]mayastor.Node, error)
	ListPools(ctx context.Context) ([]mayastor.Pool, error)
}

// PrometheusReader is what the checks ask Prometheus. *promwatch.Watcher satisfies it.
type PrometheusReader interface {
	Evaluate(ctx context.Context, req promwatch.Request) (*promwatch.Result, error)
	Instant(ctx context.Context, name, query string, at time.Time) ([]promwatch.Series, error)
}

// Checker runs the checks against one cluster.
type Checker struct {
	// Kube reads StoragePolicies, PersistentVolumes, StorageClasses and the leader-election Lease.
	Kube client.Reader
	// Mayastor and Prometheus are the clients the operator uses; MayastorWhere and
	// PrometheusWhere name them in messages (a URL, or "service NS/NAME:PORT").
	Mayastor        MayastorReader
	MayastorWhere   string
	Prometheus      PrometheusReader
	PrometheusWhere string
	// MayastorFix and PrometheusFix say how to point the check (and the operator) elsewhere,
	// in the words of the caller's flags.
	MayastorFix, PrometheusFix string
	// PresenceQuery is the operator's --iops-presence-query (default promwatch's).
	PresenceQuery string
	// LeaseNamespace is where the leader-election Lease is; empty: look in every namespace.
	LeaseNamespace string
	// NoLeaderElection: the operator runs without --leader-elect, so there is no Lease to read.
	NoLeaderElection bool
	// Clock is the time (the real one when nil).
	Clock clock.PassiveClock
}

func (c *Checker) now() time.Time {
	if c.Clock == nil {
		return time.Now()
	}
	return c.Clock.Now()
}

// Run runs every check, in order: Mayastor, io-engine versions, Prometheus, the leader, the
// operator's metrics, then each StoragePolicy (spec, pools, volumes, IOPS). A check whose input
// is missing (Mayastor or Prometheus unreachable) is left out rather than failed again.
func (c *Checker) Run(ctx context.Context) []Result {
	var out []Result
	add := func(rs ...Result) { out = append(out, rs...) }

	nodes, nodesErr := c.Mayastor.ListNodes(ctx)
	add(c.checkMayastor(nodes, nodesErr)...)
	var pools []mayastor.Pool
	var poolsErr error
	if nodesErr == nil {
		pools, poolsErr = c.Mayastor.ListPools(ctx)
		if poolsErr != nil {
			add(Result{Status: Fail, Check: "mayastor", What: fmt.Sprintf("Mayastor at %s lists its nodes but not its pools: %s", c.MayastorWhere, oneLine(poolsErr.Error())),
				Fix: "check the REST API's logs (the api-rest pod in Mayastor's namespace)"})
		}
	}

	promOK := c.checkPrometheus(ctx, add)
	held := c.checkLeader(ctx, add)
	if promOK {
		c.checkOperatorMetrics(ctx, held, add)
	}
	c.checkPolicies(ctx, pools, nodesErr == nil && poolsErr == nil, promOK, add)
	return out
}

// Failed counts the results that failed.
func Failed(results []Result) int {
	n := 0
	for _, r := range results {
		if r.Status == Fail {
			n++
		}
	}
	return n
}

// Print writes one line per result, "ok|warn|fail  what  fix: how", and a summary line.
func Print(w io.Writer, results []Result) error {
	var ok, warn, fail int
	for _, r := range results {
		line := fmt.Sprintf("%-4s  %s", r.Status, r.What)
		if r.Fix != "" {
			line += "  fix: " + r.Fix
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
		switch r.Status {
		case OK:
			ok++
		case Warn:
			warn++
		case Fail:
			fail++
		}
	}
	_, err := fmt.Fprintf(w, "%d ok, %d warn, %d fail\n", ok, warn, fail)
	return err
}

// PrintStructured writes the results as JSON or YAML (format "json" or "yaml").
func PrintStructured(w io.Writer, format string, results []Result) error {
	if results == nil {
		results = []Result{}
	}
	if format == "yaml" {
		b, err := yaml.Marshal(results)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(results)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// list writes at most max items, then "and N more".
func list(items []string, max int) string {
	items = slices.Clone(items)
	slices.Sort(items)
	if len(items) <= max {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:max], ", ") + fmt.Sprintf(" and %d more", len(items)-max)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

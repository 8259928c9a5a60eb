package preflight

import (
	"cmp"
	"context"
	"fmt"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/promwatch"
)

// BuildInfoMetric is a gauge every operator process exports from its start, whether it leads or
// not (internal/controller's BuildInfo).
const BuildInfoMetric = "couchestor_build_info"

// leaderMetric is controller-runtime's leader-election gauge: 1 on the replica that leads.
const leaderMetric = "leader_election_master_status"

// checkPrometheus asks Prometheus whether it holds the series the IOPS are computed from; false
// when Prometheus did not answer (the checks that need it are then left out).
func (c *Checker) checkPrometheus(ctx context.Context, add func(...Result)) bool {
	presence := cmp.Or(c.PresenceQuery, promwatch.DefaultPresenceQuery)
	series, err := c.Prometheus.Instant(ctx, "volume series", "count("+presence+")", c.now())
	if err != nil {
		add(Result{Status: Fail, Check: "prometheus", What: fmt.Sprintf("Prometheus at %s: %s", c.PrometheusWhere, oneLine(err.Error())), Fix: c.PrometheusFix})
		return false
	}
	n := 0
	if len(series) == 1 {
		n = int(series[0].Value)
	}
	if n == 0 {
		add(Result{Status: Fail, Check: "prometheus",
			What: fmt.Sprintf("Prometheus at %s answers but has no series of %s: no volume's IOPS can be known", c.PrometheusWhere, presence),
			Fix:  "Mayastor exports volume_num_read_ops and volume_num_write_ops from 2.6 on, on the io-engine pods' metrics port (9502): scrape it (docs/guide/prerequisites.md)"})
		return true
	}
	add(Result{Status: OK, Check: "prometheus", What: fmt.Sprintf("Prometheus at %s answers: %d series of %s", c.PrometheusWhere, n, presence)})
	return true
}

// checkOperatorMetrics asks Prometheus whether it scrapes the operator. It looks for a series
// only the operator exports rather than for up{job=...}: the job's name depends on how the
// scrape is configured (a ServiceMonitor, a scrape config by hand), while the series is there
// whatever the job, and only while the scrape succeeds (Prometheus marks a target's series stale
// as soon as a scrape of it fails). leaderHeld says a live Lease was found: the leader's
// /metrics must then be among those scraped.
func (c *Checker) checkOperatorMetrics(ctx context.Context, leaderHeld bool, add func(...Result)) {
	at := c.now()
	series, err := c.Prometheus.Instant(ctx, "operator metrics", BuildInfoMetric, at)
	if err != nil {
		add(Result{Status: Fail, Check: "operator-metrics", What: fmt.Sprintf("Prometheus at %s: %s", c.PrometheusWhere, oneLine(err.Error())), Fix: c.PrometheusFix})
		return
	}
	if len(series) == 0 {
		add(Result{Status: Fail, Check: "operator-metrics",
			What: fmt.Sprintf("Prometheus at %s has no %s series: the operator's /metrics is not scraped (or its scrapes fail), so its alerts and dashboard are blind", c.PrometheusWhere, BuildInfoMetric),
			Fix:  "with the Prometheus Operator, install the chart with serviceMonitor.enabled=true; otherwise scrape the <release>-controller-manager-metrics-service over HTTPS with a token allowed by the <release>-metrics-reader ClusterRole (docs/metrics-alerts.md)"})
		return
	}
	var targets []string
	for _, s := range series {
		targets = append(targets, fmt.Sprintf("job=%s instance=%s version=%s", cmp.Or(s.Labels["job"], "-"), cmp.Or(s.Labels["instance"], "-"), cmp.Or(s.Labels["version"], "-")))
	}
	add(Result{Status: OK, Check: "operator-metrics", What: fmt.Sprintf("Prometheus scrapes the operator's /metrics: %s", list(targets, 3))})
	if !leaderHeld {
		return
	}
	leaders, err := c.Prometheus.Instant(ctx, "leader metric", fmt.Sprintf("%s{name=%q} == 1", leaderMetric, storagev1.LeaderElectionID), at)
	if err != nil {
		add(Result{Status: Fail, Check: "operator-metrics", What: fmt.Sprintf("Prometheus at %s: %s", c.PrometheusWhere, oneLine(err.Error())), Fix: c.PrometheusFix})
		return
	}
	if len(leaders) == 0 {
		add(Result{Status: Warn, Check: "operator-metrics",
			What: "no scraped operator replica reports itself leader (" + leaderMetric + "): the leader's /metrics, where the migrations are counted, is not scraped",
			Fix:  "scrape every replica: the metrics Service selects them all; check the scrape targets in Prometheus's /targets page"})
	}
}

package cli

import (
	"context"
	"flag"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/billyronks/couchestor/internal/operator"
	"github.com/billyronks/couchestor/internal/preflight"
	"github.com/billyronks/couchestor/internal/promwatch"
)

type checkOptions struct {
	planOptions
	leaseNamespace string
	leaderElect    bool
}

func newCheckCommand(o *Options) *cobra.Command {
	co := &checkOptions{planOptions: planOptions{Options: o, prometheus: promwatch.DefaultConfig()}}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check that CoucheStor can work here: Mayastor, pools, StorageClasses, Prometheus, the operator",
		Long: `check runs the preflight checks, one line each: ok, warn or fail, what it found and, unless ok,
how to fix it. It exits 1 when a check fails.

  mayastor           Mayastor's REST API answers GET /v0/nodes
  io-engine-version  every io-engine is 2.6 or later (volume IOPS metrics exist from 2.6)
  prometheus         Prometheus answers and holds volume_num_read_ops series
  leader             the operator's leader-election Lease is held and was renewed recently
  operator-metrics   Prometheus scrapes the operator's /metrics (its couchestor_build_info series),
                     the leader's among them
  policy/NAME/...    for each StoragePolicy: its spec compiles, its pool selectors find pools on
                     both tiers, its StorageClass exists and selects Mayastor volumes, and
                     Prometheus's IOPS cover the sampling window for them

The same checks run in the cluster with the operator's image (couchestor check, the chart's
helm test). From outside the cluster, reach Mayastor and Prometheus through the API server's
service proxy (--mayastor-service, --prometheus-service).`,
		Example: `  kubectl couchestor check --mayastor-service openebs/openebs-api-rest:8081 --prometheus-service monitoring/prometheus:9090
  kubectl couchestor check --mayastor-url http://localhost:8081 --prometheus-url http://localhost:9090 -o json
  helm test couchestor -n couchestor-system --logs`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return co.run(cmd.Context()) },
	}
	fs := cmd.Flags()
	outputFlag(fs, cmd, &co.output)
	fs.StringVar(&co.mayastorURL, "mayastor-url", operator.DefaultMayastorURL, "Mayastor control-plane REST API (v0) URL; the default is the standalone Mayastor chart's Service, OpenEBS 4.x's is http://openebs-api-rest.openebs.svc.cluster.local:8081")
	fs.StringVar(&co.mayastorService, "mayastor-service", "", "reach Mayastor's REST API through the API server's service proxy: NAMESPACE/SERVICE:PORT, e.g. mayastor/mayastor-api-rest:8081, or openebs/openebs-api-rest:8081 with OpenEBS 4.x (instead of --mayastor-url)")
	fs.StringVar(&co.promService, "prometheus-service", "", "reach Prometheus through the API server's service proxy: NAMESPACE/SERVICE:PORT, e.g. monitoring/prometheus:9090 (instead of --prometheus-url)")
	goFlags := flag.NewFlagSet("check", flag.ContinueOnError)
	co.prometheus.RegisterFlags(goFlags) // --prometheus-url and the others, as the operator has them
	fs.AddGoFlagSet(goFlags)
	fs.StringVar(&co.leaseNamespace, "leader-election-namespace", "", "the operator's --leader-election-namespace, where its Lease is (default: look in every namespace)")
	fs.BoolVar(&co.leaderElect, "leader-elect", true, "the operator runs with --leader-elect (the chart's default); false skips the Lease check")
	return cmd
}

func (co *checkOptions) run(ctx context.Context) error {
	if err := checkOutput(co.output); err != nil {
		return err
	}
	ctx, cancel := co.context(ctx)
	defer cancel()
	c, rc, err := co.client()
	if err != nil {
		return err
	}
	ms, msWhere, err := co.mayastorClient(rc)
	if err != nil {
		return err
	}
	prom, promWhere, err := co.iopsEvaluator(rc)
	if err != nil {
		return err
	}
	checker := &preflight.Checker{
		Kube: c, Mayastor: ms, MayastorWhere: msWhere, Prometheus: prom, PrometheusWhere: promWhere,
		MayastorFix:      "point --mayastor-url at Mayastor's REST Service (OpenEBS 4.x: openebs-api-rest in namespace openebs, port 8081), or from outside the cluster use --mayastor-service NAMESPACE/SERVICE:PORT; the operator needs the same --mayastor-url",
		PrometheusFix:    "point --prometheus-url (and its credentials flags) at Prometheus, or from outside the cluster use --prometheus-service NAMESPACE/SERVICE:PORT; the operator needs the same --prometheus-url",
		PresenceQuery:    co.prometheus.PresenceQuery,
		LeaseNamespace:   co.leaseNamespace,
		NoLeaderElection: !co.leaderElect,
		Clock:            clockFunc(co.now),
	}
	results := checker.Run(ctx)
	if ctx.Err() != nil {
		return fmt.Errorf("check: gave up after --request-timeout %s", co.Timeout)
	}
	switch co.output {
	case "json", "yaml":
		err = preflight.PrintStructured(co.Out, co.output, results)
	default:
		err = preflight.Print(co.Out, results)
	}
	if err != nil {
		return err
	}
	if n := preflight.Failed(results); n > 0 {
		return fmt.Errorf("%s failed", plural(n, "check", "checks"))
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

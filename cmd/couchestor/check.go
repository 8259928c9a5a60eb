package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/operator"
	"github.com/billyronks/couchestor/internal/preflight"
	"github.com/billyronks/couchestor/internal/promwatch"
	"github.com/billyronks/couchestor/internal/version"
)

// checkTimeout bounds the whole check: a helm test must end.
const checkTimeout = 2 * time.Minute

// podNamespaceFile is where a pod finds its namespace, the default of --leader-election-namespace.
const podNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// runCheck runs the preflight checks with the operator's configuration and prints one line per
// check; its exit status is 1 when a check failed.
func runCheck(cfg *operator.Config) int {
	ctx, cancel := context.WithTimeout(ctrl.SetupSignalHandler(), checkTimeout)
	defer cancel()
	fail := func(err error) int {
		fmt.Fprintf(os.Stderr, "couchestor check: %v\n", err)
		return 1
	}
	restCfg, err := operator.RESTConfig(cfg)
	if err != nil {
		return fail(err)
	}
	restCfg.UserAgent = version.String("couchestor-check")
	kube, err := client.New(restCfg, client.Options{Scheme: operator.NewScheme()})
	if err != nil {
		return fail(fmt.Errorf("API server: %w", err))
	}
	ms, err := mayastor.New(mayastor.Config{BaseURL: cfg.MayastorURL, UserAgent: version.String("couchestor-check")})
	if err != nil {
		return fail(fmt.Errorf("--mayastor-url: %w", err))
	}
	prom, err := promwatch.New(cfg.Prometheus)
	if err != nil {
		return fail(err)
	}
	leaseNS := cfg.LeaderElectionNamespace
	if leaseNS == "" {
		if b, err := os.ReadFile(podNamespaceFile); err == nil {
			leaseNS = strings.TrimSpace(string(b))
		}
	}
	checker := &preflight.Checker{
		Kube: kube, Mayastor: ms, MayastorWhere: cfg.MayastorURL, Prometheus: prom, PrometheusWhere: cfg.Prometheus.URL,
		MayastorFix:      "set the chart's config.mayastorUrl (the operator's --mayastor-url) to Mayastor's REST Service: OpenEBS 4.x http://openebs-api-rest.openebs.svc.cluster.local:8081",
		PrometheusFix:    "set the chart's config.prometheusUrl (the operator's --prometheus-url) and its credentials to the Prometheus that scrapes Mayastor",
		PresenceQuery:    cfg.Prometheus.PresenceQuery,
		LeaseNamespace:   leaseNS,
		NoLeaderElection: !cfg.LeaderElect,
	}
	results := checker.Run(ctx)
	if ctx.Err() != nil {
		return fail(fmt.Errorf("gave up after %s: %w", checkTimeout, ctx.Err()))
	}
	if err := preflight.Print(os.Stdout, results); err != nil {
		return fail(err)
	}
	if preflight.Failed(results) > 0 {
		return 1
	}
	return 0
}

package cli

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/observer"
	"github.com/billyronks/couchestor/internal/operator"
	"github.com/billyronks/couchestor/internal/promwatch"
	"github.com/billyronks/couchestor/internal/tiering"
	"github.com/billyronks/couchestor/internal/version"
)

type planOptions struct {
	*Options
	policy          string
	output          string
	mayastorURL     string
	mayastorService string
	promService     string
	prometheus      promwatch.Config
	maxConcurrent   int
	operatorDryRun  bool
}

func newPlanCommand(o *Options) *cobra.Command {
	po := &planOptions{Options: o, prometheus: promwatch.DefaultConfig()}
	cmd := &cobra.Command{
		Use:   "plan [pvc/NAMESPACE/NAME]",
		Short: "For each policy and each volume it selects, the decision right now and why",
		Long: `plan observes the cluster once, as the operator does every --observe-interval (StoragePolicies,
PersistentVolumes and their claims, TierMigrations from the API server; volumes and pools from
Mayastor; IOPS from Prometheus), and runs the operator's planner on it for every StoragePolicy.
Nothing is written: it works whether or not the operator is running.

Each volume is named by its PVC (namespace/name), or by its PV when unbound. Its action is Move
(a migration would start now), Wait (it would move, but waits for a slot or for room) or Stay,
with the reason (the same reasons as the policy's status and Events) and a sentence.

From outside the cluster, reach Mayastor and Prometheus through the API server's service proxy
(--mayastor-service, --prometheus-service), or through a port-forward and --mayastor-url,
--prometheus-url.

With pvc/NAMESPACE/NAME (or pvc/NAME in --namespace) it answers "why (not) this volume?": the
policies that select the PVC's volume, each one's decision and reason, the volume's IOPS against
the watermarks, the cooldown (and anti-flap) time left, the migration window and the slots.`,
		Example: `  kubectl couchestor plan
  kubectl couchestor plan pvc/shop/postgres-data
  kubectl couchestor plan pvc/postgres-data -n shop -o json`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageErrorf("unexpected argument %q: plan takes at most one pvc/NAMESPACE/NAME", args[1])
			}
			return nil
		},
		ValidArgsFunction: completeClaims(o),
		RunE:              func(cmd *cobra.Command, args []string) error { return po.run(cmd.Context(), args) },
	}
	cmd.Flags().StringVar(&po.policy, "policy", "", "only this StoragePolicy (default: every one)")
	po.registerObservationFlags(cmd)
	return cmd
}

// registerObservationFlags adds the flags that say how to observe the cluster as the operator
// does (output, Mayastor, Prometheus, the operator's slots and dry-run), for plan and backtest.
func (po *planOptions) registerObservationFlags(cmd *cobra.Command) {
	fs := cmd.Flags()
	outputFlag(fs, cmd, &po.output)
	fs.StringVar(&po.mayastorURL, "mayastor-url", operator.DefaultMayastorURL, "Mayastor control-plane REST API (v0) URL; the default is the standalone Mayastor chart's Service, OpenEBS 4.x's is http://openebs-api-rest.openebs.svc.cluster.local:8081")
	fs.StringVar(&po.mayastorService, "mayastor-service", "", "reach Mayastor's REST API through the API server's service proxy: NAMESPACE/SERVICE:PORT, e.g. mayastor/mayastor-api-rest:8081, or openebs/openebs-api-rest:8081 with OpenEBS 4.x (instead of --mayastor-url)")
	fs.StringVar(&po.promService, "prometheus-service", "", "reach Prometheus through the API server's service proxy: NAMESPACE/SERVICE:PORT, e.g. monitoring/prometheus:9090 (instead of --prometheus-url)")
	goFlags := flag.NewFlagSet("plan", flag.ContinueOnError)
	po.prometheus.RegisterFlags(goFlags) // --prometheus-url and the others, as the operator has them
	fs.AddGoFlagSet(goFlags)
	fs.IntVar(&po.maxConcurrent, "max-concurrent-migrations", operator.DefaultMaxConcurrentMigrations, "the operator's --max-concurrent-migrations (slots shared by every policy)")
	fs.BoolVar(&po.operatorDryRun, "operator-dry-run", false, "plan as an operator started with --dry-run would")
	_ = cmd.RegisterFlagCompletionFunc("policy", completePolicies(po.Options))
}

func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("unexpected argument %q", args[0])
	}
	return nil
}

// PlanReport is plan's JSON and YAML output.
type PlanReport struct {
	// Taken is when the observation was made.
	Taken    string         `json:"taken"`
	Policies []PolicyReport `json:"policies"`
}

// PolicyReport is one policy's plan.
type PolicyReport struct {
	Name    string `json:"name"`
	Enabled bool   `json:"enabled"`
	DryRun  bool   `json:"dryRun"`
	// Ready, StorageAvailable and MetricsAvailable are the conditions the operator would write.
	Ready            *ConditionReport `json:"ready,omitempty"`
	StorageAvailable *ConditionReport `json:"storageAvailable,omitempty"`
	MetricsAvailable *ConditionReport `json:"metricsAvailable,omitempty"`
	Counts           CountsReport     `json:"counts"`
	Volumes          []VolumeReport   `json:"volumes"`
}

// CountsReport are the figures the operator would write in the policy's status.
type CountsReport struct {
	Watched int `json:"watched"`
	NVMe    int `json:"nvme"`
	SATA    int `json:"sata"`
	Unknown int `json:"unknown"`
	// Planned: volumes waiting for a slot or room; Active: the policy's migrations in flight.
	Planned int `json:"planned"`
	Active  int `json:"active"`
	// WaitingApproval: volumes whose migration waits for a person's approval (Manual policies).
	WaitingApproval int `json:"waitingApproval"`
}

// ConditionReport is one condition.
type ConditionReport struct {
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// VolumeReport is the decision about one volume.
type VolumeReport struct {
	// PVC is "namespace/name" of the bound claim, empty when unbound.
	PVC              string `json:"pvc,omitempty"`
	PersistentVolume string `json:"persistentVolume"`
	VolumeID         string `json:"volumeID"`
	// Placement is where its replicas are: NVMe, SATA, Mixed, Other, or empty when not known.
	Placement string `json:"placement,omitempty"`
	// IOPS is the mean over the policy's window, absent when unknown (IOPSUnknown says why).
	IOPS        *float64 `json:"iops,omitempty"`
	IOPSUnknown string   `json:"iopsUnknown,omitempty"`
	// Action is Move, Wait or Stay; To the tier it moves or would move to.
	Action  string `json:"action"`
	To      string `json:"to,omitempty"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

func (v VolumeReport) name() string { return cmp.Or(v.PVC, v.PersistentVolume) }

func (po *planOptions) run(ctx context.Context, args []string) error {
	if err := checkOutput(po.output); err != nil {
		return err
	}
	if po.maxConcurrent <= 0 {
		return usageErrorf("--max-concurrent-migrations: must be a positive number, got %d", po.maxConcurrent)
	}
	var ns, name string
	if len(args) == 1 {
		var err error
		if ns, name, err = parsePVCRef(args[0], ""); err != nil {
			return err
		}
		if ns == "" {
			ns = po.namespace()
		}
	}
	ctx, cancel := po.context(ctx)
	defer cancel()
	c, rc, err := po.client()
	if err != nil {
		return err
	}
	if len(args) == 1 {
		return po.runClaim(ctx, c, rc, ns, name)
	}
	snap, err := po.observe(ctx, c, rc)
	if err != nil {
		return err
	}

	report := PlanReport{Taken: snap.Taken.UTC().Format("2006-01-02T15:04:05Z"), Policies: []PolicyReport{}}
	flags := tiering.Flags{DryRun: po.operatorDryRun, MaxConcurrentMigrations: po.maxConcurrent}
	policies := slices.Clone(snap.Policies)
	slices.SortFunc(policies, func(a, b *storagev1.StoragePolicy) int { return strings.Compare(a.Name, b.Name) })
	for _, p := range policies {
		if po.policy != "" && p.Name != po.policy {
			continue
		}
		plan := tiering.PlanPolicy(snap, p, flags, po.now())
		report.Policies = append(report.Policies, policyReport(snap, p, &plan))
	}
	if po.output != "table" {
		return printStructured(po.Out, po.output, report)
	}
	return printPlanTable(po, report)
}

// observe takes one observation of the cluster as the operator does, and warns on ErrOut when
// Mayastor or Prometheus could not be read.
func (po *planOptions) observe(ctx context.Context, c client.Client, rc *rest.Config) (*tiering.Snapshot, error) {
	ms, msWhere, err := po.mayastorClient(rc)
	if err != nil {
		return nil, err
	}
	iops, promWhere, err := po.iopsEvaluator(rc)
	if err != nil {
		return nil, err
	}
	if po.policy != "" {
		var p storagev1.StoragePolicy
		if err := c.Get(ctx, clientKey("", po.policy), &p); err != nil {
			return nil, notFoundOr(err, "StoragePolicy %q not found", po.policy)
		}
	}
	obs, err := observer.New(c, ms, iops)
	if err != nil {
		return nil, err
	}
	obs.Clock = clockFunc(po.now)
	snap, err := obs.Observe(ctx)
	if err != nil {
		return nil, fmt.Errorf("observe the cluster: %w", err)
	}
	if snap.MayastorProblem != nil {
		fmt.Fprintf(po.ErrOut, "warning: Mayastor at %s could not be read (%s): no policy can decide; from outside the cluster try --mayastor-service NAMESPACE/SERVICE:PORT\n",
			msWhere, oneLine(snap.MayastorProblem.Message))
	}
	warnedProm := false
	for _, o := range snap.IOPS {
		if o.Problem != nil && !warnedProm {
			warnedProm = true
			fmt.Fprintf(po.ErrOut, "warning: Prometheus at %s: %s (%s): no policy using it can decide; from outside the cluster try --prometheus-service NAMESPACE/SERVICE:PORT\n",
				promWhere, o.Problem.Reason, oneLine(o.Problem.Message))
		}
	}
	return snap, nil
}

func policyReport(s *tiering.Snapshot, p *storagev1.StoragePolicy, plan *tiering.PolicyPlan) PolicyReport {
	r := PolicyReport{Name: p.Name, Enabled: p.IsEnabled(), DryRun: plan.DryRun, Counts: CountsReport(plan.Counts), Volumes: []VolumeReport{},
		Ready: condition(plan.Ready), StorageAvailable: condition(plan.Storage), MetricsAvailable: condition(plan.Metrics)}
	var iops *tiering.IOPSObservation
	if key, err := tiering.IOPSKeyOf(&p.Spec); err == nil {
		iops = s.IOPS[key]
	}
	for _, d := range plan.Volumes {
		v := VolumeReport{PVC: d.Claim, PersistentVolume: d.PVName, VolumeID: d.VolumeID, Placement: string(d.Placement),
			Action: string(d.Action), To: string(d.To), Reason: d.Reason, Message: d.Message}
		switch {
		case iops == nil:
			v.IOPSUnknown = "not evaluated"
		case iops.Problem != nil:
			v.IOPSUnknown = iops.Problem.Reason
		default:
			if m, ok := iops.Volumes[d.VolumeID]; ok && m.Known {
				x := m.IOPS
				v.IOPS = &x
			} else {
				v.IOPSUnknown = cmp.Or(m.Reason, "no data")
			}
		}
		r.Volumes = append(r.Volumes, v)
	}
	slices.SortFunc(r.Volumes, func(a, b VolumeReport) int { return strings.Compare(a.name(), b.name()) })
	return r
}

func condition(c tiering.Condition) *ConditionReport {
	if c.Status == "" {
		return nil
	}
	return &ConditionReport{Status: string(c.Status), Reason: c.Reason, Message: c.Message}
}

func printPlanTable(po *planOptions, report PlanReport) error {
	if len(report.Policies) == 0 {
		fmt.Fprintln(po.Out, "No StoragePolicy found.")
		return nil
	}
	for i, p := range report.Policies {
		if i > 0 {
			fmt.Fprintln(po.Out)
		}
		mode := ""
		if p.DryRun {
			mode = " (dry run)"
		}
		ready := "Ready=Unknown"
		if p.Ready != nil {
			ready = fmt.Sprintf("Ready=%s (%s): %s", p.Ready.Status, p.Ready.Reason, p.Ready.Message)
		}
		fmt.Fprintf(po.Out, "StoragePolicy %s%s: %s\n", p.Name, mode, ready)
		if len(p.Volumes) == 0 {
			fmt.Fprintln(po.Out, "  selects no volume")
			continue
		}
		tw := tabwriter.NewWriter(po.Out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PVC\tTIER\tIOPS\tACTION\tTO\tREASON\tMESSAGE")
		for _, v := range p.Volumes {
			iops := "unknown"
			if v.IOPS != nil {
				iops = fmt.Sprintf("%.1f", *v.IOPS)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.name(), dash(v.Placement), iops, v.Action, dash(v.To), dash(v.Reason), v.Message)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func dash(s string) string { return cmp.Or(s, "-") }

// mayastorClient reaches Mayastor at --mayastor-url, or through the API server's service proxy.
func (po *planOptions) mayastorClient(rc *rest.Config) (*mayastor.Client, string, error) {
	cfg := mayastor.Config{BaseURL: po.mayastorURL, UserAgent: version.String(Name)}
	where := po.mayastorURL
	if po.mayastorService != "" {
		base, err := serviceProxyURL(rc, po.mayastorService)
		if err != nil {
			return nil, "", usageErrorf("--mayastor-service: %v", err)
		}
		hc, err := rest.HTTPClientFor(rc)
		if err != nil {
			return nil, "", err
		}
		cfg.BaseURL, cfg.HTTPClient, where = base, hc, "service "+po.mayastorService
	}
	ms, err := mayastor.New(cfg)
	if err != nil {
		return nil, "", usageErrorf("--mayastor-url: %s", strings.TrimPrefix(err.Error(), "mayastor: "))
	}
	return ms, where, nil
}

// prometheusEndpoint is Prometheus's URL and the transport to reach it (nil for the default):
// --prometheus-url, or the API server's service proxy with --prometheus-service; where says
// which, for messages.
func (po *planOptions) prometheusEndpoint(rc *rest.Config) (promURL string, rt http.RoundTripper, where string, err error) {
	if po.promService == "" {
		return po.prometheus.URL, nil, po.prometheus.URL, nil
	}
	base, err := serviceProxyURL(rc, po.promService)
	if err != nil {
		return "", nil, "", usageErrorf("--prometheus-service: %v", err)
	}
	if rt, err = rest.TransportFor(rc); err != nil {
		return "", nil, "", err
	}
	return base, rt, "service " + po.promService, nil
}

// iopsEvaluator reaches Prometheus at --prometheus-url, or through the API server's service proxy.
func (po *planOptions) iopsEvaluator(rc *rest.Config) (*promwatch.Watcher, string, error) {
	cfg := po.prometheus
	promURL, rt, where, err := po.prometheusEndpoint(rc)
	if err != nil {
		return nil, "", err
	}
	if rt != nil {
		cfg.URL, cfg.Transport = promURL, rt
	}
	if err := cfg.Validate(); err != nil {
		return nil, "", UsageError{err}
	}
	w, err := promwatch.New(cfg)
	if err != nil {
		return nil, "", UsageError{err}
	}
	return w, where, nil
}

// serviceProxyURL is the API server's proxy to a Service port: NAMESPACE/SERVICE:PORT, PORT a
// number or a port name; https:SERVICE:PORT for a port that serves TLS.
func serviceProxyURL(rc *rest.Config, service string) (string, error) {
	bad := fmt.Errorf("%q: want NAMESPACE/SERVICE:PORT", service)
	ns, target, ok := strings.Cut(service, "/")
	if !ok || ns == "" {
		return "", bad
	}
	parts := strings.Split(target, ":")
	if len(parts) < 2 || len(parts) > 3 || len(parts) == 3 && parts[0] != "http" && parts[0] != "https" {
		return "", bad
	}
	for _, part := range parts {
		if part == "" || strings.ContainsAny(part, "/?#") {
			return "", bad
		}
	}
	host := rc.Host
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	u, err := url.Parse(host)
	if err != nil {
		return "", fmt.Errorf("API server URL %q: %v", rc.Host, err)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/api/v1/namespaces/" + ns + "/services/" + target + "/proxy"
	return u.String(), nil
}

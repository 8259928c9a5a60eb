package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/backtest"
	"github.com/billyronks/couchestor/internal/observer"
	"github.com/billyronks/couchestor/internal/promwatch"
)

// backtestTimeout is backtest's whole-command limit when --timeout is not given.
const backtestTimeout = 30 * time.Minute

type backtestOptions struct {
	planOptions
	policyFile string
	from, to   string
	step       time.Duration
	gridLow    string
	gridHigh   string
}

func newBacktestCommand(o *Options) *cobra.Command {
	bo := &backtestOptions{planOptions: planOptions{Options: o, prometheus: promwatch.DefaultConfig()}}
	cmd := &cobra.Command{
		Use:   "backtest --policy P | --policy-file F [--from -14d] [--to now]",
		Short: "Replay a policy over Prometheus history: the moves it would have made, flips, bytes rebuilt",
		Long: `backtest replays the planner's rules (watermarks, Unknown never read as zero, cooldown, slots) over
the IOPS history Prometheus holds, starting from the volumes' current tiers, and reports the moves
the policy would have made per volume and per day, flips (a volume moved and moved back), the
bytes that would have been rebuilt and the time volumes would have spent on the right tier. With
--grid-low and --grid-high it also answers which watermarks would have kept flips at zero.
It only reads (the cluster once, Prometheus with a few range queries): see docs/backtest.md.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("timeout") {
				bo.Timeout = backtestTimeout // 14 days of 10,000 volumes take a few minutes at a 5m step
			}
			return bo.run(cmd.Context())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&bo.policy, "policy", "", "replay this StoragePolicy from the cluster")
	bo.registerObservationFlags(cmd)
	fs.StringVar(&bo.policyFile, "policy-file", "", "replay the StoragePolicy in this YAML file instead of one from the cluster")
	fs.StringVar(&bo.from, "from", "-14d", "start: an RFC 3339 time or a negative offset from now (-14d, -36h)")
	fs.StringVar(&bo.to, "to", "now", "end: an RFC 3339 time, a negative offset from now, or now")
	fs.DurationVar(&bo.step, "step", 0, "time between two evaluations (default: max(samplingWindow, cooldown/2, 5m))")
	fs.StringVar(&bo.gridLow, "grid-low", "", "comma-separated low watermarks to try (with --grid-high)")
	fs.StringVar(&bo.gridHigh, "grid-high", "", "comma-separated high watermarks to try (with --grid-low)")
	return cmd
}

func (bo *backtestOptions) run(ctx context.Context) error {
	po := &bo.planOptions
	if err := checkOutput(po.output); err != nil {
		return err
	}
	if (po.policy == "") == (bo.policyFile == "") {
		return usageErrorf("give exactly one of --policy and --policy-file")
	}
	now := po.now()
	from, err := parseWhen(bo.from, now)
	if err != nil {
		return usageErrorf("--from: %v", err)
	}
	to, err := parseWhen(bo.to, now)
	if err != nil {
		return usageErrorf("--to: %v", err)
	}
	if !from.Before(to) {
		return usageErrorf("--from (%s) must be before --to (%s)", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	grid, err := parseGrid(bo.gridLow, bo.gridHigh)
	if err != nil {
		return err
	}
	ctx, cancel := po.context(ctx)
	defer cancel()
	c, rc, err := po.client()
	if err != nil {
		return err
	}
	policy, err := bo.loadPolicy(ctx, c)
	if err != nil {
		return err
	}
	ms, msWhere, err := po.mayastorClient(rc)
	if err != nil {
		return err
	}
	watcher, promWhere, err := po.iopsEvaluator(rc)
	if err != nil {
		return err
	}
	// The volumes and their current tiers come from one observation, as plan's; IOPS history
	// comes from Prometheus range queries below, so the observation evaluates no IOPS (it
	// would for every enabled policy in the cluster, whichever is replayed).
	obs, err := observer.New(c, ms, historyOnly{})
	if err != nil {
		return fmt.Errorf("observe the cluster: %w", err)
	}
	obs.Clock = clockFunc(po.now)
	snap, err := obs.Observe(ctx)
	if err != nil {
		return fmt.Errorf("observe the cluster: %w", err)
	}
	if snap.MayastorProblem != nil {
		return fmt.Errorf("Mayastor at %s could not be read (%s): backtest starts from the volumes' current tiers; from outside the cluster try --mayastor-service NAMESPACE/SERVICE:PORT",
			msWhere, oneLine(snap.MayastorProblem.Message))
	}
	vols, err := backtest.VolumesFromSnapshot(snap, policy)
	if err != nil {
		return err
	}
	if len(vols) == 0 {
		return fmt.Errorf("StoragePolicy %q selects no Mayastor volume: no PersistentVolume of StorageClass %q matching its volumeSelector has a volume in Mayastor at %s",
			policy.Name, policy.Spec.StorageClassName, msWhere)
	}
	if err := probePrometheus(ctx, watcher); err != nil {
		return fmt.Errorf("Prometheus at %s: %s; from outside the cluster try --prometheus-service NAMESPACE/SERVICE:PORT", promWhere, oneLine(err.Error()))
	}
	promURL, rt, _, err := po.prometheusEndpoint(rc)
	if err != nil {
		return err
	}
	cfg := backtest.Config{
		Policy: policy, Volumes: vols, From: from, To: to, Step: bo.step, Grid: grid,
		OperatorMaxConcurrentMigrations: po.maxConcurrent,
		PrometheusURL:                   promURL, RoundTripper: rt, IOPSQuery: po.prometheus.IOPSQuery, PresenceQuery: po.prometheus.PresenceQuery,
	}
	report, err := backtest.Run(ctx, cfg)
	if err != nil {
		return err
	}
	switch {
	case po.output == "json":
		return report.WriteJSON(po.Out)
	case strings.HasPrefix(po.output, "jsonpath="):
		var buf strings.Builder
		if err := report.WriteJSON(&buf); err != nil {
			return err
		}
		return printStructured(po.Out, po.output, json.RawMessage(buf.String()))
	case po.output == "yaml":
		var buf strings.Builder
		if err := report.WriteJSON(&buf); err != nil {
			return err
		}
		y, err := yaml.JSONToYAML([]byte(buf.String()))
		if err != nil {
			return err
		}
		_, err = po.Out.Write(y)
		return err
	}
	return report.WriteTable(po.Out)
}

// historyOnly is the observation's IOPS source in backtest: none is evaluated, the replay reads
// the history with range queries of its own.
type historyOnly struct{}

var errHistoryOnly = errors.New("not evaluated: backtest reads IOPS history with range queries")

func (historyOnly) Evaluate(context.Context, promwatch.Request) (*promwatch.Result, error) {
	return nil, errHistoryOnly
}

// probePrometheus asks Prometheus one instant query so that an unreachable, slow or refusing
// Prometheus is one line before the range queries start; any other answer, good or bad, is left
// to the range queries to report.
func probePrometheus(ctx context.Context, w *promwatch.Watcher) error {
	_, err := w.Evaluate(ctx, promwatch.Request{Window: time.Minute})
	if errors.Is(err, promwatch.ErrUnreachable) || errors.Is(err, promwatch.ErrTimeout) || errors.Is(err, promwatch.ErrUnauthorized) {
		return err
	}
	return nil
}

// loadPolicy reads the policy to replay from the cluster (--policy) or a file (--policy-file).
func (bo *backtestOptions) loadPolicy(ctx context.Context, c client.Reader) (*storagev1.StoragePolicy, error) {
	p := &storagev1.StoragePolicy{}
	if bo.policyFile == "" {
		if err := c.Get(ctx, clientKey("", bo.policy), p); err != nil {
			return nil, notFoundOr(err, "StoragePolicy %q not found", bo.policy)
		}
		return p, nil
	}
	raw, err := os.ReadFile(bo.policyFile)
	if err != nil {
		return nil, usageErrorf("--policy-file: %v", err)
	}
	if err := yaml.UnmarshalStrict(raw, p); err != nil {
		return nil, usageErrorf("--policy-file %s: %v", bo.policyFile, err)
	}
	if p.Kind != "" && p.Kind != "StoragePolicy" {
		return nil, usageErrorf("--policy-file %s: kind %q, want StoragePolicy", bo.policyFile, p.Kind)
	}
	return p, nil
}

// parseWhen reads an RFC 3339 time, "now", or a negative offset from now such as -14d or -36h.
func parseWhen(s string, now time.Time) (time.Time, error) {
	switch {
	case s == "now":
		return now, nil
	case strings.HasPrefix(s, "-"):
		d, err := parseOffset(s[1:])
		if err != nil {
			return time.Time{}, err
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want now, -14d, -36h or an RFC 3339 time", s)
	}
	return t, nil
}

func parseOffset(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%q: want a positive number of days", "-"+s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q: want a positive offset such as -14d or -36h", "-"+s)
	}
	return d, nil
}

func parseGrid(lows, highs string) ([]backtest.Watermarks, error) {
	if lows == "" && highs == "" {
		return nil, nil
	}
	if lows == "" || highs == "" {
		return nil, usageErrorf("--grid-low and --grid-high go together")
	}
	l, err := parseInts(lows)
	if err != nil {
		return nil, usageErrorf("--grid-low: %v", err)
	}
	h, err := parseInts(highs)
	if err != nil {
		return nil, usageErrorf("--grid-high: %v", err)
	}
	return backtest.WatermarkGrid(l, h), nil
}

func parseInts(s string) ([]int64, error) {
	var out []int64
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%q is not a non-negative whole number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

package cli

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

type statusOptions struct {
	*Options
	output string
	all    bool
}

func newStatusCommand(o *Options) *cobra.Command {
	so := &statusOptions{Options: o}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "TierMigrations in flight: phase, sync progress, time left to their deadline",
		Long: `status lists the TierMigrations that have not ended, oldest first, with the PVC of each volume,
its phase, how far the new replica has synced, and the time left before the round's deadline
(status.deadline: past it, a round that has not rebuilt its replica is rolled back).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return so.run(cmd.Context()) },
	}
	outputFlag(cmd.Flags(), cmd, &so.output)
	cmd.Flags().BoolVarP(&so.all, "all", "A", false, "list finished TierMigrations too")
	return cmd
}

// MigrationReport is one TierMigration in status's JSON and YAML output.
type MigrationReport struct {
	Name             string `json:"name"`
	PVC              string `json:"pvc,omitempty"`
	PersistentVolume string `json:"persistentVolume,omitempty"`
	VolumeID         string `json:"volumeID"`
	Policy           string `json:"policy,omitempty"`
	From             string `json:"from,omitempty"`
	To               string `json:"to"`
	Phase            string `json:"phase"`
	// SyncProgress is the new replica's rebuild, in percent.
	SyncProgress int32 `json:"syncProgress"`
	DryRun       bool  `json:"dryRun,omitempty"`
	// Deadline is status.deadline; TimeLeft the time to it (negative: past), absent before the
	// migration starts or once it ended.
	Deadline        string `json:"deadline,omitempty"`
	TimeLeftSeconds *int64 `json:"timeLeftSeconds,omitempty"`
	Age             string `json:"age"`
	Error           string `json:"error,omitempty"`
	// Placeholders are the placeholder replicas the migration holds in Mayastor
	// (status.checkpoint.placeholders): "pool/uuid".
	Placeholders []string `json:"placeholders,omitempty"`
}

func (so *statusOptions) run(ctx context.Context) error {
	if err := checkOutput(so.output); err != nil {
		return err
	}
	ctx, cancel := so.context(ctx)
	defer cancel()
	c, _, err := so.client()
	if err != nil {
		return err
	}
	var list storagev1.TierMigrationList
	if err := c.List(ctx, &list); err != nil {
		return fmt.Errorf("list TierMigrations: %s", oneLine(err.Error()))
	}
	now := so.now()
	reports := []MigrationReport{}
	items := list.Items
	slices.SortFunc(items, func(a, b storagev1.TierMigration) int {
		return cmp.Or(a.CreationTimestamp.Compare(b.CreationTimestamp.Time), strings.Compare(a.Name, b.Name))
	})
	claims := map[string]string{}
	for i := range items {
		tm := &items[i]
		if tm.Status.Phase.IsTerminal() && !so.all {
			continue
		}
		r := MigrationReport{
			Name: tm.Name, PersistentVolume: tm.Spec.PersistentVolumeName, VolumeID: tm.Spec.VolumeID,
			Policy: tm.Spec.PolicyName, From: string(tm.Status.SourceTier), To: string(tm.Spec.TargetTier),
			Phase: string(cmp.Or(tm.Status.Phase, storagev1.PhasePending)), SyncProgress: tm.Status.SyncProgress,
			DryRun: tm.Spec.DryRun || tm.Status.DryRun, Age: humanDuration(now.Sub(tm.CreationTimestamp.Time)), Error: tm.Status.Error,
		}
		if pv := tm.Spec.PersistentVolumeName; pv != "" {
			if _, done := claims[pv]; !done {
				claims[pv] = claimOf(ctx, c, pv)
			}
			r.PVC = claims[pv]
		}
		if cp := tm.Status.Checkpoint; cp != nil {
			for _, p := range cp.Placeholders {
				r.Placeholders = append(r.Placeholders, p.Pool+"/"+p.ID)
			}
		}
		if d := tm.Status.Deadline; d != nil && !tm.Status.Phase.IsTerminal() {
			r.Deadline = d.UTC().Format(time.RFC3339)
			left := int64(d.Sub(now).Seconds())
			r.TimeLeftSeconds = &left
		}
		reports = append(reports, r)
	}
	switch so.output {
	case "json", "yaml":
		return printStructured(so.Out, so.output, reports)
	}
	if len(reports) == 0 {
		if so.all {
			fmt.Fprintln(so.Out, "No TierMigration found.")
		} else {
			fmt.Fprintln(so.Out, "No TierMigration in flight.")
		}
		return nil
	}
	tw := tabwriter.NewWriter(so.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPVC\tPOLICY\tFROM\tTO\tPHASE\tSYNCED\tTIME LEFT\tPLACEHOLDERS\tAGE")
	for _, r := range reports {
		left := "-"
		if r.TimeLeftSeconds != nil {
			if d := time.Duration(*r.TimeLeftSeconds) * time.Second; d >= 0 {
				left = humanDuration(d)
			} else {
				left = "overdue " + humanDuration(-d)
			}
		}
		phase := r.Phase
		if r.DryRun {
			phase += " (dry run)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d%%\t%s\t%d\t%s\n", r.Name, dash(cmp.Or(r.PVC, r.PersistentVolume)), dash(r.Policy),
			dash(r.From), r.To, phase, r.SyncProgress, left, len(r.Placeholders), r.Age)
	}
	return tw.Flush()
}

// claimOf is the PVC ("namespace/name") bound to a PV, "" when none or unreadable.
func claimOf(ctx context.Context, c client.Client, pvName string) string {
	var pv corev1.PersistentVolume
	if err := c.Get(ctx, clientKey("", pvName), &pv); err != nil || pv.Spec.ClaimRef == nil {
		return ""
	}
	return pv.Spec.ClaimRef.Namespace + "/" + pv.Spec.ClaimRef.Name
}

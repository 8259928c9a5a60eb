package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/operator"
	"github.com/billyronks/couchestor/internal/tiering"
)

type moveOptions struct {
	*Options
	to             string
	policy         string
	allowRepublish bool
	// migrationDryRun is spec.dryRun: the migration walks its decision path without writing to
	// Mayastor. dryRun is kubectl's --dry-run: none, client (print the TierMigration, send
	// nothing) or server (the API server validates it and stores nothing).
	migrationDryRun bool
	dryRun          string
	print           *genericclioptions.PrintFlags
}

func newMoveCommand(o *Options) *cobra.Command {
	mo := &moveOptions{Options: o, print: genericclioptions.NewPrintFlags("created").WithTypeSetter(operator.NewScheme())}
	cmd := &cobra.Command{
		Use:   "move pvc/NAMESPACE/NAME --to nvme|sata",
		Short: "Start a migration of a PVC's volume to NVMe or SATA",
		Long: `move resolves the PVC to its PersistentVolume and Mayastor volume, and creates a TierMigration
for it, named as the operator names the ones its policies start (<tier>-<volume uuid>-<minute>).
It prints the TierMigration's name (-o yaml|json: the object); follow it with
"kubectl couchestor status".

The TierMigration takes its pool selectors from the StoragePolicy that selects the volume
(--policy when several do, or none does). A volume with a migration in flight is refused.
The PVC can be given as pvc/NAMESPACE/NAME, or pvc/NAME with --namespace (default: the
context's namespace).

--dry-run=client prints the TierMigration without sending it; --dry-run=server sends it with
dryRun=All, so the API server validates it (schema, admission) and stores nothing. Neither is
--migration-dry-run, which creates a real TierMigration that only records what it would do.`,
		Example: `  kubectl couchestor move pvc/shop/postgres-data --to nvme
  kubectl couchestor move pvc/reports -n analytics --to sata --migration-dry-run
  kubectl couchestor move pvc/shop/postgres-data --to sata --dry-run=server -o yaml`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeClaims(o),
		RunE:              func(cmd *cobra.Command, args []string) error { return mo.run(cmd.Context(), args[0]) },
	}
	fs := cmd.Flags()
	fs.StringVar(&mo.to, "to", "", "the tier to move to: nvme or sata (required)")
	fs.StringVar(&mo.policy, "policy", "", "the StoragePolicy whose pool selectors the migration uses (default: the one selecting the volume)")
	fs.BoolVar(&mo.allowRepublish, "allow-republish", false, "let the migration move the volume's nexus when the replica to retire is local to it (a brief I/O pause)")
	fs.BoolVar(&mo.migrationDryRun, "migration-dry-run", false, "create the TierMigration as a dry run (spec.dryRun): it walks the decision path and records what would happen, writing nothing to Mayastor")
	fs.StringVar(&mo.dryRun, "dry-run", "none", `"none", "server" or "client": with client, only print the TierMigration that would be sent; with server, submit it for the API server to validate without storing it`)
	fs.Lookup("dry-run").NoOptDefVal = "unchanged"
	mo.print.AddFlags(cmd)
	_ = cmd.RegisterFlagCompletionFunc("dry-run", cobra.FixedCompletions([]string{"none", "server", "client"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(mo.print.AllowedFormats(), cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.MarkFlagRequired("to")
	_ = cmd.RegisterFlagCompletionFunc("to", cobra.FixedCompletions([]string{"nvme", "sata"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("policy", completePolicies(o))
	return cmd
}

// ParseTier reads --to: nvme or sata, in any case.
func ParseTier(s string) (storagev1.Tier, error) {
	if t, ok := storagev1.ParseTier(s); ok {
		return t, nil
	}
	return "", usageErrorf("--to: %q is not a tier: use nvme or sata", s)
}

// parsePVCRef reads pvc/NAMESPACE/NAME or pvc/NAME (persistentvolumeclaim/ too).
func parsePVCRef(ref, defaultNamespace string) (namespace, name string, err error) {
	kind, rest, ok := strings.Cut(ref, "/")
	switch strings.ToLower(kind) {
	case "pvc", "persistentvolumeclaim", "persistentvolumeclaims":
	default:
		ok = false
	}
	if !ok || rest == "" {
		return "", "", usageErrorf("%q: want pvc/NAMESPACE/NAME", ref)
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 1 && parts[0] != "":
		return defaultNamespace, parts[0], nil
	case len(parts) == 2 && parts[0] != "" && parts[1] != "":
		return parts[0], parts[1], nil
	}
	return "", "", usageErrorf("%q: want pvc/NAMESPACE/NAME", ref)
}

// parseDryRun reads --dry-run as kubectl does, but refuses the bare flag: it meant
// --migration-dry-run before --dry-run took kubectl's values.
func parseDryRun(s string) (string, error) {
	switch s {
	case "none", "server", "client":
		return s, nil
	case "unchanged":
		return "", usageErrorf("--dry-run: give a value: none, server or client (--migration-dry-run creates a TierMigration that only records what it would do)")
	}
	return "", usageErrorf("--dry-run: %q is not one of none, server, client", s)
}

func (mo *moveOptions) run(ctx context.Context, ref string) error {
	to, err := ParseTier(mo.to)
	if err != nil {
		return err
	}
	dryRun, err := parseDryRun(mo.dryRun)
	if err != nil {
		return err
	}
	switch dryRun {
	case "client":
		err = mo.print.Complete("%s (dry run)")
	case "server":
		err = mo.print.Complete("%s (server dry run)")
	}
	if err != nil {
		return err
	}
	printer, err := mo.print.ToPrinter()
	if err != nil {
		return UsageError{fmt.Errorf("--output: %s", oneLine(err.Error()))}
	}
	ns, name, err := parsePVCRef(ref, "")
	if err != nil {
		return err
	}
	if ns == "" {
		ns = mo.namespace()
	}
	ctx, cancel := mo.context(ctx)
	defer cancel()
	c, _, err := mo.client()
	if err != nil {
		return err
	}
	pv, err := claimedMayastorVolume(ctx, c, ns, name)
	if err != nil {
		return err
	}
	volumeID := pv.Spec.CSI.VolumeHandle

	policy, err := mo.policyFor(ctx, c, pv)
	if err != nil {
		return err
	}
	var existing storagev1.TierMigrationList
	if err := c.List(ctx, &existing, client.MatchingLabels{storagev1.LabelVolume: volumeID}); err != nil {
		return fmt.Errorf("list TierMigrations of volume %s: %s", volumeID, oneLine(err.Error()))
	}
	for _, tm := range existing.Items {
		if !tm.Status.Phase.IsTerminal() {
			phase := tm.Status.Phase
			if phase == "" {
				phase = storagev1.PhasePending
			}
			return fmt.Errorf("volume %s of %s/%s already has TierMigration %s in flight (%s, to %s)", volumeID, ns, name, tm.Name, phase, tm.Spec.TargetTier)
		}
	}

	tm := NewTierMigration(policy, ns+"/"+name, pv, to, mo.allowRepublish, mo.migrationDryRun, mo.now().Unix())
	if dryRun != "client" {
		var opts []client.CreateOption
		if dryRun == "server" {
			opts = append(opts, client.DryRunAll)
		}
		if err := c.Create(ctx, tm, opts...); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("TierMigration %s already exists: a move of this volume to %s was asked for this minute", tm.Name, to)
			}
			return fmt.Errorf("create TierMigration: %s", oneLine(err.Error()))
		}
	}
	return printer.PrintObj(tm, mo.Out)
}

// policyFor is --policy, else the one StoragePolicy selecting the PV.
func (mo *moveOptions) policyFor(ctx context.Context, c client.Client, pv *corev1.PersistentVolume) (*storagev1.StoragePolicy, error) {
	if mo.policy != "" {
		var p storagev1.StoragePolicy
		if err := c.Get(ctx, clientKey("", mo.policy), &p); err != nil {
			return nil, notFoundOr(err, "StoragePolicy %q not found", mo.policy)
		}
		return &p, nil
	}
	var list storagev1.StoragePolicyList
	if err := c.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("list StoragePolicies: %s", oneLine(err.Error()))
	}
	obs := &tiering.PVObservation{Name: pv.Name, StorageClass: pv.Spec.StorageClassName, Labels: pv.Labels}
	var found []*storagev1.StoragePolicy
	var names []string
	for i := range list.Items {
		p := &list.Items[i]
		compiled, err := tiering.CompilePolicy(&p.Spec)
		if err != nil || !compiled.Selects(&p.Spec, obs) {
			continue
		}
		found = append(found, p)
		names = append(names, p.Name)
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return nil, fmt.Errorf("no StoragePolicy selects PersistentVolume %s (StorageClass %q): the migration needs one for its pool selectors; pass --policy", pv.Name, pv.Spec.StorageClassName)
	}
	return nil, fmt.Errorf("StoragePolicies %s all select PersistentVolume %s: pass --policy", strings.Join(names, ", "), pv.Name)
}

// NewTierMigration is the TierMigration for a move asked for by a person: named like the ones
// the policy controller starts (storagev1.TierMigrationName), labelled with the policy
// and the volume, taking the policy's pool selectors and preservation mode (its timeout too,
// left empty here).
func NewTierMigration(policy *storagev1.StoragePolicy, claim string, pv *corev1.PersistentVolume, to storagev1.Tier, allowRepublish, dryRun bool, unix int64) *storagev1.TierMigration {
	volumeID := pv.Spec.CSI.VolumeHandle
	labels := map[string]string{storagev1.LabelVolume: volumeID}
	if len(validation.IsValidLabelValue(policy.Name)) == 0 {
		labels[storagev1.LabelPolicy] = policy.Name
	}
	return &storagev1.TierMigration{
		ObjectMeta: metav1.ObjectMeta{
			Name:   storagev1.TierMigrationName(to, volumeID, time.Unix(unix, 0)),
			Labels: labels,
		},
		Spec: storagev1.TierMigrationSpec{
			VolumeID: volumeID, PersistentVolumeName: pv.Name, TargetTier: to, PolicyName: policy.Name,
			Reason:           storagev1.MigrationReason{Description: fmt.Sprintf("asked for with kubectl couchestor move pvc/%s --to %s", claim, strings.ToLower(string(to)))},
			DryRun:           dryRun,
			PreservationMode: policy.Spec.PreservationMode,
			AllowRepublish:   allowRepublish,
		},
	}
}

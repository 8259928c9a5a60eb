package cli

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/operator"
)

type statusOptions struct {
	*Options
	print     *genericclioptions.PrintFlags
	noHeaders bool
	finished  bool
	watch     bool
	// claims caches the PVC ("namespace/name") of each PersistentVolume looked up.
	claims map[string]string
}

func newStatusCommand(o *Options) *cobra.Command {
	so := &statusOptions{Options: o, print: genericclioptions.NewPrintFlags("").WithTypeSetter(operator.NewScheme()), claims: map[string]string{}}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "TierMigrations in flight: phase, sync progress, time left to their deadline",
		Long: `status lists the TierMigrations that have not ended, oldest first, with the PVC of each volume,
its phase, how far the new replica has synced, and the time left before the round's deadline
(status.deadline: past it, a round that has not rebuilt its replica is rolled back).

Like kubectl get, it shows the migrations of the PVCs in the namespace (--namespace, else the
kubeconfig context's); --all-namespaces (-A) shows every one, those of unbound volumes too.
-o json|yaml|name|jsonpath=...|go-template=... prints the TierMigration objects; -o wide adds the
volume, its PersistentVolume, the deadline and the error. --watch prints the table again, or
the object that changed, whenever a TierMigration changes; it keeps the migrations that end
while it watches.`,
		Example: `  kubectl couchestor status -A
  kubectl couchestor status -n shop --watch
  kubectl couchestor status -A --include-finished -o jsonpath='{.items[*].metadata.name}'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if so.watch && !cmd.Flags().Changed("timeout") {
				so.Timeout = 0 // a watch runs until interrupted
			}
			return so.run(cmd.Context())
		},
	}
	fs := cmd.Flags()
	so.print.AddFlags(cmd)
	fs.Lookup("output").Usage = "Output format. One of: (wide, " + strings.Join(so.print.AllowedFormats(), ", ") + "); a table when not given."
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(append([]string{"wide"}, so.print.AllowedFormats()...), cobra.ShellCompDirectiveNoFileComp))
	fs.BoolVar(&so.noHeaders, "no-headers", false, "print the table without its header line")
	fs.BoolVarP(&so.watch, "watch", "w", false, "after listing, watch the TierMigrations and print again when one changes")
	fs.BoolVar(&so.finished, "include-finished", false, "list finished TierMigrations too (Completed, Failed, RolledBack)")
	fs.BoolVar(&so.finished, "all", false, "list finished TierMigrations too")
	_ = fs.MarkDeprecated("all", "use --include-finished; -A is --all-namespaces now")
	return cmd
}

// migrationRow is one TierMigration as the table shows it.
type migrationRow struct {
	Name, PVC, PersistentVolume, VolumeID, Policy, From, To, Phase string
	// SyncProgress is the new replica's rebuild, in percent.
	SyncProgress int32
	DryRun       bool
	// Deadline is status.deadline; TimeLeft the time to it (negative: past), nil before the
	// migration starts or once it ended.
	Deadline string
	TimeLeft *time.Duration
	Age      string
	Error    string
	// Placeholders are the placeholder replicas the migration holds in Mayastor
	// (status.checkpoint.placeholders).
	Placeholders int
}

func (so *statusOptions) tableOutput() (wide bool, table bool) {
	switch f := ptrOr(so.print.OutputFormat); f {
	case "":
		return false, true
	case "wide":
		return true, true
	}
	return false, false
}

func ptrOr(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func (so *statusOptions) run(ctx context.Context) error {
	_, table := so.tableOutput()
	var printer printers.ResourcePrinter
	if !table {
		var err error
		if printer, err = so.print.ToPrinter(); err != nil {
			return usageErrorf("--output: %q is not one of wide, %s", ptrOr(so.print.OutputFormat), strings.Join(so.print.AllowedFormats(), ", "))
		}
	}
	ctx, cancel := so.context(ctx)
	defer cancel()
	rc, err := so.restConfig()
	if err != nil {
		return err
	}
	c, err := client.NewWithWatch(rc, client.Options{Scheme: operator.NewScheme()})
	if err != nil {
		return fmt.Errorf("API server: %s", oneLine(err.Error()))
	}
	var list storagev1.TierMigrationList
	if err := c.List(ctx, &list); err != nil {
		return fmt.Errorf("list TierMigrations: %s", oneLine(err.Error()))
	}
	shown := so.shown(ctx, c, list.Items, nil)
	if table {
		if err := so.printTable(ctx, c, shown, true); err != nil {
			return err
		}
	} else if err := so.printObjects(printer, shown); err != nil {
		return err
	}
	if !so.watch {
		return nil
	}
	return so.watchAndPrint(ctx, c, list, printer)
}

// shown are the migrations status lists, oldest first: those of the namespace's PVCs (every one
// with -A), in flight (finished too with --include-finished, or when keep names them).
func (so *statusOptions) shown(ctx context.Context, c client.Client, items []storagev1.TierMigration, keep map[string]bool) []storagev1.TierMigration {
	scope := so.namespaceScope()
	var out []storagev1.TierMigration
	for _, tm := range items {
		if tm.Status.Phase.IsTerminal() && !so.finished && !keep[tm.Name] {
			continue
		}
		if scope != "" && !strings.HasPrefix(so.claimOf(ctx, c, tm.Spec.PersistentVolumeName), scope+"/") {
			continue
		}
		out = append(out, tm)
	}
	slices.SortFunc(out, func(a, b storagev1.TierMigration) int {
		return cmp.Or(a.CreationTimestamp.Compare(b.CreationTimestamp.Time), strings.Compare(a.Name, b.Name))
	})
	return out
}

// printObjects prints the migrations as kubectl get -o does: one list (json, yaml, templates),
// or one line each (name).
func (so *statusOptions) printObjects(printer printers.ResourcePrinter, items []storagev1.TierMigration) error {
	list := migrationList(items)
	if ptrOr(so.print.OutputFormat) != "name" {
		return printer.PrintObj(list, so.Out)
	}
	for i := range list.Items {
		if err := printer.PrintObj(&list.Items[i], so.Out); err != nil {
			return err
		}
	}
	return nil
}

// migrationList is items as a list the printers take: every item typed, as kubectl get -o
// json prints them.
func migrationList(items []storagev1.TierMigration) *storagev1.TierMigrationList {
	list := &storagev1.TierMigrationList{Items: slices.Clone(items)}
	if list.Items == nil {
		list.Items = []storagev1.TierMigration{}
	}
	for i := range list.Items {
		list.Items[i].SetGroupVersionKind(storagev1.GroupVersion.WithKind("TierMigration"))
	}
	return list
}

// watchAndPrint watches the TierMigrations from the list's resource version and prints again
// on every change: the whole table, or the object that changed. It returns when ctx ends.
func (so *statusOptions) watchAndPrint(ctx context.Context, c client.WithWatch, list storagev1.TierMigrationList, printer printers.ResourcePrinter) error {
	current := map[string]storagev1.TierMigration{}
	seen := map[string]bool{} // in flight at some time during the watch: kept when they end
	for _, tm := range list.Items {
		current[tm.Name] = tm
		seen[tm.Name] = !tm.Status.Phase.IsTerminal()
	}
	rv := list.ResourceVersion
	for ctx.Err() == nil {
		w, err := c.Watch(ctx, &storagev1.TierMigrationList{}, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true}})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("watch TierMigrations: %s", oneLine(err.Error()))
		}
		for ev := range w.ResultChan() {
			if ev.Type == watch.Error {
				rv = "" // expired: list again and watch from there
				break
			}
			tm, ok := ev.Object.(*storagev1.TierMigration)
			if !ok {
				continue
			}
			rv = tm.ResourceVersion
			switch ev.Type {
			case watch.Added, watch.Modified:
				current[tm.Name] = *tm
				seen[tm.Name] = seen[tm.Name] || !tm.Status.Phase.IsTerminal()
			case watch.Deleted:
				delete(current, tm.Name)
			default:
				continue
			}
			if err := so.printChange(ctx, c, current, seen, tm, ev.Type, printer); err != nil {
				w.Stop()
				return err
			}
		}
		w.Stop()
		if rv == "" && ctx.Err() == nil {
			var again storagev1.TierMigrationList
			if err := c.List(ctx, &again); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("list TierMigrations: %s", oneLine(err.Error()))
			}
			clear(current)
			for _, tm := range again.Items {
				current[tm.Name] = tm
			}
			rv = again.ResourceVersion
		}
	}
	return nil
}

func (so *statusOptions) printChange(ctx context.Context, c client.Client, current map[string]storagev1.TierMigration, seen map[string]bool,
	changed *storagev1.TierMigration, how watch.EventType, printer printers.ResourcePrinter) error {
	if printer != nil {
		if how == watch.Deleted || len(so.shown(ctx, c, []storagev1.TierMigration{*changed}, seen)) == 0 {
			return nil
		}
		obj := changed.DeepCopy()
		obj.SetGroupVersionKind(storagev1.GroupVersion.WithKind("TierMigration"))
		return printer.PrintObj(obj, so.Out)
	}
	items := make([]storagev1.TierMigration, 0, len(current))
	for _, tm := range current {
		items = append(items, tm)
	}
	fmt.Fprintln(so.Out)
	return so.printTable(ctx, c, so.shown(ctx, c, items, seen), false)
}

func (so *statusOptions) rows(ctx context.Context, c client.Client, items []storagev1.TierMigration) []migrationRow {
	now := so.now()
	rows := make([]migrationRow, 0, len(items))
	for i := range items {
		tm := &items[i]
		r := migrationRow{
			Name: tm.Name, PersistentVolume: tm.Spec.PersistentVolumeName, VolumeID: tm.Spec.VolumeID,
			Policy: tm.Spec.PolicyName, From: string(tm.Status.SourceTier), To: string(tm.Spec.TargetTier),
			Phase: string(cmp.Or(tm.Status.Phase, storagev1.PhasePending)), SyncProgress: tm.Status.SyncProgress,
			DryRun: tm.Spec.DryRun || tm.Status.DryRun, Age: humanDuration(now.Sub(tm.CreationTimestamp.Time)), Error: tm.Status.Error,
			PVC: so.claimOf(ctx, c, tm.Spec.PersistentVolumeName),
		}
		if cp := tm.Status.Checkpoint; cp != nil {
			r.Placeholders = len(cp.Placeholders)
		}
		if d := tm.Status.Deadline; d != nil && !tm.Status.Phase.IsTerminal() {
			r.Deadline = d.UTC().Format(time.RFC3339)
			left := d.Sub(now).Truncate(time.Second)
			r.TimeLeft = &left
		}
		rows = append(rows, r)
	}
	return rows
}

// printTable prints the migrations as a table; empty says so on ErrOut (as kubectl get does)
// when first is set.
func (so *statusOptions) printTable(ctx context.Context, c client.Client, items []storagev1.TierMigration, first bool) error {
	wide, _ := so.tableOutput()
	if len(items) == 0 {
		if first {
			what := "in flight"
			if so.finished {
				what = "found"
			}
			if scope := so.namespaceScope(); scope != "" {
				fmt.Fprintf(so.ErrOut, "No TierMigration %s for the PVCs of namespace %s (-A: every namespace).\n", what, scope)
			} else {
				fmt.Fprintf(so.ErrOut, "No TierMigration %s.\n", what)
			}
		}
		return nil
	}
	tw := printers.GetNewTabWriter(so.Out)
	if !so.noHeaders {
		header := "NAME\tPVC\tPOLICY\tFROM\tTO\tPHASE\tSYNCED\tTIME LEFT\tPLACEHOLDERS\tAGE"
		if wide {
			header += "\tVOLUME\tPV\tDEADLINE\tERROR"
		}
		fmt.Fprintln(tw, header)
	}
	for _, r := range so.rows(ctx, c, items) {
		left := "-"
		if r.TimeLeft != nil {
			if d := *r.TimeLeft; d >= 0 {
				left = humanDuration(d)
			} else {
				left = "overdue " + humanDuration(-d)
			}
		}
		phase := r.Phase
		if r.DryRun {
			phase += " (dry run)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d%%\t%s\t%d\t%s", r.Name, dash(cmp.Or(r.PVC, r.PersistentVolume)), dash(r.Policy),
			dash(r.From), r.To, phase, r.SyncProgress, left, r.Placeholders, r.Age)
		if wide {
			fmt.Fprintf(tw, "\t%s\t%s\t%s\t%s", dash(r.VolumeID), dash(r.PersistentVolume), dash(r.Deadline), dash(oneLine(r.Error)))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

func (so *statusOptions) claimOf(ctx context.Context, c client.Client, pv string) string {
	if pv == "" {
		return ""
	}
	if claim, done := so.claims[pv]; done {
		return claim
	}
	claim := claimOf(ctx, c, pv)
	so.claims[pv] = claim
	return claim
}

// claimOf is the PVC ("namespace/name") bound to a PV, "" when none or unreadable.
func claimOf(ctx context.Context, c client.Client, pvName string) string {
	var pv corev1.PersistentVolume
	if err := c.Get(ctx, clientKey("", pvName), &pv); err != nil || pv.Spec.ClaimRef == nil {
		return ""
	}
	return pv.Spec.ClaimRef.Namespace + "/" + pv.Spec.ClaimRef.Name
}

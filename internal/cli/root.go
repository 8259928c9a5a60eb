// Package cli is `kubectl couchestor`, the kubectl plugin (binary kubectl-couchestor): plan asks
// the planner what every policy would do right now and why, status shows the migrations in
// flight, move starts a migration of a PVC. It talks to the API server with the user's
// kubeconfig and, for plan, to Mayastor and Prometheus; it needs no running operator.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/billyronks/couchestor/internal/operator"
	"github.com/billyronks/couchestor/internal/version"
)

// Exit codes: a runtime failure (the cluster said no, a PVC does not exist) is 1; a command
// line that cannot be right (unknown flag, bad value, wrong arguments) is 2.
const (
	ExitError = 1
	ExitUsage = 2
)

// Name is the binary's name; kubectl finds it on PATH as the plugin "couchestor".
const Name = "kubectl-couchestor"

// UsageError marks an error in the command line (exit status 2).
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

func usageErrorf(format string, args ...any) error {
	return UsageError{fmt.Errorf(format, args...)}
}

// Options are the flags every subcommand shares: kubectl's own (k8s.io/cli-runtime's
// ConfigFlags: --kubeconfig, --context, --cluster, --user, --server, --token, --as, --as-group,
// --namespace/-n, --request-timeout, ...) and --all-namespaces/-A. A command registered in
// NewCommand gets them all; it reaches the API server with client() and resolves pvc/NAME in
// namespace().
type Options struct {
	// ConfigFlags are kubectl's kubeconfig flags; NewCommand makes them when nil.
	ConfigFlags *genericclioptions.ConfigFlags
	// AllNamespaces is -A: commands that list things of namespaced objects list every namespace.
	AllNamespaces bool
	// Timeout is --timeout: the whole command gives up after this long (0: never). It bounds
	// what --request-timeout (kubectl's, one API request) does not: Mayastor's and
	// Prometheus' retries, several requests in a row.
	Timeout time.Duration

	// RESTConfig, when set, is used instead of loading the kubeconfig (tests).
	RESTConfig *rest.Config
	// Now is the clock (tests); time.Now when nil.
	Now func() time.Time

	Out, ErrOut io.Writer
}

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *Options) configFlags() *genericclioptions.ConfigFlags {
	if o.ConfigFlags == nil {
		o.ConfigFlags = genericclioptions.NewConfigFlags(true)
	}
	return o.ConfigFlags
}

// restConfig is the API server the kubeconfig and the flags (--context, --server, --as, ...) name.
func (o *Options) restConfig() (*rest.Config, error) {
	if o.RESTConfig != nil {
		return rest.CopyConfig(o.RESTConfig), nil
	}
	rc, err := o.configFlags().ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %s", oneLine(err.Error()))
	}
	rc.UserAgent = version.String(Name)
	return rc, nil
}

// namespace is --namespace, else the kubeconfig context's, else "default" (as kubectl).
func (o *Options) namespace() string {
	if ns := o.namespaceFlag(); ns != "" {
		return ns
	}
	if o.RESTConfig == nil {
		if ns, _, err := o.configFlags().ToRawKubeConfigLoader().Namespace(); err == nil && ns != "" {
			return ns
		}
	}
	return "default"
}

// namespaceFlag is --namespace as given, "" when not.
func (o *Options) namespaceFlag() string {
	if cf := o.configFlags(); cf.Namespace != nil {
		return *cf.Namespace
	}
	return ""
}

// namespaceScope is the namespace a listing is limited to: "" with -A.
func (o *Options) namespaceScope() string {
	if o.AllNamespaces {
		return ""
	}
	return o.namespace()
}

func (o *Options) client() (client.Client, *rest.Config, error) {
	rc, err := o.restConfig()
	if err != nil {
		return nil, nil, err
	}
	c, err := client.New(rc, client.Options{Scheme: operator.NewScheme()})
	if err != nil {
		return nil, nil, fmt.Errorf("API server: %s", oneLine(err.Error()))
	}
	return c, rc, nil
}

// context is the command's context, bounded by --timeout. Each request to the API server is
// bounded by --request-timeout too (kubectl's meaning; none by default).
func (o *Options) context(parent context.Context) (context.Context, context.CancelFunc) {
	if o.Timeout > 0 {
		return context.WithTimeout(parent, o.Timeout)
	}
	return context.WithCancel(parent)
}

// NewCommand builds the command tree. opts carries the output streams and, in tests, the API
// server and the clock.
func NewCommand(opts *Options) *cobra.Command {
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.ErrOut == nil {
		opts.ErrOut = io.Discard
	}
	root := &cobra.Command{
		Use:   Name,
		Short: "Ask CoucheStor what it would do and why, watch its migrations, move a PVC between tiers",
		Long: `kubectl couchestor talks to the API server with your kubeconfig.

  plan     for each StoragePolicy and each volume it selects, the decision right now and why
           (the operator's own planner, read-only; the operator need not be running);
           plan pvc/NAMESPACE/NAME: the same for one PVC, with cooldown, window and slots
  status   the TierMigrations in flight: phase, sync progress, time left to their deadline
  move     start a migration of one PVC to NVMe or SATA
  check    can CoucheStor work here? Mayastor, pools, StorageClasses, Prometheus, the operator
  version  the plugin's, the API server's and the operator's versions

It takes kubectl's flags for reaching the cluster (--kubeconfig, --context, --cluster, --user,
--server, --token, --as, --as-group, --namespace/-n, --request-timeout, ...) and means by them
what kubectl means; -A/--all-namespaces lists across namespaces.`,
		Example: `  kubectl couchestor plan --mayastor-service mayastor/mayastor-api-rest:8081 --prometheus-service monitoring/prometheus:9090
  kubectl couchestor plan --mayastor-service openebs/openebs-api-rest:8081 --prometheus-service monitoring/prometheus:9090   # OpenEBS 4.x
  kubectl couchestor plan --policy databases -o json
  kubectl couchestor status -A --watch
  kubectl couchestor move pvc/shop/postgres-data --to nvme
  kubectl couchestor move pvc/shop/postgres-data --to nvme --dry-run=server`,
		Version:       strings.TrimPrefix(version.String(Name), Name+" "),
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl couchestor"},
	}
	root.SetOut(opts.Out)
	root.SetErr(opts.ErrOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return UsageError{err} })
	pf := root.PersistentFlags()
	opts.configFlags().AddFlags(pf)
	pf.DurationVar(&opts.Timeout, "timeout", time.Minute, "give up on the whole command after this long, 0 for never (status --watch: never unless given; backtest: 30m unless given)")
	pf.BoolVarP(&opts.AllNamespaces, "all-namespaces", "A", false, "list across all namespaces (status: the migrations of every PVC; completion: pvc/NAMESPACE/NAME)")
	registerConfigFlagCompletions(root, opts)

	root.AddCommand(newPlanCommand(opts), newStatusCommand(opts), newMoveCommand(opts), newBacktestCommand(opts), newApproveCommand(opts), newRejectCommand(opts),
		newVersionCommand(opts))
	root.AddCommand(newCheckCommand(opts))
	for _, c := range root.Commands() {
		c.SetFlagErrorFunc(root.FlagErrorFunc())
	}
	return root
}

// Main runs the plugin with args and returns its exit status; errors go to errOut on one line.
func Main(ctx context.Context, args []string, out, errOut io.Writer) int {
	return Run(ctx, &Options{Out: out, ErrOut: errOut}, args)
}

// Run is Main with options (tests set the API server and the clock).
func Run(ctx context.Context, opts *Options, args []string) int {
	// The observer logs through controller-runtime's logger: a command line tool says what it
	// has to say in its output.
	ctrllog.SetLogger(logr.Discard())
	cmd := NewCommand(opts)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(opts.ErrOut, "error: %s\n", oneLine(err.Error()))
	var ue UsageError
	if errors.As(err, &ue) || isCobraUsageError(err) {
		return ExitUsage
	}
	return ExitError
}

// isCobraUsageError recognises the errors cobra returns for a wrong command line before any
// command runs (unknown command, wrong number of arguments).
func isCobraUsageError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "requires at least", "requires at most", "received ", "unknown flag", "unknown shorthand", "required flag", "invalid argument"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// outputFlag adds -o/--output for a command that prints a report rather than API objects (plan,
// backtest, version): a table, or the report as json, yaml or a kubectl JSONPath template.
func outputFlag(fs *pflag.FlagSet, cmd *cobra.Command, p *string) {
	fs.StringVarP(p, "output", "o", "table", "output format: table, json, yaml or jsonpath=TEMPLATE (kubectl's JSONPath, over the JSON output)")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "json", "yaml", "jsonpath="}, cobra.ShellCompDirectiveNoFileComp|cobra.ShellCompDirectiveNoSpace))
}

func checkOutput(o string) error {
	switch {
	case o == "table", o == "json", o == "yaml":
		return nil
	case strings.HasPrefix(o, "jsonpath="):
		if _, err := parseJSONPath(strings.TrimPrefix(o, "jsonpath=")); err != nil {
			return usageErrorf("--output: %s", oneLine(err.Error()))
		}
		return nil
	}
	return usageErrorf("--output: %q is not one of table, json, yaml, jsonpath=TEMPLATE", o)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

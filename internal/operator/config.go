// Package operator turns command-line flags into a validated Config and runs the controller
// manager: API server client, metrics server on :8080, health server on :8081, reconcilers.
package operator

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap/zapcore"

	"github.com/billyronks/couchestor/internal/promwatch"
)

// Defaults of the operator's configuration (the flags' defaults, docs/guide).
const (
	DefaultMayastorURL             = "http://mayastor-api-rest.mayastor.svc.cluster.local:8081"
	DefaultMaxConcurrentMigrations = 2
	DefaultMigrationTimeoutMinutes = 30
	DefaultSyncPollIntervalSeconds = 10
	DefaultMetricsBindAddress      = ":8080"
	DefaultHealthProbeBindAddress  = ":8081"
	DefaultCordonSweepInterval     = 30 * time.Second
	DefaultObserveInterval         = 30 * time.Second
	DefaultDecisionEventInterval   = 10 * time.Minute
)

// Finished-TierMigration retention: --finished-migration-ttl, --finished-migrations-per-volume.
const (
	DefaultFinishedMigrationTTL        = 168 * time.Hour
	DefaultFinishedMigrationsPerVolume = 3
)

// Config is the operator's whole configuration, as given on the command line.
type Config struct {
	// Prometheus holds --prometheus-url and the other --prometheus-* flags and --iops-query.
	Prometheus              promwatch.Config
	MayastorURL             string
	MaxConcurrentMigrations int
	MigrationTimeoutMinutes int
	SyncPollIntervalSeconds int
	CordonSweepInterval     time.Duration
	ObserveInterval         time.Duration
	DecisionEventInterval   time.Duration
	PerVolumeMetrics        bool
	MayastorHAEnabled       bool
	DryRun                  bool
	PreservationMode        bool
	LogLevel                string
	LogJSON                 bool

	// FinishedMigrationTTL and FinishedMigrationsPerVolume: finished TierMigrations older than
	// the TTL, beyond the newest PerVolume of their volume, are deleted.
	FinishedMigrationTTL        time.Duration
	FinishedMigrationsPerVolume int

	MetricsBindAddress string
	// MetricsSecure: /metrics over HTTPS, each scrape authenticated and authorized by the API
	// server (TokenReview, SubjectAccessReview); false serves plain HTTP to anyone (--metrics-secure).
	MetricsSecure           bool
	HealthProbeBindAddress  string
	PprofBindAddress        string
	LeaderElect             bool
	LeaderElectionNamespace string
	Kubeconfig              string
	ShowVersion             bool
}

// MigrationTimeout is --migration-timeout-minutes as a duration.
func (c *Config) MigrationTimeout() time.Duration {
	return time.Duration(c.MigrationTimeoutMinutes) * time.Minute
}

// SyncPollInterval is --sync-poll-interval-seconds as a duration.
func (c *Config) SyncPollInterval() time.Duration {
	return time.Duration(c.SyncPollIntervalSeconds) * time.Second
}

// ZapLevel is --log-level as a zap level; Validate has already refused unknown names.
func (c *Config) ZapLevel() zapcore.Level {
	lvl, _ := zapcore.ParseLevel(c.LogLevel)
	return lvl
}

// ErrHelp is returned by Parse when --help or -h is asked for.
var ErrHelp = pflag.ErrHelp

// NewFlagSet returns the operator's flags bound to cfg, with their defaults. They are
// pflag flags, Kubernetes' convention: --flag, --flag=value or --flag value.
func NewFlagSet(name string, cfg *Config) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SortFlags = true
	cfg.Prometheus = promwatch.DefaultConfig()
	// promwatch registers its flags on a Go FlagSet (the library does not depend on pflag).
	goFlags := flag.NewFlagSet(name, flag.ContinueOnError)
	cfg.Prometheus.RegisterFlags(goFlags)
	fs.AddGoFlagSet(goFlags)
	fs.StringVar(&cfg.MayastorURL, "mayastor-url", DefaultMayastorURL, "Mayastor control-plane REST API (v0) URL; the default is the standalone Mayastor chart's Service, OpenEBS 4.x's is http://openebs-api-rest.openebs.svc.cluster.local:8081")
	fs.IntVar(&cfg.MaxConcurrentMigrations, "max-concurrent-migrations", DefaultMaxConcurrentMigrations, "maximum parallel migrations, all policies together")
	fs.IntVar(&cfg.MigrationTimeoutMinutes, "migration-timeout-minutes", DefaultMigrationTimeoutMinutes, "migration timeout in minutes, for policies that do not set migrationTimeout")
	fs.IntVar(&cfg.SyncPollIntervalSeconds, "sync-poll-interval-seconds", DefaultSyncPollIntervalSeconds, "replica sync check interval in seconds")
	fs.DurationVar(&cfg.CordonSweepInterval, "cordon-sweep-interval", DefaultCordonSweepInterval, "how often node cordons left by finished or deleted migrations are removed (also at start-up)")
	fs.DurationVar(&cfg.FinishedMigrationTTL, "finished-migration-ttl", DefaultFinishedMigrationTTL, "finished TierMigrations are deleted once they ended this long ago (a volume's newest stays while a policy's cooldown could count from it, and a policy's newest 20 stay for its history)")
	fs.IntVar(&cfg.FinishedMigrationsPerVolume, "finished-migrations-per-volume", DefaultFinishedMigrationsPerVolume, "at most this many finished TierMigrations of each volume are kept, the newest (0: no count limit, --finished-migration-ttl only)")
	fs.DurationVar(&cfg.ObserveInterval, "observe-interval", DefaultObserveInterval, "how often one shared snapshot of Mayastor, Prometheus and the cluster is taken and every StoragePolicy decided from it")
	fs.DurationVar(&cfg.DecisionEventInterval, "decision-event-interval", DefaultDecisionEventInterval, "a change of a volume's decision (Move, Wait or Stay, and its reason) is said in an Event on its PVC at most once per this interval")
	fs.BoolVar(&cfg.PerVolumeMetrics, "per-volume-metrics", false, "export storage_operator_volume_decision, one series per selected volume (10,000 series at 10,000 volumes; the dashboard's PVC row reads it)")
	fs.BoolVar(&cfg.MayastorHAEnabled, "mayastor-ha-enabled", true, "whether Mayastor runs with HA (the core agent's default); with HA off it refuses every republish, so moves that need one are refused before they start")
	fs.BoolVar(&cfg.DryRun, "dry-run", false, "global dry-run mode: decide and report, never write to Mayastor")
	fs.BoolVar(&cfg.PreservationMode, "preservation-mode", false, "keep old replicas after migration")
	fs.StringVar(&cfg.LogLevel, "log-level", "info", "logging verbosity: debug, info, warn or error")
	fs.BoolVar(&cfg.LogJSON, "log-json", false, "JSON log format")
	fs.StringVar(&cfg.MetricsBindAddress, "metrics-bind-address", DefaultMetricsBindAddress, "address the /metrics endpoint binds to (0 disables it)")
	fs.BoolVar(&cfg.MetricsSecure, "metrics-secure", true, "serve /metrics over HTTPS (self-signed certificate) to clients the API server authenticates and authorizes for GET /metrics (the metrics-reader ClusterRole); false serves plain HTTP to anyone")
	fs.StringVar(&cfg.HealthProbeBindAddress, "health-probe-bind-address", DefaultHealthProbeBindAddress, "address /healthz, /livez and /readyz bind to")
	fs.StringVar(&cfg.PprofBindAddress, "pprof-bind-address", "", "address Go's /debug/pprof profiles bind to (empty: off); keep it on loopback")
	fs.BoolVar(&cfg.LeaderElect, "leader-elect", false, "elect a leader, so that only one of several replicas acts")
	fs.StringVar(&cfg.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader-election Lease (default: the pod's namespace)")
	fs.StringVar(&cfg.Kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster config, then $KUBECONFIG, then ~/.kube/config)")
	fs.BoolVar(&cfg.ShowVersion, "version", false, "print the version and exit")
	return fs
}

// Parse parses args into a Config and validates it. Errors are one line, naming the flag.
func Parse(name string, args []string) (*Config, error) {
	cfg := &Config{}
	fs := NewFlagSet(name, cfg)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if err := fs.Parse(singleDashCompat(fs, args)); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, ErrHelp
		}
		return nil, errors.New(oneLine(err.Error()))
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q: every setting is a --flag", fs.Arg(0))
	}
	if cfg.ShowVersion {
		return cfg, nil
	}
	return cfg, cfg.Validate()
}

// Usage writes the flags and their defaults, --flag style.
func Usage(w io.Writer, name string) {
	fs := NewFlagSet(name, &Config{})
	fs.BoolP("help", "h", false, "print this help and exit")
	fmt.Fprintf(w, "Usage:\n  %s [flags]\n\nFlags:\n%s", name, fs.FlagUsages())
}

// singleDashCompat keeps older command lines working: Go's flag package, which the operator
// used before pflag, also took -flag and -flag=value. An argument spelled that way that names
// one of the operator's flags (or help) is read as --flag. "--" ends the flags, as in pflag.
func singleDashCompat(fs *pflag.FlagSet, args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			name, _, _ := strings.Cut(a[1:], "=")
			if fs.Lookup(name) != nil || name == "help" {
				a = "-" + a
			}
		}
		out = append(out, a)
	}
	return out
}

// Validate refuses values the operator cannot run with; the error names the flag.
func (c *Config) Validate() error {
	var errs []string
	check := func(flagName string, err error) {
		if err != nil {
			errs = append(errs, fmt.Sprintf("--%s: %v", flagName, err))
		}
	}
	if err := c.Prometheus.Validate(); err != nil {
		errs = append(errs, err.Error())
	}
	check("mayastor-url", validateHTTPURL(c.MayastorURL))
	check("max-concurrent-migrations", positive(c.MaxConcurrentMigrations))
	check("migration-timeout-minutes", positive(c.MigrationTimeoutMinutes))
	check("sync-poll-interval-seconds", positive(c.SyncPollIntervalSeconds))
	if c.CordonSweepInterval < time.Second {
		check("cordon-sweep-interval", fmt.Errorf("must be at least 1s, got %v", c.CordonSweepInterval))
	}
	if c.FinishedMigrationTTL <= 0 {
		check("finished-migration-ttl", fmt.Errorf("must be a positive duration such as 168h, got %v", c.FinishedMigrationTTL))
	}
	if c.FinishedMigrationsPerVolume < 0 {
		check("finished-migrations-per-volume", fmt.Errorf("must be 0 or more, got %d", c.FinishedMigrationsPerVolume))
	}
	if c.ObserveInterval < time.Second {
		check("observe-interval", fmt.Errorf("must be at least 1s, got %v", c.ObserveInterval))
	}
	if c.DecisionEventInterval < time.Second {
		check("decision-event-interval", fmt.Errorf("must be at least 1s, got %v", c.DecisionEventInterval))
	}
	if _, err := zapcore.ParseLevel(c.LogLevel); err != nil || c.LogLevel == "" {
		check("log-level", fmt.Errorf("unknown level %q: use debug, info, warn or error", c.LogLevel))
	}
	check("metrics-bind-address", validateBindAddress(c.MetricsBindAddress, true))
	check("health-probe-bind-address", validateBindAddress(c.HealthProbeBindAddress, false))
	if c.PprofBindAddress != "" {
		check("pprof-bind-address", validateBindAddress(c.PprofBindAddress, true))
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

func positive(n int) error {
	if n <= 0 {
		return fmt.Errorf("must be a positive number, got %d", n)
	}
	return nil
}

func validateHTTPURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return errors.New("must not be empty")
	case err != nil:
		return fmt.Errorf("malformed URL %q: %v", raw, unwrapURLError(err))
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("malformed URL %q: scheme must be http or https", raw)
	case u.Host == "":
		return fmt.Errorf("malformed URL %q: no host", raw)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("malformed URL %q: port %q out of range", raw, p)
		}
	}
	return nil
}

func validateBindAddress(addr string, zeroDisables bool) error {
	if zeroDisables && addr == "0" {
		return nil
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("malformed address %q: want host:port such as :8080", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("malformed address %q: port out of range", addr)
	}
	return nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

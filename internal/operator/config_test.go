package operator

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDefaultsAreTheDatasheets(t *testing.T) {
	cfg, err := Parse("couchestor", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Prometheus.URL != "http://prometheus.monitoring.svc.cluster.local:9090" ||
		cfg.MaxConcurrentMigrations != 2 || cfg.MigrationTimeoutMinutes != 30 ||
		cfg.SyncPollIntervalSeconds != 10 || cfg.DryRun || cfg.PreservationMode ||
		cfg.LogLevel != "info" || cfg.LogJSON ||
		cfg.MetricsBindAddress != ":8080" || cfg.HealthProbeBindAddress != ":8081" || cfg.LeaderElect {
		t.Fatalf("defaults differ from the documented ones: %+v", cfg)
	}
	if cfg.ObserveInterval != 30*time.Second {
		t.Fatalf("--observe-interval default %v, want 30s", cfg.ObserveInterval)
	}
	if cfg.CordonSweepInterval != 30*time.Second || !cfg.MayastorHAEnabled {
		t.Fatalf("--cordon-sweep-interval default %v, want 30s; --mayastor-ha-enabled default %v, want true", cfg.CordonSweepInterval, cfg.MayastorHAEnabled)
	}
	if cfg.MigrationTimeout() != 30*time.Minute || cfg.SyncPollInterval() != 10*time.Second {
		t.Fatalf("durations: %v %v", cfg.MigrationTimeout(), cfg.SyncPollInterval())
	}
}

func TestFlagsAreParsed(t *testing.T) {
	cfg, err := Parse("couchestor", []string{
		"--prometheus-url=https://prom.example:9443/prefix", "--max-concurrent-migrations=10",
		"--migration-timeout-minutes=5", "--sync-poll-interval-seconds=3", "--dry-run", "--preservation-mode",
		"--log-level=debug", "--log-json", "--leader-elect", "--metrics-bind-address=0", "--cordon-sweep-interval=45s",
		"--mayastor-ha-enabled=false", "--observe-interval=10s",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ObserveInterval != 10*time.Second {
		t.Fatalf("--observe-interval: %v", cfg.ObserveInterval)
	}
	if cfg.MaxConcurrentMigrations != 10 || !cfg.DryRun || !cfg.PreservationMode || cfg.ZapLevel().String() != "debug" ||
		!cfg.LogJSON || !cfg.LeaderElect || cfg.MigrationTimeout() != 5*time.Minute || cfg.MetricsBindAddress != "0" ||
		cfg.CordonSweepInterval != 45*time.Second || cfg.MayastorHAEnabled {
		t.Fatalf("flags not applied: %+v", cfg)
	}
}

func TestBadValuesNameTheFlag(t *testing.T) {
	for arg, want := range map[string]string{
		"--max-concurrent-migrations=0":      "--max-concurrent-migrations: must be a positive number, got 0",
		"--migration-timeout-minutes=-1":     "--migration-timeout-minutes: must be a positive number, got -1",
		"--sync-poll-interval-seconds=0":     "--sync-poll-interval-seconds",
		"--cordon-sweep-interval=0s":         "--cordon-sweep-interval: must be at least 1s, got 0s",
		"--observe-interval=500ms":           "--observe-interval: must be at least 1s, got 500ms",
		"--observe-interval=often":           "-observe-interval",
		"--cordon-sweep-interval=-1m":        "--cordon-sweep-interval: must be at least 1s",
		"--cordon-sweep-interval=soon":       "-cordon-sweep-interval",
		"--log-level=trace":                  `--log-level: unknown level "trace"`,
		"--log-level=":                       "--log-level",
		"--prometheus-url=:9090":             "--prometheus-url: ",
		"--mayastor-url=http://h:99999":      "--mayastor-url: malformed URL",
		"--prometheus-timeout=0s":            "--prometheus-timeout: must be positive",
		"--prometheus-max-series=0":          "--prometheus-max-series: must be positive, got 0",
		"--prometheus-max-response-bytes=-1": "--prometheus-max-response-bytes: must be positive, got -1",
		"--mayastor-url=unix:///x":           "--mayastor-url: malformed URL",
		"--health-probe-bind-address=nope":   "--health-probe-bind-address: malformed address",
		"--max-concurrent-migrations=three":  "-max-concurrent-migrations",
		"extra-argument":                     "unexpected argument",
	} {
		_, err := Parse("couchestor", []string{arg})
		if err == nil {
			t.Errorf("%s: accepted", arg)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, want) || strings.Contains(msg, "\n") {
			t.Errorf("%s: want one line containing %q, got %q", arg, want, msg)
		}
	}
}

// --help is pflag's: every flag as --flag with its type and default; -h and --help ask for it.
func TestHelpIsDoubleDash(t *testing.T) {
	for _, arg := range []string{"--help", "-h", "-help"} {
		if _, err := Parse("couchestor", []string{arg}); !errors.Is(err, ErrHelp) {
			t.Errorf("%s: want ErrHelp, got %v", arg, err)
		}
	}
	var b bytes.Buffer
	Usage(&b, "couchestor")
	help := b.String()
	for _, want := range []string{
		"  couchestor [flags]",
		"      --prometheus-url string ",
		`(default "http://prometheus.monitoring.svc.cluster.local:9090")`,
		"      --max-concurrent-migrations int ",
		"(default 2)",
		"      --dry-run ",
		"      --log-level string ",
		"      --finished-migration-ttl duration ",
		"      --prometheus-insecure-skip-verify ",
		"  -h, --help ",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q:\n%s", want, help)
		}
	}
	if strings.Contains(help, "\n  -prometheus-url") || strings.Contains(help, "Usage of") {
		t.Errorf("help is Go's flag format:\n%s", help)
	}
}

// Command lines written for Go's flag package (-flag, -flag=value) still work.
func TestSingleDashFlagsStillWork(t *testing.T) {
	cfg, err := Parse("couchestor", []string{"-dry-run", "-max-concurrent-migrations=4", "-log-level", "debug", "--observe-interval=5s"})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.DryRun || cfg.MaxConcurrentMigrations != 4 || cfg.LogLevel != "debug" || cfg.ObserveInterval != 5*time.Second {
		t.Fatalf("flags not applied: %+v", cfg)
	}
	if _, err := Parse("couchestor", []string{"-no-such-flag"}); err == nil || strings.Contains(err.Error(), "\n") {
		t.Fatalf("unknown single-dash flag: want a one-line error, got %v", err)
	}
}

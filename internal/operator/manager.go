package operator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/controller"
)

// NewScheme returns a scheme with the Kubernetes built-in kinds and CoucheStor's own.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := storagev1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// SetupLogging installs the zap logger --log-level and --log-json ask for.
func SetupLogging(cfg *Config) {
	opts := zap.Options{Development: false, Level: cfg.ZapLevel()}
	if cfg.LogJSON {
		opts.Encoder = zapcore.NewJSONEncoder(zapEncoderConfig())
	} else {
		opts.Encoder = zapcore.NewConsoleEncoder(zapEncoderConfig())
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
}

func zapEncoderConfig() zapcore.EncoderConfig {
	ec := zapcore.EncoderConfig{
		TimeKey: "ts", LevelKey: "level", NameKey: "logger", CallerKey: "", MessageKey: "msg",
		StacktraceKey: "stacktrace", LineEnding: zapcore.DefaultLineEnding,
		EncodeLevel: zapcore.LowercaseLevelEncoder, EncodeTime: zapcore.ISO8601TimeEncoder,
		EncodeDuration: zapcore.StringDurationEncoder,
	}
	return ec
}

// RESTConfig finds the API server: --kubeconfig, else in-cluster, else $KUBECONFIG or ~/.kube/config.
func RESTConfig(cfg *Config) (*rest.Config, error) {
	if cfg.Kubeconfig != "" {
		rc, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("--kubeconfig: %w", err)
		}
		return rc, nil
	}
	return ctrl.GetConfig()
}

// Run builds the manager and runs it until ctx ends.
func Run(ctx context.Context, cfg *Config, restCfg *rest.Config) error {
	log := ctrl.Log.WithName("setup")
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme:  NewScheme(),
		Metrics: metricsOptions(cfg),
		// managedFields and most of a PV or PVC are never read here; at 10,000 PVs they are
		// megabytes of cache.
		Cache:                   controller.CacheOptions(),
		HealthProbeBindAddress:  "0", // served by healthServer below, which adds /livez
		PprofBindAddress:        cfg.PprofBindAddress,
		LeaderElection:          cfg.LeaderElect,
		LeaderElectionID:        storagev1.LeaderElectionID,
		LeaderElectionNamespace: cfg.LeaderElectionNamespace,
		// Hand the lease over at once on a clean shutdown, so a rolling update does not leave
		// migrations unattended for a whole lease duration.
		LeaderElectionReleaseOnCancel: true,
		// One manager per process in production; the end-to-end tests start several in turn.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}

	if err := controller.Setup(mgr, controller.Options{
		DryRun:                  cfg.DryRun,
		PreservationMode:        cfg.PreservationMode,
		MaxConcurrentMigrations: cfg.MaxConcurrentMigrations,
		MigrationTimeout:        cfg.MigrationTimeout(),
		SyncPollInterval:        cfg.SyncPollInterval(),
		Prometheus:              cfg.Prometheus,
		MayastorURL:             cfg.MayastorURL,
		MayastorHADisabled:      !cfg.MayastorHAEnabled,
		ObserveInterval:         cfg.ObserveInterval,
		DecisionEventInterval:   cfg.DecisionEventInterval,
		PerVolumeMetrics:        cfg.PerVolumeMetrics,
	}); err != nil {
		return fmt.Errorf("set up controllers: %w", err)
	}
	if !cfg.DryRun {
		if err := controller.SetupCordonSweeper(mgr, cfg.MayastorURL, cfg.CordonSweepInterval); err != nil {
			return fmt.Errorf("set up the cordon sweeper: %w", err)
		}
	}

	if err := controller.SetupTierMigrationGC(mgr, cfg.FinishedMigrationTTL, cfg.FinishedMigrationsPerVolume); err != nil {
		return fmt.Errorf("set up the TierMigration collector: %w", err)
	}

	health := &healthServer{addr: cfg.HealthProbeBindAddress, mgr: mgr}
	if err := mgr.Add(health); err != nil {
		return fmt.Errorf("add health server: %w", err)
	}

	log.Info("starting manager", "metrics", cfg.MetricsBindAddress, "metricsSecure", cfg.MetricsSecure, "health", cfg.HealthProbeBindAddress,
		"leaderElect", cfg.LeaderElect, "dryRun", cfg.DryRun, "preservationMode", cfg.PreservationMode,
		"maxConcurrentMigrations", cfg.MaxConcurrentMigrations, "cordonSweepInterval", cfg.CordonSweepInterval,
		"finishedMigrationTTL", cfg.FinishedMigrationTTL, "finishedMigrationsPerVolume", cfg.FinishedMigrationsPerVolume,
		"observeInterval", cfg.ObserveInterval)
	return mgr.Start(ctx)
}

// metricsOptions: with --metrics-secure (the default), /metrics is served over HTTPS with a
// self-signed certificate, and each request must carry a bearer token the API server
// authenticates (TokenReview) and authorizes for GET /metrics (SubjectAccessReview), as the
// metrics-reader ClusterRole grants; otherwise plain HTTP, open to anyone who can reach the port.
func metricsOptions(cfg *Config) metricsserver.Options {
	opts := metricsserver.Options{BindAddress: cfg.MetricsBindAddress}
	if cfg.MetricsSecure {
		opts.SecureServing = true
		opts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	return opts
}

// healthServer serves /healthz and /livez (the process answers) and /readyz (the informer caches
// have synced), on every replica whether or not it leads.
type healthServer struct {
	addr string
	mgr  manager.Manager
}

var _ manager.LeaderElectionRunnable = (*healthServer)(nil)

func (h *healthServer) NeedLeaderElection() bool { return false }

func (h *healthServer) Start(ctx context.Context) error {
	live := &healthz.Handler{Checks: map[string]healthz.Checker{"ping": healthz.Ping}}
	ready := &healthz.Handler{Checks: map[string]healthz.Checker{"informers": h.cachesSynced}}
	mux := http.NewServeMux()
	mux.Handle("/healthz", http.StripPrefix("/healthz", live))
	mux.Handle("/healthz/", http.StripPrefix("/healthz", live))
	mux.Handle("/livez", http.StripPrefix("/livez", live))
	mux.Handle("/livez/", http.StripPrefix("/livez", live))
	mux.Handle("/readyz", http.StripPrefix("/readyz", ready))
	mux.Handle("/readyz/", http.StripPrefix("/readyz", ready))

	ln, err := net.Listen("tcp", h.addr)
	if err != nil {
		return fmt.Errorf("health server: listen on %s: %w", h.addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(shutdownCtx)
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}

func (h *healthServer) cachesSynced(req *http.Request) error {
	ctx, cancel := context.WithTimeout(req.Context(), time.Second)
	defer cancel()
	if !h.mgr.GetCache().WaitForCacheSync(ctx) {
		return errors.New("informer caches have not synced yet")
	}
	return nil
}

// Package sandbox assembles CoucheStor's local world: a real kube-apiserver and etcd (envtest)
// with CoucheStor's CRDs, the Mayastor simulator with a scenario and a PersistentVolume for each
// of its volumes, and a real Prometheus scraping the simulator's io-engine exporter. `make run`
// and the end-to-end tests use it; the operator runs against it as it would in a cluster.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagek8sv1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/operator"
	"github.com/billyronks/couchestor/internal/sim"
)

// Options shape the sandbox.
type Options struct {
	// RepoRoot holds config/crd/bases.
	RepoRoot string
	// WorkDir receives the kubeconfig, Prometheus's data and logs.
	WorkDir string
	// Scenario is an embedded simulator scenario name or a file.
	Scenario string
	// Speed is simulated seconds per wall-clock second.
	Speed float64
	// ScrapeInterval of Prometheus; also the resolution of IOPS data.
	ScrapeInterval time.Duration
	// StorageClassName of the PersistentVolumes made for the simulator's volumes; the
	// StorageClass is created too (provisioner io.openebs.csi-mayastor), as in a cluster.
	StorageClassName string
	// ExtraScrapeTargets are more host:port targets Prometheus scrapes (the operator's /metrics).
	ExtraScrapeTargets []string
	// RebuildBandwidth, when set (bytes per second), replaces the scenario's, so rebuilds finish
	// in seconds without speeding the clock up (which would inflate every IOPS figure).
	RebuildBandwidth uint64
	// RESTConfig, when set, is an API server to use (with CoucheStor's CRDs installed) instead
	// of starting one.
	RESTConfig *rest.Config
	// NoPrometheus leaves Prometheus out (PrometheusURL stays empty): for a caller that serves
	// history of its own, such as the backtest scale harness's backfilled TSDB.
	NoPrometheus bool
}

// Stack is a running sandbox.
type Stack struct {
	RESTConfig    *rest.Config
	Client        client.Client
	Kubeconfig    string
	Sim           *sim.Sim
	SimURL        string
	PrometheusURL string
	// PersistentVolumes made for the simulated volumes.
	PersistentVolumes []string
	// Logs are the files the started processes and the simulator write to.
	Logs Logs

	env      *envtest.Environment
	simSrv   *http.Server
	prom     *Prometheus
	logFiles []*os.File
	stopOnce sync.Once
}

// Logs names the log files of a Stack; a field is empty when that part was not started here.
type Logs struct {
	// Simulator: the Mayastor simulator's REST calls that change something or fail, and its
	// HTTP server's errors.
	Simulator  string
	Prometheus string
	APIServer  string
	Etcd       string
}

// Start brings the sandbox up. On error, whatever started is stopped.
func Start(ctx context.Context, o Options) (st *Stack, err error) {
	if o.RESTConfig == nil && os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return nil, errors.New("KUBEBUILDER_ASSETS is not set: run through `make`, which builds kube-apiserver and etcd with hack/envtest-binaries.sh")
	}
	if o.Speed == 0 {
		o.Speed = 1
	}
	if o.ScrapeInterval == 0 {
		o.ScrapeInterval = 5 * time.Second
	}
	if o.StorageClassName == "" {
		o.StorageClassName = "mayastor"
	}
	st = &Stack{}
	defer func() {
		if err != nil {
			st.Stop()
		}
	}()

	st.RESTConfig = o.RESTConfig
	if st.RESTConfig == nil {
		if err := st.startAPIServer(o); err != nil {
			return st, err
		}
	}
	if st.Client, err = client.New(st.RESTConfig, client.Options{Scheme: operator.NewScheme()}); err != nil {
		return st, err
	}

	sc, err := sim.LoadScenario(o.Scenario)
	if err != nil {
		return st, err
	}
	if o.RebuildBandwidth > 0 {
		sc.RebuildBandwidth = sim.ByteSize(o.RebuildBandwidth)
	}
	if st.Sim, err = sim.New(sc, sim.WithClock(sim.NewScaledClock(o.Speed))); err != nil {
		return st, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return st, err
	}
	st.SimURL = "http://" + ln.Addr().String()
	simLog, err := st.createLog(o.WorkDir, "simulator.log")
	if err != nil {
		ln.Close()
		return st, err
	}
	st.Logs.Simulator = simLog.Name()
	st.simSrv = &http.Server{Handler: logRequests(st.Sim.Handler(), simLog), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: log.New(simLog, "http: ", log.LstdFlags)}
	go func() { _ = st.simSrv.Serve(ln) }()

	if err := st.createPersistentVolumes(ctx, o.StorageClassName); err != nil {
		return st, err
	}

	if o.NoPrometheus {
		return st, nil
	}
	promDir := filepath.Join(o.WorkDir, "prometheus")
	if err := os.MkdirAll(promDir, 0o755); err != nil {
		return st, err
	}
	if st.prom, err = StartPrometheus(ctx, promDir, append([]string{ln.Addr().String()}, o.ExtraScrapeTargets...), o.ScrapeInterval); err != nil {
		return st, err
	}
	st.PrometheusURL = st.prom.URL
	st.Logs.Prometheus = st.prom.LogFile
	return st, nil
}

// createLog creates a log file in dir, closed by Stop.
func (st *Stack) createLog(dir, name string) (*os.File, error) {
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	st.logFiles = append(st.logFiles, f)
	return f, nil
}

// startAPIServer starts kube-apiserver and etcd with CoucheStor's CRDs and writes a kubeconfig
// for a person to use with kubectl.
func (st *Stack) startAPIServer(o Options) error {
	apiLog, err := st.createLog(o.WorkDir, "kube-apiserver.log")
	if err != nil {
		return err
	}
	etcdLog, err := st.createLog(o.WorkDir, "etcd.log")
	if err != nil {
		return err
	}
	st.Logs.APIServer, st.Logs.Etcd = apiLog.Name(), etcdLog.Name()
	st.env = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(o.RepoRoot, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	st.env.ControlPlane.APIServer = &envtest.APIServer{Out: apiLog, Err: apiLog}
	st.env.ControlPlane.Etcd = &envtest.Etcd{Out: etcdLog, Err: etcdLog}
	if st.RESTConfig, err = st.env.Start(); err != nil {
		return fmt.Errorf("start the local API server: %w", err)
	}
	user, err := st.env.AddUser(envtest.User{Name: "sandbox-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return err
	}
	st.Kubeconfig = filepath.Join(o.WorkDir, "kubeconfig")
	return os.WriteFile(st.Kubeconfig, kc, 0o600)
}

// createPersistentVolumes makes the PV a Mayastor CSI driver would have made for each simulated
// volume: named pvc-<uuid>, driver io.openebs.csi-mayastor, volumeHandle = the volume uuid.
func (st *Stack) createPersistentVolumes(ctx context.Context, storageClass string) error {
	sc := &storagek8sv1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: storageClass}, Provisioner: storagev1.MayastorCSIDriver}
	if err := st.Client.Create(ctx, sc); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create StorageClass %s: %w", storageClass, err)
	}
	mc, err := mayastor.New(mayastor.Config{BaseURL: st.SimURL})
	if err != nil {
		return err
	}
	vols, err := mc.ListAllVolumes(ctx)
	if err != nil {
		return fmt.Errorf("list simulated volumes: %w", err)
	}
	for _, v := range vols {
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: "pvc-" + v.Spec.UUID},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: *resource.NewQuantity(int64(v.Spec.Size), resource.BinarySI)},
				AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
				StorageClassName:              storageClass,
				PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
					Driver: storagev1.MayastorCSIDriver, VolumeHandle: v.Spec.UUID, FSType: "ext4",
				}},
			},
		}
		if err := st.Client.Create(ctx, pv); err != nil {
			return fmt.Errorf("create PersistentVolume %s: %w", pv.Name, err)
		}
		st.PersistentVolumes = append(st.PersistentVolumes, pv.Name)
	}
	return nil
}

// StopPrometheus stops only Prometheus, to see how the operator copes. Without one
// (Options.NoPrometheus) it does nothing.
func (st *Stack) StopPrometheus() { st.prom.Stop() }

// StopSimulator stops the simulator's HTTP server; a caller that borrowed the API server
// (Options.RESTConfig) and stops that itself calls it instead of Stop, which deletes every PV.
func (st *Stack) StopSimulator() {
	if st.simSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = st.simSrv.Shutdown(ctx)
		cancel()
	}
}

// Stop tears everything down and waits for every process it started to exit. Calling it
// again does nothing.
func (st *Stack) Stop() {
	if st == nil {
		return
	}
	st.stopOnce.Do(st.stop)
}

func (st *Stack) stop() {
	st.prom.Stop()
	if st.simSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = st.simSrv.Shutdown(ctx)
		cancel()
	}
	if st.env != nil {
		_ = st.env.Stop()
	} else if st.Client != nil {
		// A borrowed API server: leave it as it was found. No controller-manager runs there to
		// lift the pv-protection finalizer, so lift it here.
		ctx := context.Background()
		for _, name := range st.PersistentVolumes {
			var pv corev1.PersistentVolume
			if err := st.Client.Get(ctx, client.ObjectKey{Name: name}, &pv); err != nil {
				continue
			}
			if len(pv.Finalizers) > 0 {
				pv.Finalizers = nil
				_ = st.Client.Update(ctx, &pv)
			}
			_ = st.Client.Delete(ctx, &pv)
		}
	}
	for _, f := range st.logFiles {
		_ = f.Close()
	}
	st.logFiles = nil
}

// logRequests writes a line to w for each request that is not a GET, and for each answered
// with an error status: what the operator asked of Mayastor, and what was refused.
func logRequests(h http.Handler, w io.Writer) http.Handler {
	lg := log.New(w, "", log.LstdFlags|log.Lmicroseconds)
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: rw, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		if r.Method != http.MethodGet || sw.status >= 400 {
			lg.Printf("%s %s -> %d (%s)", r.Method, r.URL.RequestURI(), sw.status, time.Since(start).Round(time.Microsecond))
		}
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

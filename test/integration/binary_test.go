package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/billyronks/couchestor/internal/testenv"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// buildBinary compiles cmd/couchestor once per test run, into binDir (removed by TestMain).
func buildBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binPath = filepath.Join(binDir, "couchestor")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/couchestor")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// leastPrivilegeKubeconfig makes a user bound to nothing but the generated ClusterRole
// config/rbac/role.yaml, so the test also proves that role is enough to run the operator.
func leastPrivilegeKubeconfig(t *testing.T) string {
	t.Helper()
	return kubeconfigBoundToManagerRole(t, "couchestor-test")
}

// kubeconfigBoundToManagerRole makes user, bound to a copy of config/rbac/role.yaml only, and
// returns the path of its kubeconfig.
func kubeconfigBoundToManagerRole(t *testing.T, user string) string {
	t.Helper()
	c := context.Background()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.Unmarshal(raw, &role); err != nil {
		t.Fatal(err)
	}
	role.Name = user + "-manager-role"
	if err := k8sClient.Create(c, &role); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), &role) })
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: user + "-manager-rolebinding"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: "User", Name: user}},
	}
	if err := k8sClient.Create(c, binding); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), binding) })

	u, err := testEnv.AddUser(envtest.User{Name: user}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := u.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func get(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// startBinary runs the built operator with the least-privilege user and args, and waits until
// /readyz answers 200. It returns the metrics and health addresses and the output so far.
func startBinary(t *testing.T, args ...string) (metricsAddr, healthAddr string, logs *testenv.SyncBuffer) {
	t.Helper()
	bin := buildBinary(t)
	kubeconfig := leastPrivilegeKubeconfig(t)
	metricsAddr, healthAddr = freeAddr(t), freeAddr(t)

	logs = &testenv.SyncBuffer{}
	cmd := exec.Command(bin, append([]string{"--kubeconfig", kubeconfig,
		"--metrics-bind-address", metricsAddr, "--health-probe-bind-address", healthAddr}, args...)...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("operator output:\n%s", logs.String())
		}
	})

	eventually(t, 60*time.Second, 200*time.Millisecond, "/readyz 200", func() (bool, string) {
		code, _, err := get("http://" + healthAddr + "/readyz")
		if err == nil && code == http.StatusOK {
			return true, ""
		}
		select {
		case err := <-exited:
			t.Fatalf("operator exited before it was ready: %v", err)
		default:
		}
		return false, fmt.Sprintf("%d, %v", code, err)
	})
	return metricsAddr, healthAddr, logs
}

func TestBinaryServesHealthAndMetrics(t *testing.T) {
	requireAPIServer(t)
	// Plain HTTP, as --metrics-secure=false asks; the secure default is TestBinarySecureMetrics.
	metricsAddr, healthAddr, logs := startBinary(t, "--metrics-secure=false", "--log-json", "--log-level", "debug")
	for _, path := range []string{"/healthz", "/livez", "/readyz"} {
		code, body, err := get("http://" + healthAddr + path)
		if err != nil || code != http.StatusOK {
			t.Errorf("GET %s: %d %q %v", path, code, body, err)
		}
	}
	code, body, err := get("http://" + metricsAddr + "/metrics")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", code, err)
	}
	for _, want := range []string{
		"# TYPE storage_operator_reconcile_total counter",
		"# TYPE storage_operator_migrations_total counter",
		// The datasheet's {status} series: Prometheus reads an empty label as no label.
		`storage_operator_migrations_total{policy="",status="succeeded",target_tier=""} 0`,
		`storage_operator_migrations_total{policy="",status="failed",target_tier=""} 0`,
		"# TYPE storage_operator_active_migrations gauge",
		"storage_operator_active_migrations 0",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// Logs are JSON, one object a line, as --log-json asks.
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	lines := 0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		lines++
		if !strings.HasPrefix(line, "{") {
			t.Errorf("--log-json printed a non-JSON line: %s", line)
		}
	}
	if lines == 0 {
		t.Error("the operator logged nothing")
	}
}

func TestBinaryRefusesBadFlags(t *testing.T) {
	bin := buildBinary(t)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--max-concurrent-migrations=0"}, "--max-concurrent-migrations: must be a positive number, got 0"},
		{[]string{"--max-concurrent-migrations=-3"}, "--max-concurrent-migrations: must be a positive number"},
		{[]string{"--migration-timeout-minutes=0"}, "--migration-timeout-minutes"},
		{[]string{"--sync-poll-interval-seconds=-1"}, "--sync-poll-interval-seconds"},
		{[]string{"--log-level=verbose"}, `--log-level: unknown level "verbose"`},
		{[]string{"--prometheus-url=prometheus:9090"}, "--prometheus-url: "},
		{[]string{"--prometheus-url=http://"}, "--prometheus-url: "},
		{[]string{"--mayastor-url=ftp://x"}, "--mayastor-url: malformed URL"},
		{[]string{"--metrics-bind-address=8080"}, "--metrics-bind-address: malformed address"},
		{[]string{"--no-such-flag"}, "unknown flag: --no-such-flag"},
		{[]string{"--dry-run=maybe"}, `invalid argument "maybe" for "--dry-run" flag`},
		{[]string{"--finished-migration-ttl=0s"}, "--finished-migration-ttl: must be a positive duration"},
		{[]string{"--finished-migration-ttl=a-week"}, "-finished-migration-ttl"},
		{[]string{"--finished-migrations-per-volume=-2"}, "--finished-migrations-per-volume: must be 0 or more, got -2"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, bin, tc.args...).CombinedOutput()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 2 {
				t.Fatalf("want exit status 2 (a usage error), got %v; output %q", err, out)
			}
			msg := strings.TrimRight(string(out), "\n")
			if strings.Contains(msg, "\n") {
				t.Fatalf("want one line, got:\n%s", msg)
			}
			if !strings.HasPrefix(msg, "couchestor: ") || !strings.Contains(msg, tc.want) {
				t.Fatalf("want a line naming the flag (%q), got %q", tc.want, msg)
			}
		})
	}
}

// --help follows Kubernetes' convention (pflag): every flag as --flag, exit status 0, on stdout.
func TestBinaryHelpPrintsDoubleDashFlags(t *testing.T) {
	bin := buildBinary(t)
	for _, arg := range []string{"--help", "-h"} {
		out, err := exec.Command(bin, arg).Output()
		if err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		help := string(out)
		for _, want := range []string{"Usage:", "  couchestor [flags]", "      --prometheus-url string", "      --max-concurrent-migrations int",
			"      --dry-run ", "      --observe-interval duration", "  -h, --help"} {
			if !strings.Contains(help, want) {
				t.Errorf("%s: help lacks %q:\n%s", arg, want, help)
			}
		}
		for _, line := range strings.Split(help, "\n") {
			if f := strings.TrimSpace(line); strings.HasPrefix(f, "-") && !strings.HasPrefix(f, "--") && !strings.HasPrefix(f, "-h, --help") {
				t.Errorf("%s: single-dash flag in help: %q", arg, line)
			}
		}
	}
}

func TestBinaryVersion(t *testing.T) {
	out, err := exec.Command(buildBinary(t), "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "couchestor ") {
		t.Fatalf("--version: %v %q", err, out)
	}
}

package integration

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// serviceAccountToken creates a ServiceAccount in the default namespace and returns a token
// the API server issued for it (TokenRequest), as a Pod's projected token would be.
func serviceAccountToken(t *testing.T, name string) string {
	t.Helper()
	c := ctx(t)
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}}
	if err := k8sClient.Create(c, sa); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), sa) })
	cs, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts("default").CreateToken(c, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest for ServiceAccount %s: %v", name, err)
	}
	return tr.Status.Token
}

// bindMetricsReader binds the ServiceAccount to config/rbac/metrics_reader_role.yaml, as the
// install docs tell users to bind Prometheus' ServiceAccount.
func bindMetricsReader(t *testing.T, sa string) {
	t.Helper()
	c := ctx(t)
	raw, err := os.ReadFile(filepath.Join(repoRoot, "config", "rbac", "metrics_reader_role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.Unmarshal(raw, &role); err != nil {
		t.Fatal(err)
	}
	role.Name = "couchestor-test-metrics-reader"
	if err := k8sClient.Create(c, &role); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), &role) })
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "couchestor-test-metrics-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: "default"}},
	}
	if err := k8sClient.Create(c, binding); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), binding) })
}

// TestBinarySecureMetrics: by default /metrics is HTTPS, refuses a scrape without a token (401)
// and a token whose ServiceAccount may not GET /metrics (403), and serves one bound to the
// metrics-reader ClusterRole. The operator runs with the generated ClusterRole only, so this
// also proves the role grants the TokenReviews and SubjectAccessReviews the check needs.
func TestBinarySecureMetrics(t *testing.T) {
	requireAPIServer(t)
	reader, stranger := "couchestor-test-scraper", "couchestor-test-stranger"
	bindMetricsReader(t, reader)
	readerToken, strangerToken := serviceAccountToken(t, reader), serviceAccountToken(t, stranger)
	metricsAddr, _, _ := startBinary(t)

	// The certificate is self-signed, generated at start-up.
	hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // self-signed by design
	scrape := func(token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "https://"+metricsAddr+"/metrics", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		// The metrics server may still be generating its key when /readyz first answers.
		var resp *http.Response
		eventually(t, 30*time.Second, 200*time.Millisecond, "an answer to GET https://"+metricsAddr+"/metrics", func() (bool, string) {
			var err error
			if resp, err = hc.Do(req); err != nil {
				return false, err.Error()
			}
			return true, ""
		})
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	if code, body := scrape(""); code != http.StatusUnauthorized {
		t.Errorf("no token: %d %q, want 401", code, body)
	}
	if code, _, err := get("http://" + metricsAddr + "/metrics"); err == nil && code == http.StatusOK {
		t.Fatalf("plain HTTP /metrics answered 200: the default must be HTTPS")
	}
	// controller-runtime's filter answers 500 when the TokenReview itself fails (as it does
	// for a string that is no token at all): refused, whatever the code.
	if code, body := scrape("not-a-token"); code == http.StatusOK {
		t.Errorf("a token the API server does not know: %d %q, want a refusal", code, body)
	}
	if code, body := scrape(strangerToken); code != http.StatusForbidden {
		t.Errorf("a ServiceAccount without the metrics-reader role: %d %q, want 403", code, body)
	}
	code, body := scrape(readerToken)
	if code != http.StatusOK {
		t.Fatalf("a ServiceAccount bound to the metrics-reader role: %d %q, want 200", code, body)
	}
	for _, want := range []string{"storage_operator_reconcile_total", "couchestor_build_info{"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

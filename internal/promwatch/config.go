package promwatch

import (
	"io/fs"
	"strings"

	promconfig "github.com/prometheus/common/config"

	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"
)

// Defaults for Config.
const (
	DefaultURL              = "http://prometheus.monitoring.svc.cluster.local:9090"
	DefaultTimeout          = 10 * time.Second
	DefaultMaxSeries        = 100_000
	DefaultMaxResponseBytes = 32 << 20
	DefaultMinCoverage      = 0.95
)

// Config says where Prometheus is, how to authenticate, and which queries give the IOPS.
type Config struct {
	// URL of the Prometheus server (or of a proxy in front of it, path prefix allowed).
	URL string
	// Timeout bounds one Evaluate (both queries, connection included); it is also sent to
	// Prometheus so it stops evaluating when the operator has stopped waiting.
	Timeout time.Duration

	// BearerTokenFile, if set, is read on every request (a rotated Secret is picked up at once)
	// and sent as "Authorization: Bearer <token>".
	BearerTokenFile string
	// BasicAuthUsername and BasicAuthPasswordFile, if set, send HTTP basic auth; the password
	// file is read on every request. Mutually exclusive with BearerTokenFile.
	BasicAuthUsername     string
	BasicAuthPasswordFile string
	// CAFile is a PEM bundle trusted instead of the system roots for an https URL. Read once,
	// by New.
	CAFile string
	// InsecureSkipVerify disables TLS certificate verification. For tests only.
	InsecureSkipVerify bool

	// IOPSQuery is the default IOPS query template (see DefaultIOPSQuery and the package doc);
	// empty means DefaultIOPSQuery. A policy can still override it per Request.
	IOPSQuery string
	// PresenceQuery selects the series whose presence proves a volume was being measured
	// (see DefaultPresenceQuery); empty means DefaultPresenceQuery.
	PresenceQuery string
	// MinCoverage is the fraction of the sampling window that must be covered by samples for a
	// volume to get a number; 0 means DefaultMinCoverage.
	MinCoverage float64

	// MaxSeries and MaxResponseBytes bound one answer; beyond them Evaluate fails with
	// ErrResponseTooLarge instead of holding an unbounded answer in memory. 0 means the default.
	MaxSeries        int
	MaxResponseBytes int64

	// Transport, if set, replaces the HTTP transport built from the TLS settings above
	// (authentication and size limits still wrap it): e.g. the API server's service proxy.
	Transport http.RoundTripper

	// Observer, when set, is told about every query (metrics: operation, duration, error).
	Observer RequestObserver
}

// DefaultConfig returns the configuration the flags start from.
func DefaultConfig() Config {
	return Config{
		URL:              DefaultURL,
		Timeout:          DefaultTimeout,
		IOPSQuery:        DefaultIOPSQuery,
		PresenceQuery:    DefaultPresenceQuery,
		MinCoverage:      DefaultMinCoverage,
		MaxSeries:        DefaultMaxSeries,
		MaxResponseBytes: DefaultMaxResponseBytes,
	}
}

// RegisterFlags binds the Prometheus flags to c on fs, with c's current values as defaults
// (start from DefaultConfig). Call c.Validate after fs.Parse.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.URL, "prometheus-url", c.URL, "URL of the Prometheus server whose HTTP API v1 gives volume IOPS.")
	fs.DurationVar(&c.Timeout, "prometheus-timeout", c.Timeout, "Upper bound for the Prometheus queries of one policy reconcile.")
	fs.StringVar(&c.BearerTokenFile, "prometheus-bearer-token-file", c.BearerTokenFile, "File holding a bearer token sent to Prometheus; re-read on every request.")
	fs.StringVar(&c.BasicAuthUsername, "prometheus-basic-auth-username", c.BasicAuthUsername, "User name for HTTP basic auth to Prometheus (with --prometheus-basic-auth-password-file).")
	fs.StringVar(&c.BasicAuthPasswordFile, "prometheus-basic-auth-password-file", c.BasicAuthPasswordFile, "File holding the basic auth password; re-read on every request.")
	fs.StringVar(&c.CAFile, "prometheus-ca-file", c.CAFile, "PEM file of the CA(s) that sign the Prometheus server certificate (replaces the system roots).")
	fs.BoolVar(&c.InsecureSkipVerify, "prometheus-insecure-skip-verify", c.InsecureSkipVerify, "Skip TLS certificate verification of Prometheus (insecure; tests only).")
	fs.StringVar(&c.IOPSQuery, "iops-query", c.IOPSQuery, "PromQL template giving the mean IOPS per pv_name; {{window}} is replaced by the policy's sampling window.")
	fs.StringVar(&c.PresenceQuery, "iops-presence-query", c.PresenceQuery, "PromQL selector of the series, labelled pv_name, whose samples prove a volume was measured (coverage rule).")
	fs.IntVar(&c.MaxSeries, "prometheus-max-series", c.MaxSeries, "Most series one IOPS answer may hold (one per published volume); a larger answer leaves every volume Unknown (ResponseTooLarge).")
	fs.Int64Var(&c.MaxResponseBytes, "prometheus-max-response-bytes", c.MaxResponseBytes, "Most bytes one Prometheus answer may hold (about 100 per series); a larger answer leaves every volume Unknown (ResponseTooLarge).")
}

// Validate checks c and returns the first problem as a one-line error naming the flag.
func (c *Config) Validate() error {
	if c.URL == "" {
		return errors.New("--prometheus-url: must not be empty")
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return fmt.Errorf("--prometheus-url: %q is not a URL: %v", c.URL, unwrapURLError(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("--prometheus-url: %q must start with http:// or https://", c.URL)
	}
	if u.Host == "" {
		return fmt.Errorf("--prometheus-url: %q has no host", c.URL)
	}
	if u.User != nil {
		return fmt.Errorf("--prometheus-url: %q carries credentials; use --prometheus-basic-auth-username and --prometheus-basic-auth-password-file", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("--prometheus-url: %q must not have a query or fragment", c.URL)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("--prometheus-timeout: must be positive, got %s", c.Timeout)
	}
	if c.BearerTokenFile != "" && (c.BasicAuthUsername != "" || c.BasicAuthPasswordFile != "") {
		return errors.New("--prometheus-bearer-token-file: cannot be combined with basic auth")
	}
	if (c.BasicAuthUsername == "") != (c.BasicAuthPasswordFile == "") {
		if c.BasicAuthUsername == "" {
			return errors.New("--prometheus-basic-auth-username: required with --prometheus-basic-auth-password-file")
		}
		return errors.New("--prometheus-basic-auth-password-file: required with --prometheus-basic-auth-username")
	}
	for _, f := range []struct{ flag, path string }{
		{"--prometheus-bearer-token-file", c.BearerTokenFile},
		{"--prometheus-basic-auth-password-file", c.BasicAuthPasswordFile},
		{"--prometheus-ca-file", c.CAFile},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.ReadFile(f.path); err != nil {
			return fmt.Errorf("%s: %v", f.flag, unwrapPathError(err))
		}
	}
	if c.CAFile != "" {
		if _, err := loadCAFile(c.CAFile); err != nil {
			return fmt.Errorf("--prometheus-ca-file: %v", err)
		}
		if u.Scheme != "https" {
			return fmt.Errorf("--prometheus-ca-file: set but --prometheus-url %q is not https", c.URL)
		}
	}
	if c.IOPSQuery != "" {
		if err := ValidateQueryTemplate(c.IOPSQuery); err != nil {
			return fmt.Errorf("--iops-query: %v", err)
		}
	}
	if c.PresenceQuery != "" {
		if err := ValidatePresenceQuery(c.PresenceQuery); err != nil {
			return fmt.Errorf("--iops-presence-query: %v", err)
		}
	}
	if c.MinCoverage < 0 || c.MinCoverage > 1 {
		return fmt.Errorf("promwatch: MinCoverage must be within [0, 1], got %g", c.MinCoverage)
	}
	if c.MaxSeries <= 0 {
		return fmt.Errorf("--prometheus-max-series: must be positive, got %d", c.MaxSeries)
	}
	if c.MaxResponseBytes <= 0 {
		return fmt.Errorf("--prometheus-max-response-bytes: must be positive, got %d", c.MaxResponseBytes)
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

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("cannot read %s: %v", pe.Path, pe.Err)
	}
	return err
}

func loadCAFile(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, unwrapPathError(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// roundTripper builds the transport chain: size limit ∘ credential errors ∘ authentication and
// TLS from github.com/prometheus/common/config (the library Prometheus' own clients use: the
// bearer token and basic-auth password files are read on every request, so a rotated Secret is
// picked up at once).
func (c *Config) roundTripper() (http.RoundTripper, error) {
	hc := promconfig.HTTPClientConfig{
		TLSConfig:       promconfig.TLSConfig{CAFile: c.CAFile, InsecureSkipVerify: c.InsecureSkipVerify, MinVersion: promconfig.TLSVersion(tls.VersionTLS12)},
		FollowRedirects: true,
	}
	switch {
	case c.BearerTokenFile != "":
		hc.Authorization = &promconfig.Authorization{Type: "Bearer", CredentialsFile: c.BearerTokenFile}
	case c.BasicAuthUsername != "":
		hc.BasicAuth = &promconfig.BasicAuth{Username: c.BasicAuthUsername, PasswordFile: c.BasicAuthPasswordFile}
	}
	if c.CAFile != "" {
		if _, err := loadCAFile(c.CAFile); err != nil {
			return nil, fmt.Errorf("--prometheus-ca-file: %v", err)
		}
	}
	if err := hc.Validate(); err != nil {
		return nil, fmt.Errorf("prometheus client: %v", err)
	}
	var rt http.RoundTripper
	if c.Transport != nil {
		// The same authentication round trippers over the given transport.
		rt = c.Transport
		switch {
		case hc.Authorization != nil:
			rt = promconfig.NewAuthorizationCredentialsRoundTripper("Bearer", promconfig.NewFileSecret(c.BearerTokenFile), rt)
		case hc.BasicAuth != nil:
			rt = promconfig.NewBasicAuthRoundTripper(promconfig.NewInlineSecret(c.BasicAuthUsername), promconfig.NewFileSecret(c.BasicAuthPasswordFile), rt)
		}
	} else {
		var err error
		if rt, err = promconfig.NewRoundTripperFromConfig(hc, "couchestor"); err != nil {
			return nil, fmt.Errorf("prometheus client: %v", err)
		}
	}
	return &limitRoundTripper{next: &credentialErrors{next: rt}, maxBytes: c.MaxResponseBytes}, nil
}

// credentialsError marks a failure to read a mounted credential, so it is reported as
// ErrUnauthorized rather than as an unreachable server.
type credentialsError struct{ err error }

func (e *credentialsError) Error() string { return e.err.Error() }
func (e *credentialsError) Unwrap() error { return e.err }

// credentialErrors turns the authentication round tripper's failure to read a credentials file
// (a file-system error, before any request was sent) into a credentialsError.
type credentialErrors struct{ next http.RoundTripper }

func (c *credentialErrors) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	var pathErr *fs.PathError
	if err != nil && errors.As(err, &pathErr) {
		what := "read bearer token"
		if strings.Contains(err.Error(), "basic auth") {
			what = "read basic auth password"
		}
		return nil, &credentialsError{fmt.Errorf("%s: %v", what, unwrapPathError(err))}
	}
	return resp, err
}

// errBodyTooLarge is returned while reading an answer longer than MaxResponseBytes.
type errBodyTooLarge struct{ limit int64 }

func (e *errBodyTooLarge) Error() string {
	return fmt.Sprintf("answer exceeds %d bytes", e.limit)
}

type limitRoundTripper struct {
	next     http.RoundTripper
	maxBytes int64
}

func (l *limitRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(req)
	if err != nil || l.maxBytes <= 0 {
		return resp, err
	}
	if resp.ContentLength > l.maxBytes {
		resp.Body.Close()
		return nil, &errBodyTooLarge{l.maxBytes}
	}
	resp.Body = &limitedBody{rc: resp.Body, left: l.maxBytes, limit: l.maxBytes}
	return resp, nil
}

type limitedBody struct {
	rc          io.ReadCloser
	left, limit int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One more byte is probed so an answer of exactly the limit still succeeds.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, &errBodyTooLarge{b.limit}
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// Package mayastorspec loads the upstream Mayastor control-plane REST v0
// OpenAPI document and validates HTTP requests and responses against it.
//
// It exists for contract tests: the CoucheStor client proves every request it
// sends, and the simulator proves every answer it gives, against the same
// upstream file. The file is not part of this repository; it is found through
// $MAYASTOR_OPENAPI_SPEC or at <repo>/../shared/mayastor/v0_api_spec.yaml, and
// Load skips the calling test with a clear message where neither exists.
//
// Three defects of the upstream document are ignored, and nothing else:
// VolumeSpec lists num_paths and protocol as required without defining them,
// and RegisterAppNode lists id likewise. The real server's models are
// generated from the properties, so it never sends those fields.
package mayastorspec

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// EnvVar names the environment variable that points at the spec file.
const EnvVar = "MAYASTOR_OPENAPI_SPEC"

// relPath is where the spec lives relative to the repository root.
const relPath = "../shared/mayastor/v0_api_spec.yaml"

// knownDefects are the required-but-undefined properties of the upstream
// document that a strict validator trips on: schema name → property names.
var knownDefects = map[string][]string{
	"VolumeSpec":      {"num_paths", "protocol"},
	"RegisterAppNode": {"id"},
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Spec is a loaded, routable spec document.
type Spec struct {
	// Path is the file the spec was read from.
	Path   string
	doc    *openapi3.T
	router routers.Router
}

// Locate returns the spec file's path: $MAYASTOR_OPENAPI_SPEC if set,
// otherwise <repo>/../shared/mayastor/v0_api_spec.yaml where <repo> is the
// nearest directory at or above the working directory holding go.mod.
// ok is false when no file exists there.
func Locate() (path string, ok bool) {
	if p := os.Getenv(EnvVar); p != "" {
		_, err := os.Stat(p)
		return p, err == nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Clean(filepath.Join(dir, relPath))
			_, err := os.Stat(p)
			return p, err == nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// Load finds and loads the spec for a test, skipping the test when the file
// is absent and failing it when the file cannot be parsed.
func Load(t testing.TB) *Spec {
	t.Helper()
	path, ok := Locate()
	if !ok {
		t.Skipf("Mayastor OpenAPI spec not found (set $%s or place it at <repo>/%s; looked at %q): skipping contract validation",
			EnvVar, relPath, path)
	}
	s, err := LoadFile(path)
	if err != nil {
		t.Fatalf("load Mayastor OpenAPI spec: %v", err)
	}
	return s
}

// LoadFile loads the spec from path and prepares it for validation.
func LoadFile(path string) (*Spec, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if err := dropKnownDefects(doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route %s: %w", path, err)
	}
	return &Spec{Path: path, doc: doc, router: router}, nil
}

// dropKnownDefects removes exactly the known required-but-undefined
// properties. A listed property that the document does define is kept (the
// defect has been fixed upstream), so nothing real is ever ignored.
func dropKnownDefects(doc *openapi3.T) error {
	for name, props := range knownDefects {
		ref, ok := doc.Components.Schemas[name]
		if !ok || ref.Value == nil {
			return fmt.Errorf("schema %s not found", name)
		}
		s := ref.Value
		s.Required = slices.DeleteFunc(s.Required, func(req string) bool {
			_, defined := s.Properties[req]
			return !defined && slices.Contains(props, req)
		})
	}
	return nil
}

func (s *Spec) options() *openapi3filter.Options {
	return &openapi3filter.Options{
		AuthenticationFunc:  openapi3filter.NoopAuthenticationFunc,
		MultiError:          true,
		SkipSettingDefaults: true,
		SchemaValidationOptions: []openapi3.SchemaValidationOption{
			openapi3.EnableFormatValidation(),
			openapi3.WithStringFormatValidator("uuid", openapi3.NewCallbackValidator(func(v string) error {
				if !uuidPattern.MatchString(v) {
					return fmt.Errorf("%q is not a uuid", v)
				}
				return nil
			})),
		},
	}
}

// route finds the operation of req. The spec's server is the relative "/v0",
// so the request URL's scheme and host are dropped before matching.
func (s *Spec) route(req *http.Request) (*http.Request, *routers.Route, map[string]string, error) {
	u := *req.URL
	u.Scheme, u.Host, u.User = "", "", nil
	r := req.Clone(context.Background())
	r.URL = &u
	r.Host = ""
	route, params, err := s.router.FindRoute(r)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s %s: no such operation in the spec: %w", req.Method, req.URL.Path, err)
	}
	return r, route, params, nil
}

// ValidateRequest checks method, path, path and query parameters and the JSON
// body of req against the spec. body is the request body (nil when none);
// req.Body is not read.
func (s *Spec) ValidateRequest(req *http.Request, body []byte) error {
	r, route, params, err := s.route(req)
	if err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if body == nil {
		r.Body = http.NoBody
	}
	in := &openapi3filter.RequestValidationInput{
		Request:    r,
		PathParams: params,
		Route:      route,
		Options:    s.options(),
	}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		return fmt.Errorf("%s %s (%s): request off the spec: %w", req.Method, req.URL.RequestURI(), route.Operation.OperationID, err)
	}
	return nil
}

// ValidateResponse checks an answer to req (status, Content-Type header and
// JSON body) against the spec. A status the operation does not declare is an
// error too.
func (s *Spec) ValidateResponse(req *http.Request, status int, header http.Header, body []byte) error {
	r, route, params, err := s.route(req)
	if err != nil {
		return err
	}
	opts := s.options()
	opts.IncludeResponseStatus = true
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request:    r,
			PathParams: params,
			Route:      route,
			Options:    opts,
		},
		Status:  status,
		Header:  header,
		Options: opts,
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return fmt.Errorf("%s %s (%s): %d answer off the spec: %w", req.Method, req.URL.RequestURI(), route.Operation.OperationID, status, err)
	}
	return nil
}

// OperationID names the spec operation that req calls, or "" when none does.
func (s *Spec) OperationID(req *http.Request) string {
	_, route, _, err := s.route(req)
	if err != nil {
		return ""
	}
	return route.Operation.OperationID
}

// Handler wraps next so that every request it receives and every answer it
// gives is validated; each violation is passed to report (which must be safe
// for concurrent use). Requests are always served, valid or not.
func (s *Spec) Handler(next http.Handler, report func(error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var body []byte
		if req.Body != nil {
			b, err := io.ReadAll(req.Body)
			if err != nil {
				report(fmt.Errorf("%s %s: read request body: %w", req.Method, req.URL.Path, err))
			}
			if len(b) > 0 {
				body = b
			}
			req.Body = io.NopCloser(bytes.NewReader(b))
		}
		if err := s.ValidateRequest(req, body); err != nil {
			report(err)
		}
		rec := &recorder{header: http.Header{}, status: http.StatusOK}
		next.ServeHTTP(rec, req)
		if err := s.ValidateResponse(req, rec.status, rec.header, rec.body.Bytes()); err != nil {
			report(err)
		}
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
		_, _ = w.Write(rec.body.Bytes())
	})
}

type recorder struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}

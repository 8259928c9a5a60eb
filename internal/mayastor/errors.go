package mayastor

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// APIError is an answer of the control plane with a non-2xx status. It keeps
// the HTTP status and Mayastor's error body, and says which operation on
// which resource failed.
type APIError struct {
	// Op describes the failed operation and its resource, e.g.
	// "set replica count of volume 1234 to 3".
	Op string
	// Method and Path are the HTTP request line (path without the base URL).
	Method string
	Path   string
	// StatusCode is the HTTP status code, Status its text ("409 Conflict").
	StatusCode int
	Status     string
	// Body is Mayastor's RestJsonError; zero when the answer was not one.
	Body RestJsonError
	// Raw holds the answer body (truncated) when it was not a RestJsonError.
	Raw string
}

// Kind is the Mayastor error kind, or "" when the answer carried none.
func (e *APIError) Kind() ErrorKind { return e.Body.Kind }

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mayastor: %s: %s", e.Op, e.Status)
	if e.Body.Kind != "" {
		fmt.Fprintf(&b, " (kind %s)", e.Body.Kind)
	}
	var parts []string
	if e.Body.Details != "" {
		parts = append(parts, e.Body.Details)
	}
	if e.Body.Message != "" && e.Body.Message != e.Body.Details {
		parts = append(parts, e.Body.Message)
	}
	if len(parts) == 0 && e.Raw != "" {
		parts = append(parts, e.Raw)
	}
	if len(parts) > 0 {
		b.WriteString(": ")
		b.WriteString(strings.Join(parts, ": "))
	}
	return b.String()
}

// TransportError is a request that got no HTTP answer (connection refused,
// reset, timeout, cancelled context) or an answer that could not be decoded.
type TransportError struct {
	Op     string
	Method string
	Path   string
	Err    error
}

func (e *TransportError) Error() string { return fmt.Sprintf("mayastor: %s: %v", e.Op, e.Err) }

func (e *TransportError) Unwrap() error { return e.Err }

// AsAPIError returns the *APIError in err's chain, if any.
func AsAPIError(err error) (*APIError, bool) {
	var ae *APIError
	ok := errors.As(err, &ae)
	return ae, ok
}

// IsNotFound reports whether err is a 404 or a NotFound answer.
func IsNotFound(err error) bool {
	ae, ok := AsAPIError(err)
	return ok && (ae.StatusCode == http.StatusNotFound || ae.Body.Kind == ErrorKindNotFound)
}

// IsKind reports whether err is an answer of the given Mayastor error kind.
func IsKind(err error, kind ErrorKind) bool {
	ae, ok := AsAPIError(err)
	return ok && ae.Body.Kind == kind
}

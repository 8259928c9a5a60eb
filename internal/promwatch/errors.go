package promwatch

import (
	"errors"
	"fmt"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

// Kinds of failure. Every error Evaluate returns is an *Error whose Kind is one of these, so callers
// can test with errors.Is(err, promwatch.ErrUnreachable) and read the condition reason with
// errors.As(err, &e); e.Reason().
var (
	// ErrUnreachable: no HTTP answer from Prometheus (connection refused, DNS, TLS handshake,
	// or a 502/503/504 from a proxy in front of it).
	ErrUnreachable = errors.New("prometheus unreachable")
	// ErrTimeout: no complete answer within Config.Timeout, or Prometheus gave up evaluating.
	ErrTimeout = errors.New("prometheus query timed out")
	// ErrUnauthorized: Prometheus (or its proxy) answered 401 or 403, or the mounted token or
	// password file cannot be read.
	ErrUnauthorized = errors.New("prometheus authentication failed")
	// ErrBadQuery: Prometheus refused the query (syntax error, unknown function...).
	ErrBadQuery = errors.New("prometheus rejected the query")
	// ErrResponseTooLarge: the answer exceeded Config.MaxResponseBytes or Config.MaxSeries.
	ErrResponseTooLarge = errors.New("prometheus answer too large")
	// ErrInvalidResult: the query ran but its result cannot be read as one IOPS sample per
	// pv_name (not an instant vector, a sample without pv_name, two samples for one pv_name,
	// a negative rate). It is a fault of the query, typically a policy's override, never
	// guessed around.
	ErrInvalidResult = errors.New("query result is not one sample per pv_name")
	// ErrInvalidQuery: the query template itself is unusable (empty, no {{window}}).
	ErrInvalidQuery = errors.New("invalid query template")
	// ErrPrometheus: any other failure reported by Prometheus (execution error, 5xx,
	// an answer that is not the Prometheus API).
	ErrPrometheus = errors.New("prometheus query failed")
)

// reasons gives each Kind its condition reason, for the policy's MetricsAvailable condition.
var reasons = map[error]string{
	ErrUnreachable:      storagev1.ReasonPrometheusUnreachable,
	ErrTimeout:          storagev1.ReasonPrometheusTimeout,
	ErrUnauthorized:     storagev1.ReasonPrometheusUnauthorized,
	ErrBadQuery:         storagev1.ReasonBadQuery,
	ErrResponseTooLarge: storagev1.ReasonResponseTooLarge,
	ErrInvalidResult:    storagev1.ReasonInvalidQueryResult,
	ErrInvalidQuery:     storagev1.ReasonInvalidQuery,
	ErrPrometheus:       storagev1.ReasonPrometheusError,
}

// Error is what Evaluate returns on failure. Its message is one line that names the query's role
// and where it came from, fit for a status condition message.
type Error struct {
	// Kind is one of the Err* variables of this package.
	Kind error
	// Query names the query that failed: "IOPS query" or "coverage query", with its source.
	Query string
	// Detail says what went wrong, in words a cluster admin can act on.
	Detail string
	// Err is the underlying cause, if any (a *url.Error, a *v1.Error, context.DeadlineExceeded...).
	Err error
	// FromPolicy is true when the failing query is the policy's own override.
	FromPolicy bool
}

// PolicyFault reports whether the policy itself must be fixed: its query override is refused
// by Prometheus, is not a usable template, or returns something other than one sample per
// pv_name. Every other error is the environment's (Prometheus, network, credentials) or the
// operator's flags.
func (e *Error) PolicyFault() bool {
	return e.FromPolicy && (e.Kind == ErrBadQuery || e.Kind == ErrInvalidResult || e.Kind == ErrInvalidQuery)
}

func (e *Error) Error() string {
	msg := e.Kind.Error()
	if e.Query != "" {
		msg += " (" + e.Query + ")"
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Unwrap exposes both the kind and the cause to errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// Reason is the CamelCase condition reason for this error's kind.
func (e *Error) Reason() string {
	if r, ok := reasons[e.Kind]; ok {
		return r
	}
	return storagev1.ReasonPrometheusError
}

// Reason returns the condition reason for any error returned by this package ("" for nil).
func Reason(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Reason()
	}
	return storagev1.ReasonPrometheusError
}

func newError(kind error, query, format string, args ...any) *Error {
	return &Error{Kind: kind, Query: query, Detail: fmt.Sprintf(format, args...)}
}

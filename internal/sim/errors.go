package sim

import (
	"fmt"
	"net/http"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// APIError is an error the simulated control plane answers with: an HTTP
// status and the spec's RestJsonError body. Kinds map to statuses as upstream's
// stor-port does (NotFound 404, FailedPrecondition and the *Published kinds
// 412, ResourceExhausted 507, Unavailable 503, Deserialize 400, ...).
type APIError struct {
	Status  int
	Kind    mayastor.ErrorKind
	Message string
	Details string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.Kind, e.Details)
}

// Body is the RestJsonError the error is answered with.
func (e *APIError) Body() mayastor.RestJsonError {
	return mayastor.RestJsonError{Details: e.Details, Message: e.Message, Kind: e.Kind}
}

// svcError builds an error the way upstream's core agent reports it: the
// message names the error variant, the details carry its display text.
func svcError(status int, kind mayastor.ErrorKind, variant, format string, args ...any) *APIError {
	d := fmt.Sprintf(format, args...)
	return &APIError{Status: status, Kind: kind, Message: variant + ": " + d, Details: d}
}

func errVolumeNotFound(id string) *APIError {
	return svcError(http.StatusNotFound, mayastor.ErrorKindNotFound, "VolumeNotFound", "Volume '%s' not found", id)
}

func errNodeNotFound(id string) *APIError {
	return svcError(http.StatusNotFound, mayastor.ErrorKindNotFound, "NodeNotFound", "Node '%s' not found", id)
}

func errPoolNotFound(id string) *APIError {
	return svcError(http.StatusNotFound, mayastor.ErrorKindNotFound, "PoolNotFound", "Pool '%s' not found", id)
}

func errReplicaNotFound(id string) *APIError {
	return svcError(http.StatusNotFound, mayastor.ErrorKindNotFound, "ReplicaNotFound", "Replica '%s' not found", id)
}

func errPrecondition(variant, format string, args ...any) *APIError {
	return svcError(http.StatusPreconditionFailed, mayastor.ErrorKindFailedPrecondition, variant, format, args...)
}

func errDeserialize(details string) *APIError {
	return &APIError{Status: http.StatusBadRequest, Kind: mayastor.ErrorKindDeserialize, Details: details}
}

func errInvalidArgument(format string, args ...any) *APIError {
	return svcError(http.StatusBadRequest, mayastor.ErrorKindInvalidArgument, "InvalidArguments", format, args...)
}

func errNotEnoughPools(have, need int) *APIError {
	return svcError(http.StatusInsufficientStorage, mayastor.ErrorKindResourceExhausted, "NotEnoughResources",
		"Not enough suitable pools available, %d/%d", have, need)
}

func errAlreadyExists(id string) *APIError {
	return svcError(http.StatusUnprocessableEntity, mayastor.ErrorKindAlreadyExists, "AlreadyExists",
		"Replica Resource id %s already exists", id)
}

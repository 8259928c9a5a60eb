package mayastor

import (
	"strings"
	"time"
)

// RequestObserver is told about every HTTP request a Client sends (each retry is one request):
// its operation, how long it took (answer read and decoded included) and its error, nil on
// success. The operator's metrics implement it (controller.MayastorRequestObserver).
type RequestObserver interface {
	ObserveRequest(operation string, took time.Duration, err error)
}

// Operations lists every operation a Client names, for exporting them at zero from start-up.
var Operations = []string{
	"GET /volumes", "GET /volumes/{id}", "PUT /volumes/{id}/replica_count/{n}",
	"PUT /volumes/{id}/target", "DELETE /volumes/{id}/target", "GET /volumes/{id}/rebuild-history",
	"GET /specs", "GET /pools", "GET /nodes", "GET /nodes/{id}",
	"PUT /nodes/{id}/cordon/{label}", "DELETE /nodes/{id}/cordon/{label}",
}

// operation is a request's method and path template, e.g. "PUT /volumes/{id}/replica_count/{n}":
// the REST v0 path with the identifiers replaced, so the label's values are few.
func operation(method, path string) string {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for i := range segs {
		if i == 0 {
			continue // the collection: volumes, pools, nodes, specs
		}
		switch prev := segs[i-1]; {
		case prev == "replica_count":
			segs[i] = "{n}"
		case prev == "cordon":
			segs[i] = "{label}"
		case i == 1:
			segs[i] = "{id}"
		}
	}
	return method + " /" + strings.Join(segs, "/")
}

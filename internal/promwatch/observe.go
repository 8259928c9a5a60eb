package promwatch

import (
	"strings"
	"time"
)

// RequestObserver is told about every query a Watcher sends to Prometheus: its operation
// (OperationIOPS or OperationCoverage), how long it took and its error, nil on success. The
// operator's metrics implement it (controller.PrometheusRequestObserver).
type RequestObserver interface {
	ObserveRequest(operation string, took time.Duration, err error)
}

// The operations a Watcher reports.
const (
	OperationIOPS     = "iops"
	OperationCoverage = "coverage"
)

// Operations lists them, for exporting them at zero from start-up.
var Operations = []string{OperationIOPS, OperationCoverage}

// observe reports one query (named as in Error.Query) to the Observer, if any.
func (w *Watcher) observe(name string, took time.Duration, err error) {
	if w.cfg.Observer == nil {
		return
	}
	op := OperationIOPS
	if strings.HasPrefix(name, "coverage") {
		op = OperationCoverage
	}
	w.cfg.Observer.ObserveRequest(op, took, err)
}

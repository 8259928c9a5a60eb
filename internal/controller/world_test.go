package controller

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/observer"
	"github.com/billyronks/couchestor/internal/observer/observertest"
)

// The controller's tests decide from a real observer over the fakes of observertest.

type (
	fakeMayastor = observertest.Mayastor
	fakeIOPS     = observertest.IOPS
)

func testScheme(t *testing.T) *runtime.Scheme { return observertest.Scheme(t) }

func volumeID(i int) string { return observertest.VolumeID(i) }

func enabledPolicy(name, window string) *storagev1.StoragePolicy {
	return observertest.EnabledPolicy(name, window)
}

// world is observertest.Cluster with an observer over it.
func world(t *testing.T, n int, objs ...client.Object) (*observer.Observer, *fakeMayastor, *fakeIOPS, client.Client, *clocktesting.FakeClock) {
	t.Helper()
	ms, iops, kube, clk := observertest.Cluster(t, n, objs...)
	o, err := observer.New(kube, ms, iops)
	if err != nil {
		t.Fatal(err)
	}
	o.Clock, o.Interval = clk, 30*time.Second
	return o, ms, iops, kube, clk
}

package controller

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

// laggingCache is an informer cache that has not seen any TierMigration yet.
type laggingCache struct {
	client.Reader
	hide bool
}

func (l *laggingCache) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if _, ok := list.(*storagev1.TierMigrationList); ok && l.hide {
		return nil
	}
	return l.Reader.List(ctx, list, opts...)
}

// Two policies decided in one cycle, one free operator-wide slot: the first takes it, and the
// second sees it taken although the informer cache does not show the first's TierMigration yet.
// Once the cache shows it, it is counted once; a record the cache never shows is forgotten
// after FreshFor.
func TestLastFreeSlotIsTakenOnce(t *testing.T) {
	a, b := enabledPolicy("a", "10m"), enabledPolicy("b", "10m")
	a.Spec.VolumeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "app0"}}
	b.Spec.VolumeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "app1"}}
	o, _, _, kube, clk := world(t, 2, a, b)
	cache := &laggingCache{Reader: kube, hide: true}
	o.Cache = cache
	if _, err := o.Observe(context.Background()); err != nil {
		t.Fatal(err)
	}
	r, _, cr := reconcilerFor(t, o, kube)
	r.Options.MaxConcurrentMigrations = 1
	reconcileOnce(t, r, "a")
	reconcileOnce(t, r, "b")
	if len(cr.created) != 1 || cr.created[0].Spec.PolicyName != "a" {
		t.Fatalf("%d TierMigrations for one free slot: %v", len(cr.created), cr.created)
	}
	var p storagev1.StoragePolicy
	if err := kube.Get(context.Background(), client.ObjectKey{Name: "b"}, &p); err != nil {
		t.Fatal(err)
	}
	if p.Status.PlannedMigrations != 1 {
		t.Errorf("policy b plans %d migrations, want 1 waiting for the slot", p.Status.PlannedMigrations)
	}

	// The cache catches up: the migration is counted once, not twice.
	cache.hide = false
	o.CacheChanged()
	s, err := o.Snapshot(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	if s.InFlight.Global != 1 || s.InFlight.ByPolicy["a"] != 1 {
		t.Errorf("in flight once the cache shows it: %+v", s.InFlight)
	}

	// A record the cache never shows stops counting after FreshFor.
	o.Created(&storagev1.TierMigration{ObjectMeta: metav1.ObjectMeta{Name: "never-seen", Labels: map[string]string{storagev1.LabelPolicy: "b"}},
		Spec: storagev1.TierMigrationSpec{VolumeID: volumeID(1), TargetTier: storagev1.TierNVMe}})
	o.CacheChanged()
	if s, err = o.Snapshot(context.Background(), b); err != nil || s.InFlight.Global != 2 {
		t.Fatalf("in flight with a record the cache does not show: %+v, %v", s.InFlight, err)
	}
	clk.Step(o.FreshFor() + time.Second)
	if s, err = o.Observe(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.InFlight.Global != 1 {
		t.Errorf("in flight after FreshFor: %+v", s.InFlight)
	}
}

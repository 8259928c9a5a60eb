// Package observertest holds the fakes the observer's tests and the controller's tests observe
// through: a Mayastor serving volume pages and an IOPS source, with the requests each saw, and a
// small cluster of PVs to go with them. It imports nothing of the operator but its inputs' types.
package observertest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/promwatch"
)

// Mayastor serves Volumes in pages of PageSize and Pools, fails every call with Err when set,
// and counts the requests a real server would see.
type Mayastor struct {
	mu            sync.Mutex
	Pools         []mayastor.Pool
	Volumes       []mayastor.Volume
	PageSize      int
	Err           error
	pages, listed int
}

// WalkVolumeBriefs hands out each page as a fresh slice, as a decoder would make: the observer
// must keep none of it.
func (f *Mayastor) WalkVolumeBriefs(ctx context.Context, fn func([]mayastor.VolumeBrief) error) error {
	for i := 0; ; i += f.PageSize {
		f.mu.Lock()
		f.pages++
		err := f.Err
		f.mu.Unlock()
		if err != nil {
			return err
		}
		end := min(i+f.PageSize, len(f.Volumes))
		page := make([]mayastor.VolumeBrief, 0, end-i)
		for k := i; k < end; k++ {
			page = append(page, mayastor.BriefOf(&f.Volumes[k]))
		}
		if err := fn(page); err != nil {
			return err
		}
		if end == len(f.Volumes) {
			return nil
		}
	}
}

// ListPools returns Pools.
func (f *Mayastor) ListPools(context.Context) ([]mayastor.Pool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listed++
	if f.Err != nil {
		return nil, f.Err
	}
	return f.Pools, nil
}

// Requests are the volume pages and pool lists served so far.
func (f *Mayastor) Requests() (pages, pools int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pages, f.listed
}

// IOPS answers every volume of Volumes with Value and counts evaluations per window; Err fails them.
type IOPS struct {
	mu      sync.Mutex
	Value   float64
	Err     error
	Volumes []string
	asked   map[time.Duration]int
}

// Evaluate answers one evaluation.
func (f *IOPS) Evaluate(_ context.Context, req promwatch.Request) (*promwatch.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.asked == nil {
		f.asked = map[time.Duration]int{}
	}
	f.asked[req.Window]++
	if f.Err != nil {
		return nil, f.Err
	}
	res := &promwatch.Result{Window: req.Window, Volumes: map[string]promwatch.VolumeIOPS{}}
	for _, id := range f.Volumes {
		res.Volumes[promwatch.PVName(id)] = promwatch.VolumeIOPS{Known: true, IOPS: f.Value}
	}
	return res, nil
}

// Evaluations counts the evaluations so far, every window together.
func (f *IOPS) Evaluations() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.asked {
		n += c
	}
	return n
}

// Scheme knows the core types and CoucheStor's.
func Scheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := storagev1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// VolumeID is the i-th volume's uuid.
func VolumeID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

// PV is the i-th volume's Mayastor PersistentVolume, claimed by default/data-i.
func PV(i int, storageClass string) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: promwatch.PVName(VolumeID(i)), Labels: map[string]string{"app": fmt.Sprint("app", i%2)}},
		Spec: corev1.PersistentVolumeSpec{
			StorageClassName: storageClass,
			ClaimRef:         &corev1.ObjectReference{Namespace: "default", Name: fmt.Sprint("data-", i)},
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
				Driver: storagev1.MayastorCSIDriver, VolumeHandle: VolumeID(i)}},
		},
	}
}

// Policy is a policy with its tiers' pool selectors.
func Policy() *storagev1.StoragePolicy {
	return &storagev1.StoragePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "gold"},
		Spec: storagev1.StoragePolicySpec{
			NVMePoolSelector: metav1.LabelSelector{MatchLabels: map[string]string{"tier": "hot"}},
			SATAPoolSelector: metav1.LabelSelector{MatchLabels: map[string]string{"tier": "cold"}},
			MigrationTimeout: "45m",
		},
	}
}

// EnabledPolicy is Policy named name, enabled, over the StorageClass "mayastor", with window.
func EnabledPolicy(name, window string) *storagev1.StoragePolicy {
	p := Policy()
	p.Name = name
	p.Spec.Enabled = ptr.To(true)
	p.Spec.SamplingWindow, p.Spec.CooldownPeriod = window, "1h"
	p.Spec.StorageClassName = "mayastor"
	p.Spec.HighWatermarkIOPS, p.Spec.LowWatermarkIOPS = 5000, 500
	p.Spec.MaxConcurrentMigrations = 10
	return p
}

// Cluster is a small cluster: n volumes on the SATA pool at 9000 IOPS each, one PV each, and
// the given objects in a fake API server.
func Cluster(t *testing.T, n int, objs ...client.Object) (*Mayastor, *IOPS, client.Client, *clocktesting.FakeClock) {
	t.Helper()
	ms := &Mayastor{PageSize: 4, Pools: []mayastor.Pool{
		{ID: "hot-1", Spec: &mayastor.PoolSpec{Node: "n1", Labels: map[string]string{"tier": "hot"}},
			State: &mayastor.PoolState{Node: "n1", Status: mayastor.PoolStatusOnline, Capacity: 1 << 40}},
		{ID: "cold-1", Spec: &mayastor.PoolSpec{Node: "n2", Labels: map[string]string{"tier": "cold"}},
			State: &mayastor.PoolState{Node: "n2", Status: mayastor.PoolStatusOnline, Capacity: 1 << 40}},
	}}
	iops := &IOPS{Value: 9000}
	for i := range n {
		id := VolumeID(i)
		ms.Volumes = append(ms.Volumes, mayastor.Volume{
			Spec: mayastor.VolumeSpec{UUID: id, NumReplicas: 1, Size: 1 << 30},
			State: mayastor.VolumeState{Status: mayastor.VolumeStatusOnline, Target: &mayastor.Nexus{},
				ReplicaTopology: map[string]mayastor.ReplicaTopology{"r" + id: {Pool: "cold-1"}}},
		})
		iops.Volumes = append(iops.Volumes, id)
		objs = append(objs, PV(i, "mayastor"))
	}
	kube := fake.NewClientBuilder().WithScheme(Scheme(t)).WithObjects(objs...).
		WithStatusSubresource(&storagev1.StoragePolicy{}, &storagev1.TierMigration{}).Build()
	clk := clocktesting.NewFakeClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	return ms, iops, kube, clk
}

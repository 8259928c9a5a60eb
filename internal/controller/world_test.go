package controller

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
	"github.com/billyronks/couchestor/internal/observer"
	"github.com/billyronks/couchestor/internal/promwatch"
)

// The controller's tests decide from a real observer over these fakes (the observer's own tests
// keep a copy in internal/observer).

// fakeMayastor serves volumes in pages and counts the requests a real server would see.
type fakeMayastor struct {
	mu            sync.Mutex
	pools         []mayastor.Pool
	volumes       []mayastor.Volume
	pageSize      int
	err           error
	pages, listed int
}

func (f *fakeMayastor) WalkVolumeBriefs(ctx context.Context, fn func([]mayastor.VolumeBrief) error) error {
	for i := 0; ; i += f.pageSize {
		f.mu.Lock()
		f.pages++
		err := f.err
		f.mu.Unlock()
		if err != nil {
			return err
		}
		end := min(i+f.pageSize, len(f.volumes))
		// A fresh page, as a decoder would make: the observer must keep none of it.
		page := make([]mayastor.VolumeBrief, 0, end-i)
		for k := i; k < end; k++ {
			page = append(page, mayastor.BriefOf(&f.volumes[k]))
		}
		if err := fn(page); err != nil {
			return err
		}
		if end == len(f.volumes) {
			return nil
		}
	}
}

func (f *fakeMayastor) ListPools(context.Context) ([]mayastor.Pool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listed++
	if f.err != nil {
		return nil, f.err
	}
	return f.pools, nil
}

func (f *fakeMayastor) requests() (pages, pools int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pages, f.listed
}

// fakeIOPS answers every volume with the same IOPS and counts evaluations per window.
type fakeIOPS struct {
	mu      sync.Mutex
	iops    float64
	err     error
	asked   map[time.Duration]int
	volumes []string
}

func (f *fakeIOPS) Evaluate(_ context.Context, req promwatch.Request) (*promwatch.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.asked == nil {
		f.asked = map[time.Duration]int{}
	}
	f.asked[req.Window]++
	if f.err != nil {
		return nil, f.err
	}
	res := &promwatch.Result{Window: req.Window, Volumes: map[string]promwatch.VolumeIOPS{}}
	for _, id := range f.volumes {
		res.Volumes[promwatch.PVName(id)] = promwatch.VolumeIOPS{Known: true, IOPS: f.iops}
	}
	return res, nil
}

func (f *fakeIOPS) evaluations() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.asked {
		n += c
	}
	return n
}

func testScheme(t *testing.T) *runtime.Scheme {
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

func volumeID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

func testPV(i int, storageClass string) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: promwatch.PVName(volumeID(i)), Labels: map[string]string{"app": fmt.Sprint("app", i%2)}},
		Spec: corev1.PersistentVolumeSpec{
			StorageClassName: storageClass,
			ClaimRef:         &corev1.ObjectReference{Namespace: "default", Name: fmt.Sprint("data-", i)},
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
				Driver: storagev1.MayastorCSIDriver, VolumeHandle: volumeID(i)}},
		},
	}
}

func enabledPolicy(name, window string) *storagev1.StoragePolicy {
	p := &storagev1.StoragePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: storagev1.StoragePolicySpec{
			NVMePoolSelector: metav1.LabelSelector{MatchLabels: map[string]string{"tier": "hot"}},
			SATAPoolSelector: metav1.LabelSelector{MatchLabels: map[string]string{"tier": "cold"}},
			MigrationTimeout: "45m",
		},
	}
	p.Spec.Enabled = ptr.To(true)
	p.Spec.SamplingWindow, p.Spec.CooldownPeriod = window, "1h"
	p.Spec.StorageClassName = "mayastor"
	p.Spec.HighWatermarkIOPS, p.Spec.LowWatermarkIOPS = 5000, 500
	p.Spec.MaxConcurrentMigrations = 10
	return p
}

// world is a small cluster: n volumes on the SATA pool, one PV each, and the given objects.
func world(t *testing.T, n int, objs ...client.Object) (*observer.Observer, *fakeMayastor, *fakeIOPS, client.Client, *clocktesting.FakeClock) {
	t.Helper()
	ms := &fakeMayastor{pageSize: 4, pools: []mayastor.Pool{
		{ID: "hot-1", Spec: &mayastor.PoolSpec{Node: "n1", Labels: map[string]string{"tier": "hot"}},
			State: &mayastor.PoolState{Node: "n1", Status: mayastor.PoolStatusOnline, Capacity: 1 << 40}},
		{ID: "cold-1", Spec: &mayastor.PoolSpec{Node: "n2", Labels: map[string]string{"tier": "cold"}},
			State: &mayastor.PoolState{Node: "n2", Status: mayastor.PoolStatusOnline, Capacity: 1 << 40}},
	}}
	iops := &fakeIOPS{iops: 9000}
	for i := range n {
		id := volumeID(i)
		ms.volumes = append(ms.volumes, mayastor.Volume{
			Spec: mayastor.VolumeSpec{UUID: id, NumReplicas: 1, Size: 1 << 30},
			State: mayastor.VolumeState{Status: mayastor.VolumeStatusOnline, Target: &mayastor.Nexus{},
				ReplicaTopology: map[string]mayastor.ReplicaTopology{"r" + id: {Pool: "cold-1"}}},
		})
		iops.volumes = append(iops.volumes, id)
		objs = append(objs, testPV(i, "mayastor"))
	}
	kube := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(objs...).
		WithStatusSubresource(&storagev1.StoragePolicy{}, &storagev1.TierMigration{}).Build()
	clk := clocktesting.NewFakeClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	o, err := observer.New(kube, ms, iops)
	if err != nil {
		t.Fatal(err)
	}
	o.Clock, o.Interval = clk, 30*time.Second
	return o, ms, iops, kube, clk
}

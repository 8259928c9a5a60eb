package observer

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
	crcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/migration"
	"github.com/billyronks/couchestor/internal/tiering"
)

// The parts of a snapshot read from the informer cache: PVs and their claims' annotations,
// TierMigrations (the slots they hold, including those this process created that the cache
// does not show yet) and policies; rebuilt on demand, or reused while nothing changed
// (WatchCache).

// WatchCache lets each observation reuse the previous one's cache-derived parts (PVs and
// their claims' annotations, TierMigrations, policies) while none of those objects changed:
// it registers a handler on each of their informers that marks the parts out of date (a
// StoragePolicy only when its spec, its generation, changes: the snapshot reads no status).
// Without it every observation rebuilds them: at 10,000 PVs, 10,000 PV observations per cycle.
func (o *Observer) WatchCache(ctx context.Context, informers crcache.Informers) error {
	mark := func() { o.dirty.Store(true) }
	handlers := toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { mark() },
		UpdateFunc: func(any, any) { mark() },
		DeleteFunc: func(any) { mark() },
	}
	specOnly := toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { mark() },
		UpdateFunc: func(old, cur any) {
			a, okA := old.(client.Object)
			b, okB := cur.(client.Object)
			if !okA || !okB || a.GetGeneration() != b.GetGeneration() {
				mark()
			}
		},
		DeleteFunc: func(any) { mark() },
	}
	for _, w := range []struct {
		obj client.Object
		h   toolscache.ResourceEventHandler
	}{
		{&corev1.PersistentVolume{}, handlers},
		{&corev1.PersistentVolumeClaim{}, handlers},
		{&storagev1.TierMigration{}, handlers},
		{&storagev1.StoragePolicy{}, specOnly},
	} {
		inf, err := informers.GetInformer(ctx, w.obj)
		if err != nil {
			return fmt.Errorf("observer: informer for %T: %w", w.obj, err)
		}
		if _, err := inf.AddEventHandler(w.h); err != nil {
			return fmt.Errorf("observer: watch %T: %w", w.obj, err)
		}
	}
	o.dirty.Store(true)
	o.watching.Store(true)
	return nil
}

// cacheParts returns the cache-derived parts: the previous ones while WatchCache's handlers
// saw no change, CacheChanged was not called (changed) and no TierMigration this process
// created waits for the cache to show it; else newly built. The caller holds turn.
func (o *Observer) cacheParts(ctx context.Context, changed bool) (*cacheParts, error) {
	if !changed && o.watching.Load() && !o.dirty.Swap(false) && o.parts != nil && !o.awaitingCreated() {
		return o.parts, nil
	}
	c, err := o.observeCache(ctx)
	if err != nil {
		o.dirty.Store(true)
		o.parts = nil
		return nil, err
	}
	o.parts = c
	return c, nil
}

// awaitingCreated: a TierMigration Created recorded is not in the cache yet (addCreated must
// run again).
func (o *Observer) awaitingCreated() bool {
	o.createdMu.Lock()
	defer o.createdMu.Unlock()
	return len(o.created) > 0
}

type createdMigration struct {
	tm *storagev1.TierMigration
	at time.Time
}

// Created records a TierMigration this process has just created. Until the informer cache
// shows it (or FreshFor has passed), every snapshot counts it as if the cache did: its slot
// and its volume in flight. So the next policy decided in the same cycle does not take the
// slot it took; call CacheChanged too.
func (o *Observer) Created(tm *storagev1.TierMigration) {
	o.init()
	o.createdMu.Lock()
	defer o.createdMu.Unlock()
	if o.created == nil {
		o.created = map[string]createdMigration{}
	}
	o.created[tm.Name] = createdMigration{tm: tm.DeepCopy(), at: o.Clock.Now()}
}

// addCreated folds in the TierMigrations Created recorded that the cache does not show yet,
// and forgets those it shows and those older than FreshFor.
func (o *Observer) addCreated(c *cacheParts, listed []storagev1.TierMigration) {
	o.createdMu.Lock()
	defer o.createdMu.Unlock()
	if len(o.created) == 0 {
		return
	}
	for i := range listed {
		delete(o.created, listed[i].Name)
	}
	for name, m := range o.created {
		if o.Clock.Since(m.at) > o.FreshFor() {
			delete(o.created, name)
			continue
		}
		addMigration(c, m.tm)
	}
}

// cacheParts are the parts of a snapshot read from the informer cache.
type cacheParts struct {
	pvs        map[string]*tiering.PVObservation
	migrations map[string]tiering.MigrationObservation
	inFlight   tiering.InFlight
	policies   []*storagev1.StoragePolicy
}

// observeCache reads PVs, PVCs, TierMigrations and policies from the informer cache. The lists
// come without a copy (10,000 PVs would otherwise be copied each time): the cache's objects are
// only read, and only their policies are kept (the cache replaces, never changes, an object).
func (o *Observer) observeCache(ctx context.Context) (*cacheParts, error) {
	c := &cacheParts{migrations: map[string]tiering.MigrationObservation{}, inFlight: tiering.InFlight{ByPolicy: map[string]int{}}}
	var policies storagev1.StoragePolicyList
	if err := o.Cache.List(ctx, &policies, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list StoragePolicies: %w", err)
	}
	c.policies = make([]*storagev1.StoragePolicy, len(policies.Items))
	for i := range policies.Items {
		c.policies[i] = &policies.Items[i]
	}

	var pvcs corev1.PersistentVolumeClaimList
	if err := o.Cache.List(ctx, &pvcs, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list PersistentVolumeClaims: %w", err)
	}
	claimAnnotations := make(map[string]map[string]string, len(pvcs.Items))
	for i := range pvcs.Items {
		pvc := &pvcs.Items[i]
		if TieringAnnotated(pvc.Annotations) {
			claimAnnotations[pvc.Namespace+"/"+pvc.Name] = pvc.Annotations
		}
	}
	var pvs corev1.PersistentVolumeList
	if err := o.Cache.List(ctx, &pvs, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list PersistentVolumes: %w", err)
	}
	c.pvs = make(map[string]*tiering.PVObservation, len(pvs.Items))
	for i := range pvs.Items {
		if obs := PVObservation(&pvs.Items[i], claimAnnotations); obs != nil {
			c.pvs[obs.Name] = obs
		}
	}

	var tms storagev1.TierMigrationList
	if err := o.Cache.List(ctx, &tms, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list TierMigrations: %w", err)
	}
	for i := range tms.Items {
		addMigration(c, &tms.Items[i])
	}
	o.addCreated(c, tms.Items)
	return c, nil
}

// TieringAnnotated reports whether annotations carry a tiering annotation (tier or tiering).
func TieringAnnotated(a map[string]string) bool {
	_, tier := a[storagev1.AnnotationTier]
	_, tiering := a[storagev1.AnnotationTiering]
	return tier || tiering
}

// PVObservation reduces a Mayastor PV to what a decision reads; nil for any other PV. The
// claim's annotations win over the PV's.
func PVObservation(pv *corev1.PersistentVolume, claimAnnotations map[string]map[string]string) *tiering.PVObservation {
	if pv.Spec.CSI == nil || pv.Spec.CSI.Driver != storagev1.MayastorCSIDriver {
		return nil
	}
	obs := &tiering.PVObservation{Name: pv.Name, VolumeID: pv.Spec.CSI.VolumeHandle, StorageClass: pv.Spec.StorageClassName, Labels: pv.Labels}
	tier, tieringMode := pv.Annotations[storagev1.AnnotationTier], pv.Annotations[storagev1.AnnotationTiering]
	if ref := pv.Spec.ClaimRef; ref != nil {
		obs.Claim = ref.Namespace + "/" + ref.Name
		if a := claimAnnotations[obs.Claim]; a != nil {
			if v, ok := a[storagev1.AnnotationTier]; ok {
				tier = v
			}
			if v, ok := a[storagev1.AnnotationTiering]; ok {
				tieringMode = v
			}
		}
	}
	obs.Excluded = strings.EqualFold(tieringMode, "disabled")
	obs.Pin, obs.BadPin = tiering.ParsePin(tier)
	if v, ok := pv.Annotations[storagev1.AnnotationMoves]; ok {
		// An unreadable record is no record: the volume is judged by its TierMigrations, and
		// the next move writes a good one.
		obs.Moves, _ = tiering.ParseMoveRecord(v)
	}
	return obs
}

// addMigration folds one TierMigration into the per-volume summary and the slot counts. A dry
// run starts no cooldown for real moves and takes no slot.
func addMigration(c *cacheParts, tm *storagev1.TierMigration) {
	vol := tm.Spec.VolumeID
	m := c.migrations[vol]
	last := tm.CreationTimestamp.Time
	if tm.Status.CompletionTime != nil {
		last = tm.Status.CompletionTime.Time
	}
	dryRun := tm.Spec.DryRun || tm.Status.DryRun
	// One that expired waiting for approval moved nothing: its volume is decided afresh.
	if !migration.ApprovalExpired(tm) {
		if last.After(m.LastAny) {
			m.LastAny = last
		}
		if !dryRun && last.After(m.LastReal) {
			m.LastReal = last
		}
	}
	active := !tm.Status.Phase.IsTerminal()
	m.InFlight = m.InFlight || active
	// Waiting for approval (or about to: created so, not yet accepted) holds no slot.
	awaiting := tm.Status.Phase == storagev1.PhaseWaitingApproval || tm.Status.Phase == "" && tm.Spec.ApprovalRequired
	if awaiting {
		m.WaitingApproval = tm.Name
	}
	c.migrations[vol] = m
	if active && !dryRun && !awaiting {
		c.inFlight.Global++
		if p := tm.Labels[storagev1.LabelPolicy]; p != "" {
			c.inFlight.ByPolicy[p]++
		}
	}
}

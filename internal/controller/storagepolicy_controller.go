package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/promwatch"
	"github.com/billyronks/couchestor/internal/tiering"
)

// MayastorCSIDriver is the CSI driver name of Mayastor persistent volumes.
const MayastorCSIDriver = "io.openebs.csi-mayastor"

// resyncInterval is how often a policy is re-evaluated when nothing about it changes.
const resyncInterval = 30 * time.Second

// maxHistory bounds status.recentMigrations (the CRD refuses more).
const maxHistory = 20

// StoragePolicyReconciler is the brain's thin shell: it loads a snapshot (PVs, Mayastor pools
// and volumes, IOPS from Prometheus, TierMigrations), asks tiering.Decide what to do, creates a
// TierMigration for each move and writes the policy's status.
type StoragePolicyReconciler struct {
	Client client.Client
	// APIReader reads past the cache, to make sure a volume has no unfinished migration before
	// another is created for it.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Clock     clock.PassiveClock
	Options   Options
	Mayastor  *mayastor.Client
	IOPS      *promwatch.Watcher
}

// SetupWithManager watches StoragePolicy objects and the ends of the TierMigrations they created.
func (r *StoragePolicyReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&storagev1.StoragePolicy{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&storagev1.TierMigration{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			if p := o.GetLabels()[storagev1.LabelPolicy]; p != "" {
				return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: p}}}
			}
			return nil
		}), builder.WithPredicates(migrationEnded)).
		Named("storagepolicy").
		Complete(r)
}

// migrationEnded lets through the TierMigration events that can change a policy's decision: a
// migration created (by hand) or deleted, or one ending, which frees a slot and starts a
// cooldown. Progress and intermediate phases change nothing the policy decides on, and each
// policy reconcile walks every Mayastor volume: they wait for the periodic resync.
var migrationEnded = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*storagev1.TierMigration)
		n, ok2 := e.ObjectNew.(*storagev1.TierMigration)
		return !ok1 || !ok2 || !o.Status.Phase.IsTerminal() && n.Status.Phase.IsTerminal()
	},
}

// Reconcile evaluates one policy, starts the migrations it calls for, and writes its status.
func (r *StoragePolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	start := r.Clock.Now()
	ReconcileTotal.Inc()
	defer func() { ReconcileDuration.WithLabelValues("StoragePolicy").Observe(r.Clock.Since(start).Seconds()) }()
	logger := log.FromContext(ctx)

	var policy storagev1.StoragePolicy
	if err := r.Client.Get(ctx, req.NamespacedName, &policy); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := policy.Status.DeepCopy()
	now := metav1.NewTime(start)
	policy.Status.ObservedGeneration = policy.Generation
	policy.Status.LastReconcileTime = &now

	ready, err := r.evaluate(ctx, &policy)
	if err != nil {
		return ctrl.Result{}, err
	}
	ready.Type, ready.ObservedGeneration = storagev1.ConditionReady, policy.Generation
	if old := meta.FindStatusCondition(before.Conditions, storagev1.ConditionReady); ready.Status == metav1.ConditionFalse &&
		(old == nil || old.Status != metav1.ConditionFalse || old.Reason != ready.Reason) {
		r.Recorder.Eventf(&policy, nil, corev1.EventTypeWarning, ready.Reason, "Evaluate", "%s", ready.Message)
	}
	meta.SetStatusCondition(&policy.Status.Conditions, ready)
	logger.V(1).Info("evaluated policy", "ready", ready.Status, "reason", ready.Reason,
		"watched", policy.Status.VolumesWatched, "nvme", policy.Status.NVMeVolumes, "sata", policy.Status.SATAVolumes,
		"unknown", policy.Status.UnknownVolumes, "active", policy.Status.ActiveMigrations,
		"planned", policy.Status.PlannedMigrations, "took", r.Clock.Since(start))

	if !equalStatus(before, &policy.Status) {
		if err := r.Client.Status().Update(ctx, &policy); err != nil {
			return ctrl.Result{}, fmt.Errorf("update status of StoragePolicy %s: %w", policy.Name, err)
		}
	}
	return ctrl.Result{RequeueAfter: resyncInterval}, nil
}

// evaluate fills the policy's status and returns what its Ready condition should say. An error
// is returned only for what a retry may fix on the Kubernetes side.
func (r *StoragePolicyReconciler) evaluate(ctx context.Context, policy *storagev1.StoragePolicy) (metav1.Condition, error) {
	spec := &policy.Spec
	gen := policy.Generation
	sels, err := compileSelectors(spec)
	if err != nil {
		return falseCond("InvalidSpec", err.Error()), nil
	}
	window, err1 := time.ParseDuration(spec.SamplingWindow)
	cooldown, err2 := time.ParseDuration(spec.CooldownPeriod)
	if err1 != nil || err2 != nil { // the CRD refuses these; an object stored before the rule existed may not
		return falseCond("InvalidSpec", fmt.Sprintf("spec.samplingWindow %q, spec.cooldownPeriod %q: want Go durations", spec.SamplingWindow, spec.CooldownPeriod)), nil
	}

	snap, err := r.loadCluster(ctx, policy, sels)
	if err != nil {
		return metav1.Condition{}, err
	}
	policy.Status.VolumesWatched = int32(len(snap.watched))
	policy.Status.ActiveMigrations = int32(snap.policyInFlight)
	policy.Status.RecentMigrations = snap.history
	if !policy.IsEnabled() {
		policy.Status.NVMeVolumes, policy.Status.SATAVolumes, policy.Status.UnknownVolumes, policy.Status.PlannedMigrations = 0, 0, 0, 0
		return falseCond("Disabled", "spec.enabled is false: the policy starts no migration"), nil
	}

	// Prometheus and Mayastor are asked at the same time: neither answer depends on the other.
	type iopsAnswer struct {
		cond    metav1.Condition
		res     *promwatch.Result
		unknown int32
	}
	iopsc := make(chan iopsAnswer, 1)
	go func() {
		cond, res, unknown := r.observeIOPS(ctx, policy, window, snap.watched)
		iopsc <- iopsAnswer{cond, res, unknown}
	}()
	storage, vols, classes := r.observeStorage(ctx, policy, sels, snap)
	iops := <-iopsc
	policy.Status.UnknownVolumes = iops.unknown

	storage.Type, storage.ObservedGeneration = storagev1.ConditionStorageAvailable, gen
	meta.SetStatusCondition(&policy.Status.Conditions, storage)
	metrics := iops.cond
	metrics.Type, metrics.ObservedGeneration = storagev1.ConditionMetricsAvailable, gen
	meta.SetStatusCondition(&policy.Status.Conditions, metrics)

	switch {
	case storage.Status != metav1.ConditionTrue:
		policy.Status.PlannedMigrations = 0
		return falseCond(storage.Reason, storage.Message), nil
	case metrics.Status != metav1.ConditionTrue:
		// Without trustworthy IOPS nothing moves: silence is not a cold volume.
		policy.Status.PlannedMigrations = 0
		return falseCond(metrics.Reason, "no migration is started: "+metrics.Message), nil
	}

	in := tiering.Input{
		Now: r.Clock.Now(), HighWatermarkIOPS: spec.HighWatermarkIOPS, LowWatermarkIOPS: spec.LowWatermarkIOPS,
		Cooldown: cooldown, FreeBytes: freeBytes(classes, vols.pools, spec.CapacityHeadroomPercent),
		Slots:   max(0, min(int(spec.MaxConcurrentMigrations)-snap.policyInFlight, r.Options.MaxConcurrentMigrations-snap.globalInFlight)),
		Volumes: vols.candidates,
	}
	dryRun := spec.DryRun || r.Options.DryRun
	var overlapping []string
	for i := range in.Volumes {
		c := &in.Volumes[i]
		m := iops.res.ForVolume(c.VolumeID)
		c.KnownIOPS, c.IOPS, c.UnknownReason = m.Known, m.IOPS, string(m.Reason)
		if !dryRun {
			// Real moves cool down from real moves only: turning dry-run off acts at once.
			c.LastMigration = snap.lastRealMigration[c.VolumeID]
		}
		if len(c.OtherPolicies) > 0 {
			overlapping = append(overlapping, c.VolumeID)
		}
	}
	decision := tiering.Decide(in)
	started := 0
	for _, m := range decision.Moves {
		created, err := r.startMigration(ctx, policy, m)
		if err != nil {
			return metav1.Condition{}, err
		}
		if created {
			started++
			if !dryRun {
				policy.Status.ActiveMigrations++
			}
		}
	}
	policy.Status.PlannedMigrations = int32(len(decision.Deferred))
	overlapNote := ""
	if len(overlapping) > 0 {
		// Reported, never fought over: such volumes stay where they are until one policy selects them.
		overlapNote = fmt.Sprintf("; %d volumes are also selected by another policy and are left alone (e.g. %s: %v)",
			len(overlapping), overlapping[0], snap.overlaps[overlapping[0]])
		r.Recorder.Eventf(policy, nil, corev1.EventTypeWarning, string(tiering.SkipOverlap), "Evaluate",
			"%d volumes are also selected by another StoragePolicy and are left alone, e.g. %s (also %v)", len(overlapping), overlapping[0], snap.overlaps[overlapping[0]])
	}
	for _, s := range decision.Skips {
		log.FromContext(ctx).V(2).Info("volume stays", "volume", s.VolumeID, "reason", s.Reason, "message", s.Message)
	}
	return metav1.Condition{Status: metav1.ConditionTrue, Reason: "Evaluated",
		Message: fmt.Sprintf("%d volumes watched: %d on NVMe, %d on SATA, %d without IOPS data; %d migrations started, %d waiting%s",
			policy.Status.VolumesWatched, policy.Status.NVMeVolumes, policy.Status.SATAVolumes, policy.Status.UnknownVolumes,
			started, len(decision.Deferred), overlapNote)}, nil
}

// clusterSnapshot is what the API server says about the policy's volumes.
type clusterSnapshot struct {
	// watched maps each selected volume uuid to its PV.
	watched map[string]*corev1.PersistentVolume
	claims  map[types.NamespacedName]*corev1.PersistentVolumeClaim
	// overlaps maps a volume uuid to the other enabled policies that select it.
	overlaps map[string][]string
	// lastMigration and inFlight per volume uuid, from TierMigration objects. lastMigration
	// counts every migration, lastRealMigration only those that were not dry runs: a dry run
	// starts no cooldown for real moves.
	lastMigration     map[string]time.Time
	lastRealMigration map[string]time.Time
	inFlight          map[string]bool
	policyInFlight    int
	globalInFlight    int
	history           []storagev1.MigrationRecord
}

func (r *StoragePolicyReconciler) loadCluster(ctx context.Context, policy *storagev1.StoragePolicy, sels selectors) (*clusterSnapshot, error) {
	s := &clusterSnapshot{
		watched: map[string]*corev1.PersistentVolume{}, claims: map[types.NamespacedName]*corev1.PersistentVolumeClaim{},
		overlaps: map[string][]string{}, lastMigration: map[string]time.Time{}, lastRealMigration: map[string]time.Time{},
		inFlight: map[string]bool{},
	}
	// The lists below come straight from the informer cache without a copy (10,000 PVs would
	// otherwise be copied on every reconcile): they are only read, never changed.
	var pvs corev1.PersistentVolumeList
	if err := r.Client.List(ctx, &pvs, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list PersistentVolumes: %w", err)
	}
	var policies storagev1.StoragePolicyList
	if err := r.Client.List(ctx, &policies, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list StoragePolicies: %w", err)
	}
	var others []*storagev1.StoragePolicy
	otherSels := map[string]selectors{}
	for i := range policies.Items {
		p := &policies.Items[i]
		if p.Name == policy.Name || !p.IsEnabled() || p.Spec.StorageClassName != policy.Spec.StorageClassName {
			continue
		}
		if ps, err := compileSelectors(&p.Spec); err == nil {
			others = append(others, p)
			otherSels[p.Name] = ps
		}
	}
	for i := range pvs.Items {
		pv := &pvs.Items[i]
		if !selects(&policy.Spec, sels, pv) {
			continue
		}
		id := pv.Spec.CSI.VolumeHandle
		s.watched[id] = pv
		for _, o := range others {
			if selects(&o.Spec, otherSels[o.Name], pv) {
				s.overlaps[id] = append(s.overlaps[id], o.Name)
			}
		}
	}
	var pvcs corev1.PersistentVolumeClaimList
	if err := r.Client.List(ctx, &pvcs, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list PersistentVolumeClaims: %w", err)
	}
	for i := range pvcs.Items {
		c := &pvcs.Items[i]
		s.claims[types.NamespacedName{Namespace: c.Namespace, Name: c.Name}] = c
	}

	var tms storagev1.TierMigrationList
	if err := r.Client.List(ctx, &tms, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list TierMigrations: %w", err)
	}
	var mine []*storagev1.TierMigration
	for i := range tms.Items {
		tm := &tms.Items[i]
		vol := tm.Spec.VolumeID
		last := tm.CreationTimestamp.Time
		if tm.Status.CompletionTime != nil {
			last = tm.Status.CompletionTime.Time
		}
		if last.After(s.lastMigration[vol]) {
			s.lastMigration[vol] = last
		}
		dryRun := tm.Spec.DryRun || tm.Status.DryRun
		if !dryRun && last.After(s.lastRealMigration[vol]) {
			s.lastRealMigration[vol] = last
		}
		active := !tm.Status.Phase.IsTerminal()
		if active {
			s.inFlight[vol] = true
		}
		// A dry run writes nothing to Mayastor: it takes no migration slot.
		countsForSlots := active && !dryRun
		if countsForSlots {
			s.globalInFlight++
		}
		if tm.Labels[storagev1.LabelPolicy] == policy.Name {
			mine = append(mine, tm)
			if countsForSlots {
				s.policyInFlight++
			}
		}
	}
	slices.SortFunc(mine, func(a, b *storagev1.TierMigration) int {
		return b.CreationTimestamp.Compare(a.CreationTimestamp.Time)
	})
	for _, tm := range mine[:min(len(mine), maxHistory)] {
		rec := storagev1.MigrationRecord{
			Volume: tm.Spec.VolumeID, TierMigration: tm.Name, From: tm.Status.SourceTier, To: tm.Spec.TargetTier,
			ObservedIOPS: tm.Spec.Reason.ObservedIOPS, Phase: phaseOrPending(tm.Status.Phase), Message: historyMessage(tm),
			StartTime: tm.Status.StartTime, CompletionTime: tm.Status.CompletionTime,
		}
		// The TierMigration is the cache's own object (listed without a copy): keep none of its memory.
		s.history = append(s.history, *rec.DeepCopy())
	}
	return s, nil
}

// selects reports whether a policy selects a PV: a Mayastor PV of the policy's StorageClass
// matching its volumeSelector.
func selects(spec *storagev1.StoragePolicySpec, sels selectors, pv *corev1.PersistentVolume) bool {
	if pv.Spec.CSI == nil || pv.Spec.CSI.Driver != MayastorCSIDriver || pv.Spec.StorageClassName != spec.StorageClassName {
		return false
	}
	return sels.volumes == nil || sels.volumes.Matches(labels.Set(pv.Labels))
}

// candidate gathers what the brain needs about one Mayastor volume, but its IOPS.
func (s *clusterSnapshot) candidate(v *mayastor.Volume, tiers tiering.PoolTiers) tiering.Candidate {
	id := v.Spec.UUID
	pv := s.watched[id]
	c := tiering.Candidate{
		VolumeID: id, PVName: pv.Name, Placement: tiering.VolumePlacement(v, tiers),
		Published: v.State.Target != nil, Healthy: v.State.Status == mayastor.VolumeStatusOnline,
		SizeBytes: v.Spec.Size, Replicas: len(v.State.ReplicaTopology),
		LastMigration: s.lastMigration[id], InFlight: s.inFlight[id], OtherPolicies: s.overlaps[id],
	}
	annotations := map[string]string{}
	for k, val := range pv.Annotations {
		annotations[k] = val
	}
	if ref := pv.Spec.ClaimRef; ref != nil {
		if pvc := s.claims[types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}]; pvc != nil {
			for k, val := range pvc.Annotations {
				annotations[k] = val
			}
		}
	}
	c.Excluded = strings.EqualFold(annotations[storagev1.AnnotationTiering], "disabled")
	switch storagev1.Tier(annotations[storagev1.AnnotationTier]) {
	case storagev1.TierNVMe:
		c.Pin = storagev1.TierNVMe
	case storagev1.TierSATA:
		c.Pin = storagev1.TierSATA
	}
	return c
}

// observedVolumes are the watched volumes Mayastor knows, as candidates for the brain (only what
// it needs: the decoded volumes themselves are dropped page by page), and the pools.
type observedVolumes struct {
	candidates []tiering.Candidate
	pools      []mayastor.Pool
}

// observeStorage reads Mayastor's pools and the watched volumes, counts the volumes on each tier
// and says whether both tiers have pools.
func (r *StoragePolicyReconciler) observeStorage(ctx context.Context, policy *storagev1.StoragePolicy, sels selectors, snap *clusterSnapshot) (metav1.Condition, observedVolumes, tiering.PoolClassification) {
	var obs observedVolumes
	pools, err := r.Mayastor.ListPools(ctx)
	if err != nil {
		return falseCond("MayastorUnavailable", err.Error()), obs, tiering.PoolClassification{}
	}
	obs.pools = pools
	classes := tiering.ClassifyPools(pools, sels.nvme, sels.sata)
	var nvme, sata int32
	err = r.Mayastor.WalkVolumes(ctx, func(page []mayastor.Volume) error {
		for i := range page {
			if snap.watched[page[i].Spec.UUID] == nil {
				continue
			}
			c := snap.candidate(&page[i], classes.Tiers)
			obs.candidates = append(obs.candidates, c)
			switch c.Placement {
			case tiering.PlacementNVMe:
				nvme++
			case tiering.PlacementSATA:
				sata++
			}
		}
		return nil
	})
	if err != nil {
		return falseCond("MayastorUnavailable", err.Error()), observedVolumes{}, classes
	}
	policy.Status.NVMeVolumes, policy.Status.SATAVolumes = nvme, sata
	if reason, msg := classes.StorageProblem(); reason != "" {
		return falseCond(reason, msg), obs, classes
	}
	return metav1.Condition{Status: metav1.ConditionTrue, Reason: "PoolsFound",
		Message: fmt.Sprintf("%d NVMe and %d SATA pools; %d of %d watched volumes found in Mayastor", classes.NVMe, classes.SATA, len(obs.candidates), len(snap.watched))}, obs, classes
}

// observeIOPS asks Prometheus for the mean IOPS of every volume and counts the watched volumes
// without data covering the sampling window. Missing data is never read as zero.
func (r *StoragePolicyReconciler) observeIOPS(ctx context.Context, policy *storagev1.StoragePolicy, window time.Duration, watched map[string]*corev1.PersistentVolume) (metav1.Condition, *promwatch.Result, int32) {
	res, err := r.IOPS.Evaluate(ctx, promwatch.Request{Window: window, IOPSQuery: policy.Spec.IOPSQuery, At: r.Clock.Now()})
	if err != nil {
		return falseCond(promwatch.Reason(err), err.Error()), nil, int32(len(watched))
	}
	var unknown int32
	for id := range watched {
		if !res.ForVolume(id).Known {
			unknown++
		}
	}
	return metav1.Condition{Status: metav1.ConditionTrue, Reason: "QuerySucceeded",
		Message: fmt.Sprintf("IOPS over %s known for %d of %d volumes", policy.Spec.SamplingWindow, int32(len(watched))-unknown, len(watched))}, res, unknown
}

// freeBytes is the room on each tier: the Online pools' capacity less the headroom, less what
// is used.
func freeBytes(classes tiering.PoolClassification, pools []mayastor.Pool, headroomPercent int32) map[storagev1.Tier]uint64 {
	free := map[storagev1.Tier]uint64{}
	for _, p := range pools {
		tier, ok := classes.Tiers[p.ID]
		if !ok || p.State == nil || p.State.Status != mayastor.PoolStatusOnline {
			continue
		}
		usable := p.State.Capacity / 100 * uint64(100-headroomPercent)
		if usable > p.State.Used {
			free[tier] += usable - p.State.Used
		}
	}
	return free
}

// startMigration creates the TierMigration for one move. Its name is derived from the volume,
// the tier and the minute, so a retried reconcile does not start the same move twice.
func (r *StoragePolicyReconciler) startMigration(ctx context.Context, policy *storagev1.StoragePolicy, m tiering.Move) (bool, error) {
	spec := &policy.Spec
	// The decision was made from the cache, which may not show a migration created moments
	// ago: ask the API server itself before creating another for the same volume.
	var existing storagev1.TierMigrationList
	if err := r.APIReader.List(ctx, &existing, client.MatchingLabels{storagev1.LabelVolume: m.VolumeID}); err != nil {
		return false, fmt.Errorf("list TierMigrations of volume %s: %w", m.VolumeID, err)
	}
	for i := range existing.Items {
		if !existing.Items[i].Status.Phase.IsTerminal() {
			return false, nil
		}
	}
	high, low := spec.HighWatermarkIOPS, spec.LowWatermarkIOPS
	tm := &storagev1.TierMigration{
		ObjectMeta: metav1.ObjectMeta{
			Name:   fmt.Sprintf("%s-%s-%d", strings.ToLower(string(m.To)), m.VolumeID, r.Clock.Now().Unix()/60),
			Labels: map[string]string{storagev1.LabelPolicy: policy.Name, storagev1.LabelVolume: m.VolumeID},
		},
		Spec: storagev1.TierMigrationSpec{
			VolumeID: m.VolumeID, PersistentVolumeName: m.PVName, TargetTier: m.To, PolicyName: policy.Name,
			Reason:           storagev1.MigrationReason{Description: m.Reason, HighWatermarkIOPS: &high, LowWatermarkIOPS: &low},
			DryRun:           spec.DryRun || r.Options.DryRun,
			PreservationMode: spec.PreservationMode || r.Options.PreservationMode,
			AllowRepublish:   spec.AllowRepublish,
			Timeout:          spec.MigrationTimeout,
		},
	}
	if m.KnownIOPS {
		iops := int64(m.IOPS + 0.5)
		tm.Spec.Reason.ObservedIOPS = &iops
	}
	if err := ctrl.SetControllerReference(policy, tm, r.Client.Scheme()); err != nil {
		return false, err
	}
	if err := r.Client.Create(ctx, tm); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return false, nil
		}
		return false, fmt.Errorf("create TierMigration for volume %s: %w", m.VolumeID, err)
	}
	verb := "Moving"
	if tm.Spec.DryRun {
		verb = "Dry-run: would move"
	}
	r.Recorder.Eventf(policy, tm, corev1.EventTypeNormal, "MigrationPlanned", "Migrate", "%s volume %s from %s to %s: %s (TierMigration %s)", verb, m.VolumeID, m.From, m.To, m.Reason, tm.Name)
	return true, nil
}

func phaseOrPending(p storagev1.MigrationPhase) storagev1.MigrationPhase {
	if p == "" {
		return storagev1.PhasePending
	}
	return p
}

func historyMessage(tm *storagev1.TierMigration) string {
	msg := tm.Spec.Reason.Description
	if tm.Status.Error != "" {
		msg = tm.Status.Error
	}
	if len(msg) > 256 {
		msg = msg[:256]
	}
	return msg
}

func falseCond(reason, message string) metav1.Condition {
	return metav1.Condition{Status: metav1.ConditionFalse, Reason: reason, Message: message}
}

type selectors struct {
	nvme, sata labels.Selector
	volumes    labels.Selector // nil: every volume of the StorageClass
}

// compileSelectors refuses what the CRD schema cannot: label selectors with a bad operator or
// label syntax, and an empty pool selector that would put every pool in one tier.
func compileSelectors(spec *storagev1.StoragePolicySpec) (selectors, error) {
	var s selectors
	var err error
	if s.nvme, err = metav1.LabelSelectorAsSelector(&spec.NVMePoolSelector); err != nil {
		return s, fmt.Errorf("spec.nvmePoolSelector: %w", err)
	}
	if s.nvme.Empty() {
		return s, fmt.Errorf("spec.nvmePoolSelector: must not be empty, or every pool would be NVMe")
	}
	if s.sata, err = metav1.LabelSelectorAsSelector(&spec.SATAPoolSelector); err != nil {
		return s, fmt.Errorf("spec.sataPoolSelector: %w", err)
	}
	if s.sata.Empty() {
		return s, fmt.Errorf("spec.sataPoolSelector: must not be empty, or every pool would be SATA")
	}
	if spec.VolumeSelector != nil {
		if s.volumes, err = metav1.LabelSelectorAsSelector(spec.VolumeSelector); err != nil {
			return s, fmt.Errorf("spec.volumeSelector: %w", err)
		}
	}
	return s, nil
}

// equalStatus compares two statuses ignoring LastReconcileTime and condition transition times,
// so an unchanged policy is not rewritten on every resync.
func equalStatus(a, b *storagev1.StoragePolicyStatus) bool {
	ac, bc := a.DeepCopy(), b.DeepCopy()
	ac.LastReconcileTime, bc.LastReconcileTime = nil, nil
	for i := range ac.Conditions {
		ac.Conditions[i].LastTransitionTime = metav1.Time{}
	}
	for i := range bc.Conditions {
		bc.Conditions[i].LastTransitionTime = metav1.Time{}
	}
	return equality.Semantic.DeepEqual(ac, bc)
}

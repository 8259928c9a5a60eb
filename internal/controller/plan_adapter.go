package controller

// TEMPORARY: a thin adapter over today's tiering.Decide with the shape of the planner contract
// (brain-common.md), so the observer and the thin reconciler run before tiering.PlanPolicy lands
// from wip-planner. When it lands, this file becomes:
//
//	type (
//		policyPlan     = tiering.PolicyPlan
//		planMove       = tiering.Move
//		planCondition  = tiering.Condition
//	)
//	var planPolicy = tiering.PlanPolicy
//
// and everything below it goes.

import (
	"fmt"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/tiering"
)

type policyPlan struct {
	Moves    []planMove
	Volumes  []volumeDecision
	Counts   policyCounts
	Storage  planCondition
	Metrics  planCondition
	Ready    planCondition
	Overlaps map[string][]string
	DryRun   bool
	// PreservationMode is the effective mode (policy spec OR operator flag).
	PreservationMode bool
}

type planMove struct {
	tiering.Move
	// Claim is the PVC ("namespace/name") of the volume, for its Event.
	Claim string
}

type volumeDecision struct {
	VolumeID string
	Move     bool
	Reason   string
	Message  string
}

type policyCounts struct {
	Watched, NVMe, SATA, Unknown, Planned, Active int
}

type planCondition struct {
	Status  metav1.ConditionStatus
	Reason  string
	Message string
}

func falsePlanCond(reason, message string) planCondition {
	return planCondition{Status: metav1.ConditionFalse, Reason: reason, Message: message}
}

type selectors struct {
	nvme, sata labels.Selector
	volumes    labels.Selector // nil: every volume of the StorageClass
}

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

func selectsPV(spec *storagev1.StoragePolicySpec, sels selectors, pv *tiering.PVObservation) bool {
	return pv.StorageClass == spec.StorageClassName && (sels.volumes == nil || sels.volumes.Matches(labels.Set(pv.Labels)))
}

// planPolicy decides one policy from a snapshot (the contract of tiering.PlanPolicy).
func planPolicy(s *tiering.Snapshot, p *storagev1.StoragePolicy, f tiering.Flags, now time.Time) policyPlan {
	spec := &p.Spec
	plan := policyPlan{DryRun: spec.DryRun || f.DryRun, PreservationMode: spec.PreservationMode || f.PreservationMode, Overlaps: map[string][]string{}}
	sels, err := compileSelectors(spec)
	if err != nil {
		plan.Ready = falsePlanCond("InvalidSpec", err.Error())
		return plan
	}
	window, err1 := time.ParseDuration(spec.SamplingWindow)
	cooldown, err2 := time.ParseDuration(spec.CooldownPeriod)
	if err1 != nil || err2 != nil {
		plan.Ready = falsePlanCond("InvalidSpec", fmt.Sprintf("spec.samplingWindow %q, spec.cooldownPeriod %q: want Go durations", spec.SamplingWindow, spec.CooldownPeriod))
		return plan
	}

	var others []*storagev1.StoragePolicy
	otherSels := map[string]selectors{}
	for _, o := range s.Policies {
		if o.Name == p.Name || !o.IsEnabled() || o.Spec.StorageClassName != spec.StorageClassName {
			continue
		}
		if os, err := compileSelectors(&o.Spec); err == nil {
			others, otherSels[o.Name] = append(others, o), os
		}
	}
	watched := map[string]*tiering.PVObservation{}
	for _, pv := range s.PVs {
		if !selectsPV(spec, sels, pv) {
			continue
		}
		watched[pv.VolumeID] = pv
		for _, o := range others {
			if selectsPV(&o.Spec, otherSels[o.Name], pv) {
				plan.Overlaps[pv.VolumeID] = append(plan.Overlaps[pv.VolumeID], o.Name)
			}
		}
	}
	plan.Counts.Watched = len(watched)
	plan.Counts.Active = s.InFlight.ByPolicy[p.Name]
	if !p.IsEnabled() {
		plan.Overlaps = nil
		plan.Ready = falsePlanCond("Disabled", "spec.enabled is false: the policy starts no migration")
		return plan
	}

	tiers := tiering.PoolTiers{}
	var nvmePools, sataPools int
	var ambiguous []string
	free := map[storagev1.Tier]uint64{}
	if s.MayastorProblem != nil {
		plan.Storage = falsePlanCond(s.MayastorProblem.Reason, s.MayastorProblem.Message)
	} else {
		for _, pool := range s.Pools {
			set := labels.Set(pool.Labels)
			inNVMe, inSATA := sels.nvme.Matches(set), sels.sata.Matches(set)
			var tier storagev1.Tier
			switch {
			case inNVMe && inSATA:
				ambiguous = append(ambiguous, pool.ID)
				continue
			case inNVMe:
				tier = storagev1.TierNVMe
				nvmePools++
			case inSATA:
				tier = storagev1.TierSATA
				sataPools++
			default:
				continue
			}
			tiers[pool.ID] = tier
			if usable := pool.CapacityBytes / 100 * uint64(100-spec.CapacityHeadroomPercent); pool.Online && usable > pool.UsedBytes {
				free[tier] += usable - pool.UsedBytes
			}
		}
		sort.Strings(ambiguous)
		classes := tiering.PoolClassification{Tiers: tiers, NVMe: nvmePools, SATA: sataPools, Ambiguous: ambiguous}
		found := 0
		for id := range watched {
			if s.Volumes[id] != nil {
				found++
			}
		}
		if reason, msg := classes.StorageProblem(); reason != "" {
			plan.Storage = falsePlanCond(reason, msg)
		} else {
			plan.Storage = planCondition{Status: metav1.ConditionTrue, Reason: "PoolsFound",
				Message: fmt.Sprintf("%d NVMe and %d SATA pools; %d of %d watched volumes found in Mayastor", nvmePools, sataPools, found, len(watched))}
		}
	}

	iops := s.IOPS[tiering.IOPSKey{Window: window, Query: spec.IOPSQuery}]
	switch {
	case iops == nil:
		plan.Metrics = falsePlanCond("NotObserved", "IOPS over "+spec.SamplingWindow+" not observed yet")
		plan.Counts.Unknown = len(watched)
	case iops.Problem != nil:
		plan.Metrics = falsePlanCond(iops.Problem.Reason, iops.Problem.Message)
		plan.Counts.Unknown = len(watched)
	default:
		for id := range watched {
			if !iops.Volumes[id].Known {
				plan.Counts.Unknown++
			}
		}
		plan.Metrics = planCondition{Status: metav1.ConditionTrue, Reason: "QuerySucceeded",
			Message: fmt.Sprintf("IOPS over %s known for %d of %d volumes", spec.SamplingWindow, len(watched)-plan.Counts.Unknown, len(watched))}
	}

	var candidates []tiering.Candidate
	for id, pv := range watched {
		v := s.Volumes[id]
		if v == nil {
			continue
		}
		c := tiering.Candidate{
			VolumeID: id, PVName: pv.Name, Placement: placement(v, tiers), Published: v.Published, Healthy: v.Healthy,
			SizeBytes: v.SizeBytes, Replicas: len(v.ReplicaPools), Pin: pv.Pin, Excluded: pv.Excluded,
			InFlight: s.Migrations[id].InFlight, OtherPolicies: plan.Overlaps[id],
		}
		if iops != nil {
			m := iops.Volumes[id]
			c.KnownIOPS, c.IOPS, c.UnknownReason = m.Known, m.IOPS, m.Reason
			if !m.Known && m.Reason == "" {
				c.UnknownReason = "NoSeries"
			}
		}
		if plan.DryRun {
			c.LastMigration = s.Migrations[id].LastAny
		} else {
			c.LastMigration = s.Migrations[id].LastReal
		}
		switch c.Placement {
		case tiering.PlacementNVMe:
			plan.Counts.NVMe++
		case tiering.PlacementSATA:
			plan.Counts.SATA++
		}
		candidates = append(candidates, c)
	}
	sort.Slice(candidates, func(i, j int) bool { return candidates[i].VolumeID < candidates[j].VolumeID })
	switch {
	case plan.Storage.Status != metav1.ConditionTrue:
		plan.Ready = falsePlanCond(plan.Storage.Reason, plan.Storage.Message)
		return plan
	case plan.Metrics.Status != metav1.ConditionTrue:
		plan.Ready = falsePlanCond(plan.Metrics.Reason, "no migration is started: "+plan.Metrics.Message)
		return plan
	}
	d := tiering.Decide(tiering.Input{
		Now: now, HighWatermarkIOPS: spec.HighWatermarkIOPS, LowWatermarkIOPS: spec.LowWatermarkIOPS,
		Cooldown: cooldown, FreeBytes: free, Volumes: candidates,
		Slots: max(0, min(int(spec.MaxConcurrentMigrations)-plan.Counts.Active, f.MaxConcurrentMigrations-s.InFlight.Global)),
	})
	for _, m := range d.Moves {
		plan.Moves = append(plan.Moves, planMove{Move: m, Claim: watched[m.VolumeID].Claim})
		plan.Volumes = append(plan.Volumes, volumeDecision{VolumeID: m.VolumeID, Move: true, Reason: "Move", Message: m.Reason})
	}
	for _, sk := range append(d.Deferred, d.Skips...) {
		plan.Volumes = append(plan.Volumes, volumeDecision{VolumeID: sk.VolumeID, Reason: string(sk.Reason), Message: sk.Message})
	}
	plan.Counts.Planned = len(d.Deferred)
	overlapNote := ""
	if len(plan.Overlaps) > 0 {
		ids := make([]string, 0, len(plan.Overlaps))
		for id := range plan.Overlaps {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		overlapNote = fmt.Sprintf("; %d volumes are also selected by another policy and are left alone (e.g. %s: %v)", len(ids), ids[0], plan.Overlaps[ids[0]])
	}
	plan.Ready = planCondition{Status: metav1.ConditionTrue, Reason: "Evaluated",
		Message: fmt.Sprintf("%d volumes watched: %d on NVMe, %d on SATA, %d without IOPS data; %d migrations to start, %d waiting%s",
			plan.Counts.Watched, plan.Counts.NVMe, plan.Counts.SATA, plan.Counts.Unknown, len(plan.Moves), plan.Counts.Planned, overlapNote)}
	return plan
}

func placement(v *tiering.VolumeObservation, tiers tiering.PoolTiers) tiering.Placement {
	var nvme, sata, other int
	for _, pool := range v.ReplicaPools {
		switch tiers[pool] {
		case storagev1.TierNVMe:
			nvme++
		case storagev1.TierSATA:
			sata++
		default:
			other++
		}
	}
	switch {
	case other > 0 || nvme+sata == 0:
		return tiering.PlacementOther
	case nvme > 0 && sata > 0:
		return tiering.PlacementMixed
	case nvme > 0:
		return tiering.PlacementNVMe
	default:
		return tiering.PlacementSATA
	}
}

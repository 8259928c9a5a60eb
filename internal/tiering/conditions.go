package tiering

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

// storageCondition says whether Mayastor answered and the policy's pools make two tiers, and
// places each selected volume Mayastor lists.
func storageCondition(s *Snapshot, c *CompiledPolicy, cases []volumeCase) (Condition, PoolClassification) {
	if pr := s.MayastorProblem; pr != nil {
		return Condition{metav1.ConditionFalse, cmp.Or(pr.Reason, storagev1.ReasonMayastorUnavailable), pr.Message}, PoolClassification{}
	}
	classes := Classify(s.Pools, c.NVMe, c.SATA)
	found := 0
	for i := range cases {
		if v := &cases[i]; v.vol != nil {
			v.placement = classes.Tiers.Placement(v.vol.ReplicaPools)
			found++
		}
	}
	if reason, msg := classes.StorageProblem(); reason != "" {
		return Condition{metav1.ConditionFalse, reason, msg}, classes
	}
	return Condition{metav1.ConditionTrue, storagev1.ReasonPoolsFound,
		fmt.Sprintf("%d NVMe and %d SATA pools; %d of %d watched volumes found in Mayastor", classes.NVMe, classes.SATA, found, len(cases))}, classes
}

// metricsCondition says whether the policy's IOPS evaluation is in the snapshot and succeeded.
func metricsCondition(iops *IOPSObservation, spec *storagev1.StoragePolicySpec, cases []volumeCase) Condition {
	switch {
	case iops == nil:
		return Condition{metav1.ConditionUnknown, storagev1.ReasonIOPSNotObserved,
			fmt.Sprintf("the latest observation has no IOPS evaluation over %s for this policy's query yet", spec.SamplingWindow)}
	case iops.Problem != nil:
		return Condition{metav1.ConditionFalse, iops.Problem.Reason, iops.Problem.Message}
	}
	known := 0
	for i := range cases {
		if iops.Volumes[cases[i].pv.VolumeID].Known {
			known++
		}
	}
	return Condition{metav1.ConditionTrue, storagev1.ReasonQuerySucceeded,
		fmt.Sprintf("IOPS over %s known for %d of %d volumes", spec.SamplingWindow, known, len(cases))}
}

// stayAll keeps every volume where it is, for a policy that is not active.
func stayAll(cases []volumeCase, message string) []VolumeDecision {
	out := make([]VolumeDecision, len(cases))
	for i := range cases {
		v := &cases[i]
		out[i] = VolumeDecision{VolumeID: v.pv.VolumeID, PVName: v.pv.Name, Claim: v.pv.Claim, Placement: v.placement,
			Action: ActionStay, Reason: storagev1.ReasonPolicyNotActive, Message: message}
	}
	return out
}

// idleCondition is the Ready condition of a policy that could decide but tiers nothing: it
// selects no volume, or none of the volumes it selects has IOPS data covering the window. Such a
// policy is not Ready, whatever it decided (a pinned volume still moves); false otherwise.
func idleCondition(spec *storagev1.StoragePolicySpec, cases []volumeCase) (Condition, bool) {
	if len(cases) == 0 {
		msg := fmt.Sprintf("selects no volume: no PersistentVolume of the Mayastor CSI driver has StorageClass %q", spec.StorageClassName)
		if spec.VolumeSelector != nil {
			msg = fmt.Sprintf("selects no volume: no PersistentVolume of the Mayastor CSI driver has StorageClass %q and matches its volumeSelector", spec.StorageClassName)
		}
		return Condition{metav1.ConditionFalse, storagev1.ReasonNoVolumesSelected,
			msg + "; check storageClassName against the StorageClasses of provisioner io.openebs.csi-mayastor"}, true
	}
	why := map[string]int{}
	for i := range cases {
		if cases[i].iops.Known {
			return Condition{}, false
		}
		why[cmp.Or(cases[i].iops.Reason, storagev1.ReasonNoSeries)]++
	}
	reasons := slices.Sorted(maps.Keys(why))
	slices.SortStableFunc(reasons, func(a, b string) int { return cmp.Compare(why[b], why[a]) })
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		parts[i] = fmt.Sprintf("%s %d", r, why[r])
	}
	msg := fmt.Sprintf("none of its %d volumes has IOPS data covering the sampling window %s (%s): no volume moves on IOPS",
		len(cases), spec.SamplingWindow, strings.Join(parts, ", "))
	if why[storagev1.ReasonNoSeries] > 0 {
		msg += "; NoSeries: Prometheus has no volume_num_read_ops series for them (Mayastor older than 2.6 exports none; or the io-engine exporter is not scraped, or the volumes are unpublished)"
	}
	if why[storagev1.ReasonPartialHistory] > 0 {
		msg += "; PartialHistory: the data covers less of the window than required yet (wait one samplingWindow)"
	}
	return Condition{metav1.ConditionFalse, storagev1.ReasonAllVolumesUnknown, msg}, true
}

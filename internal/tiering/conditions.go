package tiering

import (
	"cmp"
	"fmt"

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

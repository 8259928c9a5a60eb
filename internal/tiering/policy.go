package tiering

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

// CompiledPolicy is a StoragePolicy spec resolved once: its selectors parsed, its durations
// read, the IOPS evaluation it decides from named.
type CompiledPolicy struct {
	NVMe, SATA labels.Selector
	// Volumes is nil when the policy takes every volume of its StorageClass.
	Volumes  labels.Selector
	Window   time.Duration
	Cooldown time.Duration
	// IOPS names the evaluation in Snapshot.IOPS this policy reads.
	IOPS IOPSKey
	// Windows are the migration windows (none: always open).
	Windows Windows
	// Manual: moves are created waiting for approval; ApprovalTimeout is how long they wait.
	Manual          bool
	ApprovalTimeout time.Duration
	// AntiFlap lengthens the cooldown of volumes that flip; its Base is Cooldown.
	AntiFlap AntiFlap
}

// DefaultApprovalTimeout applies when spec.approvalTimeout is empty.
const DefaultApprovalTimeout = 24 * time.Hour

// CompilePolicy resolves a policy's spec, refusing what the CRD schema cannot: label selectors
// with a bad operator or label syntax, an empty pool selector that would put every pool in one
// tier, and durations stored before the schema checked them. The error names the field.
func CompilePolicy(spec *storagev1.StoragePolicySpec) (CompiledPolicy, error) {
	var c CompiledPolicy
	var err error
	if c.NVMe, err = poolSelector("nvmePoolSelector", &spec.NVMePoolSelector, "NVMe"); err != nil {
		return c, err
	}
	if c.SATA, err = poolSelector("sataPoolSelector", &spec.SATAPoolSelector, "SATA"); err != nil {
		return c, err
	}
	if spec.VolumeSelector != nil {
		if c.Volumes, err = metav1.LabelSelectorAsSelector(spec.VolumeSelector); err != nil {
			return c, fmt.Errorf("spec.volumeSelector: %w", err)
		}
	}
	if c.Window, err = positiveDuration("samplingWindow", spec.SamplingWindow); err != nil {
		return c, err
	}
	if c.Cooldown, err = positiveDuration("cooldownPeriod", spec.CooldownPeriod); err != nil {
		return c, err
	}
	if c.AntiFlap, err = CompileAntiFlap(spec, c.Cooldown); err != nil {
		return c, err
	}
	c.IOPS = IOPSKey{Window: c.Window, Query: spec.IOPSQuery}
	if c.Windows, err = CompileWindows(spec.MigrationWindows); err != nil {
		return c, err
	}
	switch spec.Approval {
	case "", storagev1.ApprovalAutomatic:
	case storagev1.ApprovalManual:
		c.Manual = true
	default:
		return c, fmt.Errorf("spec.approval %q: want Automatic or Manual", spec.Approval)
	}
	c.ApprovalTimeout = DefaultApprovalTimeout
	if spec.ApprovalTimeout != "" {
		if c.ApprovalTimeout, err = positiveDuration("approvalTimeout", spec.ApprovalTimeout); err != nil {
			return c, err
		}
	}
	return c, nil
}

// IOPSKeyOf names the IOPS evaluation a policy decides from: the observer evaluates one per
// distinct key among the enabled policies.
func IOPSKeyOf(spec *storagev1.StoragePolicySpec) (IOPSKey, error) {
	w, err := positiveDuration("samplingWindow", spec.SamplingWindow)
	if err != nil {
		return IOPSKey{}, err
	}
	return IOPSKey{Window: w, Query: spec.IOPSQuery}, nil
}

// EffectiveModes are the policy's modes with the operator's flags: either one turns a mode on.
func EffectiveModes(spec *storagev1.StoragePolicySpec, f Flags) (dryRun, preservationMode bool) {
	return spec.DryRun || f.DryRun, spec.PreservationMode || f.PreservationMode
}

// Selects reports whether a policy with this spec and compiled volume selector takes a PV: a
// PV of the policy's StorageClass matching its volumeSelector. (Snapshot.PVs holds Mayastor
// PVs only.)
func (c *CompiledPolicy) Selects(spec *storagev1.StoragePolicySpec, pv *PVObservation) bool {
	return pv.StorageClass == spec.StorageClassName && (c.Volumes == nil || c.Volumes.Matches(labels.Set(pv.Labels)))
}

func poolSelector(field string, s *metav1.LabelSelector, tier string) (labels.Selector, error) {
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		return nil, fmt.Errorf("spec.%s: %w", field, err)
	}
	if sel.Empty() {
		return nil, fmt.Errorf("spec.%s: must not be empty, or every pool would be %s", field, tier)
	}
	return sel, nil
}

func positiveDuration(field, s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("spec.%s %q: want a positive Go duration such as 30m or 1h", field, s)
	}
	return d, nil
}

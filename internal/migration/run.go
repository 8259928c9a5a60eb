package migration

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

// DefaultTimeout is a migration's time budget when neither spec.timeout, its policy's
// migrationTimeout nor --migration-timeout-minutes says otherwise.
const DefaultTimeout = 30 * time.Minute

// MaxStepsPerRun bounds the phases one Run goes through back to back.
const MaxStepsPerRun = 16

// Input is everything the caller gathered for one run of a TierMigration: the storage port and
// the settings of its policy and of the operator, resolved.
type Input struct {
	Storage Storage
	// Pools are the target and source pool selectors, or why they cannot be resolved.
	Pools Pools
	// Timeout is the migration's time budget (ResolveTimeout); TimeoutErr says why it is invalid.
	Timeout    time.Duration
	TimeoutErr error
	// DryRun and PreservationMode are the effective modes: the spec's, the policy's, the flags'.
	DryRun, PreservationMode bool
	Limits                   Limits
	// WindowClosed: the policy has migration windows and none is open; NextOpens is when one opens.
	WindowClosed bool
	NextOpens    time.Time
}

// Pools are a migration's resolved pool selectors.
type Pools struct {
	// Target selects the target tier's pools; Source the tier it leaves (nil: any other pool).
	Target, Source labels.Selector
	// Reason and Message, when set, say why the selectors cannot be resolved (PolicyNotFound,
	// InvalidSpec): the migration fails with them.
	Reason, Message string
}

// ResolvePools resolves the target and source pool selectors: the spec's, else the policy's
// for the target tier and the other one. policy is nil when it names none or it does not exist.
func ResolvePools(tm *storagev1.TierMigration, policy *storagev1.StoragePolicy) Pools {
	invalid := func(msg string) Pools { return Pools{Reason: storagev1.ReasonInvalidSpec, Message: msg} }
	var p Pools
	var err error
	switch {
	case tm.Spec.TargetPoolSelector != nil:
		if p.Target, err = metav1.LabelSelectorAsSelector(tm.Spec.TargetPoolSelector); err != nil {
			return invalid("spec.targetPoolSelector: " + err.Error())
		}
	case policy == nil:
		return Pools{Reason: storagev1.ReasonPolicyNotFound, Message: fmt.Sprintf(
			"StoragePolicy %q not found: spec.targetPoolSelector is empty, so the policy's pool selector for %s is needed", tm.Spec.PolicyName, tm.Spec.TargetTier)}
	default:
		if p.Target, err = metav1.LabelSelectorAsSelector(tierPools(policy, tm.Spec.TargetTier)); err != nil {
			return invalid(fmt.Sprintf("StoragePolicy %s: %s pool selector: %v", policy.Name, tm.Spec.TargetTier, err))
		}
	}
	if p.Target.Empty() {
		return invalid("the target pool selector is empty: it would select every pool")
	}
	switch {
	case tm.Spec.SourcePoolSelector != nil:
		if p.Source, err = metav1.LabelSelectorAsSelector(tm.Spec.SourcePoolSelector); err != nil {
			return invalid("spec.sourcePoolSelector: " + err.Error())
		}
	case policy != nil:
		if p.Source, err = metav1.LabelSelectorAsSelector(tierPools(policy, otherTier(tm.Spec.TargetTier))); err != nil {
			return invalid(fmt.Sprintf("StoragePolicy %s: source pool selector: %v", policy.Name, err))
		}
	}
	return p
}

// tierPools is the policy's pool selector of tier t.
func tierPools(policy *storagev1.StoragePolicy, t storagev1.Tier) *metav1.LabelSelector {
	if t == storagev1.TierSATA {
		return &policy.Spec.SATAPoolSelector
	}
	return &policy.Spec.NVMePoolSelector
}

// ResolveTimeout is spec.timeout, else the policy's migrationTimeout, else fallback (the
// operator's flag), else DefaultTimeout.
func ResolveTimeout(tm *storagev1.TierMigration, policy *storagev1.StoragePolicy, fallback time.Duration) (time.Duration, error) {
	parse := func(field, s string) (time.Duration, error) {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return 0, fmt.Errorf("%s %q: want a positive duration such as 30m", field, s)
		}
		return d, nil
	}
	switch {
	case tm.Spec.Timeout != "":
		return parse("spec.timeout", tm.Spec.Timeout)
	case policy != nil && policy.Spec.MigrationTimeout != "":
		return parse("StoragePolicy "+policy.Name+" migrationTimeout", policy.Spec.MigrationTimeout)
	case fallback > 0:
		return fallback, nil
	}
	return DefaultTimeout, nil
}

// Labels are the labels a TierMigration carries: its volume, and its policy unless the name is
// longer than a label value allows (63).
func Labels(tm *storagev1.TierMigration) map[string]string {
	l := map[string]string{storagev1.LabelVolume: tm.Spec.VolumeID}
	if tm.Spec.PolicyName != "" && len(validation.IsValidLabelValue(tm.Spec.PolicyName)) == 0 {
		l[storagev1.LabelPolicy] = tm.Spec.PolicyName
	}
	return l
}

// Hooks are what a run asks of its caller between steps.
type Hooks struct {
	// Peers lists every TierMigration, read past the cache, for admission. AdmitLock is held
	// from that list until the admitted migration's status is written, so counting the slots
	// and taking one is one step.
	Peers     func(ctx context.Context) ([]storagev1.TierMigration, error)
	AdmitLock sync.Locker
	// Approved is called when a migration waiting for approval has been approved.
	Approved func(ctx context.Context, tm *storagev1.TierMigration)
	// Emit publishes the Events of a step.
	Emit func([]Event)
}

// Run runs the phases of a TierMigration that has not ended until it has to wait, ends, or
// has gone through MaxStepsPerRun phases (then Result.Continue is set: run again at once).
func (m *Machine) Run(ctx context.Context, tm *storagev1.TierMigration, in Input, h Hooks) (Result, error) {
	logger := logr.FromContextOrDiscard(ctx)
	for range MaxStepsPerRun {
		phase := tm.Status.Phase
		res, err := m.runPhase(ctx, tm, in, h)
		h.Emit(res.Events)
		if err != nil {
			return res, fmt.Errorf("TierMigration %s in phase %s: %w", tm.Name, phase, err)
		}
		if phase != tm.Status.Phase {
			logger.Info("migration phase changed", "volume", tm.Spec.VolumeID, "from", phase, "to", tm.Status.Phase)
		}
		if res.Ended != nil || res.Transient != nil || !res.Continue {
			return res, nil
		}
	}
	return Result{Continue: true}, nil
}

// runPhase runs the current phase once.
func (m *Machine) runPhase(ctx context.Context, tm *storagev1.TierMigration, in Input, h Hooks) (Result, error) {
	switch phase := tm.Status.Phase; {
	case phase == "":
		return m.Accept(ctx, tm)
	case phase == storagev1.PhaseWaitingApproval:
		res, err := m.Approval(ctx, tm)
		if err == nil && tm.Status.Phase == storagev1.PhasePending && h.Approved != nil {
			h.Approved(ctx, tm)
		}
		return res, err
	case phase == storagev1.PhasePending:
		return m.admit(ctx, tm, in, h)
	case phase.IsInFlight():
		return m.Step(ctx, tm, StepInput{Storage: in.Storage, TargetPools: in.Pools.Target, SourcePools: in.Pools.Source,
			PoolsReason: in.Pools.Reason, PoolsMessage: in.Pools.Message})
	}
	return Result{}, nil
}

// admit starts a Pending migration when a slot is free, keeps it waiting, or refuses it.
func (m *Machine) admit(ctx context.Context, tm *storagev1.TierMigration, in Input, h Hooks) (Result, error) {
	switch {
	case in.Pools.Reason != "":
		return m.Refuse(ctx, tm, in.Pools.Reason, in.Pools.Message)
	case in.TimeoutErr != nil:
		return m.Refuse(ctx, tm, storagev1.ReasonInvalidSpec, in.TimeoutErr.Error())
	case in.WindowClosed:
		// A window bounds starts: a migration already running finishes, a Pending one (say,
		// approved after its window closed) waits for the next.
		return m.Wait(ctx, tm, Admission{Reason: storagev1.ReasonOutsideMigrationWindow, Message: fmt.Sprintf(
			"outside every migration window of StoragePolicy %s: the next opens at %s", tm.Spec.PolicyName, in.NextOpens.UTC().Format(time.RFC3339))})
	}
	h.AdmitLock.Lock()
	defer h.AdmitLock.Unlock()
	all, err := h.Peers(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("list TierMigrations: %w", err)
	}
	a := Admit(tm, all, in.DryRun, in.Limits)
	switch {
	case a.Busy:
		return m.Refuse(ctx, tm, a.Reason, a.Message)
	case !a.Start:
		return m.Wait(ctx, tm, a)
	}
	return m.Start(ctx, tm, StartParams{Timeout: in.Timeout, DryRun: in.DryRun, PreservationMode: in.PreservationMode})
}

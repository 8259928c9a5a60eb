package cli

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/tiering"
)

// ClaimPlanReport is `plan pvc/NAMESPACE/NAME`'s JSON and YAML output: why this one volume
// moves, waits or stays, per policy that selects it.
type ClaimPlanReport struct {
	Taken            string `json:"taken"`
	PVC              string `json:"pvc"`
	PersistentVolume string `json:"persistentVolume"`
	VolumeID         string `json:"volumeID"`
	StorageClass     string `json:"storageClass"`
	// Pin is the tier the volume is pinned to by annotation; BadPin an annotation value naming
	// no tier.
	Pin    string `json:"pin,omitempty"`
	BadPin string `json:"badPin,omitempty"`
	// Policies are the StoragePolicies that select the volume, by name.
	Policies []ClaimPolicyReport `json:"policies"`
}

// ClaimPolicyReport is one policy's decision about the volume and what it was made from.
type ClaimPolicyReport struct {
	Policy  string           `json:"policy"`
	DryRun  bool             `json:"dryRun"`
	Ready   *ConditionReport `json:"ready,omitempty"`
	Volume  VolumeReport     `json:"volume"`
	Samples string           `json:"samplingWindow"`
	// LowWatermarkIOPS and HighWatermarkIOPS are the policy's: the volume's IOPS are read
	// against them.
	LowWatermarkIOPS  int64 `json:"lowWatermarkIOPS"`
	HighWatermarkIOPS int64 `json:"highWatermarkIOPS"`
	// Cooldown, Window and Slots are absent when the policy is not active (its conditions say
	// why): it decides nothing then.
	Cooldown *CooldownReport `json:"cooldown,omitempty"`
	Window   *WindowReport   `json:"window,omitempty"`
	Slots    *SlotsReport    `json:"slots,omitempty"`
}

// SlotsReport are the migration slots the policy's moves are given from.
type SlotsReport struct {
	// Free: how many migrations could start now, before this decision's moves took any.
	Free             int `json:"free"`
	PolicyInFlight   int `json:"policyInFlight"`
	PolicyMax        int `json:"policyMax"`
	OperatorInFlight int `json:"operatorInFlight"`
	OperatorMax      int `json:"operatorMax"`
}

// CooldownReport is where the volume stands in its cooldown.
type CooldownReport struct {
	// LastMove is when the move the cooldown counts from ended (absent: never moved).
	LastMove *time.Time `json:"lastMove,omitempty"`
	// Cooldown is its length, lengthened by Flips (anti-flap) beyond the policy's cooldownPeriod.
	Cooldown string `json:"cooldown"`
	Flips    int    `json:"flips"`
	// Left is what remains of it ("0s" when over).
	Left string `json:"left"`
}

// WindowReport is the policy's migration windows now.
type WindowReport struct {
	Configured bool       `json:"configured"`
	Open       bool       `json:"open"`
	Closes     *time.Time `json:"closes,omitempty"`
	NextOpens  *time.Time `json:"nextOpens,omitempty"`
}

// claimPlan asks the planner about every policy (or only one) and keeps the decisions about
// the volume of PersistentVolume pvName. It reads the snapshot only.
func claimPlan(s *tiering.Snapshot, pvName, only string, f tiering.Flags, now time.Time) (ClaimPlanReport, error) {
	pv := s.PVs[pvName]
	if pv == nil {
		return ClaimPlanReport{}, fmt.Errorf("PersistentVolume %s is not a Mayastor volume", pvName)
	}
	r := ClaimPlanReport{Taken: s.Taken.UTC().Format(time.RFC3339), PVC: pv.Claim, PersistentVolume: pv.Name, VolumeID: pv.VolumeID,
		StorageClass: pv.StorageClass, Pin: string(pv.Pin), BadPin: pv.BadPin, Policies: []ClaimPolicyReport{}}
	policies := slices.Clone(s.Policies)
	slices.SortFunc(policies, func(a, b *storagev1.StoragePolicy) int { return strings.Compare(a.Name, b.Name) })
	for _, p := range policies {
		if only != "" && p.Name != only {
			continue
		}
		plan := tiering.PlanPolicy(s, p, f, now)
		i := slices.IndexFunc(plan.Volumes, func(d tiering.VolumeDecision) bool { return d.VolumeID == pv.VolumeID })
		if i < 0 {
			continue // the policy does not select it
		}
		all := policyReport(s, p, &plan) // the same per-volume view as plan's
		v := all.Volumes[slices.IndexFunc(all.Volumes, func(v VolumeReport) bool { return v.VolumeID == pv.VolumeID })]
		cp := ClaimPolicyReport{Policy: p.Name, DryRun: plan.DryRun, Ready: all.Ready, Volume: v, Samples: p.Spec.SamplingWindow,
			LowWatermarkIOPS: p.Spec.LowWatermarkIOPS, HighWatermarkIOPS: p.Spec.HighWatermarkIOPS}
		if plan.Volumes[i].Reason != storagev1.ReasonPolicyNotActive { // its rules were applied
			c := tiering.VolumeCooldown(s.Migrations[pv.VolumeID], pv.Moves, plan.AntiFlap, plan.DryRun, now)
			cp.Cooldown = &CooldownReport{Cooldown: c.Length.String(), Flips: c.Flips, Left: c.Left.Round(time.Second).String()}
			if !c.Last.IsZero() {
				cp.Cooldown.LastMove = ptr.To(c.Last.UTC())
			}
			w := plan.Window
			cp.Window = &WindowReport{Configured: w.Configured, Open: w.Open}
			if w.Configured && w.Open {
				cp.Window.Closes = ptr.To(w.Closes.UTC())
			}
			if w.Configured && !w.Open {
				cp.Window.NextOpens = ptr.To(w.NextOpens.UTC())
			}
			s := plan.Slots
			cp.Slots = &SlotsReport{Free: s.Free, PolicyInFlight: s.PolicyInFlight, PolicyMax: s.PolicyMax, OperatorInFlight: s.OperatorInFlight, OperatorMax: s.OperatorMax}
		}
		r.Policies = append(r.Policies, cp)
	}
	return r, nil
}

// printClaimPlan writes the report for a person.
func printClaimPlan(w io.Writer, r ClaimPlanReport) {
	fmt.Fprintf(w, "PersistentVolumeClaim %s: PersistentVolume %s, volume %s, StorageClass %s\n", cmp.Or(r.PVC, "-"), r.PersistentVolume, r.VolumeID, r.StorageClass)
	switch {
	case r.BadPin != "":
		fmt.Fprintf(w, "  pin: %q names no tier (use NVMe or SATA)\n", r.BadPin)
	case r.Pin != "":
		fmt.Fprintf(w, "  pinned to %s\n", r.Pin)
	}
	if len(r.Policies) == 0 {
		fmt.Fprintf(w, "No StoragePolicy selects it: a policy takes the volumes of its storageClassName (%s here) that match its volumeSelector.\n", r.StorageClass)
		return
	}
	for _, p := range r.Policies {
		v := p.Volume
		mode := ""
		if p.DryRun {
			mode = " (dry run)"
		}
		ready := "Ready=Unknown"
		if p.Ready != nil {
			ready = fmt.Sprintf("Ready=%s (%s)", p.Ready.Status, p.Ready.Reason)
		}
		fmt.Fprintf(w, "\nStoragePolicy %s%s: %s\n", p.Policy, mode, ready)
		decision := v.Action
		if v.To != "" {
			decision += " to " + v.To
		}
		fmt.Fprintf(w, "  decision:  %s, on %s\n", decision, dash(v.Placement))
		fmt.Fprintf(w, "  reason:    %s: %s\n", dash(v.Reason), v.Message)
		iops := "unknown (" + v.IOPSUnknown + ")"
		if v.IOPS != nil {
			iops = fmt.Sprintf("%.1f", *v.IOPS)
		}
		fmt.Fprintf(w, "  IOPS:      %s over %s; low watermark %d, high watermark %d\n", iops, p.Samples, p.LowWatermarkIOPS, p.HighWatermarkIOPS)
		if p.Cooldown == nil {
			fmt.Fprintln(w, "  the policy is not active: no cooldown, window or slot applies until it is")
			continue
		}
		c := p.Cooldown
		switch {
		case c.LastMove == nil:
			fmt.Fprintf(w, "  cooldown:  never moved (cooldown %s)\n", c.Cooldown)
		case c.Left == "0s":
			fmt.Fprintf(w, "  cooldown:  over (last move %s, cooldown %s)\n", c.LastMove.Format(time.RFC3339), c.Cooldown)
		default:
			fmt.Fprintf(w, "  cooldown:  %s left (last move %s, cooldown %s", c.Left, c.LastMove.Format(time.RFC3339), c.Cooldown)
			if c.Flips > 0 {
				fmt.Fprintf(w, ", anti-flap: %d flip(s)", c.Flips)
			}
			fmt.Fprintln(w, ")")
		}
		switch win := p.Window; {
		case !win.Configured:
			fmt.Fprintln(w, "  window:    none configured (always open)")
		case win.Open:
			fmt.Fprintf(w, "  window:    open, closes %s\n", win.Closes.Format(time.RFC3339))
		default:
			fmt.Fprintf(w, "  window:    closed, next opens %s\n", win.NextOpens.Format(time.RFC3339))
		}
		s := p.Slots
		fmt.Fprintf(w, "  slots:     %d free (policy: %d of %d in flight; operator: %d of %d)\n", s.Free, s.PolicyInFlight, s.PolicyMax, s.OperatorInFlight, s.OperatorMax)
	}
}

// runClaim is `plan pvc/NAMESPACE/NAME`.
func (po *planOptions) runClaim(ctx context.Context, c client.Client, rc *rest.Config, ns, name string) error {
	pv, err := claimedMayastorVolume(ctx, c, ns, name)
	if err != nil {
		return err
	}
	snap, err := po.observe(ctx, c, rc)
	if err != nil {
		return err
	}
	report, err := claimPlan(snap, pv.Name, po.policy, tiering.Flags{DryRun: po.operatorDryRun, MaxConcurrentMigrations: po.maxConcurrent}, po.now())
	if err != nil {
		return err
	}
	if po.output != "table" {
		return printStructured(po.Out, po.output, report)
	}
	printClaimPlan(po.Out, report)
	return nil
}

package preflight

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagek8sv1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/observer"
	"github.com/billyronks/couchestor/internal/promwatch"
	"github.com/billyronks/couchestor/internal/tiering"
)

// checkPolicies checks every StoragePolicy: its spec compiles, its pool selectors find pools on
// both tiers (when poolsKnown), its StorageClass exists and selects Mayastor volumes, and
// Prometheus knows their IOPS over the sampling window (when promOK). A disabled policy's
// failures are warnings: it moves nothing until it is enabled.
func (c *Checker) checkPolicies(ctx context.Context, pools []mayastor.Pool, poolsKnown, promOK bool, add func(...Result)) {
	var list storagev1.StoragePolicyList
	if err := c.Kube.List(ctx, &list); err != nil {
		add(Result{Status: Fail, Check: "policies", What: "list StoragePolicies: " + oneLine(err.Error()),
			Fix: "install the CRDs (the chart does) and allow the check to list storagepolicies.storage.billyronks.io"})
		return
	}
	if len(list.Items) == 0 {
		add(Result{Status: Warn, Check: "policies", What: "no StoragePolicy: nothing is tiered",
			Fix: "write one for your Mayastor StorageClass and pool labels: docs/guide/first-policy.md (config/samples/storage_v1_storagepolicy.yaml, as a dry run first)"})
		return
	}
	var pvList corev1.PersistentVolumeList
	pvsErr := c.Kube.List(ctx, &pvList)
	var pvs []*tiering.PVObservation
	for i := range pvList.Items {
		if pv := observer.PVObservation(&pvList.Items[i], nil); pv != nil {
			pvs = append(pvs, pv)
		}
	}
	observed := make([]tiering.PoolObservation, len(pools))
	for i := range pools {
		observed[i] = observer.ObservePool(&pools[i])
	}
	iops := map[tiering.IOPSKey]evaluation{}

	slices.SortFunc(list.Items, func(a, b storagev1.StoragePolicy) int { return strings.Compare(a.Name, b.Name) })
	for i := range list.Items {
		p := &list.Items[i]
		pc := policyCheck{Checker: c, policy: p, add: add}
		compiled, err := tiering.CompilePolicy(&p.Spec)
		if err != nil {
			pc.result(Fail, "spec", fmt.Sprintf("StoragePolicy %s cannot be decided: %s", p.Name, err), "kubectl edit storagepolicy "+p.Name)
			continue
		}
		if poolsKnown {
			pc.checkPools(&compiled, observed)
		}
		if pvsErr != nil {
			pc.result(Fail, "volumes", "list PersistentVolumes: "+oneLine(pvsErr.Error()), "allow the check to list persistentvolumes")
			continue
		}
		selected, ok := pc.checkVolumes(ctx, &compiled, pvs)
		if !ok || len(selected) == 0 || !promOK || !p.IsEnabled() {
			continue
		}
		ev, done := iops[compiled.IOPS]
		if !done {
			ev.res, ev.err = c.Prometheus.Evaluate(ctx, promwatch.Request{Window: compiled.Window, IOPSQuery: compiled.IOPS.Query, At: c.now()})
			iops[compiled.IOPS] = ev
		}
		pc.checkIOPS(ev, p.Spec.SamplingWindow, selected)
	}
}

type evaluation struct {
	res *promwatch.Result
	err error
}

// policyCheck adds one policy's results.
type policyCheck struct {
	*Checker
	policy *storagev1.StoragePolicy
	add    func(...Result)
}

func (pc *policyCheck) result(s Status, check, what, fix string) {
	if s == Fail && !pc.policy.IsEnabled() {
		s, what = Warn, what+" (the policy is disabled)"
	}
	pc.add(Result{Status: s, Check: "policy/" + pc.policy.Name + "/" + check, What: what, Fix: fix})
}

func (pc *policyCheck) checkPools(compiled *tiering.CompiledPolicy, pools []tiering.PoolObservation) {
	p := pc.policy
	cl := tiering.Classify(pools, compiled.NVMe, compiled.SATA)
	if reason, msg := cl.StorageProblem(); reason != "" {
		var fix string
		switch reason {
		case storagev1.ReasonAmbiguousPools:
			fix = "make nvmePoolSelector and sataPoolSelector exclusive (kubectl edit storagepolicy " + p.Name + ")"
		default:
			fix = fmt.Sprintf("label the pools of each tier in their DiskPool's spec.topology.labelled to match the selectors (nvmePoolSelector %s, sataPoolSelector %s), or change the selectors; the labels Mayastor has: kubectl mayastor get pools -o yaml, or GET /v0/pools",
				selectorString(compiled.NVMe.String()), selectorString(compiled.SATA.String()))
		}
		pc.result(Fail, "pools", fmt.Sprintf("StoragePolicy %s: %s (%s)", p.Name, msg, reason), fix)
		return
	}
	var nvme, sata, nvmeOnline, sataOnline []string
	for _, pool := range pools {
		switch cl.Tiers[pool.ID] {
		case storagev1.TierNVMe:
			nvme = append(nvme, pool.ID)
			if pool.Online {
				nvmeOnline = append(nvmeOnline, pool.ID)
			}
		case storagev1.TierSATA:
			sata = append(sata, pool.ID)
			if pool.Online {
				sataOnline = append(sataOnline, pool.ID)
			}
		}
	}
	what := fmt.Sprintf("StoragePolicy %s: %s on NVMe (%s), %s on SATA (%s)", p.Name,
		plural(len(nvme), "pool", "pools"), list(nvme, 3), plural(len(sata), "pool", "pools"), list(sata, 3))
	switch {
	case len(nvmeOnline) == 0:
		pc.result(Warn, "pools", what+"; none of the NVMe pools is Online, so no volume can move to NVMe", "kubectl mayastor get pools: repair or replace the NVMe pools")
	case len(sataOnline) == 0:
		pc.result(Warn, "pools", what+"; none of the SATA pools is Online, so no volume can move to SATA", "kubectl mayastor get pools: repair or replace the SATA pools")
	default:
		pc.result(OK, "pools", what, "")
	}
}

func selectorString(s string) string { return "{" + s + "}" }

// checkVolumes checks the policy's StorageClass and which Mayastor PVs the policy selects; false
// when the StorageClass cannot carry Mayastor volumes.
func (pc *policyCheck) checkVolumes(ctx context.Context, compiled *tiering.CompiledPolicy, pvs []*tiering.PVObservation) ([]*tiering.PVObservation, bool) {
	p := pc.policy
	scName := p.Spec.StorageClassName
	var sc storagek8sv1.StorageClass
	if err := pc.Kube.Get(ctx, types.NamespacedName{Name: scName}, &sc); err != nil {
		if apierrors.IsNotFound(err) {
			pc.result(Fail, "volumes", fmt.Sprintf("StoragePolicy %s: StorageClass %q (spec.storageClassName) does not exist", p.Name, scName),
				"kubectl get storageclass shows the Mayastor ones (provisioner "+storagev1.MayastorCSIDriver+"); set spec.storageClassName to the one your volumes use")
		} else {
			pc.result(Fail, "volumes", fmt.Sprintf("StoragePolicy %s: read StorageClass %q: %s", p.Name, scName, oneLine(err.Error())), "allow the check to get storageclasses")
		}
		return nil, false
	}
	if sc.Provisioner != storagev1.MayastorCSIDriver {
		pc.result(Fail, "volumes", fmt.Sprintf("StoragePolicy %s: StorageClass %q provisions with %s, not Mayastor (%s): it has no volume to tier", p.Name, scName, sc.Provisioner, storagev1.MayastorCSIDriver),
			"set spec.storageClassName to a StorageClass of provisioner "+storagev1.MayastorCSIDriver)
		return nil, false
	}
	var ofClass, selected []*tiering.PVObservation
	for _, pv := range pvs {
		if pv.StorageClass == scName {
			ofClass = append(ofClass, pv)
			if compiled.Selects(&p.Spec, pv) {
				selected = append(selected, pv)
			}
		}
	}
	switch {
	case len(selected) > 0:
		pc.result(OK, "volumes", fmt.Sprintf("StoragePolicy %s selects %s of StorageClass %s", p.Name, plural(len(selected), "volume", "volumes"), scName), "")
	case len(ofClass) > 0:
		pc.result(Warn, "volumes", fmt.Sprintf("StoragePolicy %s selects no volume: none of the %s of StorageClass %s matches spec.volumeSelector {%s}", p.Name,
			plural(len(ofClass), "Mayastor PersistentVolume", "Mayastor PersistentVolumes"), scName, compiled.Volumes), "label the PersistentVolumes to tier, or change spec.volumeSelector")
	default:
		pc.result(Warn, "volumes", fmt.Sprintf("StoragePolicy %s selects no volume: StorageClass %s has no Mayastor PersistentVolume yet", p.Name, scName),
			"none until a PVC of StorageClass "+scName+" is bound; if your volumes use another StorageClass, set spec.storageClassName to it")
	}
	return selected, true
}

// checkIOPS checks that Prometheus's answer covers the sampling window for the selected volumes:
// all of them known is ok, some Unknown is a warning, none known a failure.
func (pc *policyCheck) checkIOPS(ev evaluation, window string, selected []*tiering.PVObservation) {
	p := pc.policy
	if ev.err != nil {
		fix := pc.PrometheusFix
		var e *promwatch.Error
		if errors.As(ev.err, &e) && e.PolicyFault() {
			fix = "fix spec.iopsQuery (kubectl edit storagepolicy " + p.Name + "): it must give one sample per pv_name"
		} else if errors.As(ev.err, &e) && (e.Kind == promwatch.ErrBadQuery || e.Kind == promwatch.ErrInvalidResult || e.Kind == promwatch.ErrInvalidQuery) {
			fix = "fix the operator's --iops-query or --iops-presence-query (the chart's config.iopsQuery, config.iopsPresenceQuery)"
		}
		pc.result(Fail, "iops", fmt.Sprintf("StoragePolicy %s: IOPS over %s: %s", p.Name, window, oneLine(ev.err.Error())), fix)
		return
	}
	unknown := map[promwatch.UnknownReason][]string{}
	known := 0
	var example string
	for _, pv := range selected {
		v := ev.res.ForVolume(pv.VolumeID)
		if v.Known {
			known++
			continue
		}
		unknown[v.Reason] = append(unknown[v.Reason], cmp.Or(pv.Claim, pv.Name))
		if example == "" {
			example = fmt.Sprintf("%s: %s", cmp.Or(pv.Claim, pv.Name), cmp.Or(v.Message, string(v.Reason)))
		}
	}
	if known == len(selected) {
		pc.result(OK, "iops", fmt.Sprintf("StoragePolicy %s: Prometheus's IOPS cover the %s sampling window for all %s", p.Name, window, plural(known, "volume", "volumes")), "")
		return
	}
	var parts []string
	for _, r := range slices.Sorted(maps.Keys(unknown)) {
		parts = append(parts, fmt.Sprintf("%s %d", r, len(unknown[r])))
	}
	what := fmt.Sprintf("StoragePolicy %s: %d of %d volumes have no IOPS over the %s sampling window (%s; e.g. %s), they stay where they are",
		p.Name, len(selected)-known, len(selected), window, strings.Join(parts, ", "), example)
	fix := unknownFix(unknown)
	if known == 0 {
		pc.result(Fail, "iops", what, fix)
		return
	}
	pc.result(Warn, "iops", what, fix)
}

// unknownFix says what to do about the most common reason volumes are Unknown.
func unknownFix(unknown map[promwatch.UnknownReason][]string) string {
	var top promwatch.UnknownReason
	for r, vols := range unknown {
		if top == "" || len(vols) > len(unknown[top]) || len(vols) == len(unknown[top]) && r < top {
			top = r
		}
	}
	switch top {
	case promwatch.PartialHistory:
		return "wait: a volume needs 95% of the sampling window in Prometheus (new volumes, scrape gaps); or shorten spec.samplingWindow"
	case promwatch.NoSeries:
		return "Prometheus has no sample of them in the window: a volume is measured while it is published (attached to a pod) and its io-engine's metrics port is scraped (docs/guide/prerequisites.md); a new volume needs one samplingWindow"
	case promwatch.NoRate, promwatch.InvalidValue:
		return "check the IOPS query (--iops-query or spec.iopsQuery) against the volumes' series in Prometheus"
	}
	return "see docs/guide/troubleshooting.md"
}

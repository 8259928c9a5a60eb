package integration

import (
	"context"
	"fmt"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

// decisionEvents lists the DecisionChanged Events regarding the PVC default/name, oldest first.
func decisionEvents(t *testing.T, name string) []eventsv1.Event {
	t.Helper()
	var list eventsv1.EventList
	if err := k8sClient.List(context.Background(), &list, client.InNamespace("default")); err != nil {
		t.Fatal(err)
	}
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Kind == "PersistentVolumeClaim" && e.Regarding.Name == name && e.Reason == storagev1.ReasonDecisionChanged {
			out = append(out, e)
		}
	}
	return out
}

func notes(evs []eventsv1.Event) string {
	var b strings.Builder
	for _, e := range evs {
		series := ""
		if e.Series != nil {
			series = fmt.Sprintf(" (×%d)", e.Series.Count)
		}
		b.WriteString("\n  " + e.Note + series)
	}
	return b.String()
}

// A volume's decision changing is said in an Event on its PVC, read back from the API server:
// when its IOPS become known (Stay UnknownIOPS → its first decision on IOPS), and when a person
// excludes it; an unchanged decision, re-decided every observation (one a second here), is
// never said again.
func TestDecisionChangesAreEventsOnThePVC(t *testing.T) {
	const sc = "e2e-decision-events"
	st := startWorld(t, sc)
	c := ctx(t)
	const claim = "decision-data"
	pvName := "pvc-" + vol("04") // cold, on SATA: it stays
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: claim},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, StorageClassName: ptrTo(sc), VolumeName: pvName,
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	if err := k8sClient.Create(c, pvc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), pvc) })
	var pv corev1.PersistentVolume
	if err := k8sClient.Get(c, types.NamespacedName{Name: pvName}, &pv); err != nil {
		t.Fatal(err)
	}
	pv.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: "default", Name: claim, UID: pvc.UID}
	if err := k8sClient.Update(c, &pv); err != nil {
		t.Fatal(err)
	}

	runOperator(t, st, "--observe-interval=1s", "--decision-event-interval=2s", "--per-volume-metrics")
	policy := policyFor("e2e-decision-events", sc, true, "15s")
	if err := k8sClient.Create(c, policy); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), policy) })

	eventually(t, 90*time.Second, 500*time.Millisecond, "an Event saying the volume's IOPS are known", func() (bool, string) {
		evs := decisionEvents(t, claim)
		return len(evs) == 1 && strings.HasPrefix(evs[0].Note, "StoragePolicy e2e-decision-events: Stay (UnknownIOPS) → Stay (AlreadyOnTargetTier): already on SATA (mean IOPS"), notes(evs)
	})
	// --per-volume-metrics: the volume's decision is a series labelled with its PVC.
	eventually(t, 30*time.Second, 500*time.Millisecond, "storage_operator_volume_decision for the PVC", func() (bool, string) {
		mfs, err := crmetrics.Registry.Gather()
		if err != nil {
			return false, err.Error()
		}
		for _, mf := range mfs {
			if mf.GetName() != "storage_operator_volume_decision" {
				continue
			}
			for _, m := range mf.GetMetric() {
				l := map[string]string{}
				for _, lp := range m.GetLabel() {
					l[lp.GetName()] = lp.GetValue()
				}
				if l["claim"] == "default/"+claim && l["reason"] == storagev1.ReasonAlreadyOnTargetTier && l["policy"] == "e2e-decision-events" {
					return true, ""
				}
			}
		}
		return false, "no series for the PVC"
	})
	// Several observations later, the same decision has said nothing more.
	time.Sleep(5 * time.Second) // a fixed wait: checks that no further Event comes meanwhile
	if evs := decisionEvents(t, claim); len(evs) != 1 || evs[0].Series != nil {
		t.Fatalf("an unchanged decision was said again:%s", notes(evs))
	}

	if err := k8sClient.Get(c, types.NamespacedName{Namespace: "default", Name: claim}, pvc); err != nil {
		t.Fatal(err)
	}
	pvc.Annotations = map[string]string{storagev1.AnnotationTiering: "disabled"}
	if err := k8sClient.Update(c, pvc); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, 500*time.Millisecond, "an Event saying the volume is excluded", func() (bool, string) {
		evs := decisionEvents(t, claim)
		return len(evs) == 2 && evs[1].Note == "StoragePolicy e2e-decision-events: Stay (AlreadyOnTargetTier) → Stay (Excluded): excluded from tiering by the "+
			storagev1.AnnotationTiering+" annotation" && evs[1].Type == corev1.EventTypeNormal && evs[1].ReportingController != "", notes(evs)
	})
	time.Sleep(5 * time.Second) // a fixed wait: checks that no further Event comes meanwhile
	if evs := decisionEvents(t, claim); len(evs) != 2 || evs[1].Series != nil {
		t.Fatalf("an unchanged decision was said again:%s", notes(evs))
	}
}

func ptrTo[T any](v T) *T { return &v }

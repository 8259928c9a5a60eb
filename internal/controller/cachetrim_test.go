package controller

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/event"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/observer"
)

func fullPV() *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pvc-1", UID: "u1", ResourceVersion: "7",
			Labels: map[string]string{"app": "db"},
			Annotations: map[string]string{storagev1.AnnotationTier: "nvme", storagev1.AnnotationMoves: "x",
				"pv.kubernetes.io/provisioned-by": "io.openebs.csi-mayastor", corev1.LastAppliedConfigAnnotation: `{"big":"copy"}`},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager"}}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:    corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
				Driver: storagev1.MayastorCSIDriver, VolumeHandle: "1", FSType: "ext4",
				VolumeAttributes: map[string]string{"protocol": "nvmf", "repl": "3", "storage.kubernetes.io/csiProvisionerIdentity": "1-2-3"}}},
			ClaimRef:         &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: "ns", Name: "data", UID: "c1", ResourceVersion: "5", APIVersion: "v1"},
			StorageClassName: "mayastor",
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "k", Operator: corev1.NodeSelectorOpIn, Values: []string{"a", "b"}}}}}}},
			MountOptions:                  []string{"noatime"},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
		},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeBound},
	}
}

// The trimmed PV is observed and watched exactly as the full one, and keeps nothing else.
func TestTrimPersistentVolumeKeepsWhatIsRead(t *testing.T) {
	claims := map[string]map[string]string{"ns/data": {storagev1.AnnotationTiering: "disabled"}}
	full := fullPV()
	want := observer.PVObservation(full, claims)
	out, err := TrimPersistentVolume(fullPV())
	if err != nil {
		t.Fatal(err)
	}
	pv := out.(*corev1.PersistentVolume)
	if got := observer.PVObservation(pv, claims); !reflect.DeepEqual(got, want) {
		t.Fatalf("observation of the trimmed PV:\n got %+v\nwant %+v", got, want)
	}
	// Both sides of a watch event come from the cache, trimmed alike.
	relabelled := fullPV()
	relabelled.Labels["app"] = "web"
	relabelled.Spec.CSI.VolumeAttributes["repl"] = "2"
	rt, _ := TrimPersistentVolume(relabelled)
	if pvChanged.Update(event.UpdateEvent{ObjectOld: pv, ObjectNew: pv.DeepCopy()}) || !pvChanged.Update(event.UpdateEvent{ObjectOld: pv, ObjectNew: rt.(*corev1.PersistentVolume)}) {
		t.Errorf("the PV watch does not see a change of labels, or sees one where there is none")
	}
	wantSpec := corev1.PersistentVolumeSpec{
		PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: storagev1.MayastorCSIDriver, VolumeHandle: "1"}},
		ClaimRef:               &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: "ns", Name: "data", UID: "c1"},
		StorageClassName:       "mayastor",
	}
	if !reflect.DeepEqual(pv.Spec, wantSpec) {
		t.Errorf("trimmed spec %+v, want %+v", pv.Spec, wantSpec)
	}
	if pv.Status != (corev1.PersistentVolumeStatus{}) || pv.ManagedFields != nil {
		t.Errorf("status %+v or managed fields %v kept", pv.Status, pv.ManagedFields)
	}
	if _, ok := pv.Annotations[corev1.LastAppliedConfigAnnotation]; ok || len(pv.Annotations) != 3 || pv.Name != "pvc-1" || pv.UID != "u1" || pv.ResourceVersion != "7" {
		t.Errorf("metadata %+v", pv.ObjectMeta)
	}
	if pv.Size() >= full.Size() {
		t.Errorf("trimmed PV is %d bytes, the full one %d", pv.Size(), full.Size())
	}
	// Idempotent (an informer may transform an object twice), and other objects pass unchanged.
	again, _ := TrimPersistentVolume(pv.DeepCopy())
	if !reflect.DeepEqual(again, pv) {
		t.Errorf("trimming twice changed the PV")
	}
	other := &corev1.Node{}
	if o, _ := TrimPersistentVolume(other); o != other {
		t.Errorf("a Node was changed")
	}
}

func TestTrimPersistentVolumeClaimKeepsWhatIsRead(t *testing.T) {
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "data", UID: "c1",
			Annotations:   map[string]string{storagev1.AnnotationTier: "sata", corev1.LastAppliedConfigAnnotation: "{}"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}},
		Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To("mayastor"), VolumeName: "pvc-1",
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}}},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}},
	}
	out, err := TrimPersistentVolumeClaim(pvc)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*corev1.PersistentVolumeClaim)
	want := corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To("mayastor"), VolumeName: "pvc-1"}
	if !reflect.DeepEqual(got.Spec, want) || !reflect.DeepEqual(got.Status, corev1.PersistentVolumeClaimStatus{}) || got.ManagedFields != nil {
		t.Errorf("trimmed PVC %+v", got)
	}
	if !reflect.DeepEqual(got.Annotations, map[string]string{storagev1.AnnotationTier: "sata"}) || !observer.TieringAnnotated(got.Annotations) {
		t.Errorf("annotations %v", got.Annotations)
	}
}

// The manager's cache trims PVs and PVCs and strips every other object's managed fields.
func TestCacheOptionsTrimPVsAndPVCs(t *testing.T) {
	opts := CacheOptions()
	if opts.DefaultTransform == nil {
		t.Fatal("no default transform")
	}
	n, _ := opts.DefaultTransform(&corev1.Node{ObjectMeta: metav1.ObjectMeta{ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "m"}}}})
	if n.(*corev1.Node).ManagedFields != nil {
		t.Errorf("default transform keeps managed fields")
	}
	found := map[string]bool{}
	for obj, by := range opts.ByObject {
		if by.Transform == nil {
			continue
		}
		switch obj.(type) {
		case *corev1.PersistentVolume:
			out, _ := by.Transform(fullPV())
			found["pv"] = out.(*corev1.PersistentVolume).Spec.CSI.VolumeAttributes == nil
		case *corev1.PersistentVolumeClaim:
			out, _ := by.Transform(&corev1.PersistentVolumeClaim{Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}})
			found["pvc"] = out.(*corev1.PersistentVolumeClaim).Status.Phase == ""
		}
	}
	if !found["pv"] || !found["pvc"] {
		t.Errorf("trimming transforms: %v", found)
	}
}

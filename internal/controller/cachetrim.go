package controller

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// lastApplied is kubectl's copy of the applied object: never read here, and as large as the
// object.
const lastApplied = corev1.LastAppliedConfigAnnotation

// CacheOptions trims what the informer cache keeps: the managed fields of every object and, of
// PersistentVolumes and PersistentVolumeClaims (10,000 of each in a large cluster), everything
// the operator does not read. The operator reads of a PV its metadata (name, labels, annotations
// other than kubectl's last-applied copy), spec.csi.driver and volumeHandle,
// spec.storageClassName and spec.claimRef; of a PVC its metadata and spec.storageClassName.
// Objects from the cache are only read or merge-patched (a patch carries only what changed), so
// no write sends a trimmed object back.
func CacheOptions() cache.Options {
	return cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.PersistentVolume{}:      {Transform: TrimPersistentVolume},
			&corev1.PersistentVolumeClaim{}: {Transform: TrimPersistentVolumeClaim},
		},
	}
}

var _ toolscache.TransformFunc = TrimPersistentVolume

// TrimPersistentVolume keeps what the operator reads of a PV (see CacheOptions); anything else
// passes unchanged.
func TrimPersistentVolume(in any) (any, error) {
	pv, ok := in.(*corev1.PersistentVolume)
	if !ok {
		return in, nil
	}
	trimMeta(pv)
	spec := corev1.PersistentVolumeSpec{StorageClassName: pv.Spec.StorageClassName, ClaimRef: pv.Spec.ClaimRef}
	if csi := pv.Spec.CSI; csi != nil {
		spec.CSI = &corev1.CSIPersistentVolumeSource{Driver: csi.Driver, VolumeHandle: csi.VolumeHandle}
	}
	if ref := spec.ClaimRef; ref != nil {
		spec.ClaimRef = &corev1.ObjectReference{Kind: ref.Kind, APIVersion: ref.APIVersion, Namespace: ref.Namespace, Name: ref.Name, UID: ref.UID}
	}
	pv.Spec = spec
	pv.Status = corev1.PersistentVolumeStatus{}
	return pv, nil
}

// TrimPersistentVolumeClaim keeps what the operator reads of a PVC (see CacheOptions); anything
// else passes unchanged.
func TrimPersistentVolumeClaim(in any) (any, error) {
	pvc, ok := in.(*corev1.PersistentVolumeClaim)
	if !ok {
		return in, nil
	}
	trimMeta(pvc)
	pvc.Spec = corev1.PersistentVolumeClaimSpec{StorageClassName: pvc.Spec.StorageClassName, VolumeName: pvc.Spec.VolumeName}
	pvc.Status = corev1.PersistentVolumeClaimStatus{}
	return pvc, nil
}

func trimMeta(obj metav1.Object) {
	obj.SetManagedFields(nil)
	if a := obj.GetAnnotations(); a != nil {
		if _, ok := a[lastApplied]; ok {
			delete(a, lastApplied)
		}
	}
}

// Package controller holds CoucheStor's reconcilers. They are thin: they load state, call the
// tiering and migration packages, and write status, Events and metrics.
package controller

// The operator's whole ClusterRole. controller-gen turns these markers into config/rbac/role.yaml;
// nothing is granted that a reconciler does not use. Leader election's Leases are granted by a
// namespaced Role in config/rbac, not here.
//
// +kubebuilder:rbac:groups=storage.billyronks.io,resources=storagepolicies;tiermigrations,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=storage.billyronks.io,resources=storagepolicies/status;tiermigrations/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=storage.billyronks.io,resources=storagepolicies/finalizers;tiermigrations/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=persistentvolumes;persistentvolumeclaims,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=persistentvolumes,verbs=patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

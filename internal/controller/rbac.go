// Package controller holds CoucheStor's reconcilers. They are thin: they load state, call the
// tiering and migration packages, and write status, Events and metrics.
package controller

// The operator's whole ClusterRole. controller-gen turns these markers into config/rbac/role.yaml;
// test/rbac fails when a rule is granted that no code path of the operator uses, or a request of
// the code is not granted. Leader election's Leases (and its core/v1 Events) are granted by a
// namespaced Role in config/rbac, not here.
//
// StoragePolicies are read and their status written; the finalizers subresource is updated in
// effect by every TierMigration created with the policy as its controller (blockOwnerDeletion:
// the OwnerReferencesPermissionEnforcement admission plugin checks it).
// +kubebuilder:rbac:groups=storage.billyronks.io,resources=storagepolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=storage.billyronks.io,resources=storagepolicies/status,verbs=update
// +kubebuilder:rbac:groups=storage.billyronks.io,resources=storagepolicies/finalizers,verbs=update
//
// TierMigrations are created (policy decisions), updated (the cleanup finalizer), deleted
// (retention) and their status written.
// +kubebuilder:rbac:groups=storage.billyronks.io,resources=tiermigrations,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups=storage.billyronks.io,resources=tiermigrations/status,verbs=update
//
// +kubebuilder:rbac:groups="",resources=persistentvolumes;persistentvolumeclaims,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=persistentvolumes,verbs=patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Package v1 contains the API types of the storage.billyronks.io/v1 group: StoragePolicy, which
// says when volumes move between the NVMe and SATA tiers, and TierMigration, one durable record of
// one volume's move to one tier.
//
// +kubebuilder:object:generate=true
// +groupName=storage.billyronks.io
package v1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "storage.billyronks.io", Version: "v1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

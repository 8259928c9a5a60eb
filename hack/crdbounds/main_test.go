package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"
)

// The committed StoragePolicy CRD is bounded already (make manifests ran this), so bounding it
// again changes nothing; and each of its three selectors carries every bound.
func TestStoragePolicyCRDIsBoundedAndBoundIsIdempotent(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "storage.billyronks.io_storagepolicies.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out, n, err := Bound(raw)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("want the 3 selectors of StoragePolicy (nvme, sata, volume), found %d", n)
	}
	if !bytes.Equal(out, raw) {
		t.Fatal("the committed CRD is not bounded: run make manifests")
	}
	var crd struct {
		Spec struct {
			Versions []struct {
				Schema struct {
					OpenAPIV3Schema struct {
						Properties map[string]struct {
							Properties map[string]map[string]any `json:"properties"`
						} `json:"properties"`
					} `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	spec := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties
	for _, f := range []string{"nvmePoolSelector", "sataPoolSelector", "volumeSelector"} {
		sel := spec[f]["properties"].(map[string]any)
		ml := sel["matchLabels"].(map[string]any)
		me := sel["matchExpressions"].(map[string]any)
		item := me["items"].(map[string]any)["properties"].(map[string]any)
		vals := item["values"].(map[string]any)
		checks := map[string]any{
			"matchLabels.maxProperties":             ml["maxProperties"],
			"matchLabels.additionalProperties":      ml["additionalProperties"].(map[string]any)["maxLength"],
			"matchExpressions.maxItems":             me["maxItems"],
			"matchExpressions[].key.maxLength":      item["key"].(map[string]any)["maxLength"],
			"matchExpressions[].values.maxItems":    vals["maxItems"],
			"matchExpressions[].values[].maxLength": vals["items"].(map[string]any)["maxLength"],
		}
		want := map[string]float64{
			"matchLabels.maxProperties": MaxMatchLabels, "matchLabels.additionalProperties": MaxLabelValueLength,
			"matchExpressions.maxItems": MaxMatchExpressions, "matchExpressions[].key.maxLength": MaxLabelKeyLength,
			"matchExpressions[].values.maxItems": MaxValues, "matchExpressions[].values[].maxLength": MaxLabelValueLength,
		}
		for k, got := range checks {
			if got != want[k] {
				t.Errorf("%s: %s = %v, want %v", f, k, got, want[k])
			}
		}
	}
}

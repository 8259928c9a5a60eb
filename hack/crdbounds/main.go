// Command crdbounds adds to a generated CRD the size bounds that controller-gen cannot express:
// every label selector in the schema (an object with matchLabels and matchExpressions, that is a
// metav1.LabelSelector) gets maxProperties, maxItems and maxLength on its parts. The selector is
// an external type, so no kubebuilder marker reaches its fields, yet the CEL rules that validate
// selectors (operators, values, label-key syntax) are refused by the API server unless the sizes
// they iterate over are bounded: its cost estimate would otherwise assume a 3 MiB string.
//
// `make manifests` runs it on the StoragePolicy CRD after controller-gen. It rewrites the file in
// place and is idempotent; the output keeps controller-gen's layout (sorted keys, leading ---).
//
//	go run ./hack/crdbounds config/crd/bases/storage.billyronks.io_storagepolicies.yaml
package main

import (
	"bytes"
	"fmt"
	"os"

	"sigs.k8s.io/yaml"
)

// The bounds. A label key is an optional DNS subdomain prefix (253) and '/' before a name (63);
// a label value is at most 63 characters. Counts are far above what a pool or volume selector
// needs, and small enough for the CEL rules' cost budget.
const (
	MaxMatchLabels      = 64
	MaxMatchExpressions = 32
	MaxValues           = 64
	MaxLabelKeyLength   = 253 + 1 + 63
	MaxLabelValueLength = 63
	MaxOperatorLength   = 16
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: crdbounds CRD.yaml")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "crdbounds:", err)
		os.Exit(1)
	}
}

func run(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, n, err := Bound(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: no label selector found in the schema", path)
	}
	if bytes.Equal(out, raw) {
		return nil
	}
	return os.WriteFile(path, out, 0o644)
}

// Bound returns the CRD with every label selector bounded, and how many selectors it found.
func Bound(raw []byte) ([]byte, int, error) {
	var crd map[string]any
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		return nil, 0, err
	}
	n := 0
	walk(crd, &n)
	out, err := yaml.Marshal(crd)
	if err != nil {
		return nil, 0, err
	}
	if bytes.HasPrefix(raw, []byte("---\n")) {
		out = append([]byte("---\n"), out...)
	}
	return out, n, nil
}

// walk finds label-selector schemas anywhere under v.
func walk(v any, n *int) {
	switch t := v.(type) {
	case map[string]any:
		if props, ok := t["properties"].(map[string]any); ok && isSelector(props) {
			boundSelector(props)
			*n++
		}
		for _, c := range t {
			walk(c, n)
		}
	case []any:
		for _, c := range t {
			walk(c, n)
		}
	}
}

func isSelector(props map[string]any) bool {
	ml, ok1 := props["matchLabels"].(map[string]any)
	me, ok2 := props["matchExpressions"].(map[string]any)
	return ok1 && ok2 && ml["type"] == "object" && me["type"] == "array" && len(props) == 2
}

func boundSelector(props map[string]any) {
	ml := props["matchLabels"].(map[string]any)
	ml["maxProperties"] = MaxMatchLabels
	if ap, ok := ml["additionalProperties"].(map[string]any); ok {
		ap["maxLength"] = MaxLabelValueLength
	}
	me := props["matchExpressions"].(map[string]any)
	me["maxItems"] = MaxMatchExpressions
	items, _ := me["items"].(map[string]any)
	req, _ := items["properties"].(map[string]any)
	if key, ok := req["key"].(map[string]any); ok {
		key["maxLength"] = MaxLabelKeyLength
	}
	if op, ok := req["operator"].(map[string]any); ok {
		op["maxLength"] = MaxOperatorLength
	}
	if vals, ok := req["values"].(map[string]any); ok {
		vals["maxItems"] = MaxValues
		if it, ok := vals["items"].(map[string]any); ok {
			it["maxLength"] = MaxLabelValueLength
		}
	}
}

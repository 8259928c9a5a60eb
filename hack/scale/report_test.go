//go:build linux

package main

import (
	"strings"
	"testing"
)

// Each size's growth is against the previous size of the same binary, also when "after" and
// "before" alternate (--before-binary with several --volumes).
func TestPrintCurveGrowthIsPerBinary(t *testing.T) {
	point := func(volumes int, label string, cpu float64) curvePoint {
		return curvePoint{volumes: volumes, r: &report{sc: scenario{label: label}, cpuPerCycle: cpu, cycleSecs: []float64{cpu * 3}}}
	}
	var out strings.Builder
	printCurve(&out, []curvePoint{
		point(1000, "after", 0.040), point(1000, "before", 0.050),
		point(10000, "after", 0.120), point(10000, "before", 0.400),
	})
	lines := strings.Split(out.String(), "\n")
	find := func(prefix, label string) string {
		for _, l := range lines {
			if f := strings.Fields(l); len(f) > 2 && f[0] == prefix && strings.Contains(l, " "+label+" ") {
				return l
			}
		}
		t.Fatalf("no %s line for %s:\n%s", label, prefix, out.String())
		return ""
	}
	for label, want := range map[string]string{"after": "120 ms (×3.0)", "before": "400 ms (×8.0)"} {
		if l := find("10000", label); !strings.Contains(l, want) || !strings.Contains(l, "10000 (×10)") {
			t.Errorf("%s at 10,000: want CPU %q and size ×10, got %q", label, want, l)
		}
	}
	if l := find("1000", "after"); strings.Contains(l, "×") {
		t.Errorf("the first size has no growth, got %q", l)
	}
}

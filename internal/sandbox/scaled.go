package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/billyronks/couchestor/internal/sim"
)

var (
	countLine    = regexp.MustCompile(`(?m)^(\s*- count: )(\d+)\s*$`)
	capacityLine = regexp.MustCompile(`capacity: (\d+)TiB`)
	nameLine     = regexp.MustCompile(`(?m)^name: .*$`)
)

// ScaledScenario writes the embedded scenario scale-10k with every generated group's count
// multiplied by volumes/10,000 (rounded, at least 1) and, above 10,000 volumes, every pool's
// capacity by the same factor, so the mix of tiers, layouts, workloads and unpublished
// volumes is the same at every size. It returns the file's path and the number of volumes.
func ScaledScenario(dir string, volumes int) (string, int, error) {
	src, err := sim.ScenarioSource("scale-10k")
	if err != nil {
		return "", 0, err
	}
	base := 0
	for _, m := range countLine.FindAllSubmatch(src, -1) {
		n, _ := strconv.Atoi(string(m[2]))
		base += n
	}
	if base == 0 {
		return "", 0, fmt.Errorf("scenario scale-10k generates no volumes")
	}
	factor := float64(volumes) / float64(base)
	total := 0
	out := countLine.ReplaceAllFunc(src, func(line []byte) []byte {
		m := countLine.FindSubmatch(line)
		n, _ := strconv.Atoi(string(m[2]))
		k := max(int(float64(n)*factor+0.5), 1)
		total += k
		return []byte(fmt.Sprintf("%s%d", m[1], k))
	})
	if factor > 1 {
		out = capacityLine.ReplaceAllFunc(out, func(b []byte) []byte {
			n, _ := strconv.Atoi(string(capacityLine.FindSubmatch(b)[1]))
			return []byte(fmt.Sprintf("capacity: %dTiB", int(float64(n)*factor+0.5)))
		})
	}
	out = nameLine.ReplaceAll(out, []byte(fmt.Sprintf("name: scale-%d", volumes)))
	path := filepath.Join(dir, fmt.Sprintf("scenario-%d.yaml", volumes))
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return "", 0, err
	}
	if _, err := sim.LoadScenario(path); err != nil {
		return "", 0, fmt.Errorf("the scaled scenario does not load: %w", err)
	}
	return path, total, nil
}

//go:build linux

package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"strconv"
	"time"
)

// The generated history. Volume i (in uuid order) gets one of these profiles by i mod 100, so
// every profile is spread over the whole id range; its IOPS at each sample carry ±10% noise
// from a hash of (i, sample), so the read and the write series, written one after the other,
// agree without holding anything in memory. Against the harness's policy (500 / 5000 IOPS):
const (
	profileHot      = iota // 0–29: 6,000–20,000 IOPS, above high: wants NVMe
	profileCold            // 30–64: 0–300 IOPS, below low: wants SATA
	profileBand            // 65–79: 800–4,000 IOPS, between the watermarks: stays
	profileDaily           // 80–94: a daily wave from about 300 to 5,700 IOPS: crosses both watermarks every day
	profileSwitches        // 95–98: hot for the first half of the range, cold after
	profileGappy           // 99: hot, with no samples for 6h on the 3rd day and 90 min on the 10th: Unknown
)

func profileOf(i int) int {
	switch r := i % 100; {
	case r < 30:
		return profileHot
	case r < 65:
		return profileCold
	case r < 80:
		return profileBand
	case r < 95:
		return profileDaily
	case r < 99:
		return profileSwitches
	}
	return profileGappy
}

// splitmix64 is a stateless hash: the noise of (volume, sample).
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// unit is a number in [0, 1) from a hash.
func unit(h uint64) float64 { return float64(h>>11) / (1 << 53) }

// iops is volume i's total IOPS over the scrape interval ending at sample k (at time at), and
// whether that sample exists.
func iops(i, k int, at, begin time.Time, days int) (float64, bool) {
	base := unit(splitmix64(uint64(i) * 0x1000003)) // the volume's own level in its profile's range
	noise := 0.9 + 0.2*unit(splitmix64(uint64(i)<<32|uint64(k)))
	day := at.Sub(begin).Hours() / 24
	var v float64
	switch profileOf(i) {
	case profileHot:
		v = 6000 + 14000*base
	case profileCold:
		v = 300 * base
	case profileBand:
		v = 800 + 3200*base
	case profileDaily:
		phase := 2 * math.Pi * base
		v = 3000 + 2700*math.Sin(2*math.Pi*day+phase)
	case profileSwitches:
		if day < float64(days)/2 {
			v = 6000 + 6000*base
		} else {
			v = 50 + 200*base
		}
	case profileGappy:
		if (day >= 2.25 && day < 2.5) || (day >= 9.5 && day < 9.5625) {
			return 0, false
		}
		v = 6000 + 6000*base
	}
	return v * noise, true
}

// writeHistory streams the OpenMetrics text of every volume's two counters (70% reads, 30%
// writes of iops) from begin to end, one sample per interval, to path. It returns the samples
// and bytes written.
func writeHistory(path string, ids []string, begin, end time.Time, interval time.Duration) (samples, bytes int64, err error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 4<<20)
	days := int(end.Sub(begin).Hours()/24 + 0.5)
	line := make([]byte, 0, 256)
	for _, m := range []struct {
		name  string
		share float64
	}{{"volume_num_read_ops", 0.7}, {"volume_num_write_ops", 0.3}} {
		// Typed gauge, as the existing live tests do: an OpenMetrics counter's samples would be
		// named <name>_total, which the default IOPS query does not select.
		fmt.Fprintf(w, "# HELP %s Operations.\n# TYPE %s gauge\n", m.name, m.name)
		for i, id := range ids {
			prefix := fmt.Sprintf("%s{node=\"io-engine-%d\",pv_name=\"pvc-%s\"} ", m.name, i%10+1, id)
			var ops float64
			k := 0
			for at := begin; !at.After(end); at = at.Add(interval) {
				v, ok := iops(i, k, at, begin, days)
				k++
				if !ok {
					continue
				}
				ops += v * m.share * interval.Seconds()
				line = append(line[:0], prefix...)
				line = strconv.AppendInt(line, int64(ops), 10)
				line = append(line, ' ')
				line = strconv.AppendInt(line, at.Unix(), 10)
				line = append(line, '\n')
				if _, err := w.Write(line); err != nil {
					return samples, bytes, err
				}
				samples++
				bytes += int64(len(line))
			}
		}
	}
	if _, err := w.WriteString("# EOF\n"); err != nil {
		return samples, bytes, err
	}
	if err := w.Flush(); err != nil {
		return samples, bytes, err
	}
	return samples, bytes, f.Close()
}

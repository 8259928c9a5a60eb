package sim

import (
	"bufio"
	"io"
	"math"
	"strconv"
)

// io-engine metrics exporter emulation. Upstream runs one exporter per
// io-engine node; the volume series come from the nexus, so only published
// volumes whose target node is up are exported, labelled with that node.
// pv_name is the Kubernetes PV name of a Mayastor volume, "pvc-<uuid>".
// Upstream exports the counters as gauges; so does this.

type volumeSample struct {
	node, pv                  string
	reads, writes             uint64
	bytesRead, bytesWritten   uint64
	readLatency, writeLatency uint64
}

var volumeFamilies = []struct {
	name, help string
	value      func(*volumeSample) uint64
}{
	{"volume_num_read_ops", "Number of read operations through vol target", func(v *volumeSample) uint64 { return v.reads }},
	{"volume_num_write_ops", "Number of write operations through vol target", func(v *volumeSample) uint64 { return v.writes }},
	{"volume_bytes_read", "Total bytes read through vol target", func(v *volumeSample) uint64 { return v.bytesRead }},
	{"volume_bytes_written", "Total bytes written through vol target", func(v *volumeSample) uint64 { return v.bytesWritten }},
	{"volume_read_latency_us", "Total read latency for all IOs through vol target in usec", func(v *volumeSample) uint64 { return v.readLatency }},
	{"volume_write_latency_us", "Total write latency for all IOs through vol target in usec", func(v *volumeSample) uint64 { return v.writeLatency }},
}

type poolSample struct {
	name, node             string
	total, used, committed uint64
	status                 int
}

var poolFamilies = []struct {
	name, help string
	value      func(*poolSample) uint64
}{
	{"diskpool_total_size_bytes", "Total size of the pool in bytes", func(p *poolSample) uint64 { return p.total }},
	{"diskpool_used_size_bytes", "Used size of the pool in bytes", func(p *poolSample) uint64 { return p.used }},
	{"diskpool_committed_size_bytes", "Committed size of the pool in bytes", func(p *poolSample) uint64 { return p.committed }},
	{"diskpool_status", "Status of the pool", func(p *poolSample) uint64 { return uint64(p.status) }},
}

// poolStatusCode is the exporter's encoding: 0 Unknown, 1 Online, 2 Degraded, 3 Faulted.
func poolStatusCode(p *simPool) int {
	switch p.status {
	case "Online":
		return 1
	case "Degraded":
		return 2
	case "Faulted":
		return 3
	}
	return 0
}

func floorU(f float64) uint64 {
	if f <= 0 || math.IsNaN(f) {
		return 0
	}
	return uint64(f)
}

// WriteMetrics writes the exporters' series in the Prometheus text format.
// node, when not empty, limits the output to that node's exporter.
func (s *Sim) WriteMetrics(w io.Writer, node string) error {
	s.mu.Lock()
	s.sync()
	now := s.secs(s.cur)
	vols := make([]volumeSample, 0, len(s.volOrder))
	for _, id := range s.volOrder {
		v := s.volumes[id]
		nx := v.servingNexus()
		if nx == nil || (node != "" && nx.node.id != node) {
			continue
		}
		r, wr := v.io.totals(now)
		smp := volumeSample{node: nx.node.id, pv: v.pvName(), reads: floorU(r), writes: floorU(wr)}
		if m := v.io.model; m != nil {
			smp.bytesRead = floorU(r * m.ioSize)
			smp.bytesWritten = floorU(wr * m.ioSize)
			smp.readLatency = floorU(r * m.readLatency)
			smp.writeLatency = floorU(wr * m.writeLatency)
		}
		vols = append(vols, smp)
	}
	pools := make([]poolSample, 0, len(s.poolOrder))
	for _, id := range s.poolOrder {
		p := s.pools[id]
		if !p.reported() || (node != "" && p.node.id != node) {
			continue
		}
		pools = append(pools, poolSample{name: p.id, node: p.node.id, total: uint64(p.capacity),
			used: uint64(p.used()), committed: uint64(p.committed), status: poolStatusCode(p)})
	}
	s.mu.Unlock()

	bw := bufio.NewWriterSize(w, 64<<10)
	buf := make([]byte, 0, 256)
	for _, f := range poolFamilies {
		bw.WriteString("# HELP " + f.name + " " + f.help + "\n# TYPE " + f.name + " gauge\n")
		for i := range pools {
			p := &pools[i]
			buf = append(buf[:0], f.name...)
			buf = append(buf, `{name="`...)
			buf = append(buf, p.name...)
			buf = append(buf, `",node="`...)
			buf = append(buf, p.node...)
			buf = append(buf, `"} `...)
			buf = strconv.AppendUint(buf, f.value(p), 10)
			buf = append(buf, '\n')
			bw.Write(buf)
		}
	}
	for _, f := range volumeFamilies {
		bw.WriteString("# HELP " + f.name + " " + f.help + "\n# TYPE " + f.name + " gauge\n")
		for i := range vols {
			v := &vols[i]
			buf = append(buf[:0], f.name...)
			buf = append(buf, `{node="`...)
			buf = append(buf, v.node...)
			buf = append(buf, `",pv_name="`...)
			buf = append(buf, v.pv...)
			buf = append(buf, `"} `...)
			buf = strconv.AppendUint(buf, f.value(v), 10)
			buf = append(buf, '\n')
			bw.Write(buf)
		}
	}
	return bw.Flush()
}

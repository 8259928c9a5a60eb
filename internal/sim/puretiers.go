package sim

import "fmt"

// PureTiersScenario returns scenario YAML for tests: single-tier nodes sata-a, sata-b and
// sata-c each with a 1TiB "tier: cold" pool (pool-sata-a…), nvme-a to nvme-d each with a
// 200GiB "tier: hot" pool (pool-nvme-a…), and app-1 without a pool; every pool is labelled
// openebs.io/created-by: operator-diskpool. volumes is appended verbatim after "volumes:".
func PureTiersScenario(name string, seed uint64, rebuildBandwidth, volumes string) string {
	return fmt.Sprintf(`
name: %s
seed: %d
rebuild_bandwidth: %s
nodes:
  - {id: sata-a}
  - {id: sata-b}
  - {id: sata-c}
  - {id: nvme-a}
  - {id: nvme-b}
  - {id: nvme-c}
  - {id: nvme-d}
  - {id: app-1}
pools:
  - {id: pool-sata-a, node: sata-a, capacity: 1TiB, labels: {openebs.io/created-by: operator-diskpool, tier: cold}}
  - {id: pool-sata-b, node: sata-b, capacity: 1TiB, labels: {openebs.io/created-by: operator-diskpool, tier: cold}}
  - {id: pool-sata-c, node: sata-c, capacity: 1TiB, labels: {openebs.io/created-by: operator-diskpool, tier: cold}}
  - {id: pool-nvme-a, node: nvme-a, capacity: 200GiB, labels: {openebs.io/created-by: operator-diskpool, tier: hot}}
  - {id: pool-nvme-b, node: nvme-b, capacity: 200GiB, labels: {openebs.io/created-by: operator-diskpool, tier: hot}}
  - {id: pool-nvme-c, node: nvme-c, capacity: 200GiB, labels: {openebs.io/created-by: operator-diskpool, tier: hot}}
  - {id: pool-nvme-d, node: nvme-d, capacity: 200GiB, labels: {openebs.io/created-by: operator-diskpool, tier: hot}}
volumes:%s`, name, seed, rebuildBandwidth, volumes)
}

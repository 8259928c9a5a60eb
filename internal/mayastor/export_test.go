package mayastor

import "io"

// DecodeReplicaSpecs is decodeReplicaSpecs for tests.
func DecodeReplicaSpecs(r io.Reader) ([]ReplicaSpec, error) {
	var out []ReplicaSpec
	err := decodeReplicaSpecs(r, &out, nil)
	return out, err
}

// DecodePoolCounts is decodePoolCounts for tests.
func DecodePoolCounts(r io.Reader) (map[string]int, error) {
	counts := map[string]int{}
	err := decodePoolCounts(r, counts, nil)
	return counts, err
}

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

// DecodeBriefPage is decodeBriefPage for tests: the briefs of one Volumes answer and its
// next_token.
func DecodeBriefPage(r io.Reader) ([]VolumeBrief, *uint64, error) {
	var p briefPage
	err := decodeBriefPage(r, &p)
	return p.entries, p.next, err
}

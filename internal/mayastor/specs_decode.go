package mayastor

import (
	"io"
	"sync/atomic"

	"github.com/billyronks/couchestor/internal/jsonscan"
)

// decodeReplicaSpecs reads a Specs answer (GET /v0/specs) in one pass and keeps only its
// replica specs, in the answer's order (the core agent's replica map order), each with the
// fields the replica map is read for: uuid, pool, share, managed, thin, size and the owning
// volume. The volumes', nexuses' and pools' specs and every other field are stepped over,
// never allocated: at 10,000 volumes the answer is 9–16 MB, most of it volume and nexus specs.
// An answer that is not well-formed JSON of the Specs shape is an error.
// lastSize holds the size of the previous answer (nil: none kept).
func decodeReplicaSpecs(r io.Reader, out *[]ReplicaSpec, lastSize *atomic.Int64) error {
	pools := map[string]string{} // a handful of pools: one string each
	return scanAnswer(r, lastSize, func(sc *jsonscan.Scanner) error {
		return sc.Object(func(key []byte) error {
			if string(key) != "replicas" || sc.Null() {
				return sc.Skip()
			}
			return sc.Array(func() error {
				var r ReplicaSpec
				if err := scanReplicaSpec(sc, &r, pools); err != nil {
					return err
				}
				*out = append(*out, r)
				return nil
			})
		})
	})
}

// replicaSpec decodes the kept fields of one ReplicaSpec into r; pools interns pool names.
func scanReplicaSpec(s *jsonscan.Scanner, r *ReplicaSpec, pools map[string]string) error {
	return s.Object(func(key []byte) error {
		var err error
		switch string(key) {
		case "uuid":
			r.UUID, err = s.Str()
		case "pool":
			r.Pool, err = s.InternedStr(pools)
		case "share":
			if s.Null() {
				return nil
			}
			var raw []byte
			if raw, _, err = s.RawString(); err == nil {
				r.Share = protocolOf(raw)
			}
		case "managed":
			r.Managed, err = s.Bool()
		case "thin":
			r.Thin, err = s.Bool()
		case "size":
			r.Size, err = s.Uint()
		case "owners":
			if s.Null() {
				return nil
			}
			return s.Object(func(key []byte) error {
				if string(key) == "volume" {
					var err error
					r.Owners.Volume, err = s.Str()
					return err
				}
				return s.Skip()
			})
		default:
			err = s.Skip()
		}
		return err
	})
}

// protocolOf returns the Protocol constant spelled raw (no allocation for the known ones).
func protocolOf(raw []byte) Protocol {
	for _, p := range []Protocol{ProtocolNone, ProtocolNvmf, ProtocolIscsi, ProtocolNbd} {
		if string(raw) == string(p) {
			return p
		}
	}
	return Protocol(raw)
}

package mayastor

import (
	"bytes"
	"io"
	"sync/atomic"
)

// decodeReplicaSpecs reads a Specs answer (GET /v0/specs) in one pass and keeps only its
// replica specs, in the answer's order (the core agent's replica map order), each with the
// fields the replica map is read for: uuid, pool, share, managed, thin, size and the owning
// volume. The volumes', nexuses' and pools' specs and every other field are stepped over,
// never allocated: at 10,000 volumes the answer is ~16 MB, most of it volume and nexus specs.
// An answer that is not well-formed JSON of the Specs shape is an error.
// lastSize holds the size of the previous answer (nil: none kept).
func decodeReplicaSpecs(r io.Reader, out *[]ReplicaSpec, lastSize *atomic.Int64) error {
	pools := map[string]string{} // a handful of pools: one string each
	return scanAnswer(r, lastSize, func(sc *briefScanner) error {
		return sc.object(func(key []byte) error {
			if string(key) != "replicas" || sc.null() {
				return sc.skip()
			}
			return sc.array(func() error {
				var r ReplicaSpec
				if err := sc.replicaSpec(&r, pools); err != nil {
					return err
				}
				*out = append(*out, r)
				return nil
			})
		})
	})
}

// replicaSpec decodes the kept fields of one ReplicaSpec into r; pools interns pool names.
func (s *briefScanner) replicaSpec(r *ReplicaSpec, pools map[string]string) error {
	return s.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "uuid":
			r.UUID, err = s.str()
		case "pool":
			r.Pool, err = s.internedStr(pools)
		case "share":
			if s.null() {
				return nil
			}
			var raw []byte
			if raw, _, err = s.rawString(); err == nil {
				r.Share = protocolOf(raw)
			}
		case "managed":
			r.Managed, err = s.boolean()
		case "thin":
			r.Thin, err = s.boolean()
		case "size":
			r.Size, err = s.uint()
		case "owners":
			if s.null() {
				return nil
			}
			return s.object(func(key []byte) error {
				if string(key) == "volume" {
					var err error
					r.Owners.Volume, err = s.str()
					return err
				}
				return s.skip()
			})
		default:
			err = s.skip()
		}
		return err
	})
}

// internedStr decodes a string, returning the copy held in seen when there is one.
func (s *briefScanner) internedStr(seen map[string]string) (string, error) {
	if s.null() {
		return "", nil
	}
	start := s.i
	raw, escaped, err := s.rawString()
	if err != nil {
		return "", err
	}
	if escaped {
		s.i = start
		return s.str()
	}
	if v, ok := seen[string(raw)]; ok {
		return v, nil
	}
	v := string(raw)
	seen[v] = v
	return v, nil
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

// boolean decodes true or false.
func (s *briefScanner) boolean() (bool, error) {
	switch s.peek() {
	case 't':
		if bytes.HasPrefix(s.b[s.i:], []byte("true")) {
			s.i += 4
			return true, nil
		}
	case 'f':
		if bytes.HasPrefix(s.b[s.i:], []byte("false")) {
			s.i += 5
			return false, nil
		}
	}
	return false, s.fail("want true or false")
}

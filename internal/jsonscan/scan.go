// Package jsonscan steps through a JSON document held in memory in one pass, decoding only the
// values its caller asks for: every other value is stepped over, never allocated. The operator's
// large answers (Mayastor's volume pages and replica specs, Prometheus' instant vectors) are
// read with it; encoding/json would decode each into structs only to drop most of their fields.
package jsonscan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// Scanner reads one JSON document. A method that decodes a value consumes it, with the white
// space before it; a malformed document is an error naming the offset where it went wrong.
type Scanner struct {
	b []byte
	i int
}

// New returns a Scanner at the start of b. b must not change while the Scanner is used; strings
// it returns are copies, byte slices (RawString, Object's keys) point into b.
func New(b []byte) *Scanner { return &Scanner{b: b} }

// Fail returns an error saying what was wanted at the current offset.
func (s *Scanner) Fail(what string) error {
	return fmt.Errorf("%s at offset %d", what, s.i)
}

// End checks that nothing but white space follows the value read.
func (s *Scanner) End() error {
	if s.ws(); s.i != len(s.b) {
		return s.Fail("data after the answer")
	}
	return nil
}

func (s *Scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek skips white space and returns the next byte, 0 at the end.
func (s *Scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// Null consumes a null and reports whether there was one.
func (s *Scanner) Null() bool {
	if s.peek() == 'n' && bytes.HasPrefix(s.b[s.i:], []byte("null")) {
		s.i += 4
		return true
	}
	return false
}

// Object calls fn with each key of an object; fn consumes the value. A key holding an escape
// is given as nil (no key a caller matches has one): fn skips its value.
func (s *Scanner) Object(fn func(key []byte) error) error {
	if s.peek() != '{' {
		return s.Fail("want an object")
	}
	s.i++
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		key, escaped, err := s.RawString()
		if err != nil {
			return err
		}
		if escaped {
			key = nil
		}
		if s.peek() != ':' {
			return s.Fail("want ':'")
		}
		s.i++
		if err := fn(key); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.Fail("want ',' or '}'")
		}
	}
}

// Array calls fn for each element of an array; fn consumes the element.
func (s *Scanner) Array(fn func() error) error {
	if s.peek() != '[' {
		return s.Fail("want an array")
	}
	s.i++
	if s.peek() == ']' {
		s.i++
		return nil
	}
	for {
		if err := fn(); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return s.Fail("want ',' or ']'")
		}
	}
}

// RawString returns the bytes between the quotes of a string and whether they hold an escape.
func (s *Scanner) RawString() ([]byte, bool, error) {
	if s.peek() != '"' {
		return nil, false, s.Fail("want a string")
	}
	s.i++
	start, escaped := s.i, false
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return s.b[start : s.i-1], escaped, nil
		case c == '\\':
			escaped = true
			s.i += 2
		case c < 0x20:
			return nil, false, s.Fail("control character in a string")
		default:
			s.i++
		}
	}
	return nil, false, s.Fail("unterminated string")
}

// Str decodes a string (null is "").
func (s *Scanner) Str() (string, error) {
	if s.Null() {
		return "", nil
	}
	s.ws()
	start := s.i
	raw, escaped, err := s.RawString()
	if err != nil || !escaped {
		return string(raw), err
	}
	var v string
	if err := json.Unmarshal(s.b[start:s.i], &v); err != nil {
		return "", err
	}
	return v, nil
}

// InternedStr decodes a string (null is ""), returning the copy held in seen when there is one
// and keeping a new one there: a value repeated across an answer (a pool's name) is one string.
func (s *Scanner) InternedStr(seen map[string]string) (string, error) {
	if s.Null() {
		return "", nil
	}
	s.ws()
	start := s.i
	raw, escaped, err := s.RawString()
	if err != nil {
		return "", err
	}
	if escaped {
		s.i = start
		return s.Str()
	}
	if v, ok := seen[string(raw)]; ok {
		return v, nil
	}
	v := string(raw)
	seen[v] = v
	return v, nil
}

// Uint decodes a non-negative integer.
func (s *Scanner) Uint() (uint64, error) {
	s.ws()
	start := s.i
	var n uint64
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		d := uint64(s.b[s.i] - '0')
		if n > (math.MaxUint64-d)/10 {
			return 0, s.Fail("integer overflows 64 bits")
		}
		n = n*10 + d
		s.i++
	}
	if s.i == start || s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		return 0, s.Fail("want a non-negative integer")
	}
	return n, nil
}

// Bool decodes true or false.
func (s *Scanner) Bool() (bool, error) {
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
	return false, s.Fail("want true or false")
}

// Skip steps over one value of any kind, checking that it is well formed.
func (s *Scanner) Skip() error {
	switch c := s.peek(); {
	case c == '{':
		return s.Object(func([]byte) error { return s.Skip() })
	case c == '[':
		return s.Array(s.Skip)
	case c == '"':
		_, _, err := s.RawString()
		return err
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	default:
		for _, lit := range []string{"true", "false", "null"} {
			if bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
				s.i += len(lit)
				return nil
			}
		}
		return s.Fail("want a value")
	}
}

// number steps over a number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? (RFC 8259, 6).
func (s *Scanner) number() error {
	start := s.i
	if s.at('-') {
		s.i++
	}
	switch {
	case s.at('0'):
		s.i++
	case s.digits() == 0:
		return s.Fail("malformed number")
	}
	if s.at('.') {
		s.i++
		if s.digits() == 0 {
			return s.Fail("malformed number")
		}
	}
	if s.at('e') || s.at('E') {
		s.i++
		if s.at('+') || s.at('-') {
			s.i++
		}
		if s.digits() == 0 {
			return s.Fail("malformed number")
		}
	}
	if s.i < len(s.b) && strings.IndexByte("+-.eE0123456789", s.b[s.i]) >= 0 {
		s.i = start
		return s.Fail("malformed number")
	}
	return nil
}

func (s *Scanner) at(c byte) bool { return s.i < len(s.b) && s.b[s.i] == c }

// digits steps over a run of decimal digits and returns its length.
func (s *Scanner) digits() int {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i - start
}

// Raw returns the bytes of the next value, stepped over with Skip (for an error message).
func (s *Scanner) Raw() ([]byte, error) {
	s.ws()
	start := s.i
	if err := s.Skip(); err != nil {
		return nil, err
	}
	return s.b[start:s.i], nil
}

package jsonscan

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"testing"
)

// skipValid reports whether b is one value Skip accepts with nothing after it.
func skipValid(b []byte) bool {
	s := New(b)
	return s.Skip() == nil && s.End() == nil
}

var documents = []string{
	`0`, `-0`, `12`, `-12.5e+3`, `1E9`, `0.5`, `1e-07`, `true`, `false`, `null`, `""`, `"a\"b"`,
	`[]`, `{}`, ` [ 1 , "x" , { "k" : [ null ] } ] `, `{"a":{"b":{"c":[1,2,3]}}}`,
	// malformed
	``, ` `, `01`, `-`, `1.`, `.5`, `1e`, `1e+`, `+1`, `1.2.3`, `--1`, `0x1`, `1 2`, `[1,]`, `[,1]`,
	`{"a"}`, `{"a":}`, `{"a":1,}`, `{a:1}`, `[`, `{`, `"abc`, "\"a\x01b\"", `tru`, `nul`, `[1]]`,
	`{"a":1}}`, `NaN`, `Infinity`,
}

// TestSkipAcceptsWhatEncodingJSONAccepts: Skip and End accept exactly the documents
// encoding/json calls valid (strings without escapes; Skip does not validate escapes).
func TestSkipAcceptsWhatEncodingJSONAccepts(t *testing.T) {
	for _, d := range documents {
		if got, want := skipValid([]byte(d)), json.Valid([]byte(d)); got != want {
			t.Errorf("Skip of %q: valid %v, encoding/json says %v", d, got, want)
		}
	}
}

func FuzzSkipAgreesWithEncodingJSON(f *testing.F) {
	for _, d := range documents {
		f.Add([]byte(d))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if bytes.IndexByte(b, '\\') >= 0 {
			t.Skip("escapes are not validated by Skip")
		}
		if got, want := skipValid(b), json.Valid(b); got != want {
			t.Errorf("Skip of %q: valid %v, encoding/json says %v", b, got, want)
		}
	})
}

func TestObjectKeysAndValues(t *testing.T) {
	s := New([]byte(` {"uuid": "v-1", "size": 1073741824, "thin": true, "owners": null, "a\u0062": 7, "x": [1, {"y": "z"}]} `))
	var keys []string
	var uuid string
	var size uint64
	var thin bool
	err := s.Object(func(key []byte) error {
		keys = append(keys, string(key))
		var err error
		switch string(key) {
		case "uuid":
			uuid, err = s.Str()
		case "size":
			size, err = s.Uint()
		case "thin":
			thin, err = s.Bool()
		case "owners":
			if !s.Null() {
				t.Error("owners: want null")
			}
		default:
			err = s.Skip()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.End(); err != nil {
		t.Fatal(err)
	}
	// A key with an escape comes as nil (no key a caller matches has one).
	if want := []string{"uuid", "size", "thin", "owners", "", "x"}; !slices.Equal(keys, want) {
		t.Errorf("keys %q, want %q", keys, want)
	}
	if uuid != "v-1" || size != 1<<30 || !thin {
		t.Errorf("uuid %q size %d thin %v", uuid, size, thin)
	}
}

func TestStrDecodesEscapesAsEncodingJSON(t *testing.T) {
	for _, d := range []string{`"plain"`, `"tab\tquote\"slash\/u\u00e9"`, `"\ud83d\ude00"`, `null`, ` "x"`} {
		got, err := New([]byte(d)).Str()
		if err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		var want string
		if err := json.Unmarshal([]byte(d), &want); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("Str of %s = %q, want %q", d, got, want)
		}
	}
	if _, err := New([]byte(`"bad \x escape"`)).Str(); err == nil {
		t.Error("Str accepted an invalid escape")
	}
	if _, err := New([]byte(`12`)).Str(); err == nil {
		t.Error("Str accepted a number")
	}
}

func TestInternedStrReturnsOneCopy(t *testing.T) {
	s := New([]byte(`["pool-1", "pool-1", "p\u006fol-1", null]`))
	seen := map[string]string{}
	var got []string
	if err := s.Array(func() error {
		v, err := s.InternedStr(seen)
		got = append(got, v)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"pool-1", "pool-1", "pool-1", ""}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if len(seen) != 1 || testing.AllocsPerRun(10, func() {
		s := New([]byte(`"pool-1"`))
		_, _ = s.InternedStr(seen)
	}) > 1 { // the Scanner itself may be allocated; the string is not
		t.Errorf("a known string was allocated again (seen %v)", seen)
	}
}

func TestUint(t *testing.T) {
	for d, want := range map[string]uint64{`0`: 0, ` 42`: 42, `18446744073709551615`: math.MaxUint64} {
		if got, err := New([]byte(d)).Uint(); err != nil || got != want {
			t.Errorf("Uint of %s = %d, %v; want %d", d, got, err, want)
		}
	}
	for _, d := range []string{`18446744073709551616`, `-1`, `1.5`, `2e3`, `"1"`, ``} {
		if got, err := New([]byte(d)).Uint(); err == nil {
			t.Errorf("Uint of %q = %d, want an error", d, got)
		}
	}
}

func TestBoolAndMalformedContainers(t *testing.T) {
	if _, err := New([]byte(`"true"`)).Bool(); err == nil {
		t.Error(`Bool accepted "true"`)
	}
	if v, err := New([]byte(` false`)).Bool(); err != nil || v {
		t.Errorf("Bool of false = %v, %v", v, err)
	}
	if err := New([]byte(`[1 2]`)).Array(func() error { return nil }); err == nil {
		t.Error("Array accepted an element its fn did not consume")
	}
	if err := New([]byte(`{"a" 1}`)).Object(func([]byte) error { return nil }); err == nil {
		t.Error("Object accepted a key without ':'")
	}
	s := New([]byte(`{"a": [1, 2]} x`))
	if err := s.Skip(); err != nil {
		t.Fatal(err)
	}
	if err := s.End(); err == nil {
		t.Error("End accepted data after the value")
	}
}

func TestRawIsTheNextValue(t *testing.T) {
	s := New([]byte(`{"result": [ {"a": 1} ], "x": 2}`))
	var raw []byte
	if err := s.Object(func(key []byte) error {
		if string(key) == "result" {
			var err error
			raw, err = s.Raw()
			return err
		}
		return s.Skip()
	}); err != nil {
		t.Fatal(err)
	}
	if string(raw) != `[ {"a": 1} ]` {
		t.Errorf("Raw = %q", raw)
	}
}

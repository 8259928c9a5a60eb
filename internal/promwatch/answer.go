package promwatch

import (
	"fmt"
	"strconv"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/billyronks/couchestor/internal/jsonscan"
)

// queryAnswer is an /api/v1/query answer as far as it is read: the envelope and, of an instant
// vector, each sample's pv_name and value.
type queryAnswer struct {
	Status    string
	ErrorType v1.ErrorType
	Error     string
	Warnings  []string
	Data      struct {
		ResultType string
		Result     []vectorSample
	}
}

type vectorSample struct {
	Metric struct {
		PVName string
	}
	Value float64
}

// decodeAnswer reads an /api/v1/query answer in one pass with a scanner: the envelope's
// fields, and of an instant vector each sample's pv_name label and value. The other labels,
// the sample times, infos and any other result type are stepped over, never allocated
// (BenchmarkQuery10kSeries, a ~1 MB answer of 10,000 series over loopback HTTP: about half the
// time encoding/json took to decode the same fields). A result
// that comes before its resultType is decoded once the type is known. An answer that is not
// well-formed JSON, or a vector sample without a value, is an error.
func decodeAnswer(body []byte, ans *queryAnswer) error {
	sc := jsonscan.New(body)
	var pending []byte // a result met before its resultType
	err := sc.Object(func(key []byte) error {
		var err error
		switch string(key) {
		case "status":
			ans.Status, err = sc.Str()
		case "errorType":
			var t string
			t, err = sc.Str()
			ans.ErrorType = v1.ErrorType(t)
		case "error":
			ans.Error, err = sc.Str()
		case "warnings":
			if sc.Null() {
				return nil
			}
			err = sc.Array(func() error {
				w, err := sc.Str()
				ans.Warnings = append(ans.Warnings, w)
				return err
			})
		case "data":
			if sc.Null() {
				return nil
			}
			err = sc.Object(func(key []byte) error {
				switch string(key) {
				case "resultType":
					var err error
					ans.Data.ResultType, err = sc.Str()
					return err
				case "result":
					switch ans.Data.ResultType {
					case "vector":
						return scanVector(sc, &ans.Data.Result)
					case "":
						var err error
						pending, err = sc.Raw()
						return err
					}
				}
				return sc.Skip()
			})
		default:
			err = sc.Skip()
		}
		return err
	})
	if err == nil {
		err = sc.End()
	}
	if err == nil && pending != nil && ans.Data.ResultType == "vector" {
		sc = jsonscan.New(pending)
		err = scanVector(sc, &ans.Data.Result)
	}
	return err
}

// scanVector decodes an instant vector's samples ({"metric": {...}, "value": [<time>,
// "<value>"]}), keeping the pv_name label and the value.
func scanVector(sc *jsonscan.Scanner, out *[]vectorSample) error {
	if sc.Null() {
		return nil
	}
	return sc.Array(func() error {
		var s vectorSample
		valued := false
		err := sc.Object(func(key []byte) error {
			switch string(key) {
			case "metric":
				return sc.Object(func(label []byte) error {
					if string(label) != "pv_name" {
						return sc.Skip()
					}
					var err error
					s.Metric.PVName, err = sc.Str()
					return err
				})
			case "value":
				valued = true
				return scanSampleValue(sc, &s.Value)
			}
			return sc.Skip()
		})
		if err != nil {
			return err
		}
		if !valued {
			// A native histogram sample carries "histogram" instead: it is no IOPS figure.
			return sc.Fail("a vector sample without a value")
		}
		*out = append(*out, s)
		return nil
	})
}

// scanSampleValue decodes [<unix time>, "<value>"] to its value.
func scanSampleValue(sc *jsonscan.Scanner, v *float64) error {
	n := 0
	err := sc.Array(func() error {
		n++
		switch n {
		case 1:
			return sc.Skip()
		case 2:
			raw, escaped, err := sc.RawString()
			if err != nil {
				return err
			}
			if escaped {
				return sc.Fail("an escape in a sample value")
			}
			f, err := strconv.ParseFloat(string(raw), 64)
			if err != nil {
				return fmt.Errorf("sample value %q: %w", raw, err)
			}
			*v = f
			return nil
		}
		return sc.Fail("a sample value with more than two elements")
	})
	if err == nil && n != 2 {
		err = sc.Fail("a sample value without its time and value")
	}
	return err
}

package ctiapi

import "testing"

func TestIntegralNumbers(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":134.0,"b":"134.0","c":1e3,"d":1.5,"e":-2.00,"f":[7.0, "x\"1.0"]}`: `{"a":134,"b":"134.0","c":1000,"d":1.5,"e":-2,"f":[7, "x\"1.0"]}`,
		`{"a":1}`:     `{"a":1}`,
		`{"a":1e300}`: `{"a":1e300}`,
		// Exact at and beyond 2^53 (schemathesis sends these); beyond
		// int64 or not whole: left for the decoder to refuse.
		`{"a":9007199254740992.0,"b":-9007199254740992.0,"c":9007199254740993.0}`:          `{"a":9007199254740992,"b":-9007199254740992,"c":9007199254740993}`,
		`{"a":9223372036854775807.0,"b":9223372036854775808.0,"c":-9223372036854775808.0}`: `{"a":9223372036854775807,"b":9223372036854775808.0,"c":-9223372036854775808}`,
		`{"a":1e-5,"b":1e99999999}`: `{"a":1e-5,"b":1e99999999}`,
	} {
		if got := string(integralNumbers([]byte(in))); got != want {
			t.Errorf("integralNumbers(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestHasNull(t *testing.T) {
	for in, want := range map[string]bool{
		`{"a":null}`:            true,
		`{"a":"null"}`:          false,
		`{"a":"x\"null"}`:       false,
		`{"a":[1,null]}`:        true,
		`{"a":"\\",  "b":null}`: true,
	} {
		if got := hasNull([]byte(in)); got != want {
			t.Errorf("hasNull(%s) = %v, want %v", in, got, want)
		}
	}
}

package ctiapi

import "testing"

func TestIntegralNumbers(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":134.0,"b":"134.0","c":1e3,"d":1.5,"e":-2.00,"f":[7.0, "x\"1.0"]}`: `{"a":134,"b":"134.0","c":1000,"d":1.5,"e":-2,"f":[7, "x\"1.0"]}`,
		`{"a":1}`:     `{"a":1}`,
		`{"a":1e300}`: `{"a":1e300}`,
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

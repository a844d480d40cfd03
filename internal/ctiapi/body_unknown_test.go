package ctiapi

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestUnknownField: the member an unknown-field refusal names is found in
// the body from the destination's fields, as encoding/json matches them
// (exact, else under case folding; embedded Common promoted; nested
// structs through pointers; a KV's members are its own), and it is the
// member encoding/json itself refused.
func TestUnknownField(t *testing.T) {
	for _, tc := range []struct {
		body string
		dst  any
		want string // "" : every member is known
	}{
		{`{"on":true,"off":false}`, &DNDBody{}, "off"},
		{`{"ON":true,"referenceId":3,"reasons":{"any":"x","nested":{"y":1}}}`, &DNDBody{}, ""},
		{`{"referenceid":3,"extensions":{"z":1},"dn":"1001","x":1,"y":2}`, &DNBody{}, "x"},
		{`{"route":{"connId":"c","routingPoint":"5000","to":"7000","via":"x"},"y":1}`, &RouteMessage{}, "via"},
		{`{"route":{"connId":"c","routingPoint":"5000","to":"7000"},"y":1}`, &RouteMessage{}, "y"},
		{`{"route":{"connId":"c"}}`, &RouteMessage{}, ""},
	} {
		got, ok := unknownField([]byte(tc.body), reflect.TypeOf(tc.dst))
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("%s into %T: %q %v, want %q", tc.body, tc.dst, got, ok, tc.want)
		}
		// encoding/json agrees: it refuses exactly the bodies with an
		// unknown member.
		d := json.NewDecoder(strings.NewReader(tc.body))
		d.DisallowUnknownFields()
		if err := d.Decode(reflect.New(reflect.TypeOf(tc.dst).Elem()).Interface()); (err != nil) != (tc.want != "") {
			t.Errorf("%s into %T: encoding/json says %v", tc.body, tc.dst, err)
		} else if err != nil {
			if e := decodeError(err, []byte(tc.body), tc.dst); e.Code != CodeUnknownField || e.Message != `unknown field "`+tc.want+`"` {
				t.Errorf("%s into %T: %s %q", tc.body, tc.dst, e.Code, e.Message)
			}
		}
	}
}

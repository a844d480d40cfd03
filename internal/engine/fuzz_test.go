package engine

import (
	"bytes"
	"testing"
)

// FuzzDecodeCommand: DecodeCommand never panics, and what it accepts
// encodes and decodes again to the same bytes.
func FuzzDecodeCommand(f *testing.F) {
	for _, s := range []string{
		`{"kind":"login","cmd":{"dn":"1001","agentId":"agent1","queues":["7000"],"workMode":"ManualIn","referenceId":3,"reasons":{"a":"b"}}}`,
		`{"kind":"not-ready","cmd":{"dn":"1001","workMode":"AfterCallWork","extensions":{"WrapUpTime":10}}}`,
		`{"kind":"forward","cmd":{"dn":"1001","to":"1002","mode":"OnBusy"}}`,
		`{"kind":"monitor","cmd":{"supervisor":"1100","target":"1001","type":"AllCalls"}}`,
		`{"kind":"timer","cmd":{"id":"acw/agent1/1"}}`,
		`{"kind":"ready","cmd":{"dn":"1001","reasons":{"n":{"x":1}}}}`,
		`{"kind":"make-call","cmd":{"from":"1001","to":"+331234","userData":{"Order":"A-1","n":{"x":1}}}}`,
		`{"kind":"complete-transfer","cmd":{"connId":"19cad00b440b5f36","dn":"1002","consultConnId":"7e88de1c2b5df5cd","referenceId":4}}`,
		`{"kind":"network-call","cmd":{"trunk":"pstn","ani":"+3312","dnis":"1001"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCommand(b)
		if err != nil {
			return
		}
		enc, err := EncodeCommand(c)
		if err != nil {
			t.Fatalf("decoded %#v but cannot encode it: %v", c, err)
		}
		c2, err := DecodeCommand(enc)
		if err != nil {
			t.Fatalf("cannot decode own encoding %s: %v", enc, err)
		}
		enc2, _ := EncodeCommand(c2)
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("unstable encoding:\n%s\n%s", enc, enc2)
		}
	})
}

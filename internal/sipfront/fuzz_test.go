package sipfront

import (
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/emiago/sipgo/siptest"
)

// FuzzHandlers parses random bytes with sipgo's parser and feeds every
// request to the adapter's handler for its method. Invariants: no panic,
// every handler returns (no hang), every response is a final or
// provisional status of a real class, and nothing reaches the engine (no
// DN is registered and no credentials can be right, so no request may
// change state: the sink stays empty).
func FuzzHandlers(f *testing.F) {
	seeds := []string{
		"REGISTER sip:demo SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\nFrom: <sip:1001@demo>;tag=a\r\nTo: <sip:1001@demo>\r\nCall-ID: r1\r\nCSeq: 1 REGISTER\r\nContact: <sip:1001@127.0.0.1:5070>\r\nExpires: 60\r\nContent-Length: 0\r\n\r\n",
		"REGISTER sip:demo SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK2\r\nFrom: <sip:1001@demo>;tag=a\r\nTo: <sip:1001@demo>\r\nCall-ID: r2\r\nCSeq: 2 REGISTER\r\nContact: *\r\nExpires: 0\r\nAuthorization: Digest username=\"1001\", realm=\"switchboard\", nonce=\"1.abc\", uri=\"sip:demo\", response=\"00\"\r\nContent-Length: 0\r\n\r\n",
		"INVITE sip:1002@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK3\r\nFrom: <sip:1001@demo>;tag=a\r\nTo: <sip:1002@demo>\r\nCall-ID: i1\r\nCSeq: 1 INVITE\r\nContact: <sip:1001@127.0.0.1:5070>\r\nContent-Type: application/sdp\r\nContent-Length: 4\r\n\r\nv=0\n",
		"INVITE sip:1002@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK4\r\nFrom: <sip:1001@demo>;tag=a\r\nTo: <sip:1002@demo>;tag=b\r\nCall-ID: i2\r\nCSeq: 2 INVITE\r\nContact: <sip:1001@127.0.0.1:5070>\r\nContent-Length: 12\r\n\r\na=sendonly\r\n",
		"BYE sip:1002@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK5\r\nFrom: <sip:1001@demo>;tag=a\r\nTo: <sip:1002@demo>;tag=b\r\nCall-ID: i1\r\nCSeq: 3 BYE\r\nContent-Length: 0\r\n\r\n",
		"REFER sip:1002@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK6\r\nFrom: <sip:1001@demo>;tag=a\r\nTo: <sip:1002@demo>;tag=b\r\nCall-ID: i1\r\nCSeq: 4 REFER\r\nRefer-To: <sip:1003@demo?Replaces=x%3Bto-tag%3D1>\r\nContent-Length: 0\r\n\r\n",
		"CANCEL sip:1002@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK7\r\nFrom: <sip:1001@demo>;tag=a\r\nTo: <sip:1002@demo>\r\nCall-ID: i9\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n",
		"ACK sip:1002@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK8\r\nFrom: <sip:1001@demo>;tag=a\r\nTo: <sip:1002@demo>;tag=b\r\nCall-ID: i1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
		"OPTIONS sip:demo SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK9\r\nFrom: <sip:x@demo>;tag=a\r\nTo: <sip:demo>\r\nCall-ID: o1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		"NOTIFY sip:demo SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKa\r\nFrom: <sip:x@demo>;tag=a\r\nTo: <sip:demo>;tag=b\r\nCall-ID: n1\r\nCSeq: 1 NOTIFY\r\nContent-Length: 0\r\n\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	fx := newFixture(f, nil)
	handlers := fx.sip.handlers()
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := sip.ParseMessage(data)
		if err != nil {
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return
		}
		h := handlers[req.Method]
		if h == nil {
			return
		}
		if _, err := sip.ServerTxKeyMake(req); err != nil {
			return // sipgo's transaction layer answers these itself (400)
		}
		tx := siptest.NewServerTxRecorder(req)
		done := make(chan struct{})
		go func() {
			defer close(done)
			h(req, tx)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("handler for %s did not return", req.Method)
		}
		tx.Terminate()
		for _, res := range tx.Result() {
			if res.StatusCode < 100 || res.StatusCode > 699 {
				t.Fatalf("bad status %d", res.StatusCode)
			}
		}
		if evs := fx.sink.take(); len(evs) != 0 {
			t.Fatalf("%s changed engine state: %s", req.Method, format(evs))
		}
	})
}

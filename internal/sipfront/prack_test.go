package sipfront

import (
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/engine"
)

// TestReliableRinging: 1001's INVITE requires 100rel: its 180 comes with
// Require: 100rel and RSeq, its PRACK gets 200, and the call goes on as
// flow 5.1 (1002 answers a second after ringing, so the PRACK comes
// first). Over each transport (overTransports).
func TestReliableRinging(t *testing.T) {
	overTransports(t, nil, nil, func(t *testing.T, p *phones) {
		pa, pb := freeUDPPort(t), freeUDPPort(t)
		p.register("1002", pb)
		p.registerCaller("1001", pa)
		uas := p.callee("uas_late.xml", pb)
		p.call("uac_100rel.xml", pa, "-key", "user", "1001", "-s", "1002").wait(t)
		uas.wait(t)
		basicFlow(t, p.f)
	})
}

// TestReliableRingingNoPrack: 1001 requires 100rel and never PRACKs the
// reliable 180 (retransmitted meanwhile): after AckTimeout its INVITE gets
// 504 and the engine hears 1001 leave, so 1002's ringing phone gets
// CANCEL.
func TestReliableRingingNoPrack(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.AckTimeout = time.Second })
	pa, pb := freeUDPPort(t), freeUDPPort(t)
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	uas := f.startSipp("uas_ring.xml", pb)
	f.startSipp("uac_100rel_noprack.xml", pa, "-key", "user", "1001", "-s", "1002").wait(t)
	uas.wait(t)
	f.flowIs(
		engine.SetService{DN: "1002", InService: true},
		engine.SetService{DN: "1001", InService: true},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.Release{ConnID: "$1", DN: "1001"},
	)
}

// TestPrackToReliableRinging: 1002's phone (as a carrier may) sends its
// 180 reliably: switchboard's INVITE said Supported: 100rel, and it PRACKs
// the 180 before 1002 answers.
func TestPrackToReliableRinging(t *testing.T) {
	f := newFixture(t, nil)
	pa, pb := freeUDPPort(t), freeUDPPort(t)
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	uas := f.startSipp("uas_100rel.xml", pb)
	f.startSipp("uac.xml", pa, "-key", "user", "1001", "-s", "1002").wait(t)
	uas.wait(t)
	basicFlow(t, f)
}

// TestBadExtension: an authenticated INVITE requiring an extension
// switchboard does not support gets 420 with Unsupported naming it, and
// no call is made (the only events are the registration's).
func TestBadExtension(t *testing.T) {
	f := newFixture(t, nil)
	f.register("1001", freeUDPPort(t), 3600)
	p := newUDPPhone(t, f.sip.Addr())
	ruri := "sip:1002@demo"
	chal := p.request("INVITE", ruri, "1001", "1002", "Require: timer, foo\r\n")
	if chal.StatusCode != 407 {
		t.Fatalf("got %d, want the 407 challenge", chal.StatusCode)
	}
	res := p.request("INVITE", ruri, "1001", "1002", "Require: timer, foo\r\n", answer(t, "INVITE", ruri, chal, "1001", testPassword, 1))
	if h := res.GetHeader("Unsupported"); res.StatusCode != 420 || h == nil || h.Value() != "foo" {
		t.Fatalf("got %d Unsupported %v, want 420 with Unsupported: foo", res.StatusCode, h)
	}
	f.flowIs(engine.SetService{DN: "1001", InService: true})
}

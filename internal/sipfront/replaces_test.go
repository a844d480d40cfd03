package sipfront

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-cc/switchboard/internal/engine"
)

// dialogOf waits for the leg of DN dn (in state st) and returns its
// Replaces value: Call-ID;to-tag=..;from-tag=.. (the tags the other way
// round when swap).
func (f *fixture) dialogOf(dn string, st legState, swap bool) string {
	f.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		f.sip.mu.Lock()
		var found *leg
		for _, l := range f.sip.legs {
			if l.dn == dn {
				found = l
			}
		}
		f.sip.mu.Unlock()
		if found == nil {
			continue
		}
		t := found.t
		t.mu.Lock()
		local, remote := found.tags()
		ok := found.state == st && local != "" && remote != ""
		t.mu.Unlock()
		if ok {
			if swap {
				local, remote = remote, local
			}
			return found.callID + ";to-tag=" + local + ";from-tag=" + remote
		}
	}
	f.t.Fatalf("no %v leg of %s", st, dn)
	return ""
}

// TestPickUp: 1001 calls 1002, whose phone rings; 1003 picks the call up
// with an INVITE replacing that early dialog (Replaces, as a BLF key
// does): 1002's phone gets CANCEL, 1003 gets 200 and talks to 1001 until
// 1001 hangs up. Flow: MakeCall, Redirect to 1003, Answer by 1003.
func TestPickUp(t *testing.T) {
	f := newFixture(t, nil)
	f.pickUp(f.threePhones(), func() string { return f.dialogOf("1002", legCalling, false) })
}

// threePhones registers 1003, 1002 and 1001 (in that order) on free ports
// and returns those of 1001, 1002 and 1003.
func (f *fixture) threePhones() [3]int {
	f.t.Helper()
	p := [3]int{freeUDPPort(f.t), freeUDPPort(f.t), freeUDPPort(f.t)}
	for i := 2; i >= 0; i-- {
		f.register("100"+strconv.Itoa(i+1), p[i], 3600)
	}
	return p
}

// pickUp: 1001 (at port[0]) calls 1002 (port[1]), whose phone rings; 1003
// (port[2]) picks the call up with the Replaces value rep gives once 1002
// rings: 1002's phone gets CANCEL, 1003 talks to 1001 until 1001 hangs
// up. Flow: MakeCall, Redirect to 1003, Answer by 1003.
func (f *fixture) pickUp(port [3]int, rep func() string) {
	t := f.t
	t.Helper()
	b := f.startSipp("uas_ring.xml", port[1])
	a := f.startSipp("uac.xml", port[0], "-key", "user", "1001", "-s", "1002", "-d", "1000")
	f.startSipp("uac_replaces.xml", port[2], "-key", "user", "1003", "-s", "1002", "-key", "replaces", rep()).wait(t)
	a.wait(t)
	b.wait(t)
	f.flowIs(
		engine.SetService{DN: "1003", InService: true},
		engine.SetService{DN: "1002", InService: true},
		engine.SetService{DN: "1001", InService: true},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.Redirect{ConnID: "$1", DN: "1002", To: "1003"},
		engine.Answer{ConnID: "$1", DN: "1003"},
		engine.Release{ConnID: "$1", DN: "1001"},
	)
}

// TestReplacesRefused: Replaces naming a dialog with the wrong tags, or
// no dialog at all, gets 481; early-only for an answered dialog 486. No
// call is made.
func TestReplacesRefused(t *testing.T) {
	f := newFixture(t, nil)
	port := f.threePhones()
	pa, pb := port[0], port[1]
	b := f.startSipp("uas.xml", pb)
	a := f.startSipp("uac.xml", pa, "-key", "user", "1001", "-s", "1002", "-d", "2000")
	rep := f.dialogOf("1002", legAnswered, false)
	callID, _, _ := strings.Cut(rep, ";")
	p := newUDPPhone(t, f.sip.Addr())
	for _, c := range []struct {
		replaces string
		code     int
	}{
		{"nosuch;to-tag=a;from-tag=b", 481},
		{callID + ";to-tag=a;from-tag=b", 481},
		{rep + ";early-only", 486},
	} {
		ruri := "sip:1002@demo"
		hdr := "Replaces: " + c.replaces + "\r\n"
		chal := p.request("INVITE", ruri, "1003", "1002", hdr)
		res := p.request("INVITE", ruri, "1003", "1002", hdr, answer(t, "INVITE", ruri, chal, "1003", testPassword, 1))
		p.ack(res)
		if res.StatusCode != c.code {
			t.Errorf("Replaces: %s: got %d, want %d", c.replaces, res.StatusCode, c.code)
		}
	}
	a.wait(t)
	b.wait(t)
	f.flowIs(
		engine.SetService{DN: "1003", InService: true},
		engine.SetService{DN: "1002", InService: true},
		engine.SetService{DN: "1001", InService: true},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.Answer{ConnID: "$1", DN: "1002"},
		engine.Release{ConnID: "$1", DN: "1001"},
	)
}

// ack acknowledges the final response res (not 2xx) of the phone's last
// INVITE, so that its transaction ends at once.
func (p *udpPhone) ack(res *sip.Response) {
	p.t.Helper()
	via, _ := res.Via().Params.Get("branch")
	msg := fmt.Sprintf("ACK sip:x@demo SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=%s\r\n%s\r\n%s\r\nCall-ID: %s\r\nCSeq: %d ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		p.addr(), via, res.From().String(), res.To().String(), res.CallID().Value(), res.CSeq().SeqNo)
	if _, err := p.conn.WriteToUDP([]byte(msg), p.to); err != nil {
		p.t.Fatal(err)
	}
}

// TestReplacesOtherDevice: 1001 calls 1002, 1002's phone answers; another
// device of 1002 (same credentials, another port) takes the call over
// with Replaces: the old dialog gets BYE, 1001 is re-INVITEd with the new
// device's SDP (its media port, checked by the scenario), and no event
// tells of it: the engine's call is the same. 1001 hangs up.
func TestReplacesOtherDevice(t *testing.T) {
	f := newFixture(t, nil)
	pa, pb, pb2, mb2 := freeUDPPort(t), freeUDPPort(t), freeUDPPort(t), freeUDPPort(t)
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	b := f.startSipp(withReason(t, reasonClearedRE), pb)
	a := f.startSipp(repointed(t, "uac_repointed.xml", mb2), pa, "-key", "user", "1001", "-s", "1002", "-d", "3000")
	rep := f.dialogOf("1002", legAnswered, true)
	f.startSipp("uac_replaces.xml", pb2, "-key", "user", "1002", "-s", "1001", "-key", "replaces", rep,
		"-mp", strconv.Itoa(mb2)).wait(t)
	a.wait(t)
	b.wait(t)
	basicFlow(t, f)
}

// TestReplacesTakeOver: 1001 calls 1002, 1002's phone answers; 1003
// replaces 1002's dialog (an attended transfer completed by the
// transferee's INVITE): the engine transfers the call from 1002 to 1003
// and 1003 answers; 1002's dialog gets BYE with Reason "Call
// transferred", 1001 is re-INVITEd with 1003's SDP; 1001 hangs up.
func TestReplacesTakeOver(t *testing.T) {
	f := newFixture(t, nil)
	port, mc := f.threePhones(), freeUDPPort(t)
	pa, pb, pc := port[0], port[1], port[2]
	b := f.startSipp(withReason(t, reasonTransferredRE), pb)
	a := f.startSipp(repointed(t, "uac_repointed.xml", mc), pa, "-key", "user", "1001", "-s", "1002", "-d", "3000")
	rep := f.dialogOf("1002", legAnswered, false)
	f.startSipp("uac_replaces.xml", pc, "-key", "user", "1003", "-s", "1002", "-key", "replaces", rep,
		"-mp", strconv.Itoa(mc)).wait(t)
	a.wait(t)
	b.wait(t)
	f.flowIs(
		engine.SetService{DN: "1003", InService: true},
		engine.SetService{DN: "1002", InService: true},
		engine.SetService{DN: "1001", InService: true},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.Answer{ConnID: "$1", DN: "1002"},
		engine.SingleStepTransfer{ConnID: "$1", DN: "1002", To: "1003"},
		engine.Answer{ConnID: "$1", DN: "1003"},
		engine.Release{ConnID: "$1", DN: "1001"},
	)
}

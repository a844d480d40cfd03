package sipfront

import (
	"sync/atomic"
	"testing"
)

// TestInviteRetransmittedAfter200: 1001 retransmits its INVITE once it
// has our 200, before its ACK, and gets the 200 again at once (the
// absorber's record of the INVITE, invite.go: not the 200's own
// retransmission at T1), then again after its ACK, which is absorbed:
// no answer, no second call (the flow is 5.1, nothing left over).
func TestInviteRetransmittedAfter200(t *testing.T) {
	f := newFixture(t, nil)
	// The ACKs of 1001's 200 (its INVITE's CSeq is 2, after the 407).
	var acks atomic.Int32
	seen := func(a seenAck) {
		if a.seq == 2 {
			acks.Add(1)
		}
	}
	f.sip.ackSeen.Store(&seen)
	uas, uac := f.startCall("uas.xml", "uac_invite_retrans.xml", "-d", "1500")
	uac.wait(t)
	uas.wait(t)
	f.basicFlow()
	// 1001's ACK, and its ACK again for the 200 its first retransmission
	// got.
	if n := acks.Load(); n != 2 {
		t.Errorf("%d ACKs of the 200, want 2: 1001's INVITE retransmitted before its ACK must get the 200 again, and after it nothing", n)
	}
}

// Test200RetransmittedAfterAck: 1002 sends its 200 again once it has our
// ACK (as if the ACK had been lost); our INVITE's transaction ended with
// the first 200, and the leg's dialog record ACKs it again (invite.go:
// ackAgain) within 2 s. The call goes on: flow 5.1, nothing left over.
func Test200RetransmittedAfterAck(t *testing.T) {
	f := newFixture(t, nil)
	uas, uac := f.startCall("uas_2xx_retrans.xml", "uac.xml", "-d", "3000")
	uac.wait(t)
	uas.wait(t)
	f.basicFlow()
}

// startCall registers 1002 and 1001 (sipp phones on free ports), then
// starts 1002 answering with scenario uas and 1001 calling 1002 with
// scenario uac (and sipp arguments args).
func (f *fixture) startCall(uas, uac string, args ...string) (callee, caller *sipp) {
	f.t.Helper()
	pa, pb := freeUDPPort(f.t), freeUDPPort(f.t)
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	callee = f.startSipp(uas, pb, "-key", "user", "1002")
	caller = f.startSipp(uac, pa, append([]string{"-key", "user", "1001", "-s", "1002"}, args...)...)
	return callee, caller
}

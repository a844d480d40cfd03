package sipfront

import (
	"sync/atomic"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// TestInviteRetransmittedAfter200: 1001 retransmits its INVITE once it
// has our 200, before its ACK, and gets the 200 again at once (the
// absorber's record of the INVITE, invite.go: not the 200's own
// retransmission at T1), then again after its ACK, which is absorbed:
// no answer, no second call (the flow is 5.1, nothing left over).
func TestInviteRetransmittedAfter200(t *testing.T) {
	f := newFixture(t, nil)
	pa, pb := freeUDPPort(t), freeUDPPort(t)
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	// The ACKs of 1001's 200 (its INVITE's CSeq is 2, after the 407).
	var acks atomic.Int32
	seen := func(req *sip.Request) {
		if req.CSeq().SeqNo == 2 {
			acks.Add(1)
		}
	}
	f.sip.ackSeen.Store(&seen)
	uas := f.startSipp("uas.xml", pb, "-key", "user", "1002")
	uac := f.startSipp("uac_invite_retrans.xml", pa, "-key", "user", "1001", "-s", "1002", "-d", "1500")
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
	pa, pb := freeUDPPort(t), freeUDPPort(t)
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	uas := f.startSipp("uas_2xx_retrans.xml", pb, "-key", "user", "1002")
	uac := f.startSipp("uac.xml", pa, "-key", "user", "1001", "-s", "1002", "-d", "3000")
	uac.wait(t)
	uas.wait(t)
	f.basicFlow()
}

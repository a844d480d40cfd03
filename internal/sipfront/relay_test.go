package sipfront

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/media"
)

// alwaysFixture is the fixture with anchor: always on a fake clock, its
// RTP ports in a free range of 8 (4 sessions) and advertised at
// 127.0.0.1; inRange checks an SDP address is one of them.
func alwaysFixture(t *testing.T, rec *Recording) (f *fixture, lo, hi int, inRange func(string, netip.AddrPort)) {
	t.Helper()
	l, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	lo = l.LocalAddr().(*net.UDPAddr).Port &^ 1
	hi = lo + 7
	l.Close()
	plane := media.NewPlane(media.Config{Clock: media.NewFakeClock(time.Unix(1_700_000_000, 0)), Schedulers: 1, PortMin: lo, PortMax: hi})
	tones, err := media.NewTones(media.TonesEU)
	if err != nil {
		t.Fatal(err)
	}
	adv := netip.MustParseAddr("127.0.0.1")
	f = newFixture(t, func(c *Config) {
		c.Tenants[0].Media = &Media{Plane: plane, Advertise: adv, Tones: tones, Always: true, Recording: rec}
	})
	return f, lo, hi, func(what string, ap netip.AddrPort) {
		t.Helper()
		if ap.Addr() != adv || int(ap.Port()) < lo || int(ap.Port()) > hi || ap.Port()%2 != 0 {
			t.Fatalf("%s at %v, want %v on an even port of %d-%d", what, ap, adv, lo, hi)
		}
	}
}

// phoneRequest is a request of fake phone p as extension dn of the demo
// tenant, to dialled (the dialog's To tag once known).
func (p *fakePhone) phoneRequest(method, dn, dialled, body string, extra ...string) string {
	r := p.request(method, "sip:"+dialled+"@"+p.server.String(), body, extra...)
	r = strings.Replace(r, "From: <sip:+3377@"+p.local()+">", "From: <sip:"+dn+"@demo>", 1)
	r = strings.Replace(r, "To: <sip:7000@", "To: <sip:"+dialled+"@", 1)
	return strings.Replace(r, "Contact: <sip:+3377@", "Contact: <sip:"+dn+"@", 1)
}

// dial calls dialled as extension dn, answering the 407 challenge.
func (p *fakePhone) dial(dn, dialled string) {
	p.t.Helper()
	p.callID = "dial-" + p.tag
	uri := "sip:" + dialled + "@" + p.server.String()
	p.send(p.phoneRequest("INVITE", dn, dialled, p.offer("0 101")))
	_, _, _, raw := p.recv("SIP/2.0 407")
	m, err := sip.ParseMessage([]byte(raw))
	if err != nil {
		p.t.Fatal(err)
	}
	ack := p.phoneRequest("ACK", dn, dialled, "")
	ack = strings.Replace(ack, "CSeq: "+strconv.Itoa(p.cseq)+" ACK", "CSeq: "+strconv.Itoa(p.cseq-1)+" ACK", 1)
	ack = strings.Replace(ack, strconv.Itoa(p.cseq)+"ACK", strconv.Itoa(p.cseq-1)+"INVITE", 1) // the INVITE's branch
	p.send(ack)
	cred := strings.TrimSuffix(answer(p.t, "INVITE", uri, m.(*sip.Response), dn, testPassword, 1), "\r\n")
	p.send(p.phoneRequest("INVITE", dn, dialled, p.offer("0 101"), cred))
}

// directCall: extension 1003 (caller) dials 1002 (callee, bound); the
// callee's INVITE, whose offer must be a session of switchboard's.
func directCall(t *testing.T, f *fixture, inRange func(string, netip.AddrPort)) (caller, callee *fakePhone, inv map[string]string, offer media.Offer) {
	t.Helper()
	caller = newFakePhoneAt(t, f, "127.0.0.1:0")
	callee = newFakePhoneAt(t, f, "127.0.0.1:0")
	if err := f.sip.Bind("1002", callee.local(), time.Minute); err != nil {
		t.Fatal(err)
	}
	caller.dial("1003", "1002")
	_, inv, body, _ := callee.recv("INVITE ")
	offer, err := media.ParseOffer([]byte(body))
	if err != nil {
		t.Fatalf("INVITE to 1002: %v\n%s", err, body)
	}
	inRange("1002's offer", offer.Remote)
	return caller, callee, inv, offer
}

// TestAnchorAlwaysRelaysDirectCalls: with anchor: always, extension 1003
// calls extension 1002 (no queue): 1002's phone is INVITEd with a session
// of switchboard's, not 1003's SDP, and 1003's INVITE is answered with
// another; RTP flows both ways through switchboard, to the address 1002's
// answer names until its own packets latch it. The caller's BYE frees
// both sessions' ports. The tenant records every relayed call: the
// direct call's recording holds the caller's packet on channel 1 and the
// callee's on channel 2, its path in the call's UserData.
func TestAnchorAlwaysRelaysDirectCalls(t *testing.T) {
	path := filepath.Join(t.TempDir(), "{connid}.wav")
	f, lo, hi, inRange := alwaysFixture(t, &Recording{Template: path})
	w := &eventWaiter{f: f}
	caller, callee, inv, calleeSide := directCall(t, f, inRange)
	if calleeSide.Law != media.PCMU || calleeSide.DTMF != 101 {
		t.Fatalf("1002 offered law %v DTMF %d, want the caller's PCMU and 101", calleeSide.Law, calleeSide.DTMF)
	}
	callee.respondInvite(inv, 200, "OK", callee.offer("0 101"))
	code, callerSide := caller.answered()
	if code != 200 {
		t.Fatalf("1003's INVITE answered %d", code)
	}
	inRange("1003's answer", callerSide)
	if callerSide == calleeSide.Remote {
		t.Fatal("both phones were given the same session")
	}
	w.wait("EventEstablished 1003", func(e *event.Event) bool { return e.ID == event.EventEstablished && e.ThisDN == "1003" })
	// The caller speaks first: its packet reaches 1002 at the address of
	// 1002's answer; then 1002's comes back.
	relayed(t, callee, calleeSide.Remote, caller, callerSide, 1000)

	caller.send(caller.phoneRequest("BYE", "1003", "1002", ""))
	caller.recv("SIP/2.0 200")
	_, bye, _, _ := callee.recv("BYE ")
	callee.respondOK(bye)
	waitUntil(t, func() bool { return portsFree(lo, hi) })

	ud := w.wait("EventReleased", func(e *event.Event) bool { return e.ID == event.EventReleased })
	want := strings.ReplaceAll(path, "{connid}", ud.ConnID)
	if v, ok := ud.UserData.Get(RecordingPathKey); !ok || v.Str != want {
		t.Fatalf("UserData %v, want %s=%s", ud.UserData, RecordingPathKey, want)
	}
	raw, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	const hdr = 58
	if len(raw) != hdr+2*media.FrameSamples || raw[22] != 2 {
		t.Fatalf("recording of %d bytes, want a two-channel header and one frame each way", len(raw))
	}
}

// TestAnchorAlwaysDirectCallCancelled: the caller of a relayed direct
// call hangs up while the callee's phone rings: both sessions close.
func TestAnchorAlwaysDirectCallCancelled(t *testing.T) {
	f, lo, hi, inRange := alwaysFixture(t, nil)
	caller, callee, inv, _ := directCall(t, f, inRange)
	callee.respondCode(inv, 180, "Ringing")
	caller.recv("SIP/2.0 180")
	if portsFree(lo, hi) {
		t.Fatal("no relay port taken while 1002 rings")
	}
	cancel := caller.phoneRequest("CANCEL", "1003", "1002", "")
	cancel = strings.Replace(cancel, "CSeq: "+strconv.Itoa(caller.cseq)+" CANCEL", "CSeq: "+strconv.Itoa(caller.cseq-1)+" CANCEL", 1)
	cancel = strings.Replace(cancel, strconv.Itoa(caller.cseq)+"CANCEL", strconv.Itoa(caller.cseq-1)+"INVITE", 1)
	caller.send(cancel)
	caller.recv("SIP/2.0 487")
	_, c, _, _ := callee.recv("CANCEL ")
	callee.respondOK(c) // 200 to the CANCEL
	callee.respondInvite(inv, 487, "Request Terminated", "")
	waitUntil(t, func() bool { return portsFree(lo, hi) })
}

// respondOK answers a request 200 without a body.
func (p *fakePhone) respondOK(hdrs map[string]string) { p.respondCode(hdrs, 200, "OK") }

// respondCode answers a request code without a body.
func (p *fakePhone) respondCode(hdrs map[string]string, code int, reason string) {
	p.t.Helper()
	to := hdrs["to"]
	if !strings.Contains(to, "tag=") {
		to += ";tag=" + p.tag
	}
	p.send("SIP/2.0 " + strconv.Itoa(code) + " " + reason + "\r\nVia: " + hdrs["via"] + "\r\nFrom: " + hdrs["from"] + "\r\nTo: " + to +
		"\r\nCall-ID: " + hdrs["call-id"] + "\r\nCSeq: " + hdrs["cseq"] + "\r\nContent-Length: 0\r\n\r\n")
}

// portsFree reports whether every even port of lo-hi can be bound on
// 127.0.0.1 (no session holds one).
func portsFree(lo, hi int) bool {
	for p := lo; p <= hi; p += 2 {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
		if err != nil {
			return false
		}
		c.Close()
	}
	return true
}

// TestUnansweredStepOutFallsBackToRelay: the caller never answers the
// step-out re-INVITE; after ReinviteTimeout switchboard re-INVITEs the
// agent's phone to a session of its own and relays RTP between them.
func TestUnansweredStepOutFallsBackToRelay(t *testing.T) {
	f, _, _, _ := mediaFixture(t, func(c *Config) { c.ReinviteTimeout = 300 * time.Millisecond })
	w := &eventWaiter{f: f}
	caller := newFakePhone(t, f)
	agent := newFakePhoneAt(t, f, "127.0.0.1:0")
	if err := f.sip.Bind("1001", agent.local(), time.Minute); err != nil {
		t.Fatal(err)
	}
	caller.invite("0 101")
	conn := w.wait("EventQueued", func(e *event.Event) bool { return e.ID == event.EventQueued }).ConnID
	f.do(engine.ApplyTreatment{ConnID: conn, DN: "7000", Type: "Music"})
	code, callerSide := caller.answered()
	if code != 200 {
		t.Fatalf("INVITE answered %d", code)
	}
	f.agentReady()
	_, inv, _, _ := agent.recv("INVITE ")
	agent.respondInvite(inv, 200, "OK", agent.offer("0"))
	caller.recv("INVITE ") // the step-out, never answered
	_, reinv, body, _ := agent.recv("INVITE ")
	agentSide, err := media.ParseOffer([]byte(body))
	if err != nil || !strings.Contains(body, "o=switchboard") {
		t.Fatalf("relay re-INVITE to the agent: %v\n%s", err, body)
	}
	agent.respondInvite(reinv, 200, "OK", agent.offer("0"))
	for caller.rtpPacket(50*time.Millisecond) != nil {
	}
	relayed(t, caller, callerSide, agent, agentSide.Remote, 5000)
}

package sipfront

import (
	"bytes"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/switchboard-cc/switchboard/internal/media"
)

// writeDigitsPcap writes a pcap (Ethernet, IPv4, UDP) of RFC 4733 packets
// for digits, payload type 101, one SSRC, ascending sequence numbers: per
// digit a first packet with duration 0, two updates and three end packets
// 20 ms apart, digits 200 ms apart. (The pcaps Debian's sipp ships share
// one SSRC with sequence numbers out of digit order.)
func writeDigitsPcap(t *testing.T, path, digits string) {
	t.Helper()
	var b []byte
	le := binary.LittleEndian
	hdr := make([]byte, 24)
	le.PutUint32(hdr[0:], 0xa1b2c3d4)
	le.PutUint16(hdr[4:], 2)
	le.PutUint16(hdr[6:], 4)
	le.PutUint32(hdr[16:], 65535)
	le.PutUint32(hdr[20:], 1) // Ethernet
	b = append(b, hdr...)
	seq, usec := uint16(1000), int64(0)
	for i := 0; i < len(digits); i++ {
		ts := uint32(8000 + 1600*i)
		for j, p := range [][]byte{
			media.DigitEvent(digits[i], false, 10, 0), media.DigitEvent(digits[i], false, 10, 160), media.DigitEvent(digits[i], false, 10, 320),
			media.DigitEvent(digits[i], true, 10, 480), media.DigitEvent(digits[i], true, 10, 480), media.DigitEvent(digits[i], true, 10, 480),
		} {
			rtpb := make([]byte, 12, 16)
			rtpb[0] = 0x80
			rtpb[1] = 101
			if j == 0 {
				rtpb[1] |= 0x80
			}
			binary.BigEndian.PutUint16(rtpb[2:], seq)
			binary.BigEndian.PutUint32(rtpb[4:], ts)
			binary.BigEndian.PutUint32(rtpb[8:], 0x5eed)
			rtpb = append(rtpb, p...)
			seq++
			udp := make([]byte, 8)
			binary.BigEndian.PutUint16(udp[0:], 6000)
			binary.BigEndian.PutUint16(udp[2:], 6002)
			binary.BigEndian.PutUint16(udp[4:], uint16(8+len(rtpb)))
			ip := []byte{0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1}
			binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(rtpb)))
			var sum uint32
			for k := 0; k < 20; k += 2 {
				sum += uint32(binary.BigEndian.Uint16(ip[k:]))
			}
			for sum > 0xffff {
				sum = sum&0xffff + sum>>16
			}
			binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
			eth := []byte{0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0x08, 0x00}
			frame := append(append(append(eth, ip...), udp...), rtpb...)
			rec := make([]byte, 16)
			le.PutUint32(rec[0:], uint32(usec/1e6))
			le.PutUint32(rec[4:], uint32(usec%1e6))
			le.PutUint32(rec[8:], uint32(len(frame)))
			le.PutUint32(rec[12:], uint32(len(frame)))
			b = append(append(b, rec...), frame...)
			usec += 20000
		}
		usec += 200000
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// callerScenario is a trunk caller calling 7000 offering PCMU and
// telephone-event: after the 200 it plays pcap (if any), then answers
// each of switchboard's re-INVITEs with the next of reinvites ("200",
// "488", "491"; "200@PORT" also checks that the re-INVITE's SDP sends to
// m=audio PORT), talks hold ms after the last and hangs up.
func callerScenario(t *testing.T, pcap string, hold int, reinvites ...string) string {
	t.Helper()
	var s strings.Builder
	s.WriteString(`<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="anchored caller">
  <send retrans="500">
    <![CDATA[
      INVITE sip:7000@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:+3377@[local_ip]>;tag=[pid]SIPpTag[call_number]
      To: <sip:7000@demo>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:+3377@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" timeout="15000"/>
  <send>
    <![CDATA[
      ACK sip:7000@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:+3377@[local_ip]>;tag=[pid]SIPpTag[call_number]
      To: <sip:7000@demo>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:+3377@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
`)
	if pcap != "" {
		s.WriteString(`  <nop><action><exec play_pcap_audio="` + pcap + `"/></action></nop>
`)
	}
	for i, r := range reinvites {
		code, port, _ := strings.Cut(r, "@")
		reason, body := "OK", `Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687638 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
`
		switch code {
		case "488":
			reason, body = "Not Acceptable Here", "Content-Length: 0\n"
		case "491":
			reason, body = "Request Pending", "Content-Length: 0\n"
		}
		s.WriteString(`  <recv request="INVITE" timeout="20000"`)
		if port != "" {
			v := "port" + strconv.Itoa(i)
			s.WriteString(`>
    <action>
      <ereg regexp="m=audio ` + port + ` " search_in="body" check_it="true" assign_to="` + v + `"/>
    </action>
  </recv>
  <Reference variables="` + v + `"/>
`)
		} else {
			s.WriteString("/>\n")
		}
		s.WriteString(`  <send>
    <![CDATA[
      SIP/2.0 ` + code + ` ` + reason + `
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:+3377@[local_ip]:[local_port]>
      ` + body + `
    ]]>
  </send>
  <recv request="ACK"/>
`)
	}
	s.WriteString(`  <pause milliseconds="` + strconv.Itoa(hold) + `"/>
`)
	s.WriteString(`  <send retrans="500">
    <![CDATA[
      BYE sip:7000@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:+3377@[local_ip]>;tag=[pid]SIPpTag[call_number]
      To: <sip:7000@demo>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 3 BYE
      Contact: <sip:+3377@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"/>
</scenario>
`)
	path := filepath.Join(t.TempDir(), "caller.xml")
	if err := os.WriteFile(path, []byte(s.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// sippMediaFixture is the fixture with anchoring on the wall clock (sipp
// needs real RTP timing).
func sippMediaFixture(t *testing.T) (*fixture, int) {
	needSipp(t)
	plane := media.NewPlane(media.Config{Schedulers: 1})
	tones, err := media.NewTones(media.TonesEU)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, func(c *Config) {
		c.Tenants[0].Media = &Media{Plane: plane, DefaultMusic: media.DemoMusic(), Tones: tones}
	})
	go plane.Run(f.sip.Context())
	_, tp, _ := net.SplitHostPort(f.trunk)
	port, _ := strconv.Atoi(tp)
	return f, port
}

// TestSippDigitsThenStepOut: sipp calls queue 7000 through the trunk; a
// CollectDigits treatment anchors it; it plays 4, 2, # from a pcap made
// here, which end the treatment with those digits; an agent phone (sipp,
// -rtp_echo) answers and the caller is re-INVITEd to it.
func TestSippDigitsThenStepOut(t *testing.T) {
	f, trunkPort := sippMediaFixture(t)
	w := &eventWaiter{f: f}
	pcap := filepath.Join(t.TempDir(), "digits.pcap")
	writeDigitsPcap(t, pcap, "42#")
	agentPort := freeUDPPort(t)
	f.register("1001", agentPort, 3600)
	agentMP := strconv.Itoa(freeUDPPort(t))
	agent := f.startSipp("uas.xml", agentPort, "-rtp_echo", "-mp", agentMP)
	// The step-out re-INVITE sends the caller to the agent's media port.
	caller := f.startSipp(callerScenario(t, pcap, 1000, "200@"+agentMP), trunkPort, "-mp", strconv.Itoa(freeUDPPort(t)))
	conn := w.wait("EventQueued", func(e *event.Event) bool { return e.ID == event.EventQueued }).ConnID
	f.do(engine.ApplyTreatment{ConnID: conn, DN: "7000", Type: "CollectDigits",
		Parms: event.KV{event.S("TOTAL_DIGITS", "3"), event.S("INTER_DIGIT_TIMEOUT", "10")}})
	end := w.wait("EventTreatmentEnd", func(e *event.Event) bool { return e.ID == event.EventTreatmentEnd })
	if end.CollectedDigits != "42#" || end.LastCollectedDigit != "#" {
		t.Fatalf("CollectedDigits %q LastCollectedDigit %q, want 42# and #", end.CollectedDigits, end.LastCollectedDigit)
	}
	f.agentReady()
	w.wait("EventEstablished", func(e *event.Event) bool { return e.ID == event.EventEstablished && e.ThisDN == "1001" })
	// The caller received and answered the step-out re-INVITE, then hung up.
	finish(t, w, "1001", caller, agent)
}

// agentReady logs agent1 in at 1001 to queue 7000, ready: the queue's
// call rings 1001.
func (f *fixture) agentReady() {
	f.t.Helper()
	f.do(engine.Login{DN: "1001", AgentID: "agent1", Queues: []string{"7000"}})
	f.do(engine.Ready{DN: "1001"})
}

// finish waits for the sipps to end and for DN dn's EventReleased, then
// checks every event.
func finish(t *testing.T, w *eventWaiter, dn string, ps ...*sipp) {
	t.Helper()
	for _, p := range ps {
		p.wait(t)
	}
	w.wait("EventReleased "+dn, func(e *event.Event) bool { return e.ID == event.EventReleased && e.ThisDN == dn })
	checkSinkEvents(t, w)
}

// TestSippAbandonWhileAnchored: the anchored caller hangs up (BYE):
// EventAbandoned.
func TestSippAbandonWhileAnchored(t *testing.T) {
	f, trunkPort := sippMediaFixture(t)
	w := &eventWaiter{f: f}
	caller := f.startSipp(callerScenario(t, "", 500), trunkPort, "-mp", strconv.Itoa(freeUDPPort(t)))
	conn := w.wait("EventQueued", func(e *event.Event) bool { return e.ID == event.EventQueued }).ConnID
	f.do(engine.ApplyTreatment{ConnID: conn, DN: "7000", Type: "Music"})
	caller.wait(t)
	w.wait("EventAbandoned", func(e *event.Event) bool { return e.ID == event.EventAbandoned && e.ConnID == conn })
	checkSinkEvents(t, w)
}

// TestSippRefusedReinviteRelays: the caller answers the step-out
// re-INVITE 488 (refused), or 491 (glare: it had a re-INVITE of its own
// pending); the agent's phone (sipp) is re-INVITEd with switchboard's own
// SDP (checked by the scenario) and the call goes on, relayed, until the
// caller hangs up.
func TestSippRefusedReinviteRelays(t *testing.T) {
	for _, code := range []string{"488", "491"} {
		t.Run(code, func(t *testing.T) {
			f, trunkPort := sippMediaFixture(t)
			w := &eventWaiter{f: f}
			agentPort := freeUDPPort(t)
			f.register("1001", agentPort, 3600)
			agent := f.startSipp("uas_reinvited.xml", agentPort, "-rtp_echo", "-mp", strconv.Itoa(freeUDPPort(t)))
			caller := f.startSipp(callerScenario(t, "", 1000, code), trunkPort, "-mp", strconv.Itoa(freeUDPPort(t)))
			conn := w.wait("EventQueued", func(e *event.Event) bool { return e.ID == event.EventQueued }).ConnID
			f.do(engine.ApplyTreatment{ConnID: conn, DN: "7000", Type: "Music"})
			f.agentReady()
			finish(t, w, "1001", caller, agent)
		})
	}
}

// TestSippHoldAndTransferAfterStepOut: after the step-out the agent's
// phone (sipp) holds the call and takes it back, each re-INVITE answered
// with the caller's own SDP (the caller talks to the agent directly), then
// transfers it to 1002 by REFER; 1002's phone answers and the caller is
// re-INVITEd to 1002's media port; the caller hangs up and 1002 gets its
// BYE.
func TestSippHoldAndTransferAfterStepOut(t *testing.T) {
	f, trunkPort := sippMediaFixture(t)
	w := &eventWaiter{f: f}
	agentPort, targetPort := freeUDPPort(t), freeUDPPort(t)
	callerMP, agentMP, targetMP := strconv.Itoa(freeUDPPort(t)), strconv.Itoa(freeUDPPort(t)), strconv.Itoa(freeUDPPort(t))
	f.register("1001", agentPort, 3600)
	f.register("1002", targetPort, 3600)
	sc, err := os.ReadFile(filepath.Join("testdata", "uas_hold_refer.xml"))
	if err != nil {
		t.Fatal(err)
	}
	agentSc := filepath.Join(t.TempDir(), "agent.xml")
	if err := os.WriteFile(agentSc, bytes.ReplaceAll(sc, []byte("PEERPORT"), []byte(callerMP)), 0o644); err != nil {
		t.Fatal(err)
	}
	agent := f.startSipp(agentSc, agentPort, "-mp", agentMP, "-key", "target", "1002", "-key", "service", "1001")
	target := f.startSipp("uas.xml", targetPort, "-mp", targetMP)
	caller := f.startSipp(callerScenario(t, "", 1000, "200@"+agentMP, "200@"+targetMP), trunkPort, "-mp", callerMP)
	conn := w.wait("EventQueued", func(e *event.Event) bool { return e.ID == event.EventQueued }).ConnID
	f.do(engine.ApplyTreatment{ConnID: conn, DN: "7000", Type: "Music"})
	f.agentReady()
	for _, id := range []event.Name{event.EventHeld, event.EventRetrieved} {
		w.wait(id.String(), func(e *event.Event) bool { return e.ID == id && e.ThisDN == "1001" })
	}
	w.wait("EventEstablished 1002", func(e *event.Event) bool { return e.ID == event.EventEstablished && e.ThisDN == "1002" })
	finish(t, w, "1002", caller, agent, target)
}

// checkSinkEvents passes every event the waiter took, and any the sink
// holds still, through the independent checker ../shared/tools/check-events
// as the records the publisher would write (topic, key, headers, value).
func checkSinkEvents(t *testing.T, w *eventWaiter) {
	t.Helper()
	kafkatest.CheckEvents(t, kafkatest.EventRecords(append(w.all, w.f.sink.take()...)))
}

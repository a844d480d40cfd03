package media

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// phone is a fake far end: a UDP socket that reads switchboard's RTP and
// sends telephone-events.
type phone struct {
	t    *testing.T
	conn *net.UDPConn
	seq  uint16
}

func newPhone(t *testing.T) *phone {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &phone{t: t, conn: c}
}

func (p *phone) addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (p *phone) recv() *rtp.Packet {
	p.t.Helper()
	buf := make([]byte, 1500)
	p.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := p.conn.Read(buf)
	if err != nil {
		p.t.Fatalf("phone: %v", err)
	}
	var pk rtp.Packet
	if err := pk.Unmarshal(buf[:n]); err != nil {
		p.t.Fatal(err)
	}
	return &pk
}

func (p *phone) send(to netip.AddrPort, pt uint8, ts uint32, payload []byte) {
	p.t.Helper()
	p.seq++
	b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: p.seq, Timestamp: ts, SSRC: 42}, Payload: payload}).Marshal()
	if _, err := p.conn.WriteToUDPAddrPort(b, to); err != nil {
		p.t.Fatal(err)
	}
}

// digit sends one press: duration 0 first, two updates, three ends.
func (p *phone) digit(to netip.AddrPort, d byte, ts uint32) {
	p.send(to, 101, ts, DigitEvent(d, false, 10, 0))
	p.send(to, 101, ts, DigitEvent(d, false, 10, 160))
	p.send(to, 101, ts, DigitEvent(d, false, 10, 320))
	for range 3 {
		p.send(to, 101, ts, DigitEvent(d, true, 10, 480))
	}
}

func testPlane(t *testing.T) (*Plane, *FakeClock) {
	c := NewFakeClock(time.Unix(1_000_000, 0))
	return NewPlane(Config{Clock: c, Schedulers: 1}), c
}

func TestSessionSendsExactlyTheClipFrames(t *testing.T) {
	p, c := testPlane(t)
	ph := newPhone(t)
	for _, law := range []Law{PCMU, PCMA} {
		s, err := p.Open(SessionConfig{Remote: ph.addr(), Law: law, DTMF: 101})
		if err != nil {
			t.Fatal(err)
		}
		pcm := make([]int16, 3*FrameSamples)
		for i := range pcm {
			pcm[i] = int16(i * 37)
		}
		clip := NewClip("three", pcm)
		s.Play(Source{Clip: clip, Loop: true})
		sched := p.Schedulers()[0]
		var prev *rtp.Packet
		for i := 0; i < 7; i++ {
			c.Advance(Ptime)
			sched.Tick(c.Now(), 1)
			pk := ph.recv()
			if pk.PayloadType != uint8(law) {
				t.Fatalf("PT %d, want %d", pk.PayloadType, law)
			}
			if !bytes.Equal(pk.Payload, clip.Frame(law, i%3)) {
				t.Fatalf("%s packet %d is not clip frame %d", law, i, i%3)
			}
			if prev != nil {
				if pk.SequenceNumber != prev.SequenceNumber+1 || pk.Timestamp != prev.Timestamp+FrameSamples || pk.SSRC != prev.SSRC {
					t.Fatalf("packet %d: seq %d ts %d after seq %d ts %d", i, pk.SequenceNumber, pk.Timestamp, prev.SequenceNumber, prev.Timestamp)
				}
			}
			prev = pk
		}
		// A stall of 5 periods: one packet, sequence +1, timestamp +5 frames.
		c.Advance(5 * Ptime)
		sched.Tick(c.Now(), 5)
		pk := ph.recv()
		if pk.SequenceNumber != prev.SequenceNumber+1 || pk.Timestamp != prev.Timestamp+5*FrameSamples {
			t.Fatalf("after stall: seq %d ts %d, prev seq %d ts %d", pk.SequenceNumber, pk.Timestamp, prev.SequenceNumber, prev.Timestamp)
		}
		// Played once: the clip, then comfort noise.
		s.Play(Source{Clip: clip})
		noise := NewComfortNoise()
		for i := 0; i < 5; i++ {
			sched.Tick(c.Now(), 1)
			pk := ph.recv()
			var want []byte
			if i < 3 {
				want = clip.Frame(law, i)
			} else {
				want = noise.Frame(law, i-3)
			}
			if !bytes.Equal(pk.Payload, want) {
				t.Fatalf("once: packet %d wrong", i)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if sched.Len() != 0 {
			t.Fatal("closed session still scheduled")
		}
	}
}

func TestSessionCollectsDigits(t *testing.T) {
	p, c := testPlane(t)
	ph := newPhone(t)
	s, err := p.Open(SessionConfig{Remote: ph.addr(), Law: PCMU, DTMF: 101})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := make(chan string, 4)
	collect := func(max int, term string, inter time.Duration) {
		s.Collect(&Collect{Max: max, Term: term, InterDigit: inter, Done: func(d string) { got <- d }})
	}
	wait := func(want string) {
		t.Helper()
		select {
		case d := <-got:
			if d != want {
				t.Fatalf("collected %q, want %q", d, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no collection, want %q", want)
		}
	}
	ts := uint32(1000)
	press := func(d byte) { ph.digit(s.Local(), d, ts); ts += 2000 }

	collect(3, "", 0)
	press('1')
	press('2')
	press('3')
	wait("123")

	collect(10, "#", 0)
	press('4')
	press('#')
	wait("4#")

	collect(10, "#", 3*time.Second)
	press('7')
	waitFor(t, func() bool { return s.Stats().Digits == 6 })
	sched := p.Schedulers()[0]
	c.Advance(2 * time.Second)
	sched.Tick(c.Now(), 1)
	select {
	case d := <-got:
		t.Fatalf("collection ended early with %q", d)
	default:
	}
	c.Advance(time.Second)
	sched.Tick(c.Now(), 1)
	wait("7")

	// Audio packets are not digits; the session counted every packet.
	ph.send(s.Local(), 0, 5, make([]byte, 160))
	waitFor(t, func() bool { return s.Stats().Received == 6*6+1 })
	if s.Stats().Digits != 6 {
		t.Fatalf("digits %d, want 6", s.Stats().Digits)
	}
}

func TestSessionLatchesToTheRealSource(t *testing.T) {
	p, c := testPlane(t)
	said, real := newPhone(t), newPhone(t)
	s, err := p.Open(SessionConfig{Remote: said.addr(), Law: PCMA})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	real.send(s.Local(), 8, 1, make([]byte, 160))
	waitFor(t, func() bool { return s.Remote() == real.addr() })
	// A third party cannot take the stream over once latched.
	said.send(s.Local(), 8, 1, make([]byte, 160))
	time.Sleep(20 * time.Millisecond)
	p.Schedulers()[0].Tick(c.Now(), 1)
	if pk := real.recv(); pk.PayloadType != 8 {
		t.Fatalf("PT %d", pk.PayloadType)
	}
}

func TestSessionTickDoesNotAllocate(t *testing.T) {
	p, c := testPlane(t)
	ph := newPhone(t)
	s, err := p.Open(SessionConfig{Remote: ph.addr(), Law: PCMU})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Play(Source{Clip: NewComfortNoise(), Loop: true})
	sched := p.Schedulers()[0]
	go func() { // drain
		b := make([]byte, 1500)
		for {
			if _, err := ph.conn.Read(b); err != nil {
				return
			}
		}
	}()
	if n := testing.AllocsPerRun(200, func() { sched.Tick(c.Now(), 1) }); n != 0 {
		t.Fatalf("%.1f allocations per tick, want 0", n)
	}
}

func TestPortRange(t *testing.T) {
	l, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	base := l.LocalAddr().(*net.UDPAddr).Port &^ 1
	l.Close()
	p := NewPlane(Config{Clock: NewFakeClock(time.Unix(0, 0)), Schedulers: 2, PortMin: base, PortMax: base + 3})
	var ss []*Session
	for range 2 {
		s, err := p.Open(SessionConfig{Remote: netip.MustParseAddrPort("127.0.0.1:9"), Law: PCMU})
		if err != nil {
			t.Skipf("port range %d-%d busy: %v", base, base+3, err)
		}
		if port := int(s.Local().Port()); port%2 != 0 || port < base || port > base+3 {
			t.Fatalf("port %d outside %d-%d or odd", port, base, base+3)
		}
		ss = append(ss, s)
	}
	if _, err := p.Open(SessionConfig{Law: PCMU}); err == nil {
		t.Fatal("a third session in a two-port range")
	}
	if p.Schedulers()[0].Len() != 1 || p.Schedulers()[1].Len() != 1 {
		t.Fatal("sessions not spread over the schedulers")
	}
	ss[0].Close()
	if s, err := p.Open(SessionConfig{Law: PCMU}); err != nil {
		t.Fatalf("a freed port is not reused: %v", err)
	} else {
		s.Close()
	}
	ss[1].Close()
}

func TestRelayBothWays(t *testing.T) {
	p, _ := testPlane(t)
	caller, agent := newPhone(t), newPhone(t)
	a, err := p.Open(SessionConfig{Remote: caller.addr(), Law: PCMU, DTMF: 101})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := p.Open(SessionConfig{Remote: agent.addr(), Law: PCMU})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	a.RelayTo(b)
	b.RelayTo(a)
	if p.Schedulers()[0].Len() != 0 {
		t.Fatal("relaying sessions still play")
	}
	payload := bytes.Repeat([]byte{0x55}, 160)
	caller.send(a.Local(), 0, 1234, payload)
	pk := agent.recv()
	if pk.Timestamp != 1234 || pk.SSRC != 42 || !bytes.Equal(pk.Payload, payload) {
		t.Fatalf("agent got %+v, want the caller's packet unchanged", pk.Header)
	}
	// Digits pass through too (the agent's phone may want them).
	caller.send(a.Local(), 101, 2000, DigitEvent('5', false, 10, 0))
	if pk := agent.recv(); pk.PayloadType != 101 {
		t.Fatalf("agent got PT %d, want the telephone-event", pk.PayloadType)
	}
	agent.send(b.Local(), 0, 99, payload)
	if pk := caller.recv(); pk.Timestamp != 99 {
		t.Fatalf("caller got ts %d, want 99", pk.Timestamp)
	}
}

// TestOpenRelayWithRemoteLater: relay sessions never play (nothing is
// sent before the first packet to relay); the side whose far end is not
// known when it opens (a phone we are still calling) sends to where
// SetRemote says once its answer comes, unless the phone's own packets
// latched it already.
func TestOpenRelayWithRemoteLater(t *testing.T) {
	p, c := testPlane(t)
	caller, callee, other := newPhone(t), newPhone(t), newPhone(t)
	a, err := p.OpenRelay(SessionConfig{Remote: caller.addr(), Law: PCMA})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := p.OpenRelay(SessionConfig{Law: PCMA})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if n := p.Schedulers()[0].Len(); n != 0 {
		t.Fatalf("%d relay sessions on the scheduler, want none", n)
	}
	a.RelayTo(b)
	b.RelayTo(a)
	p.Schedulers()[0].Tick(c.Now(), 1)
	caller.conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := caller.conn.Read(make([]byte, 1500)); err == nil {
		t.Fatalf("the caller got %d bytes before anything was relayed", n)
	}
	b.SetRemote(callee.addr())
	caller.send(a.Local(), 8, 10, make([]byte, 160))
	if pk := callee.recv(); pk.Timestamp != 10 {
		t.Fatalf("callee got ts %d, want 10", pk.Timestamp)
	}
	callee.send(b.Local(), 8, 20, make([]byte, 160))
	if pk := caller.recv(); pk.Timestamp != 20 {
		t.Fatalf("caller got ts %d, want 20", pk.Timestamp)
	}
	// Latched to the callee's real source: a later SetRemote does not move it.
	b.SetRemote(other.addr())
	caller.send(a.Local(), 8, 30, make([]byte, 160))
	if pk := callee.recv(); pk.Timestamp != 30 {
		t.Fatalf("callee got ts %d, want 30", pk.Timestamp)
	}
}

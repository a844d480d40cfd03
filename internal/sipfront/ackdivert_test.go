package sipfront

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// TestAckKeyOf: what the read filter reads of an ACK (Call-ID, CSeq
// number, the From and To tags), with compact header names and odd
// spacing, without allocating; anything it cannot be certain of is not an
// ACK key (sipgo gets the message).
func TestAckKeyOf(t *testing.T) {
	const base = "ACK sip:1002@127.0.0.1:5060 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bK-ack\r\n" +
		"From: \"A; tag=no >\" <sip:1001@demo;tag=uri>;tag=ftag\r\n" +
		"To: <sip:1002@demo>;x=1; TAG = ttag ;y\r\n" +
		"Call-ID:  c1@test \r\n" +
		"CSeq: 2 ACK\r\n" +
		"Content-Length: 0\r\n\r\n"
	k, ok := ackKeyOf([]byte(base))
	if !ok || string(k.callID) != "c1@test" || k.seq != 2 || string(k.fromTag) != "ftag" || string(k.toTag) != "ttag" {
		t.Fatalf("%q: %+v %v", base, k, ok)
	}
	compact := "ACK sip:1002@demo SIP/2.0\nv: SIP/2.0/UDP h;branch=z9hG4bK-x\nf: sip:1001@demo;tag=a\nt: sip:1002@demo;tag=b\ni: c2\nCSeq: 4294967295 ACK\n\n"
	if k, ok := ackKeyOf([]byte(compact)); !ok || string(k.callID) != "c2" || k.seq != 4294967295 || string(k.fromTag) != "a" || string(k.toTag) != "b" {
		t.Fatalf("%q: %+v %v", compact, k, ok)
	}
	for _, bad := range []struct{ name, old, new string }{
		{"another version", "SIP/2.0\r\nVia", "SIP/3.0\r\nVia"},
		{"no Via", "Via:", "X-Via:"},
		{"no Call-ID", "Call-ID:", "X:"},
		{"two Call-IDs", "Call-ID:  c1@test \r\n", "Call-ID: c1@test\r\nCall-ID: c2\r\n"},
		{"CSeq of the INVITE", "2 ACK", "2 INVITE"},
		{"CSeq without a number", "2 ACK", "ACK"},
		{"CSeq number too large", "2 ACK", "4294967296 ACK"},
		{"no To tag", "; TAG = ttag ;y", ""},
		{"empty To tag", "TAG = ttag", "tag="},
		{"a To tag in the URI only", "To: <sip:1002@demo>;x=1; TAG = ttag ;y", "To: <sip:1002@demo;tag=t>"},
		{"two To headers", "To:", "t: <sip:x@y>;tag=b\r\nTo:"},
		{"no From tag", ";tag=ftag", ""},
		{"unclosed To", "To: <sip:1002@demo>", "To: <sip:1002@demo"},
	} {
		msg := strings.Replace(base, bad.old, bad.new, 1)
		if msg == base {
			t.Fatalf("%s: no change", bad.name)
		}
		if k, ok := ackKeyOf([]byte(msg)); ok {
			t.Errorf("%s: read %+v from %q", bad.name, k, msg)
		}
	}
	// Our dialog record's tags are read the same way.
	if tag, ok := tagParam("<sip:1002@demo>;tag=abc-1"); !ok || tag != "abc-1" {
		t.Fatalf("tagParam: %q %v", tag, ok)
	}
	data := []byte(base)
	if n := testing.AllocsPerRun(100, func() { ackKeyOf(data) }); n != 0 {
		t.Errorf("ackKeyOf: %v allocations, want 0", n)
	}
}

// TestAckDiverted: the ACK of our 200 to 1001 is taken by the read filter
// (not through sipgo's handler) and acted on: the 200 is not resent
// during the 1.5 s 1001 talks (resent at T1, its retransmission would be
// ACKed again by sipp: a second ACK), and 1001's BYE after it ends the
// call (flow 5.1, nothing left over). The ACK of our 407 (stateless) is
// dropped by the read filter too.
func TestAckDiverted(t *testing.T) {
	f := newFixture(t, nil)
	seen := watchAcks(f.sip)
	uas, uac := f.startCall("uas.xml", "uac.xml", "-d", "1500")
	uac.wait(t)
	uas.wait(t)
	f.basicFlow()
	acks := seen.list()
	want := []seenAck{{seq: 1, by: ackAbsorbed}, {seq: 2, by: ackDiverted}}
	if !slices.Equal(acks, want) {
		t.Fatalf("ACKs seen %+v, want %+v: the 407's absorbed (CSeq 1), the 200's taken by the read filter (CSeq 2), once each", acks, want)
	}
}

// rawPhone is a SIP phone on a UDP socket whose received responses are
// collected with their arrival time.
type rawPhone struct {
	t    *testing.T
	conn *net.UDPConn
	to   *net.UDPAddr
	mu   sync.Mutex
	got  []rawResponse
	news chan struct{}
}

type rawResponse struct {
	at  time.Time
	res *sip.Response
}

func newRawPhone(t *testing.T, server string) *rawPhone {
	p := &rawPhone{t: t, news: make(chan struct{}, 1)}
	var err error
	if p.to, err = net.ResolveUDPAddr("udp", server); err != nil {
		t.Fatal(err)
	}
	if p.conn, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { p.conn.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for {
			n, _, err := p.conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			m, err := sip.ParseMessage(buf[:n])
			if res, ok := m.(*sip.Response); err == nil && ok {
				p.mu.Lock()
				p.got = append(p.got, rawResponse{at: time.Now(), res: res})
				p.mu.Unlock()
				select {
				case p.news <- struct{}{}:
				default:
				}
			}
		}
	}()
	return p
}

func (p *rawPhone) addr() string { return p.conn.LocalAddr().String() }

func (p *rawPhone) send(msg string) {
	p.t.Helper()
	msg = strings.ReplaceAll(strings.ReplaceAll(msg, "\r\n", "\n"), "\n", "\r\n")
	if _, err := p.conn.WriteToUDP([]byte(msg), p.to); err != nil {
		p.t.Fatal(err)
	}
}

// count is the number of responses with status code to Call-ID id and
// CSeq number seq received after since.
func (p *rawPhone) count(id string, seq uint32, code int, since time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.got {
		if r.res.CallID().Value() == id && r.res.CSeq().SeqNo == seq && r.res.StatusCode == code && r.at.After(since) {
			n++
		}
	}
	return n
}

// await is the first response with status code to Call-ID id and CSeq
// number seq, waited for 5 s at most.
func (p *rawPhone) await(id string, seq uint32, code int) *sip.Response {
	p.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		p.mu.Lock()
		for _, r := range p.got {
			if r.res.CallID().Value() == id && r.res.CSeq().SeqNo == seq && r.res.StatusCode == code {
				p.mu.Unlock()
				return r.res
			}
		}
		p.mu.Unlock()
		select {
		case <-p.news:
		case <-deadline:
			p.mu.Lock()
			var got []string
			for _, r := range p.got {
				got = append(got, r.res.CallID().Value()+" "+r.res.CSeq().Value()+" "+r.res.StartLine())
			}
			p.mu.Unlock()
			p.t.Fatalf("no %d to %s CSeq %d; got %q", code, id, seq, got)
		}
	}
}

// TestAckOfFailureNotDiverted: the ACK of a failure sent through sipgo's
// INVITE transaction (our 404) goes to that transaction, which stops
// resending the 404 (Timer G), while the 404 of another INVITE, never
// ACKed, is resent (the observation can see a resent failure). The ACK
// of our stateless 407 is dropped in the read filter, and does not end the
// wait of a 2xx with the same Call-ID and CSeq number: 1001 sends its
// INVITE again with credentials under the same CSeq number (as a careless
// phone might), gets our 200, and only then ACKs the 407 (with the 407's
// To tag), and sends an ACK with yet another To tag, which sipgo passes
// to handleAck: the 200 is still resent. Its own ACK is then taken by the read
// filter and the 200 is resent no more; 1001's BYE ends the call.
func TestAckOfFailureNotDiverted(t *testing.T) {
	f := newFixture(t, nil)
	seen := watchAcks(f.sip)
	pb := freeUDPPort(t)
	f.register("1002", pb, 3600)
	uas := f.startSipp("uas.xml", pb, "-key", "user", "1002")
	p := newRawPhone(t, f.sip.Addr())
	invite := func(id, to, branch string, seq int, extra string) string {
		return fmt.Sprintf("INVITE sip:%s@demo SIP/2.0\nVia: SIP/2.0/UDP %s;branch=%s\nFrom: <sip:1001@demo>;tag=ft-%s\nTo: <sip:%s@demo>\nCall-ID: %s\nCSeq: %d INVITE\nContact: <sip:1001@%s>\nMax-Forwards: 70\n%sContent-Type: application/sdp\nContent-Length: %d\n\n%s",
			to, p.addr(), branch, id, to, id, seq, p.addr(), extra, len(sdpOffer)+strings.Count(sdpOffer, "\n"), sdpOffer)
	}
	ack := func(id, to, branch string, res *sip.Response) {
		tag, _ := res.To().Params.Get("tag")
		p.send(fmt.Sprintf("ACK sip:%s@demo SIP/2.0\nVia: SIP/2.0/UDP %s;branch=%s\nFrom: <sip:1001@demo>;tag=ft-%s\nTo: <sip:%s@demo>;tag=%s\nCall-ID: %s\nCSeq: %d ACK\nMax-Forwards: 70\nContent-Length: 0\n\n",
			to, p.addr(), branch, id, to, tag, id, res.CSeq().SeqNo))
	}
	// authenticated sends an INVITE for id to DN to, then again with
	// credentials under CSeq number seq; it returns the 407.
	authenticated := func(id, to string, seq int, code int) (challenge, final *sip.Response) {
		p.send(invite(id, to, "z9hG4bK-"+id+"-1", 1, ""))
		challenge = p.await(id, 1, 407)
		p.send(invite(id, to, "z9hG4bK-"+id+"-2", seq, answer(t, "INVITE", "sip:"+to+"@demo", challenge, "1001", testPassword, 1)))
		return challenge, p.await(id, uint32(seq), code)
	}
	_, ctl := authenticated("ctl", "8888", 2, 404)
	_, nf := authenticated("nf", "8888", 2, 404)
	ack("nf", "8888", "z9hG4bK-nf-2", nf)
	challenge, ok := authenticated("call", "1002", 1, 200)
	acked := time.Now()
	// An ACK with another To tag (not a stateless answer's, not the
	// dialog's): sipgo's, and its handler does not take it for the 200's.
	other := challenge.Clone()
	other.To().Params.Add("tag", "not-ours")
	ack("call", "1002", "z9hG4bK-call-other", other)
	ack("call", "1002", "z9hG4bK-call-1", challenge)
	time.Sleep(1700 * time.Millisecond) // Timer G resends at 0.5 and 1.5 s; the 200's wait at 0.5 and 1.5 s
	if n := p.count("nf", 2, 404, acked); n != 0 {
		t.Errorf("the 404 resent %d times after its ACK: the ACK did not reach sipgo's transaction", n)
	}
	if n := p.count("ctl", 2, 404, ctlAt(p, ctl)); n == 0 {
		t.Errorf("the 404 never ACKed was not resent: Timer G not seen")
	}
	if n := p.count("call", 1, 200, acked); n == 0 {
		t.Errorf("the 200 not resent after the 407's ACK: that ACK ended the 200's wait")
	}
	acked = time.Now()
	ack("call", "1002", "z9hG4bK-call-ack", ok)
	time.Sleep(2300 * time.Millisecond) // the 200's next retransmission was due 2 s after the last
	if n := p.count("call", 1, 200, acked.Add(20*time.Millisecond)); n != 0 {
		t.Errorf("the 200 resent %d times after its ACK", n)
	}
	tag, _ := ok.To().Params.Get("tag")
	p.send(fmt.Sprintf("BYE %s SIP/2.0\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-bye\nFrom: <sip:1001@demo>;tag=ft-call\nTo: <sip:1002@demo>;tag=%s\nCall-ID: call\nCSeq: 2 BYE\nMax-Forwards: 70\nContent-Length: 0\n\n",
		ok.Contact().Address.String(), p.addr(), tag))
	p.await("call", 2, 200)
	uas.wait(t)
	f.noLeftovers()
	acks := seen.list()
	// The 404's ACK went to its transaction, not to the handler.
	want := []seenAck{{seq: 1, by: ackHandled}, {seq: 1, by: ackDiverted}, {seq: 1, by: ackAbsorbed}}
	slices.SortFunc(acks, func(a, b seenAck) int { return int(a.by) - int(b.by) })
	if !slices.Equal(acks, want) {
		t.Errorf("ACKs seen %+v, want %+v", acks, want)
	}
}

// ctlAt is when res arrived first, plus a little: its retransmissions
// come after.
func ctlAt(p *rawPhone, res *sip.Response) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.got {
		if r.res == res {
			return r.at.Add(20 * time.Millisecond)
		}
	}
	return time.Time{}
}

// sdpOffer is an INVITE's SDP (its lines end in CRLF once sent).
const sdpOffer = "v=0\no=user1 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 40000 RTP/AVP 0\na=rtpmap:0 PCMU/8000\n"

func (p ackPath) String() string {
	return [...]string{ackHandled: "handler", ackDiverted: "diverted", ackAbsorbed: "absorbed"}[p]
}

// BenchmarkACKPath: what an ACK over UDP costs the server (CPU and
// allocations of the whole process per ACK, as the benchmark's ns/op and
// allocs/op): one sipgo parses and gives a server transaction and a
// goroutine before handleAck finds nothing to do (sipgo: an ACK with a
// To tag that is neither a stateless answer's nor a dialog's), against
// one the read filter drops before sipgo (filter: the ACK of a stateless
// answer, absorbed by its To tag). The ACK of our 2xx taken by the read
// filter costs the latter plus its leg's lookups (divertAck).
func BenchmarkACKPath(b *testing.B) {
	for _, c := range []struct {
		name string
		tag  func(*Server) string
		by   ackPath
	}{
		{"sipgo", func(*Server) string { return "not-ours" }, ackHandled},
		{"filter", func(s *Server) string { return s.statelessTag() }, ackAbsorbed},
	} {
		b.Run(c.name, func(b *testing.B) {
			f := newFixture(b, nil)
			var seen atomic.Int64
			hook := func(a seenAck) {
				if a.by == c.by {
					seen.Add(1)
				}
			}
			f.sip.ackSeen.Store(&hook)
			to, err := net.ResolveUDPAddr("udp", f.sip.Addr())
			if err != nil {
				b.Fatal(err)
			}
			conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			// Each ACK has a branch of its own: sipgo matches a repeated
			// branch to the transaction of the first and passes it on to
			// no handler.
			head := fmt.Sprintf("ACK sip:1002@demo SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-bench-", conn.LocalAddr())
			rest := fmt.Sprintf("\r\nFrom: <sip:1001@demo>;tag=ft\r\nTo: <sip:1002@demo>;tag=%s\r\nCall-ID: bench@test\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", c.tag(f.sip))
			ack := make([]byte, 0, len(head)+len(rest)+20)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// At most 32 in flight: the socket's buffer drops none.
				for stuck := time.Now().Add(10 * time.Second); int64(i)-seen.Load() >= 32; time.Sleep(20 * time.Microsecond) {
					if time.Now().After(stuck) {
						b.Fatalf("%d of %d ACKs seen", seen.Load(), i)
					}
				}
				ack = strconv.AppendInt(append(ack[:0], head...), int64(i), 10)
				ack = append(ack, rest...)
				if _, err := conn.WriteToUDP(ack, to); err != nil {
					b.Fatal(err)
				}
			}
			for deadline := time.Now().Add(10 * time.Second); seen.Load() < int64(b.N); time.Sleep(20 * time.Microsecond) {
				if time.Now().After(deadline) {
					b.Fatalf("%d of %d ACKs seen", seen.Load(), b.N)
				}
			}
		})
	}
}

// ackLog records the ACKs the server saw and by which path.
type ackLog struct {
	mu   sync.Mutex
	acks []seenAck
}

// watchAcks records every ACK s sees from now on.
func watchAcks(s *Server) *ackLog {
	l := &ackLog{}
	hook := func(a seenAck) {
		l.mu.Lock()
		l.acks = append(l.acks, a)
		l.mu.Unlock()
	}
	s.ackSeen.Store(&hook)
	return l
}

// list is a copy of the ACKs seen so far.
func (l *ackLog) list() []seenAck {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.acks)
}

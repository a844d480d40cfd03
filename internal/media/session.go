package media

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// Source is what a session plays: a clip, looped or played once (then
// comfort noise). The zero Source is comfort noise.
type Source struct {
	Clip *Clip
	Loop bool
}

// Collect ends a digit collection: at Max digits (0: no maximum), at a
// digit in Term (included in the digits, like Genesys's TERM_DIGITS), or
// InterDigit after the last digit (0: none). Done is called once, from
// the session's goroutines, with the digits collected.
type Collect struct {
	Max        int
	Term       string
	InterDigit time.Duration
	Done       func(digits string)
}

// Stats are a session's packet counters.
type Stats struct {
	Sent, Received, Digits uint64
}

// Session is one anchored call's RTP: a UDP socket, the stream sent to
// the caller on its scheduler's tick, and the reader of what the caller
// sends (telephone-events decoded into digits).
type Session struct {
	conn  *net.UDPConn
	local netip.AddrPort
	sched *Scheduler
	noise *Clip

	law  Law
	dtmf uint8 // telephone-event payload type; 0: none negotiated

	mu       sync.Mutex
	remote   netip.AddrPort
	latched  bool
	src      Source
	pos      int
	collect  *Collect
	digits   []byte
	deadline time.Time // inter-digit timeout; zero: none
	onDigit  func(byte)
	onAudio  func(pt uint8, payload []byte)
	closed   bool
	relay    *Session // set: every packet received goes out as is through relay
	rec      *Recorder
	recCh    int

	// send state: touched only by the scheduler goroutine.
	hdr     rtp.Header
	buf     [12 + FrameBytes]byte
	started bool

	sent, recv, ndig atomic.Uint64
}

// SessionConfig describes the far end as its SDP gave it.
type SessionConfig struct {
	Remote netip.AddrPort // where the caller said to send; latched to the real source on the first packet
	Law    Law
	DTMF   uint8 // negotiated telephone-event payload type, 0 if none
}

// Local is the address and port the session receives on.
func (s *Session) Local() netip.AddrPort { return s.local }

// Law is the session's codec.
func (s *Session) Law() Law { return s.law }

// Remote is where the session currently sends.
func (s *Session) Remote() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.remote
}

// SetRemote sets where the session sends, from an SDP that came after it
// opened (the answer of a phone we called); a session latched to the
// phone's real source already keeps that.
func (s *Session) SetRemote(to netip.AddrPort) {
	s.mu.Lock()
	if !s.latched {
		s.remote = to
	}
	s.mu.Unlock()
}

// Stats reads the counters.
func (s *Session) Stats() Stats {
	return Stats{Sent: s.sent.Load(), Received: s.recv.Load(), Digits: s.ndig.Load()}
}

// Play switches what the caller hears from the next packet on.
func (s *Session) Play(src Source) {
	s.mu.Lock()
	s.src, s.pos = src, 0
	s.mu.Unlock()
}

// Collect starts collecting digits; a collection already running is
// replaced without calling its Done.
func (s *Session) Collect(c *Collect) {
	s.mu.Lock()
	s.collect, s.digits, s.deadline = c, s.digits[:0], time.Time{}
	s.mu.Unlock()
}

// OnDigit sets a function called with every digit received (besides any
// collection); nil removes it.
func (s *Session) OnDigit(f func(byte)) {
	s.mu.Lock()
	s.onDigit = f
	s.mu.Unlock()
}

// OnAudio sets a function called with every non-DTMF packet's payload
// type and payload (the payload is reused after it returns).
func (s *Session) OnAudio(f func(pt uint8, payload []byte)) {
	s.mu.Lock()
	s.onAudio = f
	s.mu.Unlock()
}

// RelayTo makes the session a relay: it stops playing, and every packet
// it receives (after latching) is sent unchanged from peer's socket to
// peer's remote. Call it on both sessions of a call to relay both ways
// (the fallback when a caller cannot be re-INVITEd to its agent).
func (s *Session) RelayTo(peer *Session) {
	s.sched.remove(s)
	s.mu.Lock()
	s.relay = peer
	s.mu.Unlock()
}

// Record writes the audio the session receives (its law's packets) on
// channel ch of r; the session of channel 0 (the caller's) stops r when
// it closes.
func (s *Session) Record(r *Recorder, ch int) {
	s.mu.Lock()
	s.rec, s.recCh = r, ch
	s.mu.Unlock()
}

// Close stops sending and receiving and frees the port.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	rec := s.rec
	if s.recCh != 0 {
		rec = nil
	}
	s.mu.Unlock()
	if rec != nil {
		rec.Stop()
	}
	s.sched.remove(s)
	return s.conn.Close()
}

// tick is the scheduler's send path: pick the frame, marshal into the
// session's own buffer, write. No allocation.
func (s *Session) tick(now time.Time, elapsed int) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	var fire *Collect
	var got string
	if !s.deadline.IsZero() && !now.Before(s.deadline) {
		fire, got = s.collect, string(s.digits)
		s.collect, s.deadline = nil, time.Time{}
	}
	clip := s.src.Clip
	if clip == nil {
		clip = s.noise
	}
	if s.pos >= clip.Frames() {
		if s.src.Loop {
			s.pos = 0
		} else {
			clip, s.src.Clip = s.noise, nil
			s.pos = 0
		}
	}
	copy(s.buf[12:], clip.Frame(s.law, s.pos))
	s.pos++
	remote := s.remote
	s.mu.Unlock()
	if fire != nil && fire.Done != nil {
		fire.Done(got)
	}

	s.hdr.SequenceNumber++
	if s.started {
		s.hdr.Timestamp += uint32(FrameSamples * elapsed)
	}
	s.started = true
	if _, err := s.hdr.MarshalTo(s.buf[:12]); err != nil {
		return
	}
	if _, err := s.conn.WriteToUDPAddrPort(s.buf[:], remote); err == nil {
		s.sent.Add(1)
	}
}

// read is the session's receive loop.
func (s *Session) read() {
	buf := make([]byte, 1500)
	var h rtp.Header
	var dec DigitDecoder
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		hl, err := h.Unmarshal(buf[:n])
		if err != nil || h.Version != 2 {
			continue
		}
		payload := buf[hl:n]
		if h.Padding && len(payload) > 0 {
			p := int(payload[len(payload)-1])
			if p > len(payload) {
				continue
			}
			payload = payload[:len(payload)-p]
		}
		s.recv.Add(1)
		s.mu.Lock()
		if !s.latched {
			// Symmetric RTP: send to where the caller really sends from
			// (behind NAT that is not what its SDP said).
			s.remote, s.latched = from, true
		} else if from != s.remote {
			s.mu.Unlock()
			continue
		}
		if s.rec != nil && h.PayloadType == uint8(s.law) {
			s.rec.Write(s.recCh, payload)
		}
		if peer := s.relay; peer != nil {
			s.mu.Unlock()
			peer.mu.Lock()
			to, closed := peer.remote, peer.closed
			peer.mu.Unlock()
			if !closed {
				if _, err := peer.conn.WriteToUDPAddrPort(buf[:n], to); err == nil {
					peer.sent.Add(1)
				}
			}
			continue
		}
		onAudio := s.onAudio
		if s.dtmf == 0 || h.PayloadType != s.dtmf {
			s.mu.Unlock()
			if onAudio != nil {
				onAudio(h.PayloadType, payload)
			}
			continue
		}
		d, ok := dec.Feed(h.Timestamp, payload)
		if !ok {
			s.mu.Unlock()
			continue
		}
		s.ndig.Add(1)
		onDigit := s.onDigit
		var fire *Collect
		var got string
		if c := s.collect; c != nil {
			s.digits = append(s.digits, d)
			switch {
			case c.Max > 0 && len(s.digits) >= c.Max, c.Term != "" && containsByte(c.Term, d):
				fire, got = c, string(s.digits)
				s.collect, s.deadline = nil, time.Time{}
			case c.InterDigit > 0:
				s.deadline = s.sched.clock.Now().Add(c.InterDigit)
			}
		}
		s.mu.Unlock()
		if onDigit != nil {
			onDigit(d)
		}
		if fire != nil && fire.Done != nil {
			fire.Done(got)
		}
	}
}

func containsByte(s string, b byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return true
		}
	}
	return false
}

// Config is the media plane's network and timing setup.
type Config struct {
	// Bind is the local address RTP sockets bind (default 127.0.0.1).
	Bind netip.Addr
	// PortMin and PortMax bound the RTP ports (even ports only); 0 and 0
	// take any free port.
	PortMin, PortMax int
	// Schedulers is how many send schedulers run (default GOMAXPROCS).
	Schedulers int
	// Clock defaults to the wall clock.
	Clock Clock
}

// Plane owns the schedulers and hands out sessions. It knows nothing of
// calls: its user maps calls to sessions.
type Plane struct {
	cfg    Config
	scheds []*Scheduler
	noise  *Clip

	mu   sync.Mutex
	next int // next port to try
}

// ErrNoPort is returned when every port of the range is taken.
var ErrNoPort = errors.New("media: no free RTP port in range")

// NewPlane makes a plane; Run starts its schedulers.
func NewPlane(cfg Config) *Plane {
	if !cfg.Bind.IsValid() {
		cfg.Bind = netip.MustParseAddr("127.0.0.1")
	}
	if cfg.Clock == nil {
		cfg.Clock = RealClock{}
	}
	if cfg.Schedulers <= 0 {
		cfg.Schedulers = defaultSchedulers()
	}
	p := &Plane{cfg: cfg, noise: NewComfortNoise(), next: cfg.PortMin &^ 1}
	for range cfg.Schedulers {
		p.scheds = append(p.scheds, NewScheduler(cfg.Clock))
	}
	return p
}

// Schedulers are the plane's schedulers (tests tick them by hand).
func (p *Plane) Schedulers() []*Scheduler { return p.scheds }

// Run runs every scheduler until ctx ends.
func (p *Plane) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, s := range p.scheds {
		wg.Add(1)
		go func() { defer wg.Done(); s.Run(ctx) }()
	}
	wg.Wait()
}

// Open binds a port and starts a session sending comfort noise to
// cfg.Remote until told otherwise.
func (p *Plane) Open(cfg SessionConfig) (*Session, error) { return p.open(cfg, true) }

// OpenRelay binds a port for a session that sends nothing of its own: one
// side of a relayed call (RelayTo), which forwards what the other side
// receives. cfg.Remote may be unknown yet (the zero AddrPort): SetRemote
// or the first packet received sets it.
func (p *Plane) OpenRelay(cfg SessionConfig) (*Session, error) { return p.open(cfg, false) }

func (p *Plane) open(cfg SessionConfig, send bool) (*Session, error) {
	conn, err := p.listen()
	if err != nil {
		return nil, err
	}
	// The least loaded scheduler takes the session.
	sched := p.scheds[0]
	for _, s := range p.scheds[1:] {
		if s.Len() < sched.Len() {
			sched = s
		}
	}
	s := &Session{
		conn: conn, local: conn.LocalAddr().(*net.UDPAddr).AddrPort(), sched: sched, noise: p.noise,
		law: cfg.Law, dtmf: cfg.DTMF, remote: cfg.Remote,
	}
	s.hdr = rtp.Header{Version: 2, PayloadType: uint8(cfg.Law), SSRC: rand.Uint32(),
		SequenceNumber: uint16(rand.Uint32()), Timestamp: rand.Uint32()}
	go s.read()
	if send {
		sched.add(s)
	}
	return s, nil
}

func (p *Plane) listen() (*net.UDPConn, error) {
	if p.cfg.PortMin == 0 && p.cfg.PortMax == 0 {
		return net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.cfg.Bind, 0)))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	lo, hi := p.cfg.PortMin&^1, p.cfg.PortMax
	span := (hi-lo)/2 + 1
	for range span {
		port := p.next
		p.next += 2
		if p.next > hi {
			p.next = lo
		}
		if port < lo || port > hi {
			continue
		}
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.cfg.Bind, uint16(port))))
		if err == nil {
			return c, nil
		}
	}
	return nil, fmt.Errorf("%w %d-%d", ErrNoPort, p.cfg.PortMin, p.cfg.PortMax)
}

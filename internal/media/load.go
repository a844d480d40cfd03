package media

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pion/rtp"
)

// LoadResult is one run of Load: calls anchored sessions playing music
// to receivers on loopback for a duration.
type LoadResult struct {
	Calls    int
	Duration time.Duration
	// Deviation percentiles of the interval between consecutive packets
	// of one stream from 20 ms, as the receivers saw them (ms).
	P50, P99, P999, Max float64
	Intervals           int
	// Sent and Received packets; Lost counts sequence gaps at the
	// receivers, so Sent-Received also counts packets in flight at the end.
	Sent, Received, Lost uint64
	// CPUPerCallSecond is the process's user+system CPU per anchored
	// call-second (µs); it includes the receivers, which run in this
	// process on the same cores.
	CPUPerCallSecond float64
	// HeapPer1000 is the live heap the sessions added, per 1,000 calls.
	HeapPer1000 float64
	// Stalls counts the ticks, while measured, that found more than one
	// period elapsed.
	Stalls uint64
	// Ticks is how many times the schedulers woke while measured, and
	// Late10 how many of those wake-ups were 10 ms or more past their
	// deadline (the process was not scheduled in time: every stream of
	// that scheduler deviates by as much).
	Ticks, Late10 uint64
	// TwoWay: the receivers sent each session 50 packets a second too;
	// Talked is how many they sent while measured, Heard how many the
	// sessions received.
	TwoWay        bool
	Talked, Heard uint64
	// KernelStamps: packets were timed by the kernel as they arrived on
	// loopback (SO_TIMESTAMPNS, Linux), not when a receiver read them.
	KernelStamps bool
}

// OK is the goal: p99.9 deviation at most 10 ms and no loss.
func (r LoadResult) OK() bool { return r.P999 <= 10 && r.Lost == 0 }

// String is a one-line summary.
func (r LoadResult) String() string {
	return fmt.Sprintf("%d calls %v: deviation p50 %.2f p99 %.2f p99.9 %.2f max %.1f ms over %d intervals; sent %d received %d lost %d; CPU %.0f µs per call-second; heap %.1f MB per 1,000 calls; %d scheduler stalls; %d of %d wake-ups >= 10 ms late; two-way %v: %d talked, %d heard",
		r.Calls, r.Duration, r.P50, r.P99, r.P999, r.Max, r.Intervals, r.Sent, r.Received, r.Lost, r.CPUPerCallSecond, r.HeapPer1000/1e6, r.Stalls, r.Late10, r.Ticks, r.TwoWay, r.Talked, r.Heard)
}

// Load anchors calls sessions on a plane with the wall clock, each
// playing a looped clip to one of a few receiver sockets on loopback
// (streams told apart by SSRC), for d, and measures what arrives. With
// twoWay the receivers also talk: every 20 ms each sends every one of its
// sessions a G.711 packet, as an anchored caller's phone does, which the
// sessions read (Heard counts them).
func Load(ctx context.Context, calls int, d time.Duration, twoWay bool) (LoadResult, error) {
	res := LoadResult{Calls: calls, Duration: d, TwoWay: twoWay}
	const perReceiver = 250
	nrecv := (calls + perReceiver - 1) / perReceiver
	var recvs []*loadReceiver
	for range nrecv {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return res, err
		}
		_ = c.SetReadBuffer(4 << 20)
		res.KernelStamps = stampOn(c)
		recvs = append(recvs, &loadReceiver{conn: c, streams: map[uint32]*loadStream{}})
	}
	var rwg sync.WaitGroup
	for _, r := range recvs {
		rwg.Add(1)
		go func() { defer rwg.Done(); r.run() }()
	}
	defer func() {
		for _, r := range recvs {
			r.conn.Close()
		}
		rwg.Wait()
	}()

	pcm := make([]int16, 10*SampleRate)
	for i := range pcm {
		pcm[i] = int16(3000 * ((i / 20) % 2))
	}
	clip := NewClip("load", pcm)
	var m0, m1 runtime.MemStats
	settledHeap(&m0)
	p := NewPlane(Config{})
	var ss []*Session
	defer func() {
		for _, s := range ss {
			s.Close()
		}
	}()
	for i := range calls {
		s, err := p.Open(SessionConfig{Remote: recvs[i%nrecv].conn.LocalAddr().(*net.UDPAddr).AddrPort(), Law: PCMU})
		if err != nil {
			return res, fmt.Errorf("media load: session %d: %w", i, err)
		}
		s.Play(Source{Clip: clip, Loop: true})
		ss = append(ss, s)
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	res.HeapPer1000 = float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc)) / float64(calls) * 1000

	ctx, cancel := context.WithCancel(ctx)
	var pwg sync.WaitGroup
	pwg.Add(1)
	go func() { defer pwg.Done(); p.Run(ctx) }()
	var talked atomic.Uint64
	if twoWay {
		for ri, r := range recvs {
			var to []netip.AddrPort
			for i := ri; i < len(ss); i += nrecv {
				to = append(to, ss[i].Local())
			}
			pwg.Add(1)
			go func() { defer pwg.Done(); r.talk(ctx, to, &talked) }()
		}
	}
	// Warm up one second, then measure.
	time.Sleep(time.Second)
	sent0 := uint64(0)
	for _, s := range ss {
		sent0 += s.Stats().Sent
	}
	ticks0, late0, stalls0 := schedTicks(p)
	talked0, heard0 := talked.Load(), heard(ss)
	for _, r := range recvs {
		r.reset()
	}
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	t0 := time.Now()
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	cancel()
	pwg.Wait()
	el := time.Since(t0)
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	time.Sleep(100 * time.Millisecond) // let the last packets land
	for _, s := range ss {
		res.Sent += s.Stats().Sent
	}
	res.Sent -= sent0
	ticks1, late1, stalls1 := schedTicks(p)
	res.Ticks, res.Late10, res.Stalls = ticks1-ticks0, late1-late0, stalls1-stalls0
	res.Talked, res.Heard = talked.Load()-talked0, heard(ss)-heard0
	cpu := time.Duration(ru1.Utime.Nano()-ru0.Utime.Nano()) + time.Duration(ru1.Stime.Nano()-ru0.Stime.Nano())
	res.CPUPerCallSecond = float64(cpu.Microseconds()) / (float64(calls) * el.Seconds())

	var devs []float64
	for _, r := range recvs {
		r.mu.Lock()
		devs = append(devs, r.devs...)
		res.Received += r.received
		res.Lost += r.lost
		r.mu.Unlock()
	}
	sort.Float64s(devs)
	pct := func(q float64) float64 {
		if len(devs) == 0 {
			return 0
		}
		return devs[min(len(devs)-1, int(q*float64(len(devs))))]
	}
	res.Intervals = len(devs)
	res.P50, res.P99, res.P999 = pct(0.5), pct(0.99), pct(0.999)
	if len(devs) > 0 {
		res.Max = devs[len(devs)-1]
	}
	return res, nil
}

// heard sums what the sessions received.
func heard(ss []*Session) (n uint64) {
	for _, s := range ss {
		n += s.Stats().Received
	}
	return n
}

// talk sends each of to a G.711 packet every 20 ms from the receiver's
// socket until ctx ends, counting them in n.
func (r *loadReceiver) talk(ctx context.Context, to []netip.AddrPort, n *atomic.Uint64) {
	t := time.NewTicker(Ptime)
	defer t.Stop()
	hdr := rtp.Header{Version: 2, PayloadType: uint8(PCMU), SSRC: 7}
	buf := make([]byte, 12+FrameBytes)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		hdr.SequenceNumber++
		hdr.Timestamp += FrameSamples
		if _, err := hdr.MarshalTo(buf); err != nil {
			return
		}
		for _, a := range to {
			if _, err := r.conn.WriteToUDPAddrPort(buf, a); err == nil {
				n.Add(1)
			}
		}
	}
}

// schedTicks sums the plane's scheduler ticks, wake-ups 10 ms late and
// stalls.
func schedTicks(p *Plane) (ticks, late, stalls uint64) {
	for _, sc := range p.Schedulers() {
		ticks += sc.Ticks.Load()
		late += sc.LateOver(10 * time.Millisecond)
		stalls += sc.Stalls.Load()
	}
	return ticks, late, stalls
}

type loadStream struct {
	last time.Time
	seq  uint16
}

type loadReceiver struct {
	conn *net.UDPConn

	mu       sync.Mutex
	streams  map[uint32]*loadStream
	devs     []float64
	received uint64
	lost     uint64
}

func (r *loadReceiver) reset() {
	r.mu.Lock()
	clear(r.streams)
	r.devs, r.received, r.lost = r.devs[:0], 0, 0
	r.mu.Unlock()
}

func (r *loadReceiver) run() {
	buf, oob := make([]byte, 1500), make([]byte, 128)
	var h rtp.Header
	for {
		n, oobn, _, _, err := r.conn.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			return
		}
		now, ok := stampOf(oob[:oobn])
		if !ok {
			now = time.Now()
		}
		if _, err := h.Unmarshal(buf[:n]); err != nil {
			continue
		}
		r.mu.Lock()
		r.received++
		st := r.streams[h.SSRC]
		if st == nil {
			r.streams[h.SSRC] = &loadStream{last: now, seq: h.SequenceNumber}
		} else {
			if gap := h.SequenceNumber - st.seq; gap > 1 && gap < 1000 {
				r.lost += uint64(gap - 1)
			}
			dev := now.Sub(st.last) - Ptime
			if dev < 0 {
				dev = -dev
			}
			r.devs = append(r.devs, float64(dev)/float64(time.Millisecond))
			st.last, st.seq = now, h.SequenceNumber
		}
		r.mu.Unlock()
	}
}

// settledHeap reads m after collections until the live heap holds still
// (within 64 KiB between two collections 20 ms apart, at most 10 tries):
// memory other goroutines are still letting go of (a serve the process
// ran before, shutting down) would otherwise be counted against the
// sessions, and with few calls the figure came out negative.
func settledHeap(m *runtime.MemStats) {
	runtime.GC()
	runtime.ReadMemStats(m)
	for range 10 {
		prev := m.HeapAlloc
		time.Sleep(20 * time.Millisecond)
		runtime.GC()
		runtime.ReadMemStats(m)
		if d := int64(m.HeapAlloc) - int64(prev); d > -64<<10 && d < 64<<10 {
			return
		}
	}
}

package sipfront

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Finished non-INVITE server transactions in a compact record.
//
// RFC 3261 (17.2.2) keeps a non-INVITE server transaction over UDP in its
// Completed state for Timer J (64*T1, 32 s) after its final response, to
// answer each retransmission of the request with that response again.
// sipgo does so by keeping the whole transaction (the parsed request, the
// parsed response, its state machine, channels and a timer): at 1,000
// calls/s that is some 32,000 BYE transactions and, while phones
// register, as many REGISTERs, all pointer-rich objects the garbage
// collector walks again at every cycle. The absorber keeps instead what
// Timer J needs: the request's key (its top Via branch, method and source
// address) and the response's bytes (no pointers inside), in a map and a
// queue ordered by expiry that one timer sweeps, armed only while the
// queue holds something. sipgo's transaction ends as soon as the record is
// in place; a retransmission meets the record in the transport's read
// filter, before it is parsed, and is answered from it.
//
// Only UDP: reliable transports have no retransmissions (Timer J is zero).
// The INVITEs we answer 2xx have records too, made when the 2xx is sent
// (accepted, invite.go): they stand in for sipgo's INVITE server
// transaction in its Accepted state (Timer L, RFC 6026), answering the
// INVITE's retransmissions with the 2xx until its ACK and dropping them
// after. A failure's transaction stays with sipgo (its retransmissions
// wait for the ACK, Timer G/H).
// Branches without RFC 3261's magic cookie are left to sipgo, whose key
// for them is not the branch alone.

// absorbTime is how long a record answers retransmissions: Timer J.
var absorbTime = 64 * sip.T1

// absorbSweepSlack batches the sweeps: records expire up to this much
// late, so that a steady load wakes the sweeper about once a second, not
// once per transaction.
const absorbSweepSlack = time.Second

// branchCookie starts every RFC 3261 branch.
const branchCookie = "z9hG4bK"

type absorbed struct {
	method string
	from   netip.AddrPort
	res    []byte // the answer; nil: drop the retransmission unanswered
	expiry time.Time
}

type absorber struct {
	conn net.PacketConn // where the answers go (the UDP listener)
	life time.Duration  // absorbTime when it was made

	n     atomic.Int64 // records held: the read filter's fast path
	mu    sync.Mutex
	recs  map[string]absorbed // by branch
	queue []string            // branches in expiry order (all live absorbTime)
	head  int
	timer *time.Timer // armed while the queue is not empty
}

func newAbsorber(conn net.PacketConn) *absorber {
	return &absorber{conn: conn, life: absorbTime, recs: map[string]absorbed{}}
}

// finished records the final response res to req, sent on UDP from
// address from, for absorbTime. It reports whether it did (req is a
// non-INVITE request with an RFC 3261 branch).
func (a *absorber) finished(req *sip.Request, res *sip.Response, from netip.AddrPort) bool {
	if req.IsInvite() || req.IsAck() || !from.IsValid() {
		return false
	}
	via := req.Via()
	if via == nil {
		return false
	}
	branch, _ := via.Params.Get("branch")
	if !strings.HasPrefix(branch, branchCookie) {
		return false
	}
	// A duplicate is not ours to answer: sipgo keeps its transaction.
	return a.add(branch, absorbed{method: string(req.Method), from: from, res: responseBytes(res)})
}

// responseBytes is res as sent, for a record: written into a pooled
// buffer and copied at its size (one allocation of what the record keeps,
// not a buffer of 1 KiB and a copy).
func responseBytes(res *sip.Response) []byte {
	b := resBufs.Get().(*bytes.Buffer)
	b.Reset()
	res.StringWrite(b)
	kept := bytes.Clone(b.Bytes())
	resBufs.Put(b)
	return kept
}

var resBufs = sync.Pool{New: func() any { b := new(bytes.Buffer); b.Grow(1024); return b }}

// accepted records our 2xx res (its bytes) to the INVITE with branch
// branch, received on UDP from address from, in place of sipgo's server
// transaction in its Accepted state (RFC 6026): until acked, a
// retransmission of the INVITE is answered with res again (the UAS core
// resends its 2xx until the ACK, RFC 3261 section 13.3.1.4); after it,
// retransmissions are absorbed (dropped), for absorbTime (Timer L) from
// now. false if branch has a record already.
func (a *absorber) accepted(branch string, from netip.AddrPort, res []byte) bool {
	return a.add(branch, absorbed{method: string(sip.INVITE), from: from, res: res})
}

// acked: the INVITE with branch branch has its ACK: its retransmissions
// are dropped from now on, no longer answered.
func (a *absorber) acked(branch string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r, ok := a.recs[branch]; ok && r.method == string(sip.INVITE) {
		r.res = nil
		a.recs[branch] = r
	}
}

// answered reports whether a request with branch from address from
// matches a record of method: a CANCEL of an INVITE we answered 2xx
// (accepted) finds its transaction there.
func (a *absorber) answered(branch, method string, from netip.AddrPort) bool {
	if a.n.Load() == 0 {
		return false
	}
	a.mu.Lock()
	r, ok := a.recs[branch]
	a.mu.Unlock()
	return ok && r.method == method && r.from == from
}

// add puts record r under branch unless one is there already; false if
// it was.
func (a *absorber) add(branch string, r absorbed) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, dup := a.recs[branch]; dup {
		return false
	}
	r.expiry = time.Now().Add(a.life)
	a.recs[branch] = r
	a.queue = append(a.queue, branch)
	a.n.Add(1)
	if a.timer == nil {
		a.timer = time.AfterFunc(a.life+absorbSweepSlack, a.sweep)
	}
	return true
}

// sweep drops the expired records and arms the timer for the next, if
// any.
func (a *absorber) sweep() {
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for a.head < len(a.queue) {
		r := a.recs[a.queue[a.head]]
		if r.expiry.After(now) {
			break
		}
		delete(a.recs, a.queue[a.head])
		a.queue[a.head] = ""
		a.head++
		a.n.Add(-1)
	}
	if a.head == len(a.queue) {
		a.queue, a.head, a.timer = a.queue[:0], 0, nil
		return
	}
	if a.head > len(a.queue)/2 {
		a.queue = append(a.queue[:0], a.queue[a.head:]...)
		a.head = 0
	}
	a.timer = time.AfterFunc(a.recs[a.queue[a.head]].expiry.Sub(now)+absorbSweepSlack, a.sweep)
}

// stop ends the sweeps (the server closes).
func (a *absorber) stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.timer != nil {
		a.timer.Stop()
	}
}

// filter is the transport's read filter: a request retransmitted to a
// finished transaction gets the recorded response again and goes no
// further (nil); anything else passes unchanged.
func (a *absorber) filter(p sip.TransportReadProps, data []byte) ([]byte, error) {
	if a.n.Load() == 0 || p.Transport != "UDP" {
		return data, nil
	}
	method, branch, ok := requestKey(data)
	if !ok {
		return data, nil
	}
	ua, ok := udpAddrOf(p.RemoteAddr) // readbuf.go
	if !ok {
		return data, nil
	}
	from := ua.AddrPort()
	a.mu.Lock()
	r, found := a.recs[string(branch)]
	a.mu.Unlock()
	if !found || r.method != string(method) || r.from != from {
		return data, nil
	}
	if r.res != nil {
		a.conn.WriteTo(r.res, ua)
	}
	return nil, nil
}

// requestKey finds a request's method and its top Via's branch in its
// raw bytes; ok is false for a response or a request they cannot be read
// from (sipgo then parses it as usual).
func requestKey(data []byte) (method, branch []byte, ok bool) {
	sp := bytes.IndexByte(data, ' ')
	if sp <= 0 || bytes.HasPrefix(data, []byte("SIP/")) {
		return nil, nil, false
	}
	scanHeaders(data, func(name, value []byte) bool {
		if bytes.EqualFold(name, []byte("via")) || bytes.EqualFold(name, []byte("v")) {
			branch, ok = viaBranch(value)
			return false
		}
		return true
	})
	if !ok {
		return nil, nil, false
	}
	return data[:sp], branch, true
}

// compactTx is the server transaction a non-INVITE request's handler
// sees: it remembers the final response sent, for the absorber.
type compactTx struct {
	sip.ServerTransaction
	final *sip.Response
}

func (c *compactTx) Respond(res *sip.Response) error {
	err := c.ServerTransaction.Respond(res)
	if err == nil && res.StatusCode >= 200 {
		c.final = res
	}
	return err
}

// compacting wraps handler h of a non-INVITE method: once h has answered
// a request that came over UDP, the final response goes to the absorber
// and sipgo's transaction ends.
func (s *Server) compacting(h func(*sip.Request, sip.ServerTransaction)) func(*sip.Request, sip.ServerTransaction) {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		if s.absorb == nil || req.IsInvite() || req.IsAck() || !strings.EqualFold(req.Transport(), "UDP") {
			h(req, tx)
			return
		}
		c := &compactTx{ServerTransaction: tx}
		h(req, c)
		if c.final == nil {
			return
		}
		from, err := netip.ParseAddrPort(req.Source())
		if err != nil {
			return
		}
		if s.absorb.finished(req, c.final, from) {
			tx.Terminate()
		}
	}
}

package sipfront

import (
	"bytes"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/emiago/sipgo/sip"
)

// INVITE transactions that end with the exchange.
//
// RFC 6026 keeps an INVITE transaction 64*T1 (32 s) after its 2xx: the
// server's in the Accepted state until Timer L, absorbing retransmissions
// of the INVITE and passing ACKs up, the client's until Timer M, passing
// retransmissions of the 2xx to the core, which ACKs each. sipgo does so
// by keeping the transactions, with the INVITE, the 2xx, their timers and
// (through the client's hook that re-sends the ACK) the dialog session:
// about 12 KB of the 16.5 KB of live heap a call had during its first 32
// s, and as many timers, all pointer-rich objects the garbage collector
// walks at every cycle. Ending them early does not help: sipgo does not
// stop timers L and M when a transaction is terminated, so a terminated
// transaction stays reachable from its timer for the 32 s all the same.
// Here sipgo's INVITE transactions end before they reach the Accepted
// state, and compact records stand in for them:
//
//   - The 2xx to a phone's INVITE is not given to sipgo's server
//     transaction (which would arm Timer L): the transaction ends, and the
//     2xx is sent by the INVITE's handler itself, which also resends it
//     from T1 doubling up to T2 until the ACK comes (RFC 3261 section
//     13.3.1.4, the UAS core's duty anyway). Over UDP a record in the
//     absorber (absorb.go: the INVITE's branch and source, and the 2xx's
//     bytes) answers a retransmitted INVITE with the 2xx until the ACK and
//     drops it after, for 32 s (Timer L); a CANCEL it matches is answered
//     200 (handleCancel). ACKs end the handler's wait: over UDP the read
//     filter takes them (ack.go: divertAck), else handleAck.
//   - The 2xx to our INVITE over UDP is not given to sipgo's client
//     transaction (which would arm Timer M): the transport's read filter
//     sees it first, by the INVITE's branch (pending), and ends the
//     transaction, so sipgo's transaction layer hands the parsed 2xx to
//     its handler of stray responses, which passes it to the dialog
//     session waiting for it (uacInvite stands in for the transaction in
//     the session). A retransmission of the 2xx later is stray too: the
//     core ACKs it from the leg's dialog record (ackAgain), as RFC 3261
//     sections 13.2.2.4 and 17.1.1.2 have a UAC core do with a 2xx its
//     transaction no longer takes.
//
// Over TCP, TLS and WebSocket our INVITE's client transaction stays
// sipgo's (its 2xx is not diverted: a stream's reads are not whole
// messages); its server transactions end as over UDP (no
// retransmissions, no record).

// accept sends our 2xx res to the phone's INVITE req, which came from
// src (its source before a cluster's directDialog), in place of sipgo's
// server transaction tx, which ends: over UDP the absorber answers the
// INVITE's retransmissions from now on (accepted), with res until acked.
// It returns the INVITE's branch when there is such a record ("" else)
// and the function that sends res (again).
func (s *Server) accept(req *sip.Request, src string, tx sip.ServerTransaction, res *sip.Response) (string, func()) {
	branch := ""
	if from, err := netip.ParseAddrPort(src); err == nil && s.absorb != nil && strings.EqualFold(req.Transport(), "UDP") {
		if b, ok := rfc3261Branch(req); ok {
			if s.absorb.accepted(b, from, responseBytes(res)) { // absorb.go
				branch = b
			}
		}
	}
	// Before the 2xx goes: a CANCEL crossing it must not find the
	// transaction (sipgo would answer the INVITE 487 and tell OnCancel);
	// it finds the record (handleCancel: 200) or nothing (481). A
	// phone's connection stays up (sipgo ends a stream's transactions
	// when their handler returns, the connection serving on).
	tx.Terminate()
	send := func() {
		if err := s.ua.TransportLayer().WriteMsg(res); err != nil {
			s.log.Debug("SIP 2xx to INVITE", "err", err)
		}
	}
	send()
	return branch, send
}

// rfc3261Branch is the branch of req's top Via, a copy, when it is an RFC
// 3261 one.
func rfc3261Branch(m sip.Message) (string, bool) {
	via := m.Via()
	if via == nil {
		return "", false
	}
	b, _ := via.Params.Get("branch")
	if !strings.HasPrefix(b, branchCookie) || len(b) == len(branchCookie) {
		return "", false
	}
	return strings.Clone(b), true
}

// awaitAck resends our 2xx (resend) from T1 doubling up to T2 until ack is
// closed (its ACK came, or the dialog ended), for at most AckTimeout;
// false when it never was.
func (s *Server) awaitAck(ack <-chan struct{}, resend func()) bool {
	deadline := time.NewTimer(s.cfg.AckTimeout)
	defer deadline.Stop()
	wait := sip.T1
	retrans := time.NewTimer(wait)
	defer retrans.Stop()
	for {
		select {
		case <-ack:
			return true
		case <-retrans.C:
			resend()
			wait = min(2*wait, sip.T2)
			retrans.Reset(wait)
		case <-deadline.C:
			return false
		case <-s.ctx.Done():
			return true
		}
	}
}

// expectAck registers the wait for the ACK of our 2xx to the phone's
// INVITE or re-INVITE with CSeq number seq (handleAck closes it).
func (l *leg) expectAck(seq uint32) chan struct{} {
	ack := make(chan struct{})
	l.t.mu.Lock()
	if l.awaitAck == nil {
		l.awaitAck = map[uint32]chan struct{}{}
	}
	l.awaitAck[seq] = ack
	l.t.mu.Unlock()
	return ack
}

// ackDone ends the wait ack for seq (the ACK came, or is no longer
// awaited): a BYE waiting for it goes (bye).
func (l *leg) ackDone(seq uint32, ack chan struct{}) {
	l.t.mu.Lock()
	if l.awaitAck[seq] == ack {
		delete(l.awaitAck, seq)
		close(ack)
	}
	l.dropAcks()
	l.t.mu.Unlock()
}

// dropAcks lets go of leg l's empty map of awaited ACKs (its buckets stay
// allocated otherwise: some 190 bytes for the call's life). The tenant's
// mu must be held.
func (l *leg) dropAcks() {
	if len(l.awaitAck) == 0 {
		l.awaitAck = nil
	}
}

// endAcks: leg l's dialog ended (the phone's BYE): no ACK is awaited any
// more.
func (l *leg) endAcks() {
	l.t.mu.Lock()
	for _, ack := range l.awaitAck {
		close(ack)
	}
	l.awaitAck = nil
	l.t.mu.Unlock()
}

// pendingInvites are our dialog-creating INVITEs over UDP awaiting their
// 2xx, by branch.
type pendingInvites struct {
	n  atomic.Int64 // entries: the read filter's fast path
	mu sync.Mutex
	m  map[string]*uacInvite
}

func (p *pendingInvites) add(w *uacInvite) {
	p.mu.Lock()
	if p.m == nil {
		p.m = map[string]*uacInvite{}
	}
	if _, dup := p.m[w.branch]; !dup {
		p.m[w.branch] = w
		p.n.Add(1)
	}
	p.mu.Unlock()
}

// drop removes w, if it is still there.
func (p *pendingInvites) drop(w *uacInvite) {
	p.mu.Lock()
	if p.m[w.branch] == w {
		delete(p.m, w.branch)
		p.n.Add(-1)
	}
	p.mu.Unlock()
}

func (p *pendingInvites) get(branch []byte) *uacInvite {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.m[string(branch)]
}

// uacInvite is what the dialog session of our INVITE over UDP holds as its
// transaction: sipgo's client transaction tx while no 2xx came (its
// responses passed on by forward), then the 2xx the read filter diverted
// (divert, answer).
type uacInvite struct {
	tx       sip.ClientTransaction
	p        *pendingInvites
	branch   string
	ch       chan *sip.Response
	done     chan struct{}
	diverted atomic.Bool // the 2xx came: tx ended for it
	end      sync.Once
	mu       sync.Mutex
	err      error
	onTerm   []sip.FnTxTerminate
	late     *time.Timer // from the diversion to the answer
}

func newUACInvite(tx sip.ClientTransaction, p *pendingInvites, branch string) *uacInvite {
	w := &uacInvite{tx: tx, p: p, branch: branch, ch: make(chan *sip.Response), done: make(chan struct{})}
	p.add(w)
	go w.forward()
	return w
}

// forward passes tx's responses on until its final one, or until it ends
// (then w ends too, unless it ended for the diverted 2xx).
func (w *uacInvite) forward() {
	for {
		select {
		case r := <-w.tx.Responses():
			select {
			case w.ch <- r:
			case <-w.done:
				return
			}
			if !r.IsProvisional() {
				// Its final response: the session has what it waited for
				// (a failure's ACK and retransmissions are tx's).
				w.p.drop(w)
				return
			}
		case <-w.tx.Done():
			if !w.diverted.Load() {
				w.finish(w.tx.Err())
			}
			return
		case <-w.done:
			return
		}
	}
}

// divert: a 2xx to the INVITE arrives (the read filter, before sipgo
// parses it): tx ends before it can take it, and sipgo hands it to
// strayResponse, which answers. The first 2xx only.
func (w *uacInvite) divert() {
	if !w.diverted.CompareAndSwap(false, true) {
		return
	}
	w.mu.Lock()
	// Should the 2xx never come through (sipgo could not parse it), the
	// session is not left waiting: Timer B.
	w.late = time.AfterFunc(sip.Timer_B, func() { w.finish(sip.ErrTransactionTimeout) })
	w.mu.Unlock()
	w.tx.Terminate()
}

// answer passes the diverted 2xx res to the session waiting for it.
func (w *uacInvite) answer(res *sip.Response) {
	w.p.drop(w)
	select {
	case w.ch <- res:
	case <-w.done: // ended meanwhile (Terminate, or Timer B since divert)
	}
	w.mu.Lock()
	if w.late != nil {
		w.late.Stop()
	}
	w.mu.Unlock()
}

// finish ends w with err (nil: terminated).
func (w *uacInvite) finish(err error) {
	w.end.Do(func() {
		w.p.drop(w)
		w.mu.Lock()
		if err == nil {
			err = sip.ErrTransactionTerminated
		}
		w.err = err
		fs := w.onTerm
		w.onTerm = nil
		if w.late != nil {
			w.late.Stop()
		}
		w.mu.Unlock()
		close(w.done)
		for _, f := range fs {
			f(w.branch, err)
		}
	})
}

func (w *uacInvite) Terminate() {
	w.finish(nil)
	w.tx.Terminate()
}

func (w *uacInvite) OnTerminate(f sip.FnTxTerminate) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case <-w.done:
		return false
	default:
	}
	w.onTerm = append(w.onTerm, f)
	return true
}

func (w *uacInvite) Done() <-chan struct{} { return w.done }

func (w *uacInvite) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil && !w.diverted.Load() {
		return w.tx.Err()
	}
	return w.err
}

func (w *uacInvite) Responses() <-chan *sip.Response { return w.ch }

// OnRetransmission: sipgo's session registers how it re-sends its ACK.
// tx takes it (should a 2xx reach tx after all); a diverted 2xx's
// retransmissions are ACKed by the core (ackAgain), not by the session,
// which the leg drops.
func (w *uacInvite) OnRetransmission(f sip.FnTxResponse) bool {
	return w.tx.OnRetransmission(f)
}

// wrap wraps tx, the client transaction of our dialog-creating INVITE
// req, when it goes over UDP with an RFC 3261 branch: its 2xx is diverted
// (pendingInvites, uacInvite). Before tx sends req: the 2xx may come
// back at once.
func (p *pendingInvites) wrap(req *sip.Request, tx sip.ClientTransaction) sip.ClientTransaction {
	if p == nil || !strings.EqualFold(req.Transport(), "UDP") {
		return tx
	}
	if to := req.To(); to == nil || to.Params.Has("tag") {
		return tx
	}
	b, ok := rfc3261Branch(req)
	if !ok {
		return tx
	}
	return newUACInvite(tx, p, b)
}

// filterResponse is the read filter's part for responses over UDP: a 2xx
// to one of our pending INVITEs is diverted (its transaction ends before
// sipgo parses it).
func (p *pendingInvites) filterResponse(data []byte) {
	if p.n.Load() == 0 || !bytes.HasPrefix(data, []byte("SIP/2.0 2")) {
		return
	}
	branch, invite, ok := responseKey(data)
	if !ok || !invite {
		return
	}
	if w := p.get(branch); w != nil {
		w.divert()
	}
}

// responseKey finds a response's top Via branch and whether its CSeq
// names INVITE, in its raw bytes.
func responseKey(data []byte) (branch []byte, invite, ok bool) {
	scanHeaders(data, func(name, value []byte) bool {
		switch {
		case branch == nil && (bytes.EqualFold(name, []byte("via")) || bytes.EqualFold(name, []byte("v"))):
			branch, ok = viaBranch(value)
		case bytes.EqualFold(name, []byte("cseq")):
			// Two fields, the second INVITE (as bytes.Fields would have
			// them, with nothing allocated: every 2xx comes this way).
			v := bytes.TrimSpace(value)
			if sp := bytes.IndexFunc(v, unicode.IsSpace); sp > 0 {
				invite = bytes.Equal(bytes.TrimLeftFunc(v[sp:], unicode.IsSpace), []byte("INVITE"))
			}
			return false
		}
		return true
	})
	return branch, invite, ok && branch != nil
}

// strayResponse is sipgo's handler of responses that match no client
// transaction: the diverted 2xx of a pending INVITE goes to its session;
// a 2xx retransmitted to our INVITE of an established dialog is ACKed
// again (ackAgain); others are dropped.
func (s *Server) strayResponse(res *sip.Response) {
	cseq := res.CSeq()
	if cseq == nil || cseq.MethodName != sip.INVITE || !res.IsSuccess() {
		s.log.Debug("SIP stray response", "res", res.StartLine())
		return
	}
	if b, ok := rfc3261Branch(res); ok {
		if w := s.pending.get([]byte(b)); w != nil && w.diverted.Load() {
			w.answer(res)
			return
		}
	}
	s.ackAgain(res)
}

// ackAgain ACKs again the 2xx res to our INVITE of a leg whose dialog is
// established (its record): the callee did not get our ACK and
// retransmits the 2xx. A 2xx of another dialog (another tag: a fork), or
// of a leg not yet established or gone, is dropped.
func (s *Server) ackAgain(res *sip.Response) {
	id := res.CallID()
	if id == nil || res.To() == nil {
		return
	}
	l := s.legByCallID(id.Value())
	if l == nil {
		return
	}
	d := l.dlg.Load()
	tag, _ := res.To().Params.Get("tag")
	if d == nil || d.uas || tagOf(d.remote) != tag {
		s.log.Debug("SIP 2xx retransmission not ours to ACK", "call_id", l.callID)
		return
	}
	target, ok := d.remoteTarget()
	if !ok {
		return
	}
	ack := sip.NewRequest(sip.ACK, target)
	d.build(l.callID, ack)
	ack.CSeq().SeqNo = res.CSeq().SeqNo // the INVITE's, not the dialog's last
	if err := d.ua.Client.WriteRequest(ack, complete); err != nil {
		s.log.Debug("SIP ACK again", "call_id", l.callID, "err", err)
	}
}

// scanHeaders calls f with each header line's name and value of the
// message in data (up to the blank line), until f returns false.
func scanHeaders(data []byte, f func(name, value []byte) bool) {
	rest := data
	for first := true; ; first = false {
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			return
		}
		line := bytes.TrimRight(rest[:nl], "\r")
		rest = rest[nl+1:]
		if first {
			continue // the start line
		}
		if len(line) == 0 {
			return // the end of the headers
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			continue
		}
		if !f(bytes.TrimSpace(line[:colon]), line[colon+1:]) {
			return
		}
	}
}

// viaBranch is the branch of the first value of a Via header value, when
// it is an RFC 3261 one.
func viaBranch(v []byte) ([]byte, bool) {
	if c := bytes.IndexByte(v, ','); c >= 0 {
		v = v[:c] // the top Via only
	}
	// The parameters after the first ';', one at a time (this runs on
	// every datagram: no slice of them is allocated).
	_, rest, more := bytes.Cut(v, []byte(";"))
	for more {
		var param []byte
		param, rest, more = bytes.Cut(rest, []byte(";"))
		k, val, _ := bytes.Cut(param, []byte("="))
		if bytes.EqualFold(bytes.TrimSpace(k), []byte("branch")) {
			val = bytes.TrimSpace(val)
			if !bytes.HasPrefix(val, []byte(branchCookie)) {
				return nil, false
			}
			return val, true
		}
	}
	return nil, false
}

// cancelsAnswered reports whether CANCEL req matches a phone's INVITE we
// answered 2xx (its record in the absorber): the CANCEL is answered 200
// and changes nothing (RFC 3261 section 9.2), as sipgo did while its
// transaction lasted.
func (s *Server) cancelsAnswered(req *sip.Request) bool {
	if s.absorb == nil || !strings.EqualFold(req.Transport(), "UDP") {
		return false
	}
	b, ok := rfc3261Branch(req)
	if !ok {
		return false
	}
	from, err := netip.ParseAddrPort(req.Source())
	return err == nil && s.absorb.answered(b, string(sip.INVITE), from)
}

var _ sip.ClientTransaction = (*uacInvite)(nil)

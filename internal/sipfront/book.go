package sipfront

import (
	"context"
	"slices"
	"strconv"
	"sync/atomic"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/media"
)

// The SIP front end decides under its tenant's lock and acts after it: the
// book is sipfront's SIP state of one tenant (calls, their legs, the legs
// waiting for their call), and its methods are "what to send": given an
// event (or a request's outcome) and the legs' states, they update the book
// and return the SIP actions, doing no I/O and never blocking; the same
// book and input give the same actions (the Call-IDs of new legs come from
// nextLeg). act (events.go) carries the actions out once the lock is
// released. The golden files in testdata/book hold the event-to-actions
// table (book_test.go).

// legState is where a leg's SIP dialog is.
type legState uint8

const (
	legCalling  legState = iota // its INVITE (the phone's, or ours) awaits a final response
	legAnswered                 // 200 given or received: the dialog is confirmed
	legEnded                    // over for us: BYE or CANCEL sent, or the INVITE refused either way
	legGone                     // over: the phone hung up (CANCEL or BYE received)
)

var legStateNames = [...]string{legCalling: "calling", legAnswered: "answered", legEnded: "ended", legGone: "gone"}

func (s legState) String() string { return legStateNames[s] }

// leg is one SIP dialog of a call: a phone or trunk that called us (caller;
// we answer its INVITE through final) or one we called (uac). Fields after
// callID are guarded by the tenant's mu, except final, which is set before
// the leg is in the book, and the atomic ones. Small fields are last, so
// that an answered call's two legs take a smaller size class.
type leg struct {
	t      *sipTenant
	dn     string // the DN, or the external number of a trunk leg
	trunk  string // the trunk DN of a network leg
	to     string // what a SIP-originated leg dialled
	callID string // SIP Call-ID

	// The leg's dialog: sipgo's session while its INVITE is answered (uas:
	// the phone's INVITE, set before the leg is indexed, until our 2xx;
	// uac: ours, until its 2xx is ACKed), then dlg, the record of the
	// established dialog, and no session (dialog.go).
	uas   atomic.Pointer[sipgo.DialogServerSession]
	uac   atomic.Pointer[sipgo.DialogClientSession]
	dlg   atomic.Pointer[dialog]
	final chan final // caller: the final answer for the INVITE handler
	// responded is closed when the INVITE handler has sent its 200: a
	// re-INVITE in the dialog waits for it (anchor.go).
	responded chan struct{}
	// cancel ends the context of our INVITE (CANCEL while it rings); set
	// before the leg is in the book, dropped once the leg is answered.
	cancel atomic.Pointer[context.CancelFunc]

	connID    string
	sdp       []byte // the SDP this leg's phone gave (its offer or answer)
	referFrag string // the sipfrag of the last NOTIFY for the phone's REFER
	fork      *leg   // the legs we called at once for one DN: the first of them (fork.go)
	far       *leg   // the leg whose SDP the phone was last given (nil: the placeholder)
	origin    origin // the o= line of the SDP sent to the phone (any goroutine)
	// awaitAck: our 2xx to the phone's INVITE and re-INVITEs awaiting
	// their ACK, by CSeq (closed by handleAck; invite.go).
	awaitAck map[uint32]chan struct{}

	// Media (anchor.go): what a caller answered with switchboard's SDP
	// (anchored) hears, and its session (set after the lock, read
	// anywhere); ours is the SDP switchboard gave this leg's phone (its
	// anchor answer, its relay re-INVITE), what the leg is offered or
	// answered from now on when relayed (peerSDP).
	play play
	ours []byte
	// rec is the call's recording, on its caller's leg.
	rec  atomic.Pointer[media.Recorder]
	sess atomic.Pointer[media.Session]

	// In-dialog signalling: the dialog's session timer, nil for none
	// (sessiontimer.go); prack closed by the PRACK of the last reliable
	// provisional response, numbered by rseq, nil when none awaits it
	// (prack.go); peerTag: the phone's tag of the dialog of our INVITE
	// (replaces.go).
	st      *sessionTimer
	prack   chan struct{}
	peerTag string
	rseq    uint32

	phoneHold int16     // Hold/Retrieve requests from the phone not yet seen as events
	failCode  int16     // the final response our INVITE of the leg got (fork.go)
	why       byeReason // the Reason of the BYE that ends the leg when not normal clearing (reason.go)
	state     legState
	caller    bool // the phone or trunk called us: we are the UAS of its INVITE
	referring bool // a REFER from the phone awaits its response
	byeLater  bool // the engine released the leg during the REFER
	// anchored: a caller answered with switchboard's SDP; steppedOut:
	// re-INVITEd to its agent; relayed: its RTP is relayed; direct: a
	// caller relayed from its first ring (Media.Always on a call that
	// reaches a party without a queue): every party we INVITE for it is
	// offered a session of switchboard's (relay.go).
	anchored, steppedOut, relayed, direct bool
	// first: we ring the phone of the originator of an API call
	// (clicktodial.go); rel: the phone requires reliable provisional
	// responses (prack.go).
	first, rel bool
}

// over reports whether the leg's dialog has ended, either way.
func (l *leg) over() bool { return l.state >= legEnded }

// final is the final response the INVITE handler gives: 200 with sdp, or a
// refusal; the zero final wakes the handler of an INVITE sipgo answered
// already (CANCEL).
type final struct {
	code   int
	reason string
	sdp    []byte
}

// The final responses of a SIP caller's INVITE whose call ended before an
// answer: terminated, unless the call was refused (busyHere, unavailable).
var (
	terminated  = final{code: 487, reason: "Request Terminated"}
	busyHere    = final{code: 486, reason: "Busy Here"}
	unavailable = final{code: 480, reason: "Temporarily Unavailable"}
)

// call is sipfront's view of an engine call that has SIP legs: its legs
// and the DNs the engine has on it (to know when it is over).
type call struct {
	connID string
	legs   []*leg
	dns    map[string]bool
	queue  string // the last queue it was queued at (recording per queue)
	// first is the originator's phone of a call made through the API,
	// rung before the destination (clicktodial.go), and deferred the
	// INVITEs waiting for its answer.
	first    *leg
	deferred []action
}

// legOf is the live leg of DN dn's phone on the call.
func (c *call) legOf(dn string) *leg {
	for _, l := range c.legs {
		if l.dn == dn && l.trunk == "" && !l.over() {
			return l
		}
	}
	return nil
}

// peerSDP is the SDP for leg l: switchboard's own when the leg's RTP is
// relayed, else what another live leg of the call gave, else a
// placeholder (the other side is a CTI-only DN: no media).
func (c *call) peerSDP(l *leg) []byte {
	if l.relayed && len(l.ours) > 0 {
		return l.ours
	}
	if o := c.peerLeg(l); o != nil {
		return o.sdp
	}
	return placeholderSDP
}

// peerLeg is the leg whose SDP peerSDP gives leg l (nil: the placeholder).
func (c *call) peerLeg(l *leg) *leg {
	for _, o := range c.legs {
		if o != l && !o.over() && len(o.sdp) > 0 {
			return o
		}
	}
	return nil
}

// repoint: when the far party of a call's SIP legs changed (a transfer,
// a pick-up, a conference back to two parties), each of the two answered
// legs left is re-INVITEd with the other's SDP, so that neither keeps
// sending audio to the party that left. Nothing while the call has more
// or fewer than two live legs (a conference needs a mixer), nor for a
// leg whose media is switchboard's (ownMedia: anchored, relayed).
func (b *book) repoint(c *call) []action {
	var pair []*leg
	for _, l := range c.legs {
		if !l.over() && !l.byeLater {
			pair = append(pair, l)
		}
	}
	if len(pair) != 2 {
		return nil
	}
	var acts []action
	for i, l := range pair {
		o := pair[1-i]
		if l.state != legAnswered || o.state != legAnswered || l.ownMedia() || o.ownMedia() || len(o.sdp) == 0 || l.far == o {
			continue
		}
		l.far = o
		acts = append(acts, action{kind: actReinvite, leg: l, sdp: o.sdp})
	}
	return acts
}

// placeholderSDP answers for a party without a phone (no media flows).
var placeholderSDP = []byte("v=0\r\no=switchboard 0 0 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\na=inactive\r\n")

// actionKind is what an action sends.
type actionKind uint8

const (
	actRinging  actionKind = iota // 180 Ringing to the leg's INVITE
	actFinal                      // the final response fin to the leg's INVITE (200 with SDP, or a refusal)
	actInvite                     // our INVITE of a new leg: to target, From user from, offering sdp
	actCancel                     // CANCEL our unanswered INVITE
	actBye                        // BYE on the leg's dialog
	actReinvite                   // a re-INVITE to the leg: hold (sendonly) or retrieve (sendrecv), from sdp
	actRelease                    // tell the engine the leg's party left its call (Release, NetworkRelease)
)

// action is one thing to send, decided under the lock, done after it.
type action struct {
	kind   actionKind
	leg    *leg
	why    string          // actBye: its Reason header (reason.go)
	fin    final           // actFinal
	ctx    context.Context // actInvite: the INVITE's, cancelled by actCancel
	target sip.Uri         // actInvite
	from   string          // actInvite
	sdp    []byte          // actInvite, actReinvite, actStepOut
	hold   bool            // actReinvite
	play   play            // actAnchor, actPlay
	peer   *leg            // actStepOut: the answering agent's leg (nil: CTI-only)
	reason string          // actCancel: the CANCEL's Reason header (fork.go), if any
}

// book is the SIP call state of one tenant; the tenant's mu guards it.
type book struct {
	calls   map[string]*call  // by ConnID
	dialing map[string]*leg   // SIP-originated call waiting for its EventDialing, by DN
	inbound map[string][]*leg // trunk call waiting for its first event, by inboundKey
	heldBy  map[string]*leg   // the leg a DN's phone put on hold, by DN: its next INVITE consults

	owner    *sipTenant                // the tenant of the legs the book creates
	ctx      context.Context           // the parent of the INVITEs the book creates
	trunks   []trunk                   // the tenant's trunks
	contacts func(dn string) []sip.Uri // a DN's registered contacts (contacts.go)
	nextLeg  func() uint64             // numbers the Call-IDs of the legs the book creates
	media    *Media                    // nil: no anchoring (anchor.go)
}

func newBook(owner *sipTenant, contacts func(string) []sip.Uri, nextLeg func() uint64) book {
	return book{
		calls: map[string]*call{}, dialing: map[string]*leg{}, inbound: map[string][]*leg{}, heldBy: map[string]*leg{},
		owner: owner, ctx: context.Background(), contacts: contacts, nextLeg: nextLeg,
	}
}

// inboundKey is where a trunk's call waits for its first event.
func (l *leg) inboundKey() string { return l.trunk + "\x00" + l.dn }

// await puts the new caller leg l where its call's first event finds it,
// while the command that makes the call runs; false when l's DN already
// has a SIP call waiting (a DN dials one call at a time: 486).
func (b *book) await(l *leg) bool {
	if l.trunk != "" {
		b.inbound[l.inboundKey()] = append(b.inbound[l.inboundKey()], l)
		return true
	}
	if b.dialing[l.dn] != nil {
		return false
	}
	b.dialing[l.dn] = l
	return true
}

// placed: the command that makes leg l's call has its outcome, the ConnID
// of its reply ("" without one) or a refusal; l stops waiting, and is
// bound to its call (if the call's first event has not done so already).
func (b *book) placed(l *leg, connID string, refused bool) []action {
	if l.trunk == "" {
		if b.dialing[l.dn] == l {
			delete(b.dialing, l.dn)
		}
	} else {
		key := l.inboundKey()
		q := slices.DeleteFunc(b.inbound[key], func(x *leg) bool { return x == l })
		if len(q) == 0 {
			delete(b.inbound, key)
		} else {
			b.inbound[key] = q
		}
	}
	if refused {
		if !l.over() {
			l.state = legEnded
		}
		return nil
	}
	if connID == "" {
		return nil
	}
	_, acts := b.bind(l, connID)
	return acts
}

// bind attaches leg l to call connID, by the reply of its command or by
// its call's first event, whichever comes first. A phone that hung up
// before its call was known leaves the call now.
func (b *book) bind(l *leg, connID string) (*call, []action) {
	if l.connID != "" {
		// Bound already; the call may even be over.
		return b.calls[l.connID], nil
	}
	c := b.call(connID)
	l.connID = connID
	c.legs = append(c.legs, l)
	if l.state == legGone {
		return c, []action{{kind: actRelease, leg: l}}
	}
	return c, nil
}

// call is call connID, created if the book has none.
func (b *book) call(connID string) *call {
	c := b.calls[connID]
	if c == nil {
		c = &call{connID: connID, dns: map[string]bool{}}
		b.calls[connID] = c
	}
	return c
}

// newLeg is a leg we call: DN dn's phone, or the external number dn
// through trunk, on call c, with the INVITE's context in the action.
func (b *book) newLeg(c *call, dn, trunk string, target sip.Uri, from string) action {
	l := &leg{t: b.owner, dn: dn, trunk: trunk, connID: c.connID,
		callID: "sb-" + strconv.FormatUint(b.nextLeg(), 36) + "-" + c.connID}
	ctx, cancel := context.WithCancel(b.ctx)
	l.cancel.Store(&cancel)
	c.legs = append(c.legs, l)
	l.far = c.peerLeg(l)
	return action{kind: actInvite, leg: l, ctx: ctx, target: target, from: from, sdp: c.peerSDP(l)}
}

// end ends leg l's SIP side because the engine released its party: the
// final response f to its unanswered INVITE (it called us), a CANCEL (we
// called it) or a BYE (answered). Nothing when the leg is over; a leg whose
// REFER awaits its response ends after it (handleRefer).
func (b *book) end(l *leg, f final) []action {
	if l.over() {
		return nil
	}
	if l.referring {
		l.byeLater = true
		return nil
	}
	answered := l.state == legAnswered
	l.state = legEnded
	switch {
	case answered:
		return []action{{kind: actBye, leg: l, why: or(l.why.String(), reasonCleared)}}
	case l.caller:
		return []action{{kind: actFinal, leg: l, fin: f}}
	}
	return []action{{kind: actCancel, leg: l}}
}

// gone: leg l's phone (or trunk) hung up (CANCEL or BYE). An INVITE
// handler still waiting is done (sipgo answered the CANCEL, and the INVITE
// 487); the
// engine hears of it as a Release by the leg's DN once the call is known.
func (b *book) gone(l *leg) []action {
	if l.over() {
		return nil
	}
	calling := l.state == legCalling
	l.state = legGone
	var acts []action
	if l.caller && calling {
		acts = append(acts, action{kind: actFinal, leg: l})
	}
	if l.connID != "" {
		acts = append(acts, action{kind: actRelease, leg: l})
	}
	return acts
}

// abandoned: leg l's dialog was left half-way by its phone: our 2xx to
// its INVITE (or re-INVITE) never got its ACK (RFC 3261 section
// 13.3.1.4: a phone that crashed, or a CANCEL that lost the race with
// the answer). The dialog ends with a BYE and the engine hears of it as a
// hang-up by the leg's party, with its events. Nothing when the leg is
// over already.
func (b *book) abandoned(l *leg) []action {
	if l.over() {
		return nil
	}
	l.state = legEnded
	acts := []action{{kind: actBye, leg: l, why: or(l.why.String(), reasonNoAck)}}
	if l.connID != "" {
		acts = append(acts, action{kind: actRelease, leg: l})
	}
	return acts
}

// answered: our INVITE of leg l got its 200 with sdp. False when the leg
// ended meanwhile (its party was released, or another device of its DN
// answered first): the dialog is then BYEd at once. The actions cancel the
// other devices the call was forked to (fork.go).
func (b *book) answered(l *leg, sdp []byte) (bool, []action) {
	l.sdp = sdp
	if l.over() {
		return false, nil
	}
	l.state = legAnswered
	return true, b.forkWon(l)
}

// failed: our INVITE of leg l ended without an answer (or the engine did
// not take the answer). False when the leg was over already (we cancelled
// it): nothing to tell the engine then.
func (b *book) failed(l *leg) bool {
	if l.over() {
		return false
	}
	l.state = legEnded
	return true
}

// refer: the phone of leg l sent a REFER; false when the leg cannot
// transfer (not answered, a trunk leg, or a REFER pending: 481). Until
// referred, a release of the leg waits, so that the REFER's 202 goes before
// the BYE the transfer causes.
func (b *book) refer(l *leg) bool {
	if l.connID == "" || l.state != legAnswered || l.trunk != "" || l.referring {
		return false
	}
	l.referring = true
	return true
}

// referred: the REFER of leg l has its response; a release that came
// meanwhile ends the leg now.
func (b *book) referred(l *leg) []action {
	l.referring = false
	if !l.byeLater {
		return nil
	}
	return b.end(l, terminated)
}

// decideSIP is the event-to-SIP table of doc.go: what recorded call event
// ev sends, given the book, which it updates.
func (b *book) decideSIP(ev *event.Event) []action {
	acts := b.decideLegs(ev)
	if c := b.calls[ev.ConnID]; c != nil {
		acts = append(acts, b.repoint(c)...)
		acts = c.deferForFirst(acts) // clicktodial.go
	}
	return acts
}

// decideLegs is decideSIP for the legs the event is about.
func (b *book) decideLegs(ev *event.Event) []action {
	c := b.calls[ev.ConnID]
	switch ev.ID {
	case event.EventDialing:
		return b.dialed(c, ev)
	case event.EventRinging:
		return b.ringing(c, ev)
	case event.EventNetworkReached:
		return b.networkReached(c, ev)
	case event.EventEstablished:
		return b.established(c, ev)
	case event.EventDestinationBusy:
		return b.destinationBusy(c, ev)
	case event.EventReleased, event.EventAbandoned, event.EventDiverted:
		return b.released(c, ev)
	case event.EventHeld, event.EventRetrieved:
		return b.held(c, ev)
	case event.EventPartyChanged:
		b.partyChanged(c, ev)
	case event.EventPartyAdded:
		return b.partyAdded(c, ev) // external.go
	}
	return nil
}

// dialed: EventDialing(A) binds A's SIP INVITE to the ConnID.
func (b *book) dialed(c *call, ev *event.Event) []action {
	var acts []action
	if l := b.dialing[ev.ThisDN]; l != nil && l.to == ev.OtherDN && c == nil {
		c, acts = b.bind(l, ev.ConnID)
	}
	if c != nil {
		c.dns[ev.ThisDN] = true
		return acts
	}
	return b.ringFirst(ev) // clicktodial.go
}

// ringing: EventRinging(B) binds a trunk's INVITE to its ConnID (the first
// inbound ringing from that trunk and ANI), sends 180 to the SIP callers
// still waiting, and INVITEs B's phone if B is registered.
func (b *book) ringing(c *call, ev *event.Event) []action {
	var acts []action
	if c == nil && ev.CallType == event.CallTypeInbound {
		key := ev.OtherTrunk + "\x00" + ev.OtherDN
		if q := b.inbound[key]; len(q) > 0 {
			c, acts = b.bind(q[0], ev.ConnID)
			if len(q) == 1 {
				delete(b.inbound, key)
			} else {
				b.inbound[key] = q[1:]
			}
		}
	}
	contacts := b.contacts(ev.ThisDN)
	registered := len(contacts) > 0
	if c == nil && !registered {
		return acts
	}
	if c == nil {
		// A call made through the API to a registered DN.
		c = b.call(ev.ConnID)
	}
	c.dns[ev.ThisDN] = true
	for _, o := range c.legs {
		if o.caller && o.state == legCalling {
			acts = append(acts, action{kind: actRinging, leg: o})
		}
	}
	if registered && c.legOf(ev.ThisDN) == nil {
		acts = append(acts, b.fork(c, ev.ThisDN, contacts, ev.OtherDN)...)
	}
	return acts
}

// networkReached: EventNetworkReached(A) INVITEs the external number at
// its trunk's address.
func (b *book) networkReached(c *call, ev *event.Event) []action {
	if c == nil {
		return nil
	}
	var tr *trunk
	for i := range b.trunks {
		if b.trunks[i].dn == ev.OtherTrunk {
			tr = &b.trunks[i]
		}
	}
	if tr == nil || tr.address == "" {
		return nil
	}
	var target sip.Uri
	if err := sip.ParseUri("sip:"+ev.OtherDN+"@"+tr.address, &target); err != nil {
		return nil
	}
	return []action{b.newLeg(c, ev.OtherDN, tr.dn, target, ev.ThisDN)}
}

// established: the DN's own unanswered INVITE (it dialled), and an external
// caller's, get their 200 now, with the answering leg's SDP.
func (b *book) established(c *call, ev *event.Event) []action {
	if c == nil {
		return nil
	}
	c.dns[ev.ThisDN] = true
	var acts []action
	for _, o := range c.legs {
		if !o.caller || o.state != legCalling {
			continue
		}
		if o.trunk != "" || o.dn == ev.ThisDN {
			o.state, o.far = legAnswered, c.peerLeg(o)
			acts = append(acts, action{kind: actFinal, leg: o, fin: final{code: 200, sdp: c.peerSDP(o)}})
		}
	}
	return acts
}

// destinationBusy: 486 to the DN's INVITE; its attempt is over, so the
// originator hangs up (flow 5.4).
func (b *book) destinationBusy(c *call, ev *event.Event) []action {
	if c == nil {
		return nil
	}
	l := c.legOf(ev.ThisDN)
	if l == nil || !l.caller || l.state != legCalling {
		return nil
	}
	l.state = legEnded
	return []action{{kind: actFinal, leg: l, fin: busyHere}, {kind: actRelease, leg: l}}
}

// released: EventReleased, EventAbandoned or EventDiverted (the call left
// the DN: forwarded on no answer, redirected, RONA) ends the DN's leg; when
// no DN is left on the call, its other legs end too. A SIP caller still
// waiting for an answer gets 486 after a busy refusal, 480 after no answer,
// else 487.
func (b *book) released(c *call, ev *event.Event) []action {
	if c == nil {
		return nil
	}
	delete(c.dns, ev.ThisDN)
	if h := b.heldBy[ev.ThisDN]; h != nil && h.connID == ev.ConnID {
		// The held call is over for the DN (its phone may have hung up
		// already): its next INVITE is a new call.
		delete(b.heldBy, ev.ThisDN)
	}
	// Every device of the DN: a call forked to several stops ringing at
	// all of them.
	end := c.legsOf(ev.ThisDN)
	var mine *leg
	if len(end) > 0 {
		mine = end[0]
		if ev.CallState == event.CallStateTransferred {
			for _, l := range end {
				l.why = whyTransferred
			}
		}
	}
	// A diverted call moves on (forwarded, redirected, distributed from
	// a queue, back to its queue after RONA): its other legs stay even
	// when sipfront knows no DN on it (it does not track queues); so does
	// a transferred one (external.go).
	keep := b.transferMoves(c, ev, mine) // external.go
	if len(c.dns) == 0 && ev.ID != event.EventDiverted && !keep {
		for _, o := range c.legs {
			if !o.over() && !slices.Contains(end, o) {
				end = append(end, o)
			}
		}
		delete(b.calls, ev.ConnID)
	}
	f := terminated
	if ev.ID == event.EventReleased {
		switch ev.CallState {
		case event.CallStateBusy:
			f = busyHere
		case event.CallStateNoAnswer:
			f = unavailable
		}
	}
	var acts []action
	for _, l := range end {
		acts = append(acts, b.end(l, f)...)
	}
	return append(acts, b.transferOut(c, ev)...) // external.go
}

// held: EventHeld or EventRetrieved requested through the API re-INVITEs
// the DN's phone (sendonly, sendrecv); one the phone asked for itself is
// not echoed.
func (b *book) held(c *call, ev *event.Event) []action {
	if c == nil {
		return nil
	}
	l := c.legOf(ev.ThisDN)
	switch {
	case l == nil:
		return nil
	case l.phoneHold > 0:
		l.phoneHold--
		return nil
	case l.state != legAnswered:
		return nil
	}
	l.far = c.peerLeg(l)
	return []action{{kind: actReinvite, leg: l, hold: ev.ID == event.EventHeld, sdp: c.peerSDP(l)}}
}

// partyChanged: a completed transfer moves the consulted party from its
// call (PreviousConnID) to this one; its leg moves too.
func (b *book) partyChanged(c *call, ev *event.Event) {
	if prev := b.calls[ev.PreviousConnID]; ev.PreviousConnID != ev.ConnID && prev != nil {
		delete(prev.dns, ev.ThisDN)
		if l := prev.legOf(ev.ThisDN); l != nil {
			if c == nil {
				c = b.call(ev.ConnID)
			}
			prev.legs = slices.DeleteFunc(prev.legs, func(x *leg) bool { return x == l })
			l.connID = ev.ConnID
			c.legs = append(c.legs, l)
		}
		if len(prev.dns) == 0 {
			delete(b.calls, ev.PreviousConnID)
		}
	}
	if c != nil {
		c.dns[ev.ThisDN] = true
	}
}

// or is s, or def when s is empty.
func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

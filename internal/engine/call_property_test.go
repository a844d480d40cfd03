package engine

import (
	"bytes"
	"errors"
	"flag"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/switchboard-cc/switchboard/event"
)

var (
	callSeeds = flag.Int("prop.callseeds", 4, "call property test: number of seeds")
	callSteps = flag.Int("prop.callsteps", 25000, "call property test: commands per seed")
)

// TestPropertyCalls drives the engine with random call commands (valid and
// invalid) across the 20 extensions 1001-1020 of the golden tenant, mixed
// with agent and DN commands and timers, and checks after every step:
//   - a refusal is an *Error, produces no events or effects and changes
//     nothing (state digest);
//   - every event passes event.Validate, has the step's time and the Seq
//     that follows the previous one of its key (gapless per key);
//   - the parties of each ConnID are consistent (each party's call and DN
//     link back, a DN is on a call at most once, thread call counts match);
//   - the DNs a consumer sees on each call (Dialing, Ringing, Bridged and
//     Established add a DN, Released, Abandoned and Diverted remove it,
//     PartyChanged moves it to the new ConnID; Held, Retrieved, PartyAdded,
//     PartyDeleted, NetworkReached and DestinationBusy only for a DN on the
//     call) are exactly the engine's DN parties, and none is left on a
//     released call;
//   - the DNs a consumer sees ringing (EventRinging not yet followed by
//     EstablishedReleased, Abandoned or Diverted for that ConnID and DN,
//     following PartyChanged to the new ConnID) are exactly the ringing
//     parties of the engine; at the end every call is released and none
//     is left ringing;
//   - no event carries the ConnID of a call released in an earlier step;
//   - a ConnID keeps its CallThreadID, a consultation call has its main
//     call's thread, and an ended thread's id never comes back;
//   - every command survives EncodeCommand/DecodeCommand, and replaying the
//     journal into a fresh engine gives the same events byte for byte;
//   - the run has the flows of 5.14 and 5.15 (a supervisor joining as
//     observer, a monitoring re-targeted, an external consultation, a
//     transfer out, an external party added), so the checks above cover
//     them.
func TestPropertyCalls(t *testing.T) {
	for seed := 1; seed <= *callSeeds; seed++ {
		t.Run("seed"+strconv.Itoa(seed), func(t *testing.T) {
			runCallProperty(t, uint64(seed), *callSteps)
		})
	}
}

type ringKey struct{ conn, dn string }

// callWatch is what the test knows from the events alone.
type callWatch struct {
	seq      map[string]int64
	ringing  map[ringKey]bool
	threadOf map[string]string // ConnID -> CallThreadID
	released map[string]bool   // ConnIDs released in an earlier step
	ended    map[string]bool   // thread ids whose last call was released
	live     map[string]bool   // ConnIDs live after the previous step
	names    map[event.Name]int
	flows    map[string]int             // the flows of EVENTS.md 5.14 and 5.15 seen
	offHook  map[string]bool            // DN -> off hook, from EventOffHook / EventOnHook
	on       map[string]map[string]bool // ConnID -> DNs on it, from the events
}

func runCallProperty(t *testing.T, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, 0xca11))
	e := newDemoEngine(t)
	g := &callGen{gen: gen{rng: rng}}
	w := &callWatch{seq: map[string]int64{}, ringing: map[ringKey]bool{}, threadOf: map[string]string{},
		released: map[string]bool{}, ended: map[string]bool{}, live: map[string]bool{}, names: map[event.Name]int{}, flows: map[string]int{},
		offHook: map[string]bool{}, on: map[string]map[string]bool{}}
	var journal []journaled
	var wire [][]byte
	at := goldenStart
	var refused, produced int
	step := func(i int, cmd Command) {
		at += int64(rng.IntN(2_000_000))
		b, err := EncodeCommand(cmd)
		if err != nil {
			t.Fatalf("step %d: encode %#v: %v", i, cmd, err)
		}
		dec, err := DecodeCommand(b)
		if err != nil {
			t.Fatalf("step %d: decode %s: %v", i, b, err)
		}
		before := digest(e)
		res, err := e.Step(at, dec)
		journal = append(journal, journaled{at, b})
		if err != nil {
			refused++
			var ee *Error
			if !errors.As(err, &ee) || (ee.Code != CodeInvalid && ee.Code != CodeNotFound && ee.Code != CodeConflict) {
				t.Fatalf("step %d: %s: error %v is not an *Error with a known code", i, b, err)
			}
			if len(res.Events) != 0 || len(res.Effects) != 0 || res.Reply != nil {
				t.Fatalf("step %d: %s: refused but produced %d events", i, b, len(res.Events))
			}
			if after := digest(e); after != before {
				t.Fatalf("step %d: %s: refused (%v) but the state changed:\n%s\n->\n%s", i, b, err, before, after)
			}
			return
		}
		if cap(res.Events) != len(res.Events) {
			t.Fatalf("step %d: %s: %d events in a slice of capacity %d", i, b, len(res.Events), cap(res.Events))
		}
		for j := range res.Events {
			ev := &res.Events[j]
			produced++
			w.names[ev.ID]++
			if err := ev.Validate(); err != nil {
				t.Fatalf("step %d: %s: %v\n%s", i, b, err, event.Marshal(ev))
			}
			if ev.Time != event.TimeFromUnixMicro(at) || ev.CustomerID != "demo" || ev.Server != goldenServer {
				t.Fatalf("step %d: %s: common fields %s", i, b, event.Marshal(ev))
			}
			k := ev.Key()
			if ev.Seq != w.seq[k]+1 {
				t.Fatalf("step %d: %s: key %s Seq %d after %d", i, b, k, ev.Seq, w.seq[k])
			}
			w.seq[k] = ev.Seq
			if msg := w.apply(ev); msg != "" {
				t.Fatalf("step %d: %s: %s\n%s", i, b, msg, event.Marshal(ev))
			}
			wire = append(wire, event.Marshal(ev))
			switch {
			case ev.ID == event.EventRinging && ev.ThisDNRole == event.RoleObserver:
				w.flows["observer joins"]++
			case ev.ID == event.EventNetworkReached && ev.CallType == event.CallTypeConsult:
				w.flows["external consultation"]++
			case ev.ID == event.EventReleased && ev.CallState == event.CallStateTransferred && strings.HasPrefix(ev.ThirdPartyDN, "+"):
				w.flows["transfer out"]++
			case ev.ID == event.EventPartyAdded && ev.OtherTrunk != "":
				w.flows["external party added"]++
			case ev.ID == event.EventMonitoringCancelled && cmd.Kind() == "monitor":
				w.flows["monitor re-targeted"]++
			}
		}
		for _, f := range res.Effects {
			if st, ok := f.(StartTimer); ok {
				g.timers = append(g.timers, st.ID)
			}
		}
		if r, ok := res.Reply.(CallReply); ok {
			g.conns = append(g.conns, r.ConnID)
		}
		if msg := checkCalls(e, w); msg != "" {
			t.Fatalf("step %d after %s: %s\n%s", i, b, msg, digest(e))
		}
	}
	for i := 0; i < steps; i++ {
		step(i, g.command(e))
	}
	// Hang everything up: every call ends, nothing is left ringing.
	for n := 0; len(e.calls) > 0; n++ {
		if n > 1000 {
			t.Fatalf("calls do not end: %s", digest(e))
		}
		step(steps+n, g.hangUp(e))
	}
	if len(w.ringing) != 0 {
		t.Fatalf("still ringing after every call ended: %v", w.ringing)
	}
	t.Logf("%d steps: %d refused, %d events; %v", len(journal), refused, produced, w.names)
	if refused == 0 || produced == 0 || refused > len(journal)*3/4 {
		t.Fatalf("degenerate run: %d refused, %d events in %d steps", refused, produced, len(journal))
	}
	for _, n := range []event.Name{event.EventEstablished, event.EventPartyChanged, event.EventPartyAdded,
		event.EventPartyDeleted, event.EventAbandoned, event.EventDiverted, event.EventDestinationBusy} {
		if w.names[n] == 0 {
			t.Errorf("the run produced no %s", n)
		}
	}
	t.Logf("5.14 and 5.15 flows: %v", w.flows)
	for _, f := range []string{"observer joins", "external consultation", "transfer out", "external party added", "monitor re-targeted"} {
		if w.flows[f] == 0 {
			t.Errorf("the run has no %s", f)
		}
	}

	// Replay the journal: same events, byte for byte, and the same state.
	r := newDemoEngine(t)
	var n int
	for _, j := range journal {
		cmd, err := DecodeCommand(j.cmd)
		if err != nil {
			t.Fatal(err)
		}
		res, _ := r.Step(j.at, cmd)
		for i := range res.Events {
			if got := event.Marshal(&res.Events[i]); !bytes.Equal(got, wire[n]) {
				t.Fatalf("replay event %d:\n got %s\nwant %s", n, got, wire[n])
			}
			n++
		}
	}
	if n != len(wire) || digest(r) != digest(e) {
		t.Fatalf("replay: %d of %d events, same state %v", n, len(wire), digest(r) == digest(e))
	}
}

// apply records what event ev tells and returns a problem, or "".
func (w *callWatch) apply(ev *event.Event) string {
	if ev.ConnID != "" && w.released[ev.ConnID] {
		return "event for call " + ev.ConnID + " released in an earlier step"
	}
	switch ev.ID {
	case event.EventOffHook:
		w.offHook[ev.ThisDN] = true
	case event.EventOnHook:
		w.offHook[ev.ThisDN] = false
	}
	if ev.ID.Topic() != event.CallThreadTopic {
		return ""
	}
	if th, ok := w.threadOf[ev.ConnID]; ok {
		if th != ev.CallThreadID {
			return "ConnID " + ev.ConnID + " moved from thread " + th + " to " + ev.CallThreadID
		}
	} else {
		if w.ended[ev.CallThreadID] {
			return "thread " + ev.CallThreadID + " reused after it ended"
		}
		if ev.CallType == event.CallTypeConsult {
			if th, ok := w.threadOf[ev.PreviousConnID]; ok && th != ev.CallThreadID {
				return "consultation call " + ev.ConnID + " not in the thread of " + ev.PreviousConnID
			}
		}
		w.threadOf[ev.ConnID] = ev.CallThreadID
	}
	// The DNs on each call, as a consumer follows them.
	set := func(conn string) map[string]bool {
		m := w.on[conn]
		if m == nil {
			m = map[string]bool{}
			w.on[conn] = m
		}
		return m
	}
	switch ev.ID {
	case event.EventDialing, event.EventRinging, event.EventBridged, event.EventEstablished:
		set(ev.ConnID)[ev.ThisDN] = true
	case event.EventReleased, event.EventAbandoned, event.EventDiverted:
		if !w.on[ev.ConnID][ev.ThisDN] {
			return ev.ID.String() + " for DN " + ev.ThisDN + " that is not on " + ev.ConnID
		}
		delete(w.on[ev.ConnID], ev.ThisDN)
	case event.EventPartyChanged:
		if ev.PreviousConnID != ev.ConnID {
			if !w.on[ev.PreviousConnID][ev.ThisDN] {
				return "PartyChanged moves DN " + ev.ThisDN + " that is not on " + ev.PreviousConnID
			}
			delete(w.on[ev.PreviousConnID], ev.ThisDN)
			set(ev.ConnID)[ev.ThisDN] = true
		}
	case event.EventHeld, event.EventRetrieved, event.EventPartyAdded, event.EventPartyDeleted,
		event.EventNetworkReached, event.EventDestinationBusy:
		if !w.on[ev.ConnID][ev.ThisDN] {
			return ev.ID.String() + " for DN " + ev.ThisDN + " that is not on " + ev.ConnID
		}
	}
	k := ringKey{ev.ConnID, ev.ThisDN}
	switch ev.ID {
	case event.EventRinging:
		if w.ringing[k] {
			return "DN rings twice on one call"
		}
		w.ringing[k] = true
	case event.EventEstablished, event.EventReleased, event.EventAbandoned, event.EventDiverted:
		delete(w.ringing, k)
	case event.EventPartyChanged:
		if old := (ringKey{ev.PreviousConnID, ev.ThisDN}); old != k && w.ringing[old] {
			delete(w.ringing, old)
			w.ringing[k] = true
		}
	}
	return ""
}

// checkCalls checks the call model's consistency and compares it with
// what the events told.
func checkCalls(e *Engine, w *callWatch) string {
	threadCalls := map[*thread]int{}
	ringing := map[ringKey]bool{}
	live := map[string]bool{}
	for n, c := range e.calls {
		live[c.conn] = true
		if c.n != n || c.conn != connString(e.ids.perm(n)) {
			return "call " + c.conn + " filed under the wrong counter"
		}
		threadCalls[c.th]++
		if th, ok := w.threadOf[c.conn]; ok && th != c.th.id {
			return "call " + c.conn + " thread differs from its events"
		}
		if len(c.parties) == 0 || c.realParties() == 0 {
			return "call " + c.conn + " has no party"
		}
		if c.typ == event.CallTypeConsult && c.prevConn == "" {
			return "consultation call " + c.conn + " without a main call"
		}
		seen := map[*dnState]bool{}
		for _, p := range c.parties {
			if p.call != c {
				return "party " + p.name() + " of " + c.conn + " points to another call"
			}
			if p.dn == nil {
				if p.num == "" || p.trunk == "" {
					return "external party without number or trunk on " + c.conn
				}
				continue
			}
			if seen[p.dn] {
				return "DN " + p.dn.number + " twice on " + c.conn
			}
			seen[p.dn] = true
			if !slices.Contains(p.dn.parties, p) {
				return "DN " + p.dn.number + " does not list its party on " + c.conn
			}
			if p.state == psRinging {
				ringing[ringKey{c.conn, p.dn.number}] = true
			}
			if p.state == psBridged && (p.line == nil || p.line.call != c) {
				return "bridged appearance of " + p.dn.number + " without its line on " + c.conn
			}
		}
	}
	for th, n := range threadCalls {
		if th.calls != n {
			return "thread " + th.id + " counts " + strconv.Itoa(th.calls) + " calls, has " + strconv.Itoa(n)
		}
	}
	for _, d := range e.dnList {
		for _, p := range d.parties {
			if p.dn != d || e.calls[p.call.n] != p.call || !slices.Contains(p.call.parties, p) {
				return "DN " + d.number + " lists a party that is not on a live call"
			}
		}
		// The hook state a consumer sees is the engine's, and a DN that
		// dialed, talks or holds is off hook (EventOffHook came first).
		if d.offHook != w.offHook[d.number] {
			return "DN " + d.number + " off hook " + strconv.FormatBool(d.offHook) + ", events say " + strconv.FormatBool(w.offHook[d.number])
		}
		for _, p := range d.parties {
			if !d.offHook && (p.state == psDialing || p.state == psEstablished || p.state == psHeld || p.state == psBusy) {
				return "DN " + d.number + " is " + stateWord(p) + " on " + p.call.conn + " but on hook"
			}
		}
	}
	if len(ringing) != len(w.ringing) {
		return "ringing parties " + strconv.Itoa(len(ringing)) + ", events say " + strconv.Itoa(len(w.ringing))
	}
	for k := range ringing {
		if !w.ringing[k] {
			return "DN " + k.dn + " rings on " + k.conn + " without an EventRinging"
		}
	}
	// The DNs on each call are those the events tell; a released call has
	// none left.
	for conn, dns := range w.on {
		c, _ := e.lookupCall(conn)
		n := 0
		if c != nil {
			for _, p := range c.parties {
				if p.dn != nil {
					n++
					if !dns[p.dn.number] {
						return "DN " + p.dn.number + " is on " + conn + " without an event saying so"
					}
				}
			}
		}
		if n != len(dns) {
			return "call " + conn + " has " + strconv.Itoa(n) + " DN parties, events say " + strconv.Itoa(len(dns))
		}
		if c == nil {
			delete(w.on, conn)
		}
	}
	for _, c := range e.calls {
		for _, p := range c.parties {
			if p.dn != nil && !w.on[c.conn][p.dn.number] {
				return "DN " + p.dn.number + " is on " + c.conn + " without an event saying so"
			}
		}
	}
	for conn := range w.live {
		if !live[conn] {
			w.released[conn] = true
			if th := w.threadOf[conn]; th != "" {
				ended := true
				for _, c := range e.calls {
					if c.th.id == th {
						ended = false
						break
					}
				}
				if ended {
					w.ended[th] = true
				}
			}
		}
	}
	w.live = live
	return ""
}

// callGen makes random call commands, mostly plausible, some invalid.
type callGen struct {
	gen
	conns []string // ConnIDs handed out, live or not
}

var callDNs = func() []string {
	var s []string
	for i := 1001; i <= 1020; i++ {
		s = append(s, strconv.Itoa(i))
	}
	return s
}()

// liveCalls returns the live calls by CallID (deterministic order).
func liveCalls(e *Engine) []*call {
	cs := make([]*call, 0, len(e.calls))
	for _, c := range e.calls {
		cs = append(cs, c)
	}
	slices.SortFunc(cs, func(a, b *call) int { return int(a.callID - b.callID) })
	return cs
}

func (g *callGen) phone() string {
	switch g.rng.IntN(40) {
	case 0:
		return g.pick([]string{"7999", "pstn", "nobody", "", "1100"}) // queues and routing points: acd_property_test.go
	case 1:
		return "+331" + strconv.Itoa(g.rng.IntN(100))
	}
	return g.pick(callDNs)
}

// dest picks where a transfer, redirect, consultation or conference goes:
// often an external number (through the trunk, EVENTS.md 5.15), else
// mostly an idle DN.
func (g *callGen) dest(e *Engine) string {
	if g.rng.IntN(5) == 0 {
		return "+332" + strconv.Itoa(g.rng.IntN(100))
	}
	return g.idle(e)
}

// external picks, for a network command on call c, sometimes the number
// of one of its external parties (or one that is not on it), else "" (the
// engine's default choice).
func (g *callGen) external(c *call) string {
	if c == nil || g.rng.IntN(3) != 0 {
		return ""
	}
	var xs []string
	for _, p := range c.parties {
		if p.dn == nil {
			xs = append(xs, p.num)
		}
	}
	if len(xs) == 0 || g.rng.IntN(8) == 0 {
		return "+3300"
	}
	return g.pick(xs)
}

// idle picks, most of the time, a DN on no call.
func (g *callGen) idle(e *Engine) string {
	if g.rng.IntN(4) != 0 {
		var ok []string
		for _, n := range callDNs {
			if e.dns[n].onCalls() == 0 {
				ok = append(ok, n)
			}
		}
		if len(ok) > 0 {
			return g.pick(ok)
		}
	}
	return g.phone()
}

// call picks a live call (mostly), else a released or made-up ConnID.
func (g *callGen) call(e *Engine) (*call, string) {
	cs := liveCalls(e)
	if len(cs) > 0 && g.rng.IntN(12) != 0 {
		c := cs[g.rng.IntN(len(cs))]
		return c, c.conn
	}
	if len(g.conns) > 0 && g.rng.IntN(2) == 0 {
		return nil, g.pick(g.conns)
	}
	return nil, g.pick([]string{"0123456789abcdef", "", "xyz"})
}

// callWith picks, most of the time, a live call with a DN party in one of
// the states; else as call does.
func (g *callGen) callWith(e *Engine, states ...partyState) (*call, string) {
	if g.rng.IntN(6) != 0 {
		var ok []*call
		for _, c := range liveCalls(e) {
			for _, p := range c.parties {
				if p.dn != nil && slices.Contains(states, p.state) {
					ok = append(ok, c)
					break
				}
			}
		}
		if len(ok) > 0 {
			c := ok[g.rng.IntN(len(ok))]
			return c, c.conn
		}
	}
	return g.call(e)
}

// mainCall picks, most of the time, a live call from which a consultation
// was made.
func (g *callGen) mainCall(e *Engine) (*call, string) {
	if g.rng.IntN(6) != 0 {
		var ok []*call
		for _, k := range liveCalls(e) {
			if k.typ == event.CallTypeConsult {
				if m, err := e.lookupCall(k.prevConn); err == nil {
					ok = append(ok, m)
				}
			}
		}
		if len(ok) > 0 {
			c := ok[g.rng.IntN(len(ok))]
			return c, c.conn
		}
	}
	return g.call(e)
}

// partyDN picks a DN party of c in one of the states (any if none given),
// sometimes any DN.
func (g *callGen) partyDN(c *call, states ...partyState) string {
	if c != nil && g.rng.IntN(8) != 0 {
		var ok []string
		for _, p := range c.parties {
			if p.dn != nil && (len(states) == 0 || slices.Contains(states, p.state)) {
				ok = append(ok, p.dn.number)
			}
		}
		if len(ok) > 0 {
			return g.pick(ok)
		}
	}
	return g.phone()
}

// consultOf picks a consultation call of c if there is one.
func (g *callGen) consultOf(e *Engine, c *call) string {
	if c != nil && g.rng.IntN(8) != 0 {
		for _, k := range liveCalls(e) {
			if k.prevConn == c.conn {
				return k.conn
			}
		}
	}
	_, conn := g.call(e)
	return conn
}

func (g *callGen) userData() event.KV {
	if g.rng.IntN(3) != 0 {
		return nil
	}
	return event.KV{event.S("k"+strconv.Itoa(g.rng.IntN(3)), strconv.Itoa(g.rng.IntN(100))), event.I("n", int64(g.rng.IntN(9)))}
}

func (g *callGen) command(e *Engine) Command {
	req := g.request()
	c, conn := g.call(e)
	n := g.rng.IntN(100)
	switch {
	case n >= 14 && n < 28, n >= 48 && n < 50:
		c, conn = g.callWith(e, psRinging)
	case n >= 28 && n < 40:
		c, conn = g.callWith(e, psEstablished, psHeld, psDialing, psBusy)
	case n >= 40 && n < 44, n >= 50 && n < 59, n >= 66 && n < 70:
		c, conn = g.callWith(e, psEstablished)
	case n >= 44 && n < 48:
		c, conn = g.callWith(e, psHeld)
	case n >= 59 && n < 66, n >= 70 && n < 74:
		c, conn = g.mainCall(e)
	}
	switch {
	case n < 14:
		return MakeCall{Request: req, From: g.idle(e), To: g.idle(e), UserData: g.userData()}
	case n < 25:
		return Answer{Request: req, ConnID: conn, DN: g.partyDN(c, psRinging)}
	case n < 27:
		return DestinationBusy{Request: req, ConnID: conn, DN: g.partyDN(c, psRinging)}
	case n < 28:
		return NoAnswer{Request: req, ConnID: conn, DN: g.partyDN(c, psRinging)}
	case n < 40:
		return Release{Request: req, ConnID: conn, DN: g.partyDN(c, psEstablished, psHeld, psDialing, psBusy, psObserver)}
	case n < 44:
		return Hold{Request: req, ConnID: conn, DN: g.partyDN(c, psEstablished)}
	case n < 48:
		return Retrieve{Request: req, ConnID: conn, DN: g.partyDN(c, psHeld)}
	case n < 50:
		return Redirect{Request: req, ConnID: conn, DN: g.partyDN(c, psRinging), To: g.dest(e)}
	case n < 53:
		return SingleStepTransfer{Request: req, ConnID: conn, DN: g.partyDN(c, psEstablished), To: g.dest(e)}
	case n < 57:
		return InitiateTransfer{Request: req, ConnID: conn, DN: g.partyDN(c, psEstablished), To: g.dest(e), UserData: g.userData()}
	case n < 59:
		return InitiateConference{Request: req, ConnID: conn, DN: g.partyDN(c, psEstablished), To: g.dest(e)}
	case n < 63:
		return CompleteTransfer{Request: req, ConnID: conn, DN: g.partyDN(c, psHeld), ConsultConnID: g.consultOf(e, c)}
	case n < 66:
		return CompleteConference{Request: req, ConnID: conn, DN: g.partyDN(c, psHeld), ConsultConnID: g.consultOf(e, c)}
	case n < 68:
		return SingleStepConference{Request: req, ConnID: conn, DN: g.partyDN(c, psEstablished), To: g.dest(e)}
	case n < 70:
		return DeleteFromConference{Request: req, ConnID: conn, DN: g.partyDN(c, psEstablished), Party: g.partyDN(c)}
	case n < 72:
		return Alternate{Request: req, ConnID: conn, DN: g.partyDN(c, psHeld, psEstablished), ConsultConnID: g.consultOf(e, c)}
	case n < 74:
		return Reconnect{Request: req, ConnID: conn, DN: g.partyDN(c, psHeld), ConsultConnID: g.consultOf(e, c)}
	case n < 75:
		return AttachUserData{Request: req, ConnID: conn, UserData: g.userData()}
	case n < 76:
		return Mute{Request: req, ConnID: conn, DN: g.partyDN(c), On: g.rng.IntN(2) == 0}
	case n < 77:
		return Listen{Request: req, ConnID: conn, DN: g.partyDN(c), Party: g.partyDN(c), On: g.rng.IntN(2) == 0}
	case n < 82:
		return NetworkCall{Request: req, Trunk: g.pick([]string{"pstn", "pstn", "pstn", "1001", "x"}), ANI: "+3399" + strconv.Itoa(g.rng.IntN(10)),
			DNIS: g.idle(e), UserData: g.userData()}
	case n < 84:
		return NetworkAnswer{Request: req, ConnID: conn, Party: g.external(c)}
	case n < 85:
		return NetworkBusy{Request: req, ConnID: conn, Party: g.external(c)}
	case n < 88:
		return NetworkRelease{Request: req, ConnID: conn, Party: g.external(c)}
	case n < 91:
		if len(g.timers) > 0 {
			return TimerFired{ID: g.pick(g.timers)}
		}
		return TimerFired{ID: "noanswer/x/1001/1"}
	case n < 93:
		to := g.phone()
		if g.rng.IntN(4) == 0 {
			to = "+333" + strconv.Itoa(g.rng.IntN(10)) // forwarding out through the trunk
		}
		return SetForward{Request: req, DN: g.pick(callDNs), To: to, Mode: ForwardMode(1 + g.rng.IntN(4))}
	case n < 94:
		return CancelForward{Request: req, DN: g.pick(callDNs)}
	case n < 95:
		return SetDND{Request: req, DN: g.pick(callDNs), On: g.rng.IntN(3) == 0}
	case n < 96:
		return MonitorNextCall{Request: req, Supervisor: g.pick([]string{"1100", "1019", "1020"}), Target: g.pick(callDNs),
			Type: event.MonitorNextCallType(1 + g.rng.IntN(2))}
	case n < 97:
		return CancelMonitoring{Request: req, Supervisor: g.pick([]string{"1100", "1019", "1020"})}
	default:
		// Agents log in and out (ACW, monitoring targets, AgentID on call
		// events).
		if g.rng.IntN(5) == 0 {
			return SetService{Request: req, DN: g.pick(callDNs), InService: g.rng.IntN(3) != 0}
		}
		if g.rng.IntN(3) == 0 {
			return Hook{Request: req, DN: g.pick(callDNs), OffHook: g.rng.IntN(2) == 0}
		}
		if g.rng.IntN(2) == 0 {
			return Login{Request: req, DN: g.pick(callDNs), AgentID: "agent" + strconv.Itoa(1+g.rng.IntN(20)), Queues: g.queues()}
		}
		return Logout{Request: req, DN: g.pick(callDNs)}
	}
}

// hangUp picks a command that brings the calls to an end: a release by a
// party that may release, else the network releasing, else an answer.
func (g *callGen) hangUp(e *Engine) Command {
	for _, c := range liveCalls(e) {
		for _, p := range c.parties {
			if p.dn != nil && p.state != psRinging && p.state != psBridged {
				return Release{ConnID: c.conn, DN: p.dn.number}
			}
		}
		if c.external() != nil {
			return NetworkRelease{ConnID: c.conn}
		}
		for _, p := range c.parties {
			if p.state == psRinging && noOtherActive(p.dn, p) == nil {
				return Answer{ConnID: c.conn, DN: p.dn.number}
			}
		}
	}
	// Ringing calls whose DN is busy elsewhere: release that DN's other call.
	for _, c := range liveCalls(e) {
		for _, p := range c.parties {
			if p.state == psRinging {
				for _, q := range p.dn.parties {
					if q != p && q.state != psBridged {
						return Release{ConnID: q.call.conn, DN: p.dn.number}
					}
				}
			}
		}
	}
	return TimerFired{ID: "none"}
}

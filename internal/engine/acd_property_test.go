package engine

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/config"
)

var acdSteps = flag.Int("prop.acdsteps", 20000, "ACD property test: commands per seed")

// acdTenant: 12 phones, queues q1 (no skills), q2 (skill sales >= 50),
// q3 (max 3 waiting, overflow to q1 after 20 s, music then an
// announcement every 15 s), routing points r1 (external router, timeout
// to q1, treatment-after) and r2 (queue strategy to q2), agents a1-a10
// with random sales levels. RONA policies (5.16): a random tenant default,
// none on q2, and a random policy of their own for some agents.
func acdTenant(rng *rand.Rand) *config.Tenant {
	t := &config.Tenant{ID: "acd", Tokens: []string{"t"}}
	t.Defaults.NoAnswerTimeout = config.D(15 * time.Second)
	ronas := []string{"", config.RONANotReady, config.RONALogout, config.RONANone}
	t.Defaults.RONA = ronas[rng.IntN(len(ronas))]
	for i := 1; i <= 12; i++ {
		t.DNs = append(t.DNs, config.DN{Number: strconv.Itoa(100 + i), Type: config.Extension})
	}
	t.DNs = append(t.DNs,
		config.DN{Number: "q1", Type: config.ACDQueue, Queue: &config.Queue{WrapUpTime: config.WrapUpTime(5 * time.Second)}},
		config.DN{Number: "q2", Type: config.ACDQueue, Queue: &config.Queue{Skills: map[string]int{"sales": 50}, NoAnswerTimeout: config.D(6 * time.Second), RONA: config.RONANone}},
		config.DN{Number: "q3", Type: config.ACDQueue, Queue: &config.Queue{MaxSize: 3,
			Overflow: &config.Overflow{After: config.D(20 * time.Second), To: "q1"},
			Treatments: []config.QueueTreatment{{Type: "Music"},
				{Type: "PlayAnnouncement", After: config.D(15 * time.Second), Every: config.D(15 * time.Second), Parms: map[string]string{"DURATION": "4"}}}}},
		config.DN{Number: "r1", Type: config.RoutingPoint, Routing: &config.Routing{RouteTimeout: config.D(10 * time.Second),
			DefaultDestination: "q1", TreatmentAfter: config.D(4 * time.Second)}},
		config.DN{Number: "r2", Type: config.RoutingPoint, Routing: &config.Routing{Strategy: &config.Strategy{Type: config.StrategyQueue, Queue: "q2"}}},
		config.DN{Number: "pstn", Type: config.Trunk, Trunk: &config.TrunkSettings{}},
	)
	for i := 1; i <= 10; i++ {
		a := config.Agent{ID: "a" + strconv.Itoa(i)}
		if rng.IntN(3) != 0 {
			a.Skills = map[string]int{"sales": rng.IntN(101)}
		}
		if rng.IntN(3) == 0 {
			a.RONA = ronas[rng.IntN(len(ronas))]
		}
		t.Agents = append(t.Agents, a)
	}
	return t
}

// TestPropertyACD mixes agents, queues, routing points and callers at
// random (valid and invalid commands, timers firing in random order) and
// checks after every step:
//   - a refusal produces nothing and changes nothing (digest);
//   - every event passes Validate; Seq is gapless per key;
//   - a call's stay in a queue opens with EventQueued and closes exactly
//     once, with EventDiverted or EventAbandoned of that queue; the calls
//     whose stay is open are exactly those the queue says are waiting;
//   - every offer (distribution) goes to an agent who is logged in to the
//     queue, Ready, idle, in service, not on DND and has the queue's
//     skills, and who has been available longest among those (a
//     brute-force scan over all agents against a model of when each became
//     available, kept by the test; agents that became available in the
//     same observation tie), and offers the queue's oldest call;
//   - at the end of a step no queue has both a waiting call and an
//     available agent;
//   - the queue and ready indexes equal what reindex rebuilds from the
//     plain fields;
//   - every ring-no-answer (Diverted(agent DN, Redirected, ThirdPartyDN
//     queue)) is followed in its step by what the agent's RONA policy
//     says (5.16: the agent's, else the queue's, else the tenant default,
//     else not-ready): NotReady(AuxWork, ReasonCode NoAnswer), AgentLogout
//     (ReasonCode NoAnswer), or for none neither; over the seeds each
//     policy is seen.
func TestPropertyACD(t *testing.T) {
	ronas := map[string]int{}
	for seed := 1; seed <= 4; seed++ {
		t.Run("seed"+strconv.Itoa(seed), func(t *testing.T) {
			for p, n := range runACDProperty(t, uint64(seed), *acdSteps) {
				ronas[p] += n
			}
		})
	}
	t.Logf("ring-no-answer by policy: %v", ronas)
	for _, p := range config.RONAPolicies {
		if ronas[p] == 0 && !t.Failed() {
			t.Errorf("no ring-no-answer with policy %s: the generator does not exercise it", p)
		}
	}
}

type acdModel struct {
	obs   int64
	since map[*agentState]int64 // when the agent was first seen available (observation number)
}

// observe brings the model up to date with who is available now (brute
// force over all agents, from the raw state).
func (m *acdModel) observe(e *Engine) {
	m.obs++
	for _, a := range e.agList {
		d := a.dn
		avail := d != nil && a.state == AgentReady && d.inService && !d.dnd && d.onCalls() == 0
		_, had := m.since[a]
		switch {
		case avail && !had:
			m.since[a] = m.obs
		case !avail && had:
			delete(m.since, a)
		}
	}
}

// runACDProperty returns how many ring-no-answers each RONA policy had.
func runACDProperty(t *testing.T, seed uint64, steps int) map[string]int {
	rng := rand.New(rand.NewPCG(seed, 0xacd))
	tn := acdTenant(rng)
	// ronaOf is the policy 5.16 gives agent id on a call of queue q.
	ronaOf := func(id, q string) string {
		for _, a := range tn.Agents {
			if a.ID == id && a.RONA != "" {
				return a.RONA
			}
		}
		if d := tn.DN(q); d != nil && d.Queue != nil && d.Queue.RONA != "" {
			return d.Queue.RONA
		}
		if tn.Defaults.RONA != "" {
			return tn.Defaults.RONA
		}
		return config.RONANotReady
	}
	ronas := map[string]int{}
	e, err := New(tn, Options{Server: "n"})
	if err != nil {
		t.Fatal(err)
	}
	m := &acdModel{since: map[*agentState]int64{}}
	var fail string
	e.onDistribute = func(p *party, a *agentState) {
		if fail != "" {
			return
		}
		m.observe(e)
		q := p.dn.q
		d := a.dn
		switch {
		case d == nil || !hasQueue(a.queues, p.dn.number):
			fail = fmt.Sprintf("offer to %s, not logged in to %s", a.id, p.dn.number)
		case a.state != AgentReady || !d.inService || d.dnd || d.onCalls() != 0:
			fail = fmt.Sprintf("offer to %s, not available (%s, calls %d)", a.id, a.state, d.onCalls())
		case !eligible(a, q):
			fail = fmt.Sprintf("offer to %s without the skills of %s", a.id, p.dn.number)
		}
		best := int64(-1)
		for _, b := range e.agList {
			if s, ok := m.since[b]; ok && hasQueue(b.queues, p.dn.number) && eligible(b, q) && (best < 0 || s < best) {
				best = s
			}
		}
		if fail == "" && m.since[a] != best {
			fail = fmt.Sprintf("offer to %s available since %d, but an agent available since %d waits", a.id, m.since[a], best)
		}
		// The call offered is the queue's oldest.
		if fail == "" && q.waitHead != p {
			fail = fmt.Sprintf("offer of %s, not the oldest call of %s", p.call.conn, p.dn.number)
		}
	}
	seq := map[string]int64{}
	stays := map[string]bool{} // conn/queue
	at := goldenStart
	var refused, events, offers int
	for step := 0; step < steps; step++ {
		at += int64(rng.IntN(2_000_000))
		cmd := acdCommand(rng, e)
		before := digest(e)
		m.observe(e)
		res, err := e.Step(at, cmd)
		if fail != "" {
			t.Fatalf("step %d %#v: %s", step, cmd, fail)
		}
		if err != nil {
			refused++
			var ee *Error
			if !errors.As(err, &ee) {
				t.Fatalf("step %d: %v is not an *Error", step, err)
			}
			if after := digest(e); after != before || len(res.Events) != 0 || len(res.Effects) != 0 {
				t.Fatalf("step %d %#v: refused (%v) but something changed", step, cmd, err)
			}
			continue
		}
		pending := map[string]string{} // agent -> RONA policy due in this step
		for i := range res.Events {
			ev := &res.Events[i]
			events++
			if err := ev.Validate(); err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			switch {
			case ev.ID == event.EventDiverted && ev.CallState == event.CallStateRedirected &&
				e.dns[ev.ThirdPartyDN] != nil && e.dns[ev.ThirdPartyDN].q != nil:
				if ev.AgentID == "" {
					// The agent logged out while its phone rang: no
					// policy applies.
					if e.dns[ev.ThisDN].agent != nil {
						t.Fatalf("step %d: ring-no-answer at %s without AgentID, but an agent is on it", step, ev.ThisDN)
					}
					ronas["no agent"]++
					break
				}
				pol := ronaOf(ev.AgentID, ev.ThirdPartyDN)
				pending[ev.AgentID] = pol
				ronas[pol]++
			case ev.ID == event.EventAgentNotReady && pending[ev.AgentID] != "":
				if pending[ev.AgentID] != config.RONANotReady || ev.AgentWorkMode != event.WorkModeAuxWork || !noAnswerReason(ev.Reasons) {
					t.Fatalf("step %d: agent %s (RONA policy %s) got NotReady %s %v", step, ev.AgentID, pending[ev.AgentID], ev.AgentWorkMode, ev.Reasons)
				}
				delete(pending, ev.AgentID)
			case ev.ID == event.EventAgentLogout && pending[ev.AgentID] != "":
				if pending[ev.AgentID] != config.RONALogout || !noAnswerReason(ev.Reasons) {
					t.Fatalf("step %d: agent %s (RONA policy %s) got AgentLogout %v", step, ev.AgentID, pending[ev.AgentID], ev.Reasons)
				}
				delete(pending, ev.AgentID)
			}
			k := ev.Key()
			if ev.Seq != seq[k]+1 {
				t.Fatalf("step %d: %s key %s Seq %d after %d", step, ev.ID, k, ev.Seq, seq[k])
			}
			seq[k] = ev.Seq
			isQ := e.dns[ev.ThisDN] != nil && e.dns[ev.ThisDN].q != nil
			stay := ev.ConnID + "/" + ev.ThisDN
			switch {
			case ev.ID == event.EventQueued:
				if stays[stay] {
					t.Fatalf("step %d: %s queued in %s twice", step, ev.ConnID, ev.ThisDN)
				}
				stays[stay] = true
			case isQ && (ev.ID == event.EventDiverted || ev.ID == event.EventAbandoned):
				if !stays[stay] {
					t.Fatalf("step %d: %s for %s in %s, which it was not queued in", step, ev.ID, ev.ConnID, ev.ThisDN)
				}
				if ev.ID == event.EventDiverted {
					offers++
				}
				delete(stays, stay)
			case isQ:
				switch ev.ID {
				case event.EventTreatmentApplied, event.EventTreatmentEnd, event.EventTreatmentNotApplied:
				default:
					t.Fatalf("step %d: unexpected %s for queue %s", step, ev.ID, ev.ThisDN)
				}
			}
		}
		for a, pol := range pending {
			if pol != config.RONANone {
				t.Fatalf("step %d: agent %s did not answer (RONA policy %s) and got neither NotReady nor AgentLogout", step, a, pol)
			}
		}
		// The open stays are the waiting calls.
		waiting := map[string]bool{}
		for _, d := range e.dnList {
			if d.q == nil {
				continue
			}
			n := 0
			for p := d.q.waitHead; p != nil; p = p.w.qNext {
				waiting[p.call.conn+"/"+d.number] = true
				n++
				if p.state != psQueued || p.w.qNext != nil && p.w.qNext.w.qNo <= p.w.qNo {
					t.Fatalf("step %d: queue %s list out of order", step, d.number)
				}
			}
			if n != d.q.waiting {
				t.Fatalf("step %d: queue %s counts %d, lists %d", step, d.number, d.q.waiting, n)
			}
			if d.q.waitHead != nil && d.q.readyHead != nil {
				t.Fatalf("step %d: queue %s has a waiting call and an available agent", step, d.number)
			}
		}
		if len(waiting) != len(stays) {
			t.Fatalf("step %d: %d open stays, %d waiting calls", step, len(stays), len(waiting))
		}
		for s := range stays {
			if !waiting[s] {
				t.Fatalf("step %d: stay %s open but not waiting", step, s)
			}
		}
		if step%500 == 0 {
			d1 := digest(e)
			e.reindex()
			if d2 := digest(e); d1 != d2 {
				t.Fatalf("step %d: reindex changed the state:\n%s\n->\n%s", step, d1, d2)
			}
		}
	}
	t.Logf("%d steps, %d refused, %d events, %d offers", steps, refused, events, offers)
	if offers < steps/50 {
		t.Errorf("only %d offers in %d steps: the generator does not exercise distribution", offers, steps)
	}
	return ronas
}

var (
	acdPhones = []string{"101", "102", "103", "104", "105", "106", "107", "108", "109", "110", "111", "112"}
	acdWaits  = []string{"q1", "q2", "q3", "r1", "r2"}
	acdTypes  = []string{"Music", "RingBack", "Silence", "Busy", "PlayAnnouncement", "CollectDigits", "IVR", "Nope"}
)

func pickS(rng *rand.Rand, s []string) string { return s[rng.IntN(len(s))] }

// acdCommand picks a command: mostly ones that fit the state.
func acdCommand(rng *rand.Rand, e *Engine) Command {
	// Parties by state.
	var ringing, talking, waiting []*party
	for _, c := range liveCalls(e) {
		for _, p := range c.parties {
			switch {
			case p.state == psRinging && p.dn != nil:
				ringing = append(ringing, p)
			case p.state == psEstablished && p.dn != nil:
				talking = append(talking, p)
			case p.state == psQueued || p.state == psRouting:
				waiting = append(waiting, p)
			}
		}
	}
	req := Request{ReferenceID: int64(rng.IntN(100))}
	switch r := rng.IntN(100); {
	case r < 8:
		i := rng.IntN(10)
		var qs []string
		for _, q := range []string{"q1", "q2", "q3"} {
			if rng.IntN(2) == 0 {
				qs = append(qs, q)
			}
		}
		return Login{Request: req, DN: acdPhones[i], AgentID: "a" + strconv.Itoa(i+1), Queues: qs}
	case r < 10:
		return Logout{Request: req, DN: pickS(rng, acdPhones)}
	case r < 24:
		return Ready{Request: req, DN: pickS(rng, acdPhones)}
	case r < 28:
		return NotReady{Request: req, DN: pickS(rng, acdPhones)}
	case r < 30:
		return SetDND{Request: req, DN: pickS(rng, acdPhones), On: rng.IntN(2) == 0}
	case r < 42:
		return NetworkCall{Request: req, Trunk: "pstn", ANI: "+33" + strconv.Itoa(rng.IntN(1000)), DNIS: pickS(rng, acdWaits)}
	case r < 46:
		return MakeCall{Request: req, From: pickS(rng, acdPhones), To: pickS(rng, acdWaits)}
	case r < 58 && len(ringing) > 0:
		p := ringing[rng.IntN(len(ringing))]
		return Answer{Request: req, ConnID: p.call.conn, DN: p.dn.number}
	case r < 68 && len(talking) > 0:
		p := talking[rng.IntN(len(talking))]
		if x := p.call.external(); x != nil && rng.IntN(2) == 0 {
			return NetworkRelease{Request: req, ConnID: p.call.conn}
		}
		return Release{Request: req, ConnID: p.call.conn, DN: p.dn.number}
	case r < 72 && len(waiting) > 0:
		p := waiting[rng.IntN(len(waiting))]
		if x := p.call.external(); x != nil {
			return NetworkRelease{Request: req, ConnID: p.call.conn}
		}
		for _, o := range p.call.parties {
			if o.dn != nil && o != p {
				return Release{Request: req, ConnID: p.call.conn, DN: o.dn.number}
			}
		}
	case r < 76 && len(waiting) > 0:
		p := waiting[rng.IntN(len(waiting))]
		to := pickS(rng, append([]string{"q1", "q2", "q3", "r2"}, acdPhones[:3]...))
		return RouteCall{Request: req, ConnID: p.call.conn, RoutingPoint: pickS(rng, []string{p.dn.number, "r1"}), To: to}
	case r < 80 && len(waiting) > 0:
		p := waiting[rng.IntN(len(waiting))]
		parms := event.KV{}
		if rng.IntN(2) == 0 {
			parms = append(parms, event.I("DURATION", int64(rng.IntN(5))))
		}
		if rng.IntN(4) == 0 {
			return CollectDigits{Request: req, ConnID: p.call.conn, DN: p.dn.number, Digits: "12#"}
		}
		return ApplyTreatment{Request: req, ConnID: p.call.conn, DN: p.dn.number, Type: pickS(rng, acdTypes), Parms: parms}
	}
	// Fire a timer (in a random order, as a racing runtime might).
	if len(e.timers) > 0 {
		ids := make([]string, 0, len(e.timers))
		for id := range e.timers {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		return TimerFired{ID: ids[rng.IntN(len(ids))]}
	}
	return Ready{Request: req, DN: pickS(rng, acdPhones)}
}

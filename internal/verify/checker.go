package verify

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/switchboard-cc/switchboard/event"
)

// Rule names a checked rule of EVENTS.md; every Problem carries one, so
// reports and tests can tell faults apart.
type Rule string

// The rules.
const (
	RuleDecode    Rule = "decode"    // the value is one JSON event of a known name (2)
	RuleValid     Rule = "valid"     // (*event.Event).Validate passes (2, 4)
	RuleTopic     Rule = "topic"     // the topic is the event's (1)
	RuleKey       Rule = "key"       // the record key is the event's (1)
	RuleHeaders   Rule = "headers"   // event, tenant and schema headers (1)
	RulePartition Rule = "partition" // murmur2 of the key (1)
	RuleSeqGap    Rule = "seq-gap"   // Seq skipped a value (2.1)
	RuleSeqDup    Rule = "seq-dup"   // Seq repeated or went back (2.1)
	RuleCallFlow  Rule = "call-flow" // an event that does not fit the call's parties (3, 5)
	RuleRinging   Rule = "ringing"   // a ringing that never ended (5)
	RuleOpenCall  Rule = "open-call" // with --closed: a call or thread that never ended (3)
	RuleThread    Rule = "thread"    // a ConnID in two threads, a consult outside its thread (3)
	RuleAgent     Rule = "agent"     // the agent state machine (4.1)
	RuleExpect    Rule = "expect"    // a count differs from the sim summary
)

// ErrUsage is wrapped by flag errors.
var ErrUsage = errors.New("verify: usage")

// Header is one Kafka record header.
type Header struct{ Key, Value string }

// Record is one Kafka record as the checker needs it.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Headers   []Header
	Value     []byte
}

// Problem is one broken rule, located in the stream.
type Problem struct {
	Rule      Rule   `json:"rule"`
	Topic     string `json:"topic,omitempty"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Key       string `json:"key,omitempty"`
	Msg       string `json:"msg"`
}

func (p Problem) String() string {
	loc := "end of stream"
	if p.Topic != "" {
		loc = fmt.Sprintf("%s[%d]@%d", p.Topic, p.Partition, p.Offset)
	}
	if p.Key != "" {
		loc += " key " + p.Key
	}
	return fmt.Sprintf("%s: %s: %s", p.Rule, loc, p.Msg)
}

// Options configure a Checker.
type Options struct {
	// TopicPrefix is the configured topic name prefix.
	TopicPrefix string
	// Tenant, if set, limits the checks to that tenant's records; others are
	// counted as skipped.
	Tenant string
	// Closed demands that every call and thread has ended and every ringing
	// ended; otherwise those still in progress are reported as open.
	Closed bool
	// Partitions is the partition count of each (prefixed) topic; a topic
	// missing here gets no partition check.
	Partitions map[string]int32
	// Truncated lists the (prefixed) topics whose log does not start at
	// offset 0 (retention deleted records): the first Seq of a key there
	// may be above 1.
	Truncated map[string]bool
	// Expect, if set, are counts the stream must show (from sim).
	Expect *Expect
}

// Checker checks a stream record by record. Records of one partition must
// be added in offset order; partitions may interleave (every rule it
// checks is per key, and a key lives in one partition).
type Checker struct {
	opts Options
	rep  Report
	seqs map[string]int64 // topic+"\x00"+key -> last Seq
	// partial are the keys (topic+"\x00"+key) of a truncated topic whose
	// first retained record is not their first: their earlier records
	// were deleted by retention, so their flows are not checked.
	partial  map[string]bool
	threads  map[string]*thread
	connIDs  map[string]*call
	agents   map[string]*agentState // tenant+":"+agentID
	problems int
}

// maxProblems bounds the problems kept in a report (all are counted).
const maxProblems = 1000

// NewChecker returns a Checker.
func NewChecker(opts Options) *Checker {
	return &Checker{
		opts:    opts,
		seqs:    map[string]int64{},
		partial: map[string]bool{},
		threads: map[string]*thread{},
		connIDs: map[string]*call{},
		agents:  map[string]*agentState{},
		rep: Report{
			Events:  map[string]int{},
			Keys:    map[string]int{},
			Records: map[string]int{},
			Counts:  map[string]int{},
		},
	}
}

type thread struct {
	key   string
	id    string
	calls map[string]*call
	order []*call
}

type call struct {
	connID    string
	thread    *thread
	callType  event.CallType
	prev      string // PreviousConnID of a consult call
	parties   map[string]*party
	dialing   bool // an EventDialing was seen
	moving    bool // last party left by transfer, conference, redirect or diversion
	ended     bool
	answered  bool // a non-observer party was established
	abandoned bool
	counted   bool // counted as offered
	lastLoc   Problem
	// observers announced by PartyAdded(OtherDNRole Observer) and not
	// joined yet (5.14: the parties learn of the observer first).
	announced map[string]bool
}

type party struct {
	state string // dialing, ringing, established, held, busy, queued, routing, bridged
	loc   Problem
}

type agentState struct {
	dn     string
	queues int
	state  string // NotReady, Ready
}

func (c *Checker) problem(r *Record, key string, rule Rule, format string, args ...any) {
	p := Problem{Rule: rule, Msg: fmt.Sprintf(format, args...), Key: key}
	if r != nil {
		p.Topic, p.Partition, p.Offset = r.Topic, r.Partition, r.Offset
	}
	c.add(p)
}

func (c *Checker) add(p Problem) {
	c.problems++
	c.rep.ProblemCounts = incr(c.rep.ProblemCounts, string(p.Rule))
	if len(c.rep.Problems) < maxProblems {
		c.rep.Problems = append(c.rep.Problems, p)
	}
}

func incr(m map[string]int, k string) map[string]int {
	if m == nil {
		m = map[string]int{}
	}
	m[k]++
	return m
}

// Add checks one record.
func (c *Checker) Add(r Record) {
	key := string(r.Key)
	var ev event.Event
	if err := event.Unmarshal(r.Value, &ev); err != nil {
		c.rep.Total++
		c.problem(&r, key, RuleDecode, "%v", err)
		return
	}
	if c.opts.Tenant != "" && ev.CustomerID != c.opts.Tenant && !strings.HasPrefix(key, c.opts.Tenant+":") {
		c.rep.Skipped++
		return
	}
	c.rep.Total++
	c.rep.Records[r.Topic]++
	if ev.ID == 0 {
		c.problem(&r, key, RuleDecode, "unknown event name")
		return
	}
	name := ev.ID.String()
	c.rep.Events[name]++
	if err := ev.Validate(); err != nil {
		c.problem(&r, key, RuleValid, "%s: %v", name, err)
	}
	if want := c.opts.TopicPrefix + ev.Topic(); r.Topic != want {
		c.problem(&r, key, RuleTopic, "%s on topic %s, want %s", name, r.Topic, want)
	}
	if want := ev.Key(); key != want {
		c.problem(&r, key, RuleKey, "%s has key %q, want %q", name, key, want)
	}
	c.checkHeaders(&r, key, &ev)
	if n := c.opts.Partitions[r.Topic]; n > 0 {
		if want := event.Partition(r.Key, n); r.Partition != want {
			c.problem(&r, key, RulePartition, "key %q is in partition %d, murmur2 gives %d of %d", key, r.Partition, want, n)
		}
	}
	sk := r.Topic + "\x00" + key
	last, seen := c.seqs[sk]
	switch {
	case !seen:
		c.rep.Keys[r.Topic]++
		if ev.Seq != 1 {
			if c.opts.Truncated[r.Topic] {
				c.partial[sk] = true
			} else {
				c.problem(&r, key, RuleSeqGap, "first Seq of the key is %d, want 1", ev.Seq)
			}
		}
		c.seqs[sk] = ev.Seq
	case ev.Seq == last+1:
		c.seqs[sk] = ev.Seq
	case ev.Seq <= last:
		c.problem(&r, key, RuleSeqDup, "%s Seq %d after Seq %d: duplicate or out of order", name, ev.Seq, last)
	default:
		c.problem(&r, key, RuleSeqGap, "%s Seq %d after Seq %d: %d missing", name, ev.Seq, last, ev.Seq-last-1)
		c.seqs[sk] = ev.Seq
	}
	if ev.Topic() == event.CallThreadTopic {
		if !c.partial[sk] {
			c.callEvent(&r, key, &ev)
		}
	} else if ev.Topic() == event.AgentStateTopic {
		c.agentEvent(&r, key, &ev, c.partial[sk])
	}
}

func (c *Checker) checkHeaders(r *Record, key string, ev *event.Event) {
	want := ev.Headers()
	got := map[string][]string{}
	for _, h := range r.Headers {
		got[h.Key] = append(got[h.Key], h.Value)
	}
	for _, h := range want {
		v := got[h.Key]
		switch {
		case len(v) == 0:
			c.problem(r, key, RuleHeaders, "header %q missing", h.Key)
		case len(v) > 1:
			c.problem(r, key, RuleHeaders, "header %q repeated", h.Key)
		case v[0] != h.Value:
			c.problem(r, key, RuleHeaders, "header %q is %q, want %q", h.Key, v[0], h.Value)
		}
	}
}

// callEvent follows the parties of the calls of one thread.
func (c *Checker) callEvent(r *Record, key string, ev *event.Event) {
	if ev.CallThreadID == "" || ev.ConnID == "" {
		return // Validate reported it
	}
	name := ev.ID
	th := c.threads[key]
	if th == nil {
		th = &thread{key: key, id: ev.CallThreadID, calls: map[string]*call{}}
		c.threads[key] = th
	}
	loc := Problem{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: key}
	cl := th.calls[ev.ConnID]
	if cl == nil {
		if other := c.connIDs[ev.ConnID]; other != nil {
			c.problem(r, key, RuleThread, "%s: ConnID %s already belongs to thread %s", name, ev.ConnID, other.thread.key)
			return
		}
		switch name {
		case event.EventDialing, event.EventRinging, event.EventQueued, event.EventRouteRequest:
		default:
			c.problem(r, key, RuleCallFlow, "%s for ConnID %s, which no Dialing, Ringing, Queued or RouteRequest started", name, ev.ConnID)
			return
		}
		cl = &call{connID: ev.ConnID, thread: th, callType: ev.CallType, parties: map[string]*party{}}
		th.calls[ev.ConnID] = cl
		th.order = append(th.order, cl)
		c.connIDs[ev.ConnID] = cl
		if ev.CallType == event.CallTypeConsult {
			cl.prev = ev.PreviousConnID
			if main := th.calls[ev.PreviousConnID]; main == nil {
				c.problem(r, key, RuleThread, "consult call %s: PreviousConnID %q is not a call of this thread", ev.ConnID, ev.PreviousConnID)
			}
		} else if len(th.calls) > 1 {
			// a thread is one non-consult call and its consultations
			c.problem(r, key, RuleThread, "%s: second non-consult call %s in thread", name, ev.ConnID)
		}
		if ev.CallType == event.CallTypeInbound {
			cl.counted = true
			c.rep.Counts[CountOffered]++
		}
	}
	cl.lastLoc = loc
	if cl.ended {
		c.problem(r, key, RuleCallFlow, "%s for %s on ConnID %s after the call ended", name, ev.ThisDN, ev.ConnID)
		return
	}
	dn := ev.ThisDN
	p := cl.parties[dn]
	need := func() bool {
		if p == nil {
			c.problem(r, key, RuleCallFlow, "%s for %s, which is not on call %s", name, dn, ev.ConnID)
			return false
		}
		return true
	}
	join := func(state string) {
		if p != nil && state != "bridged" {
			c.problem(r, key, RuleCallFlow, "%s for %s, which is already on call %s (%s)", name, dn, ev.ConnID, p.state)
		}
		cl.parties[dn] = &party{state: state, loc: loc}
		cl.moving = false
	}
	leave := func(moving bool) {
		delete(cl.parties, dn)
		if len(cl.parties) == 0 {
			if moving {
				cl.moving = true
			} else {
				c.endCall(cl)
			}
		}
	}
	switch name {
	case event.EventDialing:
		cl.dialing = true
		join("dialing")
	case event.EventRinging:
		if (ev.CallType == event.CallTypeInternal || ev.CallType == event.CallTypeConsult) && !cl.dialing {
			c.problem(r, key, RuleCallFlow, "Ringing(%s) of %s call %s without a Dialing before it", dn, ev.CallType, ev.ConnID)
		}
		if ev.ThisDNRole == event.RoleObserver {
			c.observer(r, key, ev)
			if !cl.announced[dn] {
				c.problem(r, key, RuleCallFlow, "Ringing(%s, Observer) on %s without PartyAdded(OtherDN %s, Observer) before it", dn, ev.ConnID, dn)
			}
			delete(cl.announced, dn)
		}
		join("ringing")
	case event.EventQueued:
		join("queued")
	case event.EventRouteRequest:
		join("routing")
	case event.EventBridged:
		join("bridged")
	case event.EventEstablished:
		if need() {
			if p.state != "ringing" && p.state != "dialing" {
				c.problem(r, key, RuleCallFlow, "Established(%s) on %s while %s", dn, ev.ConnID, p.state)
			}
			p.state = "established"
			if ev.ThisDNRole == event.RoleObserver {
				c.observer(r, key, ev)
			}
			if ev.ThisDNRole != event.RoleObserver {
				if cl.counted && !cl.answered {
					c.rep.Counts[CountAnswered]++
				}
				cl.answered = true
			} else {
				c.rep.Counts[CountObserved]++
			}
		}
	case event.EventNetworkReached:
		if need() && p.state != "dialing" {
			c.problem(r, key, RuleCallFlow, "NetworkReached(%s) on %s while %s (want the dialing originator)", dn, ev.ConnID, p.state)
		}
		if ev.CallType == event.CallTypeConsult {
			c.rep.Counts[CountExtConsults]++
		}
	case event.EventDestinationBusy:
		if need() {
			p.state = "busy"
		}
	case event.EventHeld:
		if need() {
			p.state = "held"
		}
	case event.EventRetrieved:
		if need() {
			if p.state != "held" {
				c.problem(r, key, RuleCallFlow, "Retrieved(%s) on %s while %s", dn, ev.ConnID, p.state)
			}
			p.state = "established"
		}
	case event.EventPartyAdded:
		if need() && ev.OtherDNRole == event.RoleObserver {
			// 5.14: every party learns of the observer before it joins.
			if ev.CallState != event.CallStateBridged {
				c.problem(r, key, RuleCallFlow, "PartyAdded(%s, OtherDN %s Observer) on %s with CallState %s, want Bridged", dn, ev.OtherDN, ev.ConnID, ev.CallState)
			}
			if cl.parties[ev.OtherDN] != nil {
				c.problem(r, key, RuleCallFlow, "PartyAdded(%s, OtherDN %s Observer) on %s after the observer joined", dn, ev.OtherDN, ev.ConnID)
			}
			if cl.announced == nil {
				cl.announced = map[string]bool{}
			}
			cl.announced[ev.OtherDN] = true
		}
	case event.EventPartyDeleted, event.EventTreatmentRequired,
		event.EventTreatmentApplied, event.EventTreatmentEnd, event.EventTreatmentNotApplied:
		need()
	case event.EventAbandoned:
		if need() {
			if cl.counted && !cl.answered && !cl.abandoned {
				c.rep.Counts[CountAbandoned]++
			}
			cl.abandoned = true
			leave(false)
		}
	case event.EventDiverted, event.EventRouteUsed:
		if need() {
			leave(true)
		}
	case event.EventReleased:
		if need() {
			moving := false
			switch ev.CallState {
			case event.CallStateTransferred, event.CallStateConferenced:
				moving = true
			}
			if cl.callType != event.CallTypeConsult {
				if ev.CallState == event.CallStateTransferred {
					c.rep.Counts[CountTransfers]++
				}
			} else if ev.CallState == event.CallStateConferenced {
				c.rep.Counts[CountConferences]++
			}
			leave(moving)
		}
	case event.EventPartyChanged:
		from := th.calls[ev.PreviousConnID]
		if from == nil {
			c.problem(r, key, RuleCallFlow, "PartyChanged(%s): PreviousConnID %q is not a call of this thread", dn, ev.PreviousConnID)
			return
		}
		fp := from.parties[dn]
		if fp == nil && p == nil {
			c.problem(r, key, RuleCallFlow, "PartyChanged(%s) to %s: %s is on neither %s nor %s", dn, ev.ConnID, dn, ev.PreviousConnID, ev.ConnID)
			return
		}
		if from != cl && fp != nil {
			delete(from.parties, dn)
			if len(from.parties) == 0 {
				c.endCall(from)
			}
			cl.parties[dn] = fp
			cl.moving = false
		}
	}
	if name == event.EventDialing && ev.CallType == event.CallTypeConsult {
		c.rep.Counts[CountConsults]++
	}
}

// observer checks the CallState of a monitoring supervisor's Ringing and
// Established (5.14: Bridged).
func (c *Checker) observer(r *Record, key string, ev *event.Event) {
	if ev.CallState != event.CallStateBridged {
		c.problem(r, key, RuleCallFlow, "%s(%s, Observer) on %s with CallState %s, want Bridged", ev.ID, ev.ThisDN, ev.ConnID, ev.CallState)
	}
}

func (c *Checker) endCall(cl *call) {
	cl.ended = true
	cl.moving = false
}

// agentEvent follows the state of each agent (per agent key, so in order).
// On a partial key an agent not yet seen is taken as logged in where the
// event says (the login was deleted by retention).
func (c *Checker) agentEvent(r *Record, key string, ev *event.Event, partial bool) {
	if ev.AgentID == "" {
		return
	}
	id := ev.CustomerID + ":" + ev.AgentID
	a := c.agents[id]
	name := ev.ID
	if name == event.EventAgentLogin {
		if a != nil && a.dn != ev.ThisDN {
			c.problem(r, key, RuleAgent, "AgentLogin of %s on %s while logged in on %s", ev.AgentID, ev.ThisDN, a.dn)
		}
		if a == nil {
			a = &agentState{dn: ev.ThisDN, state: "NotReady"}
			c.agents[id] = a
		}
		a.queues++
		return
	}
	if a == nil && partial {
		a = &agentState{dn: ev.ThisDN, state: "NotReady", queues: 1}
		c.agents[id] = a
	}
	if a == nil {
		c.problem(r, key, RuleAgent, "%s for agent %s, who is not logged in", name, ev.AgentID)
		return
	}
	if a.dn != ev.ThisDN {
		c.problem(r, key, RuleAgent, "%s for agent %s on %s, but the agent is logged in on %s", name, ev.AgentID, ev.ThisDN, a.dn)
	}
	switch name {
	case event.EventAgentReady:
		a.state = "Ready"
	case event.EventAgentNotReady:
		a.state = "NotReady"
	case event.EventQueueLogout:
		a.queues--
	case event.EventAgentLogout:
		delete(c.agents, id)
	}
}

// Count names (Report.Counts and Expect).
const (
	CountOffered         = "offered"          // inbound calls that reached the switch
	CountAnswered        = "answered"         // of those, answered by a DN
	CountAbandoned       = "abandoned"        // of those, abandoned before an answer
	CountTransfers       = "transfers"        // completed transfers (single-step or two-step)
	CountConferences     = "conferences"      // completed two-step conferences
	CountConsults        = "consults"         // consult calls made
	CountExtConsults     = "externalConsults" // of those, to an external number (NetworkReached on a Consult call)
	CountObserved        = "observed"         // supervisors that joined a call as observer
	CountLogins          = "logins"           // EventAgentLogin
	CountLogouts         = "logouts"          // EventAgentLogout
	CountReady           = "ready"            // EventAgentReady
	CountNotReady        = "notReady"         // EventAgentNotReady
	CountMonitorRequests = "monitorRequests"  // EventMonitoringNextCall (both DNs)
)

// Finish ends the stream and returns the report.
func (c *Checker) Finish() *Report {
	rep := &c.rep
	var keys []string
	for k := range c.threads {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		th := c.threads[k]
		open := false
		for _, cl := range th.order {
			if cl.ended || (cl.moving && len(cl.parties) == 0) {
				continue
			}
			if len(cl.parties) == 0 {
				continue
			}
			open = true
			rep.OpenCalls++
			var dns []string
			for dn, p := range cl.parties {
				dns = append(dns, dn+"("+p.state+")")
				if p.state == "ringing" && c.opts.Closed {
					p.loc.Rule = RuleRinging
					p.loc.Msg = fmt.Sprintf("Ringing(%s) on %s never ended (no Established, Released, Abandoned or Diverted)", dn, cl.connID)
					c.add(p.loc)
				}
			}
			sort.Strings(dns)
			if c.opts.Closed {
				pr := cl.lastLoc
				pr.Rule = RuleOpenCall
				pr.Msg = fmt.Sprintf("call %s never ended; still on it: %s", cl.connID, strings.Join(dns, ", "))
				c.add(pr)
			} else if len(rep.Open) < 20 {
				rep.Open = append(rep.Open, fmt.Sprintf("%s call %s: %s", k, cl.connID, strings.Join(dns, ", ")))
			}
		}
		if open {
			rep.OpenThreads++
		} else {
			rep.ClosedThreads++
		}
	}
	rep.Threads = len(c.threads)
	rep.Counts[CountLogins] = rep.Events[event.EventAgentLogin.String()]
	rep.Counts[CountLogouts] = rep.Events[event.EventAgentLogout.String()]
	rep.Counts[CountReady] = rep.Events[event.EventAgentReady.String()]
	rep.Counts[CountNotReady] = rep.Events[event.EventAgentNotReady.String()]
	rep.Counts[CountMonitorRequests] = rep.Events[event.EventMonitoringNextCall.String()] / 2
	if c.opts.Expect != nil {
		rep.Expected = map[string]int{}
		names := make([]string, 0, len(c.opts.Expect.Counts))
		for n := range c.opts.Expect.Counts {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			want := c.opts.Expect.Counts[n]
			rep.Expected[n] = want
			if got := rep.Counts[n]; got != want {
				c.add(Problem{Rule: RuleExpect, Msg: fmt.Sprintf("%s: the stream shows %d, sim did %d", n, got, want)})
			}
		}
	}
	rep.ProblemTotal = c.problems
	rep.OK = c.problems == 0
	return rep
}

// Report is the result of a check.
type Report struct {
	OK            bool           `json:"ok"`
	Total         int            `json:"total"`   // records checked
	Skipped       int            `json:"skipped"` // records of other tenants
	Records       map[string]int `json:"records"` // per topic
	Keys          map[string]int `json:"keys"`    // distinct keys per topic
	Events        map[string]int `json:"events"`  // per event name
	Threads       int            `json:"threads"`
	ClosedThreads int            `json:"closedThreads"`
	OpenThreads   int            `json:"openThreads"`
	OpenCalls     int            `json:"openCalls"`
	Open          []string       `json:"open,omitempty"` // the first open calls (without --closed)
	Counts        map[string]int `json:"counts"`
	Expected      map[string]int `json:"expected,omitempty"`
	ProblemTotal  int            `json:"problemTotal"`
	ProblemCounts map[string]int `json:"problemCounts,omitempty"`
	Problems      []Problem      `json:"problems,omitempty"` // the first 1000
}

// Has reports whether the report has a problem of rule r.
func (rep *Report) Has(r Rule) bool { return rep.ProblemCounts[string(r)] > 0 }

func sortedKeys(m map[string]int) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Text renders the report for people.
func (rep *Report) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "records checked: %d", rep.Total)
	if rep.Skipped > 0 {
		fmt.Fprintf(&b, " (%d of other tenants skipped)", rep.Skipped)
	}
	b.WriteString("\n")
	for _, t := range sortedKeys(rep.Records) {
		fmt.Fprintf(&b, "  %-28s %8d records %7d keys\n", t, rep.Records[t], rep.Keys[t])
	}
	b.WriteString("events:\n")
	for _, n := range sortedKeys(rep.Events) {
		fmt.Fprintf(&b, "  %-28s %8d\n", n, rep.Events[n])
	}
	fmt.Fprintf(&b, "call threads: %d (%d ended, %d open with %d open calls)\n", rep.Threads, rep.ClosedThreads, rep.OpenThreads, rep.OpenCalls)
	for _, o := range rep.Open {
		fmt.Fprintf(&b, "  open: %s\n", o)
	}
	b.WriteString("counts:")
	for _, n := range sortedKeys(rep.Counts) {
		fmt.Fprintf(&b, " %s=%d", n, rep.Counts[n])
		if want, ok := rep.Expected[n]; ok {
			fmt.Fprintf(&b, "(sim %d)", want)
		}
	}
	b.WriteString("\n")
	if rep.OK {
		b.WriteString("OK: no problems\n")
		return b.String()
	}
	fmt.Fprintf(&b, "FAILED: %d problems:", rep.ProblemTotal)
	for _, r := range sortedKeys(rep.ProblemCounts) {
		fmt.Fprintf(&b, " %s=%d", r, rep.ProblemCounts[r])
	}
	b.WriteString("\n")
	for _, p := range rep.Problems {
		b.WriteString("  " + p.String() + "\n")
	}
	if n := rep.ProblemTotal - len(rep.Problems); n > 0 {
		b.WriteString("  ... " + strconv.Itoa(n) + " more\n")
	}
	return b.String()
}

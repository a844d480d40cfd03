package engine

import (
	"strconv"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/config"
)

// Options configures an Engine.
type Options struct {
	// Server is written as Event.Server: the id of this switchboard node.
	Server string
	// Seed keys the ConnID permutation and the random bits of
	// CallThreadIDs (see ids.go). 0: derived from the tenant id. Keep it
	// for the life of the installation.
	Seed uint64
}

// Result is what a successful Step produced.
type Result struct {
	// Events are the exact wire events, in contract order, with Seq, Time,
	// Server, CustomerID and SchemaVersion set. The caller owns the slice.
	Events []event.Event
	// Effects are what the outside must do (start or cancel timers, ...).
	Effects []Effect
	// Reply is a command-specific reply: CallReply for MakeCall,
	// NetworkCall, InitiateTransfer and InitiateConference; nil otherwise.
	Reply any
}

// Effect is something the runtime must carry out for the engine.
type Effect interface{ isEffect() }

// StartTimer asks the runtime to call Step(At, TimerFired{ID}) at time At
// (unix microseconds), unless a CancelTimer with the same ID comes first.
type StartTimer struct {
	ID string
	At int64
}

// CancelTimer cancels a timer started with StartTimer. If the timer fires
// anyway (a race in the runtime), the engine ignores its TimerFired.
type CancelTimer struct {
	ID string
}

func (StartTimer) isEffect()  {}
func (CancelTimer) isEffect() {}

// AgentState is the state of an agent.
type AgentState uint8

// The agent states. Busy is not a state of its own: an agent in any state
// may be on calls (DNView.Calls, AgentView.OnCall).
const (
	AgentLoggedOut AgentState = iota
	AgentNotReady
	AgentReady
	AgentAfterCallWork
)

var agentStateNames = [...]string{"LoggedOut", "NotReady", "Ready", "AfterCallWork"}

func (s AgentState) String() string {
	if int(s) < len(agentStateNames) {
		return agentStateNames[s]
	}
	return ""
}

// Engine is the switch core of one tenant. It is not safe for concurrent
// use.
type Engine struct {
	tenant string
	server string

	dns     map[string]*dnState
	dnList  []*dnState // configuration order, for deterministic iteration
	agents  map[string]*agentState
	agList  []*agentState
	timers  map[string]timer
	timerNo uint64 // last timer number handed out

	// Calls.
	ids      ids
	calls    map[uint64]*call // live calls by ConnID counter
	connNo   uint64           // last ConnID counter handed out
	callNo   int64            // last CallID
	threadNo uint64           // last call thread number
	noAnswer int64            // tenant default no-answer timeout, microseconds
	wrapUp   config.WrapUp    // tenant default after-call work
	ronaDef  string           // tenant default RONA policy ("": not-ready)

	// Queues and routing (acd.go).
	qNo     uint64        // last queue order number handed out
	availNo uint64        // last availability number handed out
	allQ    queueState    // every available agent, longest available first (skill strategy)
	pending []*agentState // agents that became available in this step
	// onDistribute, when set (tests only), is called before queued party p
	// is offered to agent a. Not state: snapshots ignore it.
	onDistribute func(p *party, a *agentState)

	// Per step.
	arena    []event.Event // free event slots; see begin
	scratch  []event.Event // StepScratch's arena, reused from its start every time
	outStart int           // where out starts in arena
	at       int64
	now      event.Time
	out      []event.Event
	effects  []Effect
	reply    any
	end      stepEnd
}

// dnState is one DN.
type dnState struct {
	number string
	typ    config.DNType
	name   string
	seq    int64 // last Seq of key tenant:number

	agent *agentState // logged in here, or nil

	inService bool
	dnd       bool
	offHook   bool
	fwdTo     string
	fwdMode   ForwardMode
	mwOn      bool
	mwNew     int
	mwOld     int

	monitoring  *monitor // this DN is the supervisor side
	monitoredBy *dnState // this DN is the target of that supervisor DN

	parties     []*party      // its parties on calls, in the order it joined them
	callWaiting bool          // may ring while on a call
	noAnswer    int64         // no-answer timeout, microseconds (0: the tenant default)
	bridgedBy   []*dnState    // DNs holding a bridged appearance of this DN's line
	prefixes    []string      // trunk: number prefixes it takes
	wrapUp      config.WrapUp // acd-queue: after-call work

	q  *queueState // acd-queue: its settings, waiting calls and ready agents
	rp *rpState    // routing-point: its settings
}

type monitor struct {
	target *dnState
	super  *dnState
	typ    event.MonitorNextCallType
	used   bool // a OneCall monitoring whose call has been joined
}

// agentState is one agent (or supervisor).
type agentState struct {
	id         string
	supervisor bool
	seq        int64 // last Seq of key tenant:id

	dn        *dnState // nil when logged out
	state     AgentState
	workMode  event.AgentWorkMode
	readyMode event.AgentWorkMode // the last Ready mode, used when timed ACW ends
	queues    []string            // in login order
	since     int64
	reasons   event.KV
	acwTimer  string        // the running after-call-work timer, or ""
	wrapUp    config.WrapUp // its own after-call work setting

	// ACD (acd.go). skills and noAnswer come from the configuration.
	skills   map[string]int
	noAnswer int64  // its own no-answer timeout for ACD calls, microseconds (0: the queue's)
	rona     string // its own RONA policy ("": the queue's)
	// avail: Ready, logged in, in service, not on DND and on no call: it
	// may be offered ACD calls. availNo orders agents by when they last
	// became available (the ready lists are sorted by it).
	avail   bool
	availNo uint64
	links   []*qlink // one per queue logged in to (login order); an index rebuilt by reindex
	allLink qlink    // its place in the tenant-wide list of available agents
}

// timer is a pending StartTimer.
type timer struct {
	kind  timerKind
	agent *agentState // timerACW
	party *party      // timerNoAnswer and the queue and routing kinds
	n     int         // timerQueueTreatment: the index of the queue's treatment
	at    int64
}

type timerKind uint8

const (
	timerACW            timerKind = iota + 1 // after-call work ends: agent Ready
	timerNoAnswer                            // a call rang too long: forward on no answer
	timerRONA                                // an ACD call rang too long at an agent: back to the queue
	timerRoute                               // no routing decision in time: default destination
	timerTreatReq                            // treatment-after at a routing point: EventTreatmentRequired
	timerTreatEnd                            // a treatment's duration ran out: EventTreatmentEnd
	timerOverflow                            // a call waited too long in a queue: overflow
	timerQueueTreatment                      // a queue's configured treatment is due
)

// New builds the engine of tenant t, which must be valid
// (config.File.Validate). Every DN starts in service, on hook, without
// DND; forwarding configured on a DN is set without an event; every agent
// starts logged out.
func New(t *config.Tenant, opts Options) (*Engine, error) {
	if t == nil {
		return nil, invalid("nil tenant")
	}
	if err := (&config.File{Tenants: []config.Tenant{*t}}).Validate(); err != nil {
		return nil, invalid("invalid tenant configuration: " + err.Error())
	}
	e := &Engine{
		tenant: t.ID,
		server: opts.Server,
		dns:    make(map[string]*dnState, len(t.DNs)),
		agents: make(map[string]*agentState, len(t.Agents)+len(t.Supervisors)),
		timers: map[string]timer{},
		ids:    newIDs(opts.Seed, t.ID),
		calls:  map[uint64]*call{},

		noAnswer: t.Defaults.NoAnswerTimeout.Microseconds(),
		wrapUp:   t.Defaults.WrapUpTime,
		ronaDef:  t.Defaults.RONA,
	}
	for i := range t.DNs {
		c := &t.DNs[i]
		d := &dnState{number: c.Number, typ: c.Type, name: c.Name, inService: true,
			callWaiting: c.CallWaiting, noAnswer: c.NoAnswerTimeout.Microseconds()}
		if c.Queue != nil {
			d.wrapUp = c.Queue.WrapUpTime
		}
		if c.Type == config.ACDQueue {
			d.q = newQueueState(d, c.Queue)
		}
		if c.Type == config.RoutingPoint {
			rp, err := newRPState(c.Routing)
			if err != nil {
				return nil, err
			}
			d.rp = rp
		}
		if c.Trunk != nil {
			d.prefixes = append([]string(nil), c.Trunk.Prefixes...)
		}
		if c.Forward != nil {
			d.fwdTo = c.Forward.To
			d.fwdMode, _ = ParseForwardMode(c.Forward.Mode)
			if d.fwdMode == 0 {
				d.fwdMode = ForwardUnconditional
			}
		}
		e.dns[c.Number] = d
		e.dnList = append(e.dnList, d)
	}
	for i := range t.DNs {
		for _, b := range t.DNs[i].Bridged {
			if l := e.dns[b]; l != nil {
				l.bridgedBy = append(l.bridgedBy, e.dns[t.DNs[i].Number])
			}
		}
	}
	add := func(a *config.Agent, sup bool) {
		s := &agentState{id: a.ID, supervisor: sup, wrapUp: a.WrapUpTime,
			skills: a.Skills, noAnswer: a.NoAnswerTimeout.Microseconds(), rona: a.RONA}
		s.allLink = qlink{a: s, q: &e.allQ, eligible: true}
		e.agents[a.ID] = s
		e.agList = append(e.agList, s)
	}
	for i := range t.Agents {
		add(&t.Agents[i], false)
	}
	for i := range t.Supervisors {
		add(&t.Supervisors[i].Agent, true)
	}
	return e, nil
}

// TenantID returns the tenant's id.
func (e *Engine) TenantID() string { return e.tenant }

// Step applies one command at time at (unix microseconds, supplied by the
// caller; it should not go backwards): the handler its kind registered
// (request.go) runs it. On error nothing changed and no events were
// produced; the error is an *Error.
func (e *Engine) Step(at int64, cmd Command) (Result, error) {
	if at <= 0 {
		return Result{}, invalid("step time " + strconv.FormatInt(at, 10) + " is not a positive unix time in microseconds")
	}
	e.at = at
	e.now = event.TimeFromUnixMicro(at)
	e.out, e.effects, e.reply = nil, nil, nil
	e.outStart = -1
	e.end.hooks, e.end.monitors = e.end.hooks[:0], e.end.monitors[:0]
	e.pending = e.pending[:0]
	var err error
	if cmd == nil {
		err = invalid("nil command")
	} else if r := requests[cmd.Kind()]; r == nil {
		err = unknownKind(cmd)
	} else {
		err = r.step(e, cmd)
	}
	if err == nil {
		e.dispatch()
	}
	e.trim(err != nil)
	r := Result{Events: e.out, Effects: e.effects, Reply: e.reply}
	e.out, e.effects, e.reply = nil, nil, nil
	if err != nil {
		return Result{}, err
	}
	return r, nil
}

// StepScratch is Step for a caller that is done with the step's events
// before it steps again (it copies them, or only encodes them): they live
// in one buffer the engine reuses for every StepScratch, so Result.Events
// is valid only until the next StepScratch, and the step allocates no
// event storage. Everything else is Step's: the same events, effects,
// reply and errors.
func (e *Engine) StepScratch(at int64, cmd Command) (Result, error) {
	clear(e.scratch) // the previous scratch step's events: next() wants zero slots
	arena := e.arena
	e.arena = e.scratch[:0]
	r, err := e.Step(at, cmd)
	e.scratch, e.arena = e.arena, arena
	return r, err
}

// trim gives back the arena slots a step reserved but did not use (all of
// them if it failed), and caps the step's slice at its length, so the
// caller owns it.
func (e *Engine) trim(failed bool) {
	if e.outStart < 0 {
		return
	}
	n := len(e.out)
	if failed {
		n = 0
	}
	inArena := cap(e.out) > 0 && cap(e.arena) > e.outStart && &e.arena[:e.outStart+1][e.outStart] == &e.out[:1][0]
	if inArena {
		if failed {
			clear(e.out) // written, never handed out: zero again for next
		}
		e.arena = e.arena[:e.outStart+n]
	} else {
		// emit outgrew the reservation and copied: the reserved slots
		// were written but are not handed out; zero them for reuse.
		clear(e.arena[e.outStart:])
		e.arena = e.arena[:e.outStart]
	}
	e.out = e.out[:n:n]
}

// arenaEvents is how many events one allocation holds: steps take their
// event slices from a shared block, so a step costs no allocation of its
// own most of the time.
const arenaEvents = 256

// begin prepares the event slice of a step that will produce at most about
// n events. Call it once per step, only after every check has passed. The
// slice is cut from an arena with its capacity capped at n; Step trims it
// to its length and gives unused slots back (trim), so the caller owns it:
// the engine never writes to it again, and an append by the caller (or by
// emit, past n events) copies.
func (e *Engine) begin(n int) {
	if cap(e.arena)-len(e.arena) < n {
		e.arena = make([]event.Event, 0, max(arenaEvents, n))
	}
	l := len(e.arena)
	e.out = e.arena[l : l : l+n]
	e.arena = e.arena[:l+n]
	e.outStart = l
}

// emit appends an event reported for DN d, caused by req (nil for none),
// keyed and sequenced by the agent on d if any, else by d. It returns the
// event for the caller to fill in its own fields.
func (e *Engine) emit(name event.Name, d *dnState, req *Request) *event.Event {
	ev := e.next()
	ev.ID = name
	ev.Server = e.server
	ev.Time = e.now
	ev.CustomerID = e.tenant
	ev.SchemaVersion = event.SchemaVersion
	ev.ThisDN = d.number
	if a := d.agent; a != nil {
		ev.AgentID = a.id
		a.seq++
		ev.Seq = a.seq
	} else {
		d.seq++
		ev.Seq = d.seq
	}
	if req != nil {
		ev.ReferenceID = req.ReferenceID
		if len(req.Reasons) > 0 {
			ev.Reasons = req.Reasons
		}
		if len(req.Extensions) > 0 {
			ev.Extensions = req.Extensions
		}
	}
	return ev
}

// next returns a zeroed slot at the end of the step's events. Arena slots
// are zero (fresh, or cleared when a failed step gives them back), so
// within the reservation this is a reslice, not a second clear.
func (e *Engine) next() *event.Event {
	if n := len(e.out); n < cap(e.out) {
		e.out = e.out[:n+1]
		return &e.out[n]
	}
	e.out = append(e.out, event.Event{})
	return &e.out[len(e.out)-1]
}

func (e *Engine) effect(f Effect) { e.effects = append(e.effects, f) }

// dn returns an existing DN.
func (e *Engine) dn(number string) (*dnState, error) {
	if number == "" {
		return nil, invalid("missing DN")
	}
	d := e.dns[number]
	if d == nil {
		return nil, notFound("unknown DN " + q(number))
	}
	return d, nil
}

// phone returns an existing extension or ACD position; what names the
// request for the message.
func (e *Engine) phone(number, what string) (*dnState, error) {
	d, err := e.dn(number)
	if err != nil {
		return nil, err
	}
	if !d.typ.IsPhone() {
		return nil, invalid(what + " needs an extension or acd-position; DN " + q(number) + " is " + article(d.typ))
	}
	return d, nil
}

// agentOn returns the agent logged in on d, or a conflict.
func agentOn(d *dnState) (*agentState, error) {
	if d.agent == nil {
		return nil, conflict("no agent is logged in on DN " + q(d.number))
	}
	return d.agent, nil
}

func article(t config.DNType) string {
	if t == config.Extension || t == config.ACDPosition || t == config.ACDQueue {
		return "an " + string(t)
	}
	return "a " + string(t)
}

// newTimer registers a timer and emits its StartTimer effect.
func (e *Engine) newTimer(kind timerKind, a *agentState, at int64) string {
	e.timerNo++
	id := timerName(kind) + "/" + a.id + "/" + uitoa(e.timerNo)
	e.timers[id] = timer{kind: kind, agent: a, at: at}
	e.effect(StartTimer{ID: id, At: at})
	return id
}

// stopTimer cancels a registered timer and emits CancelTimer.
func (e *Engine) stopTimer(id string) {
	if id == "" {
		return
	}
	delete(e.timers, id)
	e.effect(CancelTimer{ID: id})
}

func timerName(k timerKind) string {
	switch k {
	case timerACW:
		return "acw"
	}
	return "timer"
}

func (e *Engine) timerFired(c *TimerFired) error {
	t, ok := e.timers[c.ID]
	if !ok {
		return nil // cancelled or already fired: nothing to do
	}
	switch t.kind {
	case timerRONA, timerRoute, timerTreatReq, timerTreatEnd, timerOverflow, timerQueueTreatment:
		e.acdTimer(c.ID, t)
	case timerNoAnswer:
		e.noAnswerFired(c.ID, t.party)
	case timerACW:
		a := t.agent
		delete(e.timers, c.ID)
		a.acwTimer = ""
		mode := a.readyMode
		if mode == 0 {
			mode = event.WorkModeManualIn
		}
		e.begin(1)
		ev := e.emit(event.EventAgentReady, a.dn, nil)
		ev.AgentWorkMode = mode
		e.setAgentState(a, AgentReady, mode, nil)
	}
	return nil
}

func uitoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return string(b[i:])
}

package engine

import (
	"encoding/json"
	"errors"
	"sort"
	"strconv"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/config"
)

// Snapshots. Snapshot writes the engine's state (JSON, format version 1):
// the counters behind ConnIDs, CallIDs, threads, timers and queue order;
// each DN's and agent's state and Seq; every live call with its thread and
// parties; the monitors; the timers. Restore reads it into an engine just
// built by New from the same configuration and Options, which then behaves
// exactly as the snapshotted one: the same commands give the same events,
// byte for byte (the runtime replays the journal's later steps on it and
// checks that). What comes from the configuration (DN types, names, queue
// and routing-point settings, the id seeds) is not in the snapshot; the
// queue lists are rebuilt by reindex.

// ErrSnapshot: a snapshot cannot be taken or restored.
var ErrSnapshot = errors.New("engine: snapshot")

const snapVersion = 1

type snapshotError struct{ msg string }

func (e *snapshotError) Error() string { return "engine: snapshot: " + e.msg }
func (e *snapshotError) Unwrap() error { return ErrSnapshot }

func snapErr(msg ...string) error {
	s := ""
	for _, m := range msg {
		s += m
	}
	return &snapshotError{s}
}

func snapItoa(i int) string { return strconv.Itoa(i) }

type snapState struct {
	V        int           `json:"v"`
	Tenant   string        `json:"tenant"`
	ConnNo   uint64        `json:"connNo"`
	CallNo   int64         `json:"callNo"`
	ThreadNo uint64        `json:"threadNo"`
	TimerNo  uint64        `json:"timerNo"`
	QNo      uint64        `json:"qNo"`
	AvailNo  uint64        `json:"availNo"`
	Threads  []snapThread  `json:"threads,omitempty"`
	Calls    []snapCall    `json:"calls,omitempty"`
	Monitors []snapMonitor `json:"monitors,omitempty"`
	DNs      []snapDN      `json:"dns"`
	Agents   []snapAgent   `json:"agents"`
	Timers   []snapTimer   `json:"timers,omitempty"`
}

type snapThread struct {
	ID    string `json:"id"`
	Seq   int64  `json:"seq"`
	Calls int    `json:"calls"`
}

type snapCall struct {
	N        uint64         `json:"n"`
	Conn     string         `json:"conn"`
	CallID   int64          `json:"callId"`
	Typ      event.CallType `json:"typ"`
	Thread   int            `json:"thread"`
	Parties  []snapParty    `json:"parties"`
	UserData event.KV       `json:"userData,omitempty"`
	PrevConn string         `json:"prevConn,omitempty"`
	ANI      string         `json:"ani,omitempty"`
	DNIS     string         `json:"dnis,omitempty"`
	Started  int64          `json:"started"`
}

// A party reference is its index in the concatenation of every call's
// parties (calls in snapshot order); -1 is nil.
type snapParty struct {
	DN        string       `json:"dn,omitempty"`
	Num       string       `json:"num,omitempty"`
	Trunk     string       `json:"trunk,omitempty"`
	Role      event.DNRole `json:"role"`
	State     partyState   `json:"state"`
	Queue     string       `json:"queue,omitempty"`
	Muted     bool         `json:"muted,omitempty"`
	ListenOff bool         `json:"listenOff,omitempty"`
	Timer     string       `json:"timer,omitempty"`
	Line      int          `json:"line"`
	Monitor   int          `json:"monitor"`
	W         *snapWait    `json:"w,omitempty"`
}

type snapWait struct {
	QNo         uint64              `json:"qNo"`
	QPlace      uint64              `json:"qPlace"`
	Timers      []string            `json:"timers,omitempty"`
	TreatTyp    event.TreatmentType `json:"treatTyp"`
	TreatParms  event.KV            `json:"treatParms,omitempty"`
	TreatTimer  string              `json:"treatTimer,omitempty"`
	TreatDigits bool                `json:"treatDigits,omitempty"`
	Treated     bool                `json:"treated,omitempty"`
}

type snapMonitor struct {
	Target string                    `json:"target"`
	Super  string                    `json:"super"`
	Typ    event.MonitorNextCallType `json:"typ"`
	Used   bool                      `json:"used,omitempty"`
}

type snapDN struct {
	Number      string        `json:"number"`
	Seq         int64         `json:"seq"`
	Agent       string        `json:"agent,omitempty"`
	InService   bool          `json:"inService"`
	DND         bool          `json:"dnd,omitempty"`
	OffHook     bool          `json:"offHook,omitempty"`
	FwdTo       string        `json:"fwdTo,omitempty"`
	FwdMode     ForwardMode   `json:"fwdMode,omitempty"`
	MwOn        bool          `json:"mwOn,omitempty"`
	MwNew       int           `json:"mwNew,omitempty"`
	MwOld       int           `json:"mwOld,omitempty"`
	Monitoring  int           `json:"monitoring"`
	MonitoredBy string        `json:"monitoredBy,omitempty"`
	Parties     []int         `json:"parties,omitempty"`
	CallWaiting bool          `json:"callWaiting,omitempty"`
	NoAnswer    int64         `json:"noAnswer,omitempty"`
	BridgedBy   []string      `json:"bridgedBy,omitempty"`
	Prefixes    []string      `json:"prefixes,omitempty"`
	WrapUp      config.WrapUp `json:"wrapUp"`
}

type snapAgent struct {
	ID        string              `json:"id"`
	Seq       int64               `json:"seq"`
	DN        string              `json:"dn,omitempty"`
	State     AgentState          `json:"state"`
	WorkMode  event.AgentWorkMode `json:"workMode,omitempty"`
	ReadyMode event.AgentWorkMode `json:"readyMode,omitempty"`
	Queues    []string            `json:"queues,omitempty"`
	Since     int64               `json:"since"`
	Reasons   event.KV            `json:"reasons,omitempty"`
	AcwTimer  string              `json:"acwTimer,omitempty"`
	WrapUp    config.WrapUp       `json:"wrapUp"`
	Skills    map[string]int      `json:"skills,omitempty"`
	NoAnswer  int64               `json:"noAnswer,omitempty"`
	Avail     bool                `json:"avail,omitempty"`
	AvailNo   uint64              `json:"availNo,omitempty"`
}

type snapTimer struct {
	ID    string    `json:"id"`
	Kind  timerKind `json:"kind"`
	Agent string    `json:"agent,omitempty"`
	Party int       `json:"party"`
	N     int       `json:"n"`
	At    int64     `json:"at"`
}

// Snapshot returns the engine's state; see Restore.
func (e *Engine) Snapshot() ([]byte, error) {
	s := snapState{V: snapVersion, Tenant: e.tenant, ConnNo: e.connNo, CallNo: e.callNo, ThreadNo: e.threadNo,
		TimerNo: e.timerNo, QNo: e.qNo, AvailNo: e.availNo}
	if len(e.pending) != 0 {
		return nil, snapErr("taken inside a step")
	}
	ns := make([]uint64, 0, len(e.calls))
	for n := range e.calls {
		ns = append(ns, n)
	}
	sort.Slice(ns, func(i, j int) bool { return ns[i] < ns[j] })
	threads := map[*thread]int{}
	parties := map[*party]int{}
	monitors := map[*monitor]int{}
	var plist []*party
	mon := func(m *monitor) int {
		if m == nil {
			return -1
		}
		if i, ok := monitors[m]; ok {
			return i
		}
		monitors[m] = len(s.Monitors)
		s.Monitors = append(s.Monitors, snapMonitor{Target: dnName(m.target), Super: dnName(m.super), Typ: m.typ, Used: m.used})
		return len(s.Monitors) - 1
	}
	for _, n := range ns {
		c := e.calls[n]
		ti, ok := threads[c.th]
		if !ok {
			ti = len(s.Threads)
			threads[c.th] = ti
			s.Threads = append(s.Threads, snapThread{ID: c.th.id, Seq: c.th.seq, Calls: c.th.calls})
		}
		for _, p := range c.parties {
			if p.call != c {
				return nil, snapErr("a party of call ", c.conn, " belongs to another call")
			}
			parties[p] = len(plist)
			plist = append(plist, p)
		}
		s.Calls = append(s.Calls, snapCall{N: c.n, Conn: c.conn, CallID: c.callID, Typ: c.typ, Thread: ti,
			UserData: c.userData, PrevConn: c.prevConn, ANI: c.ani, DNIS: c.dnis, Started: c.started})
	}
	ref := func(p *party) (int, error) {
		if p == nil {
			return -1, nil
		}
		i, ok := parties[p]
		if !ok {
			return 0, snapErr("a reference to a party that is on no live call")
		}
		return i, nil
	}
	for ci, n := range ns {
		for _, p := range e.calls[n].parties {
			sp := snapParty{DN: dnName(p.dn), Num: p.num, Trunk: p.trunk, Role: p.role, State: p.state, Queue: p.queue,
				Muted: p.muted, ListenOff: p.listenOff, Timer: p.timer, Monitor: mon(p.monitor)}
			var err error
			if sp.Line, err = ref(p.line); err != nil {
				return nil, err
			}
			if w := p.w; w != nil {
				sp.W = &snapWait{QNo: w.qNo, QPlace: w.qPlace, Timers: w.timers, TreatTyp: w.treat.typ,
					TreatParms: w.treat.parms, TreatTimer: w.treat.timer, TreatDigits: w.treat.digits, Treated: w.treated}
			}
			s.Calls[ci].Parties = append(s.Calls[ci].Parties, sp)
		}
	}
	for _, d := range e.dnList {
		sd := snapDN{Number: d.number, Seq: d.seq, InService: d.inService, DND: d.dnd, OffHook: d.offHook,
			FwdTo: d.fwdTo, FwdMode: d.fwdMode, MwOn: d.mwOn, MwNew: d.mwNew, MwOld: d.mwOld,
			Monitoring: mon(d.monitoring), MonitoredBy: dnName(d.monitoredBy), CallWaiting: d.callWaiting,
			NoAnswer: d.noAnswer, Prefixes: d.prefixes, WrapUp: d.wrapUp}
		if d.agent != nil {
			sd.Agent = d.agent.id
		}
		for _, p := range d.parties {
			i, err := ref(p)
			if err != nil {
				return nil, err
			}
			sd.Parties = append(sd.Parties, i)
		}
		for _, b := range d.bridgedBy {
			sd.BridgedBy = append(sd.BridgedBy, b.number)
		}
		s.DNs = append(s.DNs, sd)
	}
	for _, a := range e.agList {
		s.Agents = append(s.Agents, snapAgent{ID: a.id, Seq: a.seq, DN: dnName(a.dn), State: a.state, WorkMode: a.workMode,
			ReadyMode: a.readyMode, Queues: a.queues, Since: a.since, Reasons: a.reasons, AcwTimer: a.acwTimer,
			WrapUp: a.wrapUp, Skills: a.skills, NoAnswer: a.noAnswer, Avail: a.avail, AvailNo: a.availNo})
	}
	ids := make([]string, 0, len(e.timers))
	for id := range e.timers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		tm := e.timers[id]
		st := snapTimer{ID: id, Kind: tm.kind, N: tm.n, At: tm.at}
		if tm.agent != nil {
			st.Agent = tm.agent.id
		}
		var err error
		if st.Party, err = ref(tm.party); err != nil {
			return nil, err
		}
		s.Timers = append(s.Timers, st)
	}
	return json.Marshal(&s)
}

func dnName(d *dnState) string {
	if d == nil {
		return ""
	}
	return d.number
}

// Restore reads a Snapshot into e, which must have been built by New from
// the same configuration and Options and not stepped since. On error e must
// be discarded.
func (e *Engine) Restore(b []byte) error {
	var s snapState
	if err := json.Unmarshal(b, &s); err != nil {
		return snapErr("restore: ", err.Error())
	}
	bad := func(msg ...string) error { return snapErr(append([]string{"restore: "}, msg...)...) }
	switch {
	case s.V != snapVersion:
		return bad("version ", snapItoa(s.V), ", want ", snapItoa(snapVersion))
	case s.Tenant != e.tenant:
		return bad("tenant ", strconv.Quote(s.Tenant), ", this engine is ", strconv.Quote(e.tenant))
	case len(s.DNs) != len(e.dnList) || len(s.Agents) != len(e.agList):
		return bad(snapItoa(len(s.DNs)), " DNs and ", snapItoa(len(s.Agents)), " agents, the configuration has ", snapItoa(len(e.dnList)), " and ", snapItoa(len(e.agList)))
	case len(e.calls) != 0 || e.connNo != 0:
		return bad("the engine has been stepped")
	}
	dn := func(n string) (*dnState, error) {
		if n == "" {
			return nil, nil
		}
		d, ok := e.dns[n]
		if !ok {
			return nil, bad("unknown DN ", strconv.Quote(n))
		}
		return d, nil
	}
	e.connNo, e.callNo, e.threadNo, e.timerNo, e.qNo, e.availNo = s.ConnNo, s.CallNo, s.ThreadNo, s.TimerNo, s.QNo, s.AvailNo
	threads := make([]*thread, len(s.Threads))
	for i, t := range s.Threads {
		threads[i] = &thread{id: t.ID, seq: t.Seq, calls: t.Calls}
	}
	monitors := make([]*monitor, len(s.Monitors))
	for i, m := range s.Monitors {
		t, err := dn(m.Target)
		if err != nil {
			return err
		}
		su, err := dn(m.Super)
		if err != nil {
			return err
		}
		if t == nil || su == nil {
			return bad("monitor ", snapItoa(i), " lacks its target or supervisor")
		}
		monitors[i] = &monitor{target: t, super: su, typ: m.Typ, used: m.Used}
	}
	monRef := func(i int) (*monitor, error) {
		if i == -1 {
			return nil, nil
		}
		if i < 0 || i >= len(monitors) {
			return nil, bad("monitor ", snapItoa(i))
		}
		return monitors[i], nil
	}
	var plist []*party
	var sps []snapParty
	for _, sc := range s.Calls {
		if sc.Thread < 0 || sc.Thread >= len(threads) {
			return bad("call ", sc.Conn, ": thread ", snapItoa(sc.Thread))
		}
		if sc.N == 0 || sc.N > s.ConnNo || e.calls[sc.N] != nil || sc.Conn != connString(e.ids.perm(sc.N)) {
			return bad("call ", sc.Conn, ": number ", strconv.FormatUint(sc.N, 10), " is not a live call's")
		}
		c := &call{n: sc.N, conn: sc.Conn, callID: sc.CallID, typ: sc.Typ, th: threads[sc.Thread], userData: sc.UserData,
			prevConn: sc.PrevConn, ani: sc.ANI, dnis: sc.DNIS, started: sc.Started, used: uint8(len(call{}.pbuf))}
		for _, sp := range sc.Parties {
			p := &party{call: c, num: sp.Num, trunk: sp.Trunk, role: sp.Role, state: sp.State, queue: sp.Queue,
				muted: sp.Muted, listenOff: sp.ListenOff, timer: sp.Timer}
			var err error
			if p.dn, err = dn(sp.DN); err != nil {
				return err
			}
			if p.monitor, err = monRef(sp.Monitor); err != nil {
				return err
			}
			if w := sp.W; w != nil {
				p.w = &waitInfo{qNo: w.QNo, qPlace: w.QPlace, timers: w.Timers, treated: w.Treated,
					treat: treatment{typ: w.TreatTyp, parms: w.TreatParms, timer: w.TreatTimer, digits: w.TreatDigits}}
			}
			c.parties = append(c.parties, p)
			plist = append(plist, p)
			sps = append(sps, sp)
		}
		e.calls[c.n] = c
	}
	pref := func(i int) (*party, error) {
		if i == -1 {
			return nil, nil
		}
		if i < 0 || i >= len(plist) {
			return nil, bad("party ", snapItoa(i))
		}
		return plist[i], nil
	}
	for i, sp := range sps {
		var err error
		if plist[i].line, err = pref(sp.Line); err != nil {
			return err
		}
	}
	// A DN lists exactly the parties that are its own, each once (the
	// engine reaches a party both ways).
	listed := make([]bool, len(plist))
	for i, sd := range s.DNs {
		d := e.dnList[i]
		if d.number != sd.Number {
			return bad("DN ", snapItoa(i), " is ", strconv.Quote(sd.Number), ", the configuration has ", strconv.Quote(d.number))
		}
		d.seq, d.inService, d.dnd, d.offHook = sd.Seq, sd.InService, sd.DND, sd.OffHook
		d.fwdTo, d.fwdMode, d.mwOn, d.mwNew, d.mwOld = sd.FwdTo, sd.FwdMode, sd.MwOn, sd.MwNew, sd.MwOld
		d.callWaiting, d.noAnswer, d.prefixes, d.wrapUp = sd.CallWaiting, sd.NoAnswer, sd.Prefixes, sd.WrapUp
		d.agent = nil
		if sd.Agent != "" {
			a, ok := e.agents[sd.Agent]
			if !ok {
				return bad("DN ", sd.Number, ": unknown agent ", strconv.Quote(sd.Agent))
			}
			d.agent = a
		}
		var err error
		if d.monitoring, err = monRef(sd.Monitoring); err != nil {
			return err
		}
		if d.monitoredBy, err = dn(sd.MonitoredBy); err != nil {
			return err
		}
		d.parties = nil
		for _, pi := range sd.Parties {
			p, err := pref(pi)
			if err != nil || p == nil || p.dn != d || listed[pi] {
				return bad("DN ", sd.Number, ": party ", snapItoa(pi))
			}
			listed[pi] = true
			d.parties = append(d.parties, p)
		}
		d.bridgedBy = nil
		for _, n := range sd.BridgedBy {
			b, err := dn(n)
			if err != nil {
				return err
			}
			if b == nil {
				return bad("DN ", sd.Number, ": bridged by no DN")
			}
			d.bridgedBy = append(d.bridgedBy, b)
		}
	}
	for i, p := range plist {
		if p.dn != nil && !listed[i] {
			return bad("party ", snapItoa(i), " of DN ", p.dn.number, " is not in the DN's parties")
		}
	}
	for i, sa := range s.Agents {
		a := e.agList[i]
		if a.id != sa.ID {
			return bad("agent ", snapItoa(i), " is ", strconv.Quote(sa.ID), ", the configuration has ", strconv.Quote(a.id))
		}
		var err error
		if a.dn, err = dn(sa.DN); err != nil {
			return err
		}
		a.seq, a.state, a.workMode, a.readyMode, a.queues = sa.Seq, sa.State, sa.WorkMode, sa.ReadyMode, sa.Queues
		a.since, a.reasons, a.acwTimer, a.wrapUp = sa.Since, sa.Reasons, sa.AcwTimer, sa.WrapUp
		a.skills, a.noAnswer, a.avail, a.availNo = sa.Skills, sa.NoAnswer, sa.Avail, sa.AvailNo
	}
	e.timers = make(map[string]timer, len(s.Timers))
	for _, st := range s.Timers {
		tm := timer{kind: st.Kind, n: st.N, at: st.At}
		if st.Agent != "" {
			a, ok := e.agents[st.Agent]
			if !ok {
				return bad("timer ", st.ID, ": unknown agent ", strconv.Quote(st.Agent))
			}
			tm.agent = a
		}
		var err error
		if tm.party, err = pref(st.Party); err != nil {
			return err
		}
		e.timers[st.ID] = tm
	}
	e.reindex()
	return nil
}

package engine

import (
	"cmp"
	"slices"

	"github.com/switchboard-cc/switchboard/event"
)

// DNView is a copy of a DN's state for the GET endpoints.
type DNView struct {
	Number         string       `json:"number"`
	Type           string       `json:"type"`
	Name           string       `json:"name,omitempty"`
	AgentID        string       `json:"agentId,omitempty"`
	AgentState     string       `json:"agentState,omitempty"`
	WorkMode       string       `json:"workMode,omitempty"`
	Queues         []string     `json:"queues,omitempty"`
	DND            bool         `json:"dnd"`
	Forward        *ForwardView `json:"forward,omitempty"`
	InService      bool         `json:"inService"`
	OffHook        bool         `json:"offHook"`
	MessageWaiting bool         `json:"messageWaiting"`
	NewMessages    int          `json:"newMessages,omitempty"`
	OldMessages    int          `json:"oldMessages,omitempty"`
	Calls          []string     `json:"calls"`
	// Monitoring: the DN this (supervisor) DN monitors; MonitoredBy: the
	// supervisor DN monitoring this one.
	Monitoring  *MonitorView `json:"monitoring,omitempty"`
	MonitoredBy string       `json:"monitoredBy,omitempty"`
}

// ForwardView is a DN's forwarding.
type ForwardView struct {
	To   string `json:"to"`
	Mode string `json:"mode"`
}

// MonitorView is a supervisor's monitoring request.
type MonitorView struct {
	Target string `json:"target"`
	Type   string `json:"type"` // OneCall or AllCalls, as the monitor request spells it
}

// monitorTypeName is the monitoring type as the CTI API spells it: OneCall
// or AllCalls (the events write T-Library's MonitorOneCall, MonitorAllCalls).
func monitorTypeName(t event.MonitorNextCallType) string {
	if t == event.MonitorAllCalls {
		return "AllCalls"
	}
	return "OneCall"
}

// AgentView is a copy of an agent's state for the GET endpoints.
type AgentView struct {
	AgentID    string `json:"agentId"`
	Supervisor bool   `json:"supervisor,omitempty"`
	DN         string `json:"dn,omitempty"`
	// State is LoggedOut, NotReady, Ready or AfterCallWork, as the events
	// say; whether the agent is on a call is OnCall (a Ready agent on a
	// call stays Ready, as in T-Library).
	State    string   `json:"state"`
	WorkMode string   `json:"workMode,omitempty"`
	Queues   []string `json:"queues,omitempty"`
	// Since is when State or WorkMode last changed (unix microseconds); 0
	// if never.
	Since   int64    `json:"since,omitempty"`
	Reasons event.KV `json:"reasons,omitempty"`
	// OnCall: the agent's DN is on at least one call.
	OnCall bool `json:"onCall,omitempty"`
}

// CallView is a copy of a call's state for GET /calls.
type CallView struct {
	ConnID       string `json:"connId"`
	CallID       int64  `json:"callId"`
	CallThreadID string `json:"callThreadId"`
	CallType     string `json:"callType"`
	// PreviousConnID: for a consultation call, the main call.
	PreviousConnID string      `json:"previousConnId,omitempty"`
	ANI            string      `json:"ani,omitempty"`
	DNIS           string      `json:"dnis,omitempty"`
	UserData       event.KV    `json:"userData,omitempty"`
	Started        int64       `json:"started"` // unix microseconds
	Parties        []PartyView `json:"parties"` // in join order
}

// PartyView is one party of a call.
type PartyView struct {
	DN       string `json:"dn"` // the DN, or the number of an external party
	External bool   `json:"external,omitempty"`
	Trunk    string `json:"trunk,omitempty"`
	AgentID  string `json:"agentId,omitempty"`
	// Role: Origination, Destination, ConferenceMember or Observer.
	Role string `json:"role"`
	// State: Dialing, Ringing, Established, Held, Busy (the destination
	// was busy) or Bridged (a bridged appearance).
	State              string `json:"state"`
	Queue              string `json:"queue,omitempty"`
	Muted              bool   `json:"muted,omitempty"`
	ListenDisconnected bool   `json:"listenDisconnected,omitempty"`
}

// Calls returns every live call, by CallID.
func (e *Engine) Calls() []CallView {
	cs := make([]*call, 0, len(e.calls))
	for _, c := range e.calls {
		cs = append(cs, c)
	}
	slices.SortFunc(cs, func(a, b *call) int { return cmp.Compare(a.callID, b.callID) })
	out := make([]CallView, len(cs))
	for i, c := range cs {
		out[i] = callView(c)
	}
	return out
}

// Call returns one live call; a released or unknown ConnID is not found.
func (e *Engine) Call(connID string) (CallView, error) {
	c, err := e.lookupCall(connID)
	if err != nil {
		if connID != "" {
			return CallView{}, notFound("unknown ConnID " + q(connID))
		}
		return CallView{}, err
	}
	return callView(c), nil
}

func callView(c *call) CallView {
	v := CallView{
		ConnID: c.conn, CallID: c.callID, CallThreadID: c.th.id, CallType: c.typ.String(),
		PreviousConnID: c.prevConn, ANI: c.ani, DNIS: c.dnis, UserData: copyKV(c.userData),
		Started: c.started, Parties: make([]PartyView, len(c.parties)),
	}
	for i, p := range c.parties {
		pv := PartyView{DN: p.name(), External: p.dn == nil, Trunk: p.trunk, Role: p.role.String(),
			State: partyStateNames[p.state], Queue: p.queue, Muted: p.muted, ListenDisconnected: p.listenOff}
		if p.dn != nil && p.dn.agent != nil {
			pv.AgentID = p.dn.agent.id
		}
		v.Parties[i] = pv
	}
	return v
}

// copyKV copies a KV deeply.
func copyKV(kv event.KV) event.KV {
	if kv == nil {
		return nil
	}
	out := make(event.KV, len(kv))
	for i, p := range kv {
		out[i] = p
		if p.Kind == event.KindList {
			out[i].List = copyKV(p.List)
		}
	}
	return out
}

// DN returns a copy of the state of DN number.
func (e *Engine) DN(number string) (DNView, error) {
	d, err := e.dn(number)
	if err != nil {
		return DNView{}, err
	}
	v := DNView{
		Number: d.number, Type: string(d.typ), Name: d.name,
		DND: d.dnd, InService: d.inService, OffHook: d.offHook,
		MessageWaiting: d.mwOn, NewMessages: d.mwNew, OldMessages: d.mwOld,
		Calls: []string{},
	}
	for _, p := range d.parties {
		v.Calls = append(v.Calls, p.call.conn)
	}
	if a := d.agent; a != nil {
		v.AgentID = a.id
		v.AgentState = a.state.String()
		v.WorkMode = a.workMode.String()
		v.Queues = append([]string(nil), a.queues...)
	}
	if d.fwdTo != "" {
		v.Forward = &ForwardView{To: d.fwdTo, Mode: d.fwdMode.String()}
	}
	if m := d.monitoring; m != nil {
		v.Monitoring = &MonitorView{Target: m.target.number, Type: monitorTypeName(m.typ)}
	}
	if d.monitoredBy != nil {
		v.MonitoredBy = d.monitoredBy.number
	}
	return v, nil
}

// Agents returns the state of every agent and supervisor, in configuration
// order (agents, then supervisors).
func (e *Engine) Agents() []AgentView {
	out := make([]AgentView, len(e.agList))
	for i, a := range e.agList {
		out[i] = agentView(a)
	}
	return out
}

// Agent returns the state of one agent.
func (e *Engine) Agent(id string) (AgentView, error) {
	a := e.agents[id]
	if a == nil {
		return AgentView{}, notFound("unknown agent " + q(id))
	}
	return agentView(a), nil
}

func agentView(a *agentState) AgentView {
	v := AgentView{
		AgentID: a.id, Supervisor: a.supervisor,
		State: a.state.String(), WorkMode: a.workMode.String(),
		Since: a.since, Reasons: append(event.KV(nil), a.reasons...),
	}
	if a.dn != nil {
		v.DN = a.dn.number
		v.Queues = append([]string(nil), a.queues...)
		v.OnCall = a.dn.onCalls() > 0
	}
	return v
}

// QueueView is a copy of an ACD queue's state (wallboards, tests).
type QueueView struct {
	Number string `json:"number"`
	// Calls are the ConnIDs of the calls waiting, oldest first.
	Calls []string `json:"calls"`
	// LoggedIn counts the agents logged in to the queue; Available those
	// who may be offered its calls now (Ready, idle, with its skills).
	LoggedIn  int `json:"loggedIn"`
	Available int `json:"available"`
}

// Queue returns a copy of acd-queue number's state.
func (e *Engine) Queue(number string) (QueueView, error) {
	d, err := e.dn(number)
	if err != nil {
		return QueueView{}, err
	}
	if d.q == nil {
		return QueueView{}, invalid("DN " + q(number) + " is " + article(d.typ) + ", not an acd-queue")
	}
	v := QueueView{Number: number, Calls: []string{}}
	for p := d.q.waitHead; p != nil; p = p.w.qNext {
		v.Calls = append(v.Calls, p.call.conn)
	}
	for _, a := range e.agList {
		if a.dn != nil && hasQueue(a.queues, number) {
			v.LoggedIn++
		}
	}
	for l := d.q.readyHead; l != nil; l = l.next {
		v.Available++
	}
	return v, nil
}

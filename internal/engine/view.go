package engine

import "github.com/switchboard-cc/switchboard/event"

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
	Type   string `json:"type"`
}

// AgentView is a copy of an agent's state for the GET endpoints.
type AgentView struct {
	AgentID    string `json:"agentId"`
	Supervisor bool   `json:"supervisor,omitempty"`
	DN         string `json:"dn,omitempty"`
	// State is LoggedOut, NotReady, Ready or AfterCallWork (and Busy while
	// on a call, from part 2).
	State    string   `json:"state"`
	WorkMode string   `json:"workMode,omitempty"`
	Queues   []string `json:"queues,omitempty"`
	// Since is when State or WorkMode last changed (unix microseconds); 0
	// if never.
	Since   int64    `json:"since,omitempty"`
	Reasons event.KV `json:"reasons,omitempty"`
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
		v.Monitoring = &MonitorView{Target: m.target.number, Type: m.typ.String()}
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
	}
	return v
}

package engine

import (
	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/config"
)

// queueList checks a list of queue DNs: each an existing acd-queue, none
// twice.
func (e *Engine) queueList(qs []string) error {
	for i, n := range qs {
		d, err := e.dn(n)
		if err != nil {
			if n == "" {
				return invalid("empty queue in the list of queues")
			}
			return err
		}
		if d.typ != config.ACDQueue {
			return invalid("DN " + q(n) + " is " + article(d.typ) + ", not an acd-queue")
		}
		for _, m := range qs[:i] {
			if m == n {
				return invalid("queue " + q(n) + " is listed twice")
			}
		}
	}
	return nil
}

func hasQueue(qs []string, n string) bool {
	for _, m := range qs {
		if m == n {
			return true
		}
	}
	return false
}

func (e *Engine) login(c *Login) error {
	d, err := e.phone(c.DN, "login")
	if err != nil {
		return err
	}
	if c.AgentID == "" {
		return invalid("missing agent id")
	}
	a := e.agents[c.AgentID]
	if a == nil {
		return notFound("unknown agent " + q(c.AgentID))
	}
	if c.WorkMode != 0 && c.WorkMode.String() == "" || c.WorkMode == event.WorkModeLegalGuard {
		return invalid("unknown work mode") // LegalGuard is a NotReady work mode only
	}
	if err := e.queueList(c.Queues); err != nil {
		return err
	}
	if !d.inService {
		return refuseOutOfService(d)
	}
	if d.agent != nil && d.agent != a {
		return conflict("DN " + q(d.number) + " already has agent " + q(d.agent.id) + " logged in")
	}
	if a.dn != nil && a.dn != d {
		return conflict("agent " + q(a.id) + " is already logged in on DN " + q(a.dn.number))
	}
	// The same agent logging in again on the same DN is allowed (EVENTS.md
	// 4.1): the login events come again; the agent's state is kept, and
	// only queues it was not logged in to yet are added.
	again := a.dn == d

	e.begin(max(1, len(c.Queues)))
	if !again {
		d.agent, a.dn = a, d
		a.queues = a.queues[:0]
		e.setAgentState(a, AgentNotReady, c.WorkMode, c.Reasons)
	}
	if len(c.Queues) == 0 {
		ev := e.emit(event.EventAgentLogin, d, &c.Request)
		ev.AgentWorkMode = c.WorkMode
		return nil
	}
	for _, n := range c.Queues {
		if !hasQueue(a.queues, n) {
			a.queues = append(a.queues, n)
			e.addLink(a, e.dns[n])
		}
		ev := e.emit(event.EventAgentLogin, d, &c.Request)
		ev.ThisQueue = n
		ev.AgentWorkMode = c.WorkMode
	}
	return nil
}

func (e *Engine) logout(c *Logout) error {
	d, err := e.phone(c.DN, "logout")
	if err != nil {
		return err
	}
	a, err := agentOn(d)
	if err != nil {
		return err
	}
	if err := e.queueList(c.Queues); err != nil {
		return err
	}
	for _, n := range c.Queues {
		if !hasQueue(a.queues, n) {
			return conflict("agent " + q(a.id) + " is not logged in to queue " + q(n))
		}
	}
	if len(c.Queues) == 0 || len(c.Queues) == len(a.queues) {
		e.begin(logoutEvents(d))
		e.logoutAll(a, c.Queues, &c.Request)
		return nil
	}
	e.begin(len(c.Queues))
	for _, n := range c.Queues {
		ev := e.emit(event.EventQueueLogout, d, &c.Request)
		ev.ThisQueue = n
		a.queues = removeQueue(a.queues, n)
		e.dropLink(a, n)
	}
	return nil
}

func removeQueue(qs []string, n string) []string {
	for i, m := range qs {
		if m == n {
			copy(qs[i:], qs[i+1:])
			return qs[:len(qs)-1]
		}
	}
	return qs
}

// logoutEvents is the number of events logoutAll produces for the agent on
// d, and monitoringEvents the number for the monitoring involving d.
func logoutEvents(d *dnState) int {
	return max(1, len(d.agent.queues)) + monitoringEvents(d)
}

func monitoringEvents(d *dnState) int {
	n := 0
	if d.monitoredBy != nil {
		n += 2
	}
	if d.monitoring != nil {
		n += 2
	}
	return n
}

// logoutAll ends the agent's login: monitoring that involves its DN is
// cancelled first, then EventQueueLogout for each queue but the last in
// order (the given order, else login order), then EventAgentLogout (with
// ThisQueue the last queue, if any).
func (e *Engine) logoutAll(a *agentState, order []string, req *Request) {
	d := a.dn
	if d.monitoredBy != nil {
		e.endMonitoring(d.monitoredBy, req)
	}
	if d.monitoring != nil {
		e.endMonitoring(d, req)
	}
	if len(order) == 0 {
		order = a.queues
	}
	for i, n := range order {
		name := event.EventQueueLogout
		if i == len(order)-1 {
			name = event.EventAgentLogout
		}
		ev := e.emit(name, d, req)
		ev.ThisQueue = n
	}
	if len(order) == 0 {
		e.emit(event.EventAgentLogout, d, req)
	}
	e.stopTimer(a.acwTimer)
	a.acwTimer = ""
	e.dropLinks(a)
	a.queues = a.queues[:0]
	a.dn, d.agent = nil, nil
	a.state, a.workMode, a.since, a.reasons = AgentLoggedOut, 0, e.at, nil
}

func (e *Engine) ready(c *Ready) error {
	mode := c.WorkMode
	switch mode {
	case 0:
		mode = event.WorkModeManualIn
	case event.WorkModeManualIn, event.WorkModeAutoIn, event.WorkModeReturnBack:
	default:
		return invalid("work mode " + modeName(mode) + " is not a Ready work mode (want ManualIn, AutoIn or ReturnBack)")
	}
	d, err := e.phone(c.DN, "ready")
	if err != nil {
		return err
	}
	a, err := agentOn(d)
	if err != nil {
		return err
	}
	e.begin(1)
	ev := e.emit(event.EventAgentReady, d, &c.Request)
	ev.AgentWorkMode = mode
	e.stopTimer(a.acwTimer)
	a.acwTimer = ""
	a.readyMode = mode
	e.setAgentState(a, AgentReady, mode, c.Reasons)
	return nil
}

func (e *Engine) notReady(c *NotReady) error {
	mode := c.WorkMode
	switch mode {
	case 0:
		mode = event.WorkModeAuxWork
	case event.WorkModeAuxWork, event.WorkModeAfterCallWork, event.WorkModeWalkAway, event.WorkModeNoCallDisconnect:
	case event.WorkModeLegalGuard, event.WorkModeAutoIn:
		// T-Library AgentLegalGuard shares AutoIn's value: a NotReady
		// with value 2 is LegalGuard.
		mode = event.WorkModeLegalGuard
	default:
		return invalid("work mode " + modeName(mode) + " is not a NotReady work mode (want AuxWork, AfterCallWork, WalkAway, NoCallDisconnect or LegalGuard)")
	}
	var wrap int64 // seconds of timed after-call work; 0: untimed or none
	if p, ok := c.Extensions.Get("WrapUpTime"); ok {
		switch {
		case mode != event.WorkModeAfterCallWork:
			return invalid("Extensions.WrapUpTime is only allowed with work mode AfterCallWork")
		case p.Kind == event.KindInt && p.Int > 0:
			wrap = p.Int
		case p.Kind == event.KindString && p.Str == "untimed":
		default:
			return invalid("Extensions.WrapUpTime must be a positive number of seconds or \"untimed\"")
		}
	}
	d, err := e.phone(c.DN, "not-ready")
	if err != nil {
		return err
	}
	a, err := agentOn(d)
	if err != nil {
		return err
	}
	e.begin(1)
	ev := e.emit(event.EventAgentNotReady, d, &c.Request)
	ev.AgentWorkMode = mode
	e.stopTimer(a.acwTimer)
	a.acwTimer = ""
	st := AgentNotReady
	if mode == event.WorkModeAfterCallWork {
		st = AgentAfterCallWork
		if wrap > 0 {
			a.acwTimer = e.newTimer(timerACW, a, e.at+wrap*1_000_000)
		}
	}
	e.setAgentState(a, st, mode, c.Reasons)
	return nil
}

// setAgentState records a state change; since moves only when the state or
// work mode changes.
func (e *Engine) setAgentState(a *agentState, st AgentState, mode event.AgentWorkMode, reasons event.KV) {
	if a.state != st || a.workMode != mode {
		a.since = e.at
	}
	a.state, a.workMode, a.reasons = st, mode, reasons
	e.refresh(a)
}

func modeName(m event.AgentWorkMode) string {
	if s := m.String(); s != "" {
		return s
	}
	return "(unknown)"
}

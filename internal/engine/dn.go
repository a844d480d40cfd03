package engine

import (
	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/config"
)

func (e *Engine) setDND(c *SetDND) error {
	d, err := e.phone(c.DN, "dnd")
	if err != nil {
		return err
	}
	e.begin(1)
	name := event.EventDNDOff
	if c.On {
		name = event.EventDNDOn
	}
	e.emit(name, d, &c.Request)
	d.dnd = c.On
	e.refreshDN(d)
	return nil
}

// isExternal reports whether s looks like an external number: digits, '*'
// or '#', optionally after a '+'.
func isExternal(s string) bool {
	if len(s) > 0 && s[0] == '+' {
		s = s[1:]
	}
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && c != '*' && c != '#' {
			return false
		}
	}
	return true
}

func (e *Engine) setForward(c *SetForward) error {
	d, err := e.phone(c.DN, "forward")
	if err != nil {
		return err
	}
	mode := c.Mode
	switch {
	case mode == 0:
		mode = ForwardUnconditional
	case mode.String() == "":
		return invalid("unknown forward mode (want Unconditional, OnBusy, OnNoAnswer or OnBusyAndNoAnswer)")
	}
	switch to := e.dns[c.To]; {
	case c.To == "":
		return invalid("missing forward destination")
	case c.To == d.number:
		return invalid("DN " + q(d.number) + " cannot forward to itself")
	case to != nil && to.typ == config.Trunk:
		return invalid("forward destination " + q(c.To) + " is a trunk; give an external number")
	case to == nil && !isExternal(c.To):
		return invalid("forward destination " + q(c.To) + " is neither a DN of this tenant nor an external number")
	}
	e.begin(1)
	ev := e.emit(event.EventForwardSet, d, &c.Request)
	ev.OtherDN = c.To
	ev.Extensions = c.Extensions.Merge(event.KV{event.S("ForwardMode", mode.String())})
	d.fwdTo, d.fwdMode = c.To, mode
	return nil
}

func (e *Engine) cancelForward(c *CancelForward) error {
	d, err := e.phone(c.DN, "cancel forward")
	if err != nil {
		return err
	}
	if d.fwdTo == "" {
		return conflict("no forwarding is set on DN " + q(d.number))
	}
	e.begin(1)
	e.emit(event.EventForwardCancel, d, &c.Request)
	d.fwdTo, d.fwdMode = "", 0
	return nil
}

func (e *Engine) monitorNextCall(c *MonitorNextCall) error {
	typ := c.Type
	switch typ {
	case 0:
		typ = event.MonitorOneCall
	case event.MonitorOneCall, event.MonitorAllCalls:
	default:
		return invalid("unknown monitoring type (want OneCall or AllCalls)")
	}
	s, err := e.phone(c.Supervisor, "monitoring")
	if err != nil {
		return err
	}
	t, err := e.phone(c.Target, "monitoring")
	if err != nil {
		return err
	}
	if s == t {
		return invalid("DN " + q(s.number) + " cannot monitor itself")
	}
	if !s.inService {
		return refuseOutOfService(s)
	}
	if t.agent == nil {
		return conflict("no agent is logged in on DN " + q(t.number) + " to monitor")
	}
	if s.agent != nil && !s.agent.supervisor {
		return conflict("agent " + q(s.agent.id) + " on DN " + q(s.number) + " is not a supervisor")
	}
	if t.monitoredBy != nil && t.monitoredBy != s {
		return conflict("DN " + q(t.number) + " is already monitored by DN " + q(t.monitoredBy.number))
	}
	e.begin(4)
	// A supervisor already monitoring (this agent or another) changes
	// its request: the first one is cancelled, then the new one starts.
	if s.monitoring != nil {
		e.endMonitoring(s, &c.Request)
	}
	ev := e.emit(event.EventMonitoringNextCall, t, &c.Request)
	ev.OtherDN, ev.MonitorNextCallType = s.number, typ
	ev = e.emit(event.EventMonitoringNextCall, s, &c.Request)
	ev.OtherDN, ev.MonitorNextCallType = t.number, typ
	s.monitoring = &monitor{target: t, super: s, typ: typ}
	t.monitoredBy = s
	return nil
}

func (e *Engine) cancelMonitoring(c *CancelMonitoring) error {
	s, err := e.phone(c.Supervisor, "cancel monitoring")
	if err != nil {
		return err
	}
	if s.monitoring == nil {
		return conflict("DN " + q(s.number) + " is not monitoring")
	}
	e.begin(2)
	e.endMonitoring(s, &c.Request)
	return nil
}

// endMonitoring ends the monitoring of supervisor DN s: EventMonitoringCancelled
// for the target's DN, then for the supervisor's.
func (e *Engine) endMonitoring(s *dnState, req *Request) {
	t := s.monitoring.target
	ev := e.emit(event.EventMonitoringCancelled, t, req)
	ev.OtherDN = s.number
	ev = e.emit(event.EventMonitoringCancelled, s, req)
	ev.OtherDN = t.number
	s.monitoring, t.monitoredBy = nil, nil
}

func (e *Engine) hook(c *Hook) error {
	d, err := e.phone(c.DN, "hook")
	if err != nil {
		return err
	}
	if !d.inService {
		return refuseOutOfService(d)
	}
	if d.onCalls() > 0 {
		return conflict("DN " + q(d.number) + " is on a call; answer or release calls instead")
	}
	e.begin(1)
	name := event.EventOnHook
	if c.OffHook {
		name = event.EventOffHook
	}
	e.emit(name, d, &c.Request)
	d.offHook = c.OffHook
	return nil
}

func (e *Engine) setService(c *SetService) error {
	d, err := e.dn(c.DN)
	if err != nil {
		return err
	}
	if c.InService {
		e.begin(1)
		e.emit(event.EventDNBackInService, d, &c.Request)
		d.inService = true
		e.refreshDN(d)
		return nil
	}
	n := 1 + monitoringEvents(d)
	if d.agent != nil {
		n = 1 + logoutEvents(d)
	}
	for _, p := range d.parties {
		n += estimate(p.call)
	}
	e.begin(n)
	// A DN that can no longer take calls leaves the calls it is on first
	// (as if it hung up; a bridged appearance is released), then goes on
	// hook; then it goes out of service and its agent is logged out.
	for len(d.parties) > 0 {
		p := d.parties[0]
		if p.state == psBridged {
			ev := e.emitCall(event.EventReleased, p, &c.Request)
			ev.CallState, ev.OtherDN = event.CallStateOk, p.line.name()
			p.call.remove(p)
			e.gone(p)
			continue
		}
		st := event.CallStateOk
		if p.state == psBusy {
			st = event.CallStateBusy
		}
		e.leave(p, nil, st, &c.Request)
	}
	e.finish(&c.Request)
	e.emit(event.EventDNOutOfService, d, &c.Request)
	d.inService = false
	e.refreshDN(d)
	// Monitoring involving d ends; with an agent on d, logoutAll does it
	// (cancellations just before the logout).
	if d.agent != nil {
		e.logoutAll(d.agent, nil, &c.Request)
		return nil
	}
	if d.monitoredBy != nil {
		e.endMonitoring(d.monitoredBy, &c.Request)
	}
	if d.monitoring != nil {
		e.endMonitoring(d, &c.Request)
	}
	return nil
}

func (e *Engine) messageWaiting(c *MessageWaiting) error {
	d, err := e.phone(c.DN, "message waiting")
	if err != nil {
		return err
	}
	switch {
	case c.New < 0 || c.Old < 0:
		return invalid("message counts cannot be negative")
	case !c.On && c.New > 0:
		return invalid("message waiting off with new messages")
	}
	e.begin(1)
	name := event.EventMessageWaitingOff
	if c.On {
		name = event.EventMessageWaitingOn
	}
	ev := e.emit(name, d, &c.Request)
	ev.Extensions = c.Extensions.Merge(event.KV{event.I("NewMessages", int64(c.New)), event.I("OldMessages", int64(c.Old))})
	d.mwOn, d.mwNew, d.mwOld = c.On, c.New, c.Old
	return nil
}

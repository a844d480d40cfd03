package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
)

// Epoch is the wall-clock time the in-process mode's simulated day starts
// at (unix microseconds: 2026-01-05 08:00:00 UTC, a Monday), so its output
// is the same on every run.
const Epoch int64 = 1767600000_000000

// InProcess runs the engine in the simulator's goroutine on its virtual
// clock: no HTTP, no journal; engine timers are scheduled on the
// simulation's queue. Sink, if set, receives each step's events (the
// slice is reused after Sink returns).
type InProcess struct {
	Engine *engine.Engine
	Sink   func([]event.Event) error
	sim    *Sim
	events atomic.Int64
	timers map[string]bool // running timer ids
	obs    func(time.Duration, *event.Event)
}

// Subscribe implements EventSource: fn sees every event of every step.
func (d *InProcess) Subscribe(fn func(time.Duration, *event.Event)) { d.obs = fn }

// NewInProcess builds an engine for cfg's tenant (see Config.Tenant).
func NewInProcess(cfg *Config, tenant string, sink func([]event.Event) error) (*InProcess, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := cfg.Tenant(tenant, "sim")
	if err := (&config.File{Tenants: []config.Tenant{t}}).Validate(); err != nil {
		return nil, fmt.Errorf("%w: the simulated tenant: %v", ErrUsage, err)
	}
	eng, err := engine.New(&t, engine.Options{Server: "sim-1", Seed: cfg.Seed})
	if err != nil {
		return nil, err
	}
	return &InProcess{Engine: eng, Sink: sink, timers: map[string]bool{}}, nil
}

// Attach binds the driver to the simulation whose queue runs its timers.
func (d *InProcess) Attach(s *Sim) { d.sim = s }

func (d *InProcess) Wait(ctx context.Context, at time.Duration) error { return ctx.Err() }

func (d *InProcess) Events() int64 { return d.events.Load() }

func (d *InProcess) Do(ctx context.Context, at time.Duration, cmd engine.Command) (engine.CallReply, error) {
	res, err := d.Engine.Step(Epoch+at.Microseconds(), cmd)
	if err != nil {
		return engine.CallReply{}, err
	}
	if err := d.apply(res); err != nil {
		return engine.CallReply{}, err
	}
	rep, _ := res.Reply.(engine.CallReply)
	return rep, nil
}

func (d *InProcess) apply(res engine.Result) error {
	d.events.Add(int64(len(res.Events)))
	if d.Sink != nil && len(res.Events) > 0 {
		if err := d.Sink(res.Events); err != nil {
			return err
		}
	}
	if d.obs != nil {
		for i := range res.Events {
			d.obs(d.sim.now, &res.Events[i])
		}
	}
	for _, ef := range res.Effects {
		switch ef := ef.(type) {
		case engine.StartTimer:
			d.timers[ef.ID] = true
			id := ef.ID
			at := time.Duration(ef.At-Epoch) * time.Microsecond
			d.sim.At(at, func() {
				if !d.timers[id] {
					return
				}
				delete(d.timers, id)
				res, err := d.Engine.Step(Epoch+d.sim.now.Microseconds(), engine.TimerFired{ID: id})
				if err == nil {
					err = d.apply(res)
				}
				if err != nil && d.sim.err == nil {
					d.sim.err = fmt.Errorf("sim: timer %s: %w", id, err)
				}
			})
		case engine.CancelTimer:
			delete(d.timers, ef.ID)
		}
	}
	return nil
}

// HTTP drives a running switchboard through the CTI API and the network
// side API, on the wall clock: simulated time 0 is when Start was called.
type HTTP struct {
	Base   string // http://host:port
	Tenant string
	Token  string
	Client *http.Client
	start  time.Time
	events atomic.Int64
	ws     bool
	lat    *Latencies
	obs    func(time.Duration, *event.Event)
	inbox  chan *event.Event
}

// Subscribe implements EventSource: events from the WebSocket stream are
// handed to fn while the simulation waits for its next action. Call it
// before Start.
func (d *HTTP) Subscribe(fn func(time.Duration, *event.Event)) {
	d.obs = fn
	d.inbox = make(chan *event.Event, 1<<16)
}

// NewHTTP returns an HTTP driver; it records request latencies in lat
// (may be nil).
func NewHTTP(base, tenant, token string, lat *Latencies) *HTTP {
	tr := &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: time.Minute}
	return &HTTP{Base: strings.TrimRight(base, "/"), Tenant: tenant, Token: token,
		Client: &http.Client{Transport: tr, Timeout: 30 * time.Second}, lat: lat}
}

// Start sets simulated time 0 to now and, if it can, opens the tenant's
// WebSocket event stream to count events (until ctx ends).
func (d *HTTP) Start(ctx context.Context) {
	d.start = time.Now()
	u := strings.Replace(d.Base, "http", "ws", 1) + "/v1/tenants/" + url.PathEscape(d.Tenant) + "/events"
	c, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + d.Token}}})
	if err != nil {
		return
	}
	c.SetReadLimit(1 << 20)
	d.ws = true
	go func() {
		defer c.CloseNow()
		for {
			_, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			d.events.Add(1)
			if d.inbox != nil {
				ev := new(event.Event)
				if event.Unmarshal(msg, ev) == nil {
					select {
					case d.inbox <- ev:
					case <-ctx.Done():
						return
					}
				}
			}
		}
	}()
}

func (d *HTTP) Events() int64 {
	if !d.ws {
		return -1
	}
	return d.events.Load()
}

func (d *HTTP) Wait(ctx context.Context, at time.Duration) error {
	for {
		// events first, so an offer is answered before later actions
		select {
		case ev := <-d.inbox:
			d.obs(time.Since(d.start), ev)
			continue
		default:
		}
		wait := time.Until(d.start.Add(at))
		if wait <= 0 {
			return ctx.Err()
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case ev := <-d.inbox:
			t.Stop()
			d.obs(time.Since(d.start), ev)
		case <-t.C:
			return nil
		}
	}
}

// Request returns the method, path (under /v1/tenants/{t}) and body of cmd.
func Request(cmd engine.Command) (method, path string, body map[string]any, err error) {
	esc := url.PathEscape
	body = map[string]any{}
	req := func(r engine.Request) {
		if r.ReferenceID != 0 {
			body["referenceId"] = r.ReferenceID
		}
		if len(r.Reasons) > 0 {
			body["reasons"] = r.Reasons
		}
		if len(r.Extensions) > 0 {
			body["extensions"] = r.Extensions
		}
	}
	call := func(id, op string) string { return "/calls/" + esc(id) + "/" + op }
	switch c := cmd.(type) {
	case engine.Login:
		req(c.Request)
		body["agentId"] = c.AgentID
		body["queues"] = append([]string{}, c.Queues...)
		if c.WorkMode != 0 {
			body["workMode"] = c.WorkMode.String()
		}
		return "POST", "/dns/" + esc(c.DN) + "/login", body, nil
	case engine.Logout:
		req(c.Request)
		if c.Queues != nil {
			body["queues"] = c.Queues
		}
		return "POST", "/dns/" + esc(c.DN) + "/logout", body, nil
	case engine.Ready:
		req(c.Request)
		if c.WorkMode != 0 {
			body["workMode"] = c.WorkMode.String()
		}
		return "POST", "/dns/" + esc(c.DN) + "/ready", body, nil
	case engine.NotReady:
		req(c.Request)
		if c.WorkMode != 0 {
			body["workMode"] = c.WorkMode.String()
		}
		return "POST", "/dns/" + esc(c.DN) + "/not-ready", body, nil
	case engine.MonitorNextCall:
		req(c.Request)
		body["target"] = c.Target
		switch c.Type { // the API's spelling, not the event's MonitorOneCall
		case event.MonitorOneCall:
			body["type"] = "OneCall"
		case event.MonitorAllCalls:
			body["type"] = "AllCalls"
		}
		return "POST", "/dns/" + esc(c.Supervisor) + "/monitor", body, nil
	case engine.CancelMonitoring:
		return "DELETE", "/dns/" + esc(c.Supervisor) + "/monitor", nil, nil
	case engine.NetworkCall:
		req(c.Request)
		body["trunk"], body["ani"], body["dnis"] = c.Trunk, c.ANI, c.DNIS
		if len(c.UserData) > 0 {
			body["userData"] = c.UserData
		}
		return "POST", "/network/calls", body, nil
	case engine.NetworkRelease:
		req(c.Request)
		if c.Party != "" {
			body["party"] = c.Party
		}
		return "POST", "/network/calls/" + esc(c.ConnID) + "/release", body, nil
	case engine.NetworkAnswer:
		req(c.Request)
		if c.Party != "" {
			body["party"] = c.Party
		}
		return "POST", "/network/calls/" + esc(c.ConnID) + "/answer", body, nil
	case engine.Answer:
		req(c.Request)
		body["dn"] = c.DN
		return "POST", call(c.ConnID, "answer"), body, nil
	case engine.Release:
		req(c.Request)
		body["dn"] = c.DN
		return "POST", call(c.ConnID, "release"), body, nil
	case engine.SingleStepTransfer:
		req(c.Request)
		body["dn"], body["to"] = c.DN, c.To
		return "POST", call(c.ConnID, "single-step-transfer"), body, nil
	case engine.InitiateTransfer:
		req(c.Request)
		body["dn"], body["to"] = c.DN, c.To
		return "POST", call(c.ConnID, "initiate-transfer"), body, nil
	case engine.InitiateConference:
		req(c.Request)
		body["dn"], body["to"] = c.DN, c.To
		return "POST", call(c.ConnID, "initiate-conference"), body, nil
	case engine.CompleteTransfer:
		req(c.Request)
		body["dn"], body["consultConnId"] = c.DN, c.ConsultConnID
		return "POST", call(c.ConnID, "complete-transfer"), body, nil
	case engine.CompleteConference:
		req(c.Request)
		body["dn"], body["consultConnId"] = c.DN, c.ConsultConnID
		return "POST", call(c.ConnID, "complete-conference"), body, nil
	case engine.Reconnect:
		req(c.Request)
		body["dn"], body["consultConnId"] = c.DN, c.ConsultConnID
		return "POST", call(c.ConnID, "reconnect"), body, nil
	}
	return "", "", nil, fmt.Errorf("%w: command %s has no HTTP mapping in sim", ErrUsage, cmd.Kind())
}

func (d *HTTP) Do(ctx context.Context, at time.Duration, cmd engine.Command) (engine.CallReply, error) {
	method, path, body, err := Request(cmd)
	if err != nil {
		return engine.CallReply{}, err
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return engine.CallReply{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.Base+"/v1/tenants/"+url.PathEscape(d.Tenant)+path, rd)
	if err != nil {
		return engine.CallReply{}, err
	}
	req.Header.Set("Authorization", "Bearer "+d.Token)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	t0 := time.Now()
	resp, err := d.Client.Do(req)
	if err != nil {
		return engine.CallReply{}, err
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if d.lat != nil {
		d.lat.Add(time.Since(t0))
	}
	if err != nil {
		return engine.CallReply{}, err
	}
	if resp.StatusCode/100 == 2 {
		var rep engine.CallReply
		if resp.StatusCode == http.StatusCreated {
			if err := json.Unmarshal(b, &rep); err != nil {
				return rep, fmt.Errorf("sim: %s %s: bad reply %q: %v", method, path, b, err)
			}
		}
		return rep, nil
	}
	var eb struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	json.Unmarshal(b, &eb)
	switch engine.Code(eb.Error.Code) {
	case engine.CodeConflict, engine.CodeNotFound, engine.CodeInvalid:
		return engine.CallReply{}, &engine.Error{Code: engine.Code(eb.Error.Code), Msg: eb.Error.Message}
	}
	return engine.CallReply{}, fmt.Errorf("sim: %s %s: HTTP %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
}

package ctiapi

import (
	"net/http"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/engine"
)

// Request bodies of the agents-and-DNs endpoints. Struct tags drive both
// validation and the OpenAPI document: `required:"true"`, `enum:"A,B"`
// (allowed values), `default:"A"`, `doc:"..."`.

// LoginBody is POST /dns/{dn}/login.
type LoginBody struct {
	Common
	AgentID  *string  `json:"agentId" required:"true" doc:"the agent's login id"`
	Queues   []string `json:"queues,omitempty" doc:"ACD queues to log in to; one EventAgentLogin each"`
	WorkMode *string  `json:"workMode,omitempty" enum:"ManualIn,AutoIn,AuxWork,AfterCallWork,WalkAway,NoCallDisconnect" doc:"initial work mode"`
}

// LogoutBody is POST /dns/{dn}/logout.
type LogoutBody struct {
	Common
	Queues []string `json:"queues,omitempty" doc:"queues to log out of; all when absent or empty"`
}

// ReadyBody is POST /dns/{dn}/ready.
type ReadyBody struct {
	Common
	WorkMode *string `json:"workMode,omitempty" enum:"ManualIn,AutoIn,ReturnBack" default:"ManualIn"`
}

// NotReadyBody is POST /dns/{dn}/not-ready.
type NotReadyBody struct {
	Common
	WorkMode *string `json:"workMode,omitempty" enum:"AuxWork,AfterCallWork,WalkAway,NoCallDisconnect,LegalGuard" default:"AuxWork"`
}

// DNDBody is POST /dns/{dn}/dnd.
type DNDBody struct {
	Common
	On *bool `json:"on" required:"true" doc:"do-not-disturb on or off"`
}

// ForwardBody is POST /dns/{dn}/forward.
type ForwardBody struct {
	Common
	To   *string `json:"to" required:"true" doc:"a DN of the tenant or an external number"`
	Mode *string `json:"mode,omitempty" enum:"Unconditional,OnBusy,OnNoAnswer,OnBusyAndNoAnswer" default:"Unconditional"`
}

// MonitorBody is POST /dns/{dn}/monitor; {dn} is the supervisor's DN.
type MonitorBody struct {
	Common
	Target *string `json:"target" required:"true" doc:"the DN of the agent to monitor"`
	Type   *string `json:"type,omitempty" enum:"OneCall,AllCalls" default:"OneCall"`
}

// HookBody is POST /dns/{dn}/hook.
type HookBody struct {
	Common
	State *string `json:"state" required:"true" enum:"off,on" doc:"off: the phone went off hook; on: back on hook"`
}

// ServiceBody is POST /dns/{dn}/service.
type ServiceBody struct {
	Common
	InService *bool `json:"inService" required:"true" doc:"false takes the DN out of service (and logs its agent out)"`
}

// MessageWaitingBody is POST /dns/{dn}/message-waiting.
type MessageWaitingBody struct {
	Common
	On          *bool `json:"on" required:"true"`
	NewMessages *int  `json:"newMessages,omitempty" minimum:"0"`
	OldMessages *int  `json:"oldMessages,omitempty" minimum:"0"`
}

// schemaRules: with on false there are no new messages.
func (*MessageWaitingBody) schemaRules() map[string]any {
	return map[string]any{
		"if":   map[string]any{"properties": map[string]any{"on": map[string]any{"const": false}}, "required": []string{"on"}},
		"then": map[string]any{"properties": map[string]any{"newMessages": map[string]any{"maximum": 0}}},
	}
}

// NetworkPartyBody is POST /network/calls/{connId}/answer, /busy and
// /release.
type NetworkPartyBody struct {
	Common
	Party *string `json:"party,omitempty" doc:"the external number, when the call has several external parties (a call transferred out through a trunk); absent: the one being called (release: the first)"`
}

// EmptyBody is the body of requests without parameters (DELETE forward,
// DELETE monitor): only the common fields.
type EmptyBody struct {
	Common
}

// OK is the success body of a request: how many events it caused (they are
// recorded, and go to Kafka, not in this reply).
type OK struct {
	OK     bool `json:"ok"`
	Events int  `json:"events"`
}

// AgentList is GET /agents.
type AgentList struct {
	Agents []engine.AgentView `json:"agents"`
}

const dnBase = "/v1/tenants/{tenant}/dns/{dn}"

func agentRoutes() []route {
	return []route{
		command("POST", dnBase+"/login", "Log an agent in on the DN, to each queue (EventAgentLogin per queue)",
			func(r *http.Request, b *LoginBody, q engine.Request) (engine.Login, error) {
				return engine.Login{Request: q, DN: r.PathValue("dn"), AgentID: *b.AgentID, Queues: b.Queues,
					WorkMode: workMode(b.WorkMode)}, nil
			}),
		command("POST", dnBase+"/logout", "Log the agent out of some or all queues (EventQueueLogout, EventAgentLogout)",
			func(r *http.Request, b *LogoutBody, q engine.Request) (engine.Logout, error) {
				queues := b.Queues
				if len(queues) == 0 {
					queues = nil
				}
				return engine.Logout{Request: q, DN: r.PathValue("dn"), Queues: queues}, nil
			}),
		command("POST", dnBase+"/ready", "Make the agent ready (EventAgentReady)",
			func(r *http.Request, b *ReadyBody, q engine.Request) (engine.Ready, error) {
				return engine.Ready{Request: q, DN: r.PathValue("dn"), WorkMode: workMode(b.WorkMode)}, nil
			}),
		command("POST", dnBase+"/not-ready", "Make the agent not ready (EventAgentNotReady)",
			func(r *http.Request, b *NotReadyBody, q engine.Request) (engine.NotReady, error) {
				return engine.NotReady{Request: q, DN: r.PathValue("dn"), WorkMode: workMode(b.WorkMode)}, nil
			}),
		command("POST", dnBase+"/dnd", "Switch do-not-disturb on or off (EventDNDOn, EventDNDOff)",
			func(r *http.Request, b *DNDBody, q engine.Request) (engine.SetDND, error) {
				return engine.SetDND{Request: q, DN: r.PathValue("dn"), On: *b.On}, nil
			}),
		command("POST", dnBase+"/forward", "Set call forwarding (EventForwardSet)",
			func(r *http.Request, b *ForwardBody, q engine.Request) (engine.SetForward, error) {
				return engine.SetForward{Request: q, DN: r.PathValue("dn"), To: *b.To, Mode: forwardMode(*b.Mode)}, nil
			}),
		command("DELETE", dnBase+"/forward", "Cancel call forwarding (EventForwardCancel)",
			func(r *http.Request, b *EmptyBody, q engine.Request) (engine.CancelForward, error) {
				return engine.CancelForward{Request: q, DN: r.PathValue("dn")}, nil
			}),
		command("POST", dnBase+"/monitor", "Supervisor {dn} monitors the next call (or all calls) of the agent at target (EventMonitoringNextCall twice)",
			func(r *http.Request, b *MonitorBody, q engine.Request) (engine.MonitorNextCall, error) {
				return engine.MonitorNextCall{Request: q, Supervisor: r.PathValue("dn"), Target: *b.Target,
					Type: monitorType(*b.Type)}, nil
			}),
		command("DELETE", dnBase+"/monitor", "Cancel the monitoring set by supervisor {dn} (EventMonitoringCancelled twice)",
			func(r *http.Request, b *EmptyBody, q engine.Request) (engine.CancelMonitoring, error) {
				return engine.CancelMonitoring{Request: q, Supervisor: r.PathValue("dn")}, nil
			}),
		command("POST", dnBase+"/hook", "Report the phone off or on hook (EventOffHook, EventOnHook)",
			func(r *http.Request, b *HookBody, q engine.Request) (engine.Hook, error) {
				return engine.Hook{Request: q, DN: r.PathValue("dn"), OffHook: *b.State == "off"}, nil
			}),
		command("POST", dnBase+"/service", "Take the DN out of service or back (EventDNOutOfService, EventDNBackInService)",
			func(r *http.Request, b *ServiceBody, q engine.Request) (engine.SetService, error) {
				return engine.SetService{Request: q, DN: r.PathValue("dn"), InService: *b.InService}, nil
			}),
		command("POST", dnBase+"/message-waiting", "Turn the message-waiting indicator on or off (EventMessageWaitingOn/Off)",
			func(r *http.Request, b *MessageWaitingBody, q engine.Request) (engine.MessageWaiting, error) {
				c := engine.MessageWaiting{Request: q, DN: r.PathValue("dn"), On: *b.On}
				if b.NewMessages != nil {
					c.New = *b.NewMessages
				}
				if b.OldMessages != nil {
					c.Old = *b.OldMessages
				}
				return c, nil
			}),
		queryWith("GET", dnBase, "The DN's state: type, agent, agent state, DND, forwarding, calls; a trunk's SIP registration and keepalive", DNState{},
			dnState), // sipstate.go
		query("GET", "/v1/tenants/{tenant}/agents", "Every agent's state", AgentList{},
			func(r *http.Request, v views) (any, error) {
				list := v.Agents()
				if list == nil {
					list = []engine.AgentView{}
				}
				return AgentList{Agents: list}, nil
			}),
		query("GET", "/v1/tenants/{tenant}/agents/{agentId}", "One agent's state", engine.AgentView{},
			func(r *http.Request, v views) (any, error) { return v.Agent(r.PathValue("agentId")) }),
	}
}

func workMode(s *string) event.AgentWorkMode {
	if s == nil {
		return 0
	}
	m, _ := event.ParseAgentWorkMode(*s)
	return m
}

func monitorType(s string) event.MonitorNextCallType {
	m, _ := event.ParseMonitorNextCallType(s)
	return m
}

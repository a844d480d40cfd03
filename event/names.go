package event

// Topic names without a prefix (EVENTS.md section 1).
const (
	AgentStateTopic = "voice-agentstate"
	CallThreadTopic = "voice-callthread"
)

// Name is an event name (the "id" field). The zero Name is absent.
type Name uint8

// The 42 events of EVENTS.md section 4, in the order of its tables.
const (
	// 4.1 voice-agentstate
	EventAgentLogin Name = iota + 1
	EventQueueLogout
	EventAgentLogout
	EventAgentReady
	EventAgentNotReady
	EventDNOutOfService
	EventDNBackInService
	EventDNDOn
	EventDNDOff
	EventForwardSet
	EventForwardCancel
	EventMonitoringNextCall
	EventMonitoringCancelled
	EventOffHook
	EventOnHook
	EventMuteOn
	EventMuteOff
	EventListenDisconnected
	EventListenReconnected
	EventMessageWaitingOn
	EventMessageWaitingOff
	// 4.2 voice-callthread: call handling, transfer and conference
	EventDialing
	EventNetworkReached
	EventRinging
	EventEstablished
	EventDestinationBusy
	EventAbandoned
	EventDiverted
	EventQueued
	EventHeld
	EventRetrieved
	EventPartyAdded
	EventPartyChanged
	EventPartyDeleted
	EventBridged
	EventReleased
	// 4.3 routing
	EventRouteRequest
	EventRouteUsed
	// 4.4 treatment
	EventTreatmentRequired
	EventTreatmentApplied
	EventTreatmentEnd
	EventTreatmentNotApplied

	numNames = iota
)

var nameStrings = [...]string{"",
	"EventAgentLogin", "EventQueueLogout", "EventAgentLogout", "EventAgentReady",
	"EventAgentNotReady", "EventDNOutOfService", "EventDNBackInService", "EventDNDOn",
	"EventDNDOff", "EventForwardSet", "EventForwardCancel", "EventMonitoringNextCall",
	"EventMonitoringCancelled", "EventOffHook", "EventOnHook", "EventMuteOn", "EventMuteOff",
	"EventListenDisconnected", "EventListenReconnected", "EventMessageWaitingOn",
	"EventMessageWaitingOff",
	"EventDialing", "EventNetworkReached", "EventRinging", "EventEstablished",
	"EventDestinationBusy", "EventAbandoned", "EventDiverted", "EventQueued", "EventHeld",
	"EventRetrieved", "EventPartyAdded", "EventPartyChanged", "EventPartyDeleted",
	"EventBridged", "EventReleased",
	"EventRouteRequest", "EventRouteUsed",
	"EventTreatmentRequired", "EventTreatmentApplied", "EventTreatmentEnd",
	"EventTreatmentNotApplied",
}

// Names returns all 42 event names in contract order.
func Names() []Name {
	out := make([]Name, 0, numNames)
	for n := Name(1); n <= numNames; n++ {
		out = append(out, n)
	}
	return out
}

// String returns the event name, e.g. "EventRinging"; "" if unknown.
func (n Name) String() string {
	if int(n) >= len(nameStrings) {
		return ""
	}
	return nameStrings[n]
}

// ParseName returns the Name for an event name string.
func ParseName(s string) (Name, bool) {
	for i := 1; i < len(nameStrings); i++ {
		if nameStrings[i] == s {
			return Name(i), true
		}
	}
	return 0, false
}

// Topic returns the unprefixed topic the event goes to; "" if unknown.
func (n Name) Topic() string {
	switch {
	case n >= EventAgentLogin && n <= EventMessageWaitingOff:
		return AgentStateTopic
	case n >= EventDialing && n <= EventTreatmentNotApplied:
		return CallThreadTopic
	}
	return ""
}

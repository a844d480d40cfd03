package event

import "strconv"

// Record header names (EVENTS.md section 1).
const (
	HeaderEvent  = "event"  // the event name, same as id
	HeaderTenant = "tenant" // the tenant id
	HeaderSchema = "schema" // the schema version, decimal text
)

// Key returns the Kafka record key of section 1: "{tenant}:{agent}" on
// voice-agentstate, where the agent is AgentID or, on a DN with no agent
// logged in, ThisDN; "{tenant}:{CallThreadID}" on voice-callthread.
func (e *Event) Key() string {
	if e.ID.Topic() == CallThreadTopic {
		return e.CustomerID + ":" + e.CallThreadID
	}
	if e.AgentID != "" {
		return e.CustomerID + ":" + e.AgentID
	}
	return e.CustomerID + ":" + e.ThisDN
}

// Header is one Kafka record header.
type Header struct {
	Key   string
	Value string
}

// Headers returns the three record headers of section 1: event, tenant and
// schema.
func (e *Event) Headers() [3]Header {
	return [3]Header{
		{HeaderEvent, e.ID.String()},
		{HeaderTenant, e.CustomerID},
		{HeaderSchema, strconv.Itoa(schemaOr(e.SchemaVersion))},
	}
}

func schemaOr(v int) int {
	if v == 0 {
		return SchemaVersion
	}
	return v
}

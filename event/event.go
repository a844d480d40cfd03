package event

// SchemaVersion is the value of the SchemaVersion field for this version of
// the contract (EVENTS.md section 2.1). Version 2 spells every enumeration
// as the T-Library headers do (section 2.4); this package still decodes and
// validates version 1 records.
const SchemaVersion = 2

// oldestSchemaVersion is the oldest version Validate accepts.
const oldestSchemaVersion = 1

// Time is a T-Library TTimeStamp: seconds and microseconds since the Unix
// epoch. It is written as {"seconds": S, "useconds": U}.
type Time struct {
	Seconds  int64
	USeconds int32 // 0 <= USeconds < 1,000,000
}

// IsZero reports whether t is the zero time (absent).
func (t Time) IsZero() bool { return t.Seconds == 0 && t.USeconds == 0 }

// UnixMicro returns t as microseconds since the Unix epoch.
func (t Time) UnixMicro() int64 { return t.Seconds*1_000_000 + int64(t.USeconds) }

// TimeFromUnixMicro builds a Time from microseconds since the Unix epoch.
func TimeFromUnixMicro(us int64) Time {
	s, u := us/1_000_000, us%1_000_000
	if u < 0 {
		s, u = s-1, u+1_000_000
	}
	return Time{Seconds: s, USeconds: int32(u)}
}

// Event is one T-Library event as published on voice-agentstate or
// voice-callthread. Fields are the T-Library attribute names without the
// Attribute prefix (EVENTS.md section 2); a field left at its zero value is
// omitted on the wire. Fields are encoded in the order they are declared here.
type Event struct {
	// 2.1: present in every event.
	ID            Name   // "id": the event name
	Server        string // the node that produced the event
	Time          Time   // "time"
	CustomerID    string // the tenant id
	Seq           int64  // per record key, from 1, gapless
	SchemaVersion int    // SchemaVersion (2; 1 in older records)

	// 2.2: call and party fields.
	CallThreadID     string
	ConnID           string // opaque; switchboard writes 16 lowercase hex digits
	PreviousConnID   string
	TransferConnID   string
	CallID           int64
	CallType         CallType
	CallState        CallState
	ThisDN           string
	ThisDNRole       DNRole
	OtherDN          string
	OtherDNRole      DNRole
	ThirdPartyDN     string
	ThirdPartyDNRole DNRole
	ThisQueue        string
	OtherQueue       string
	ThirdPartyQueue  string
	ThisTrunk        string
	OtherTrunk       string
	ANI              string
	DNIS             string
	UserData         KV
	CallHistory      KV
	NetworkCallID    string
	NetworkNodeID    string
	Cause            Cause

	// 2.3: agent, request and treatment fields.
	AgentID             string
	AgentWorkMode       AgentWorkMode
	Reasons             KV
	Extensions          KV
	ReferenceID         int64
	MonitorNextCallType MonitorNextCallType
	TreatmentType       TreatmentType
	TreatmentParms      KV
	CollectedDigits     string
	LastCollectedDigit  string
	ErrorCode           int64
	ErrorMessage        string
	InfoStatus          string
}

// Topic is the event's topic without any configured prefix: AgentStateTopic
// or CallThreadTopic, from its name. It is "" for an unknown name.
func (e *Event) Topic() string { return e.ID.Topic() }

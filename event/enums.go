package event

// Enumerations are written on the wire as their T-Library names without the
// type prefix (CallStateTransferred is "Transferred") and decoded from either
// the name or the T-Library integer (EVENTS.md section 2.4). The spellings
// are exactly those of the T-Library headers; the few that schema version 1
// wrote differently are still decoded (schema1Aliases).
//
// In Go, the zero value of every enumeration type means "absent", so that an
// Event that does not carry the field omits it. The constants therefore hold
// the T-Library value plus one; Int returns the T-Library value.

// CallType is T-Library TCallType.
type CallType uint8

const (
	CallTypeUnknown CallType = iota + 1
	CallTypeInternal
	CallTypeInbound
	CallTypeOutbound
	CallTypeConsult
)

var callTypeNames = []string{"Unknown", "Internal", "Inbound", "Outbound", "Consult"}

// CallState is T-Library TCallState. Its values are not contiguous
// (Deafened is 49, Held 50).
type CallState uint8

const (
	CallStateOk CallState = iota + 1
	CallStateTransferred
	CallStateConferenced
	CallStateGeneralError
	CallStateSystemError
	CallStateRemoteRelease
	CallStateBusy
	CallStateNoAnswer
	CallStateSitDetected
	CallStateAnsweringMachineDetected
	CallStateAllTrunksBusy
	CallStateSitInvalidnum
	CallStateSitVacant
	CallStateSitIntercept
	CallStateSitUnknown
	CallStateSitNocircuit
	CallStateSitReorder
	CallStateFaxDetected
	CallStateQueueFull
	CallStateCleared
	CallStateOverflowed
	CallStateAbandoned
	CallStateRedirected
	CallStateForwarded
	CallStateConsult
	CallStatePickedup
	CallStateDropped
	CallStateDroppednoanswer
	CallStateUnknown
	CallStateCovered
	CallStateConverseOn
	CallStateBridged
	CallStateDeafened CallState = 49 + 1
	CallStateHeld     CallState = 50 + 1
)

var callStateNames = func() []string {
	n := make([]string, 51)
	copy(n, []string{"Ok", "Transferred", "Conferenced", "GeneralError", "SystemError",
		"RemoteRelease", "Busy", "NoAnswer", "SitDetected", "AnsweringMachineDetected",
		"AllTrunksBusy", "SitInvalidnum", "SitVacant", "SitIntercept", "SitUnknown",
		"SitNocircuit", "SitReorder", "FaxDetected", "QueueFull", "Cleared", "Overflowed",
		"Abandoned", "Redirected", "Forwarded", "Consult", "Pickedup", "Dropped",
		"Droppednoanswer", "Unknown", "Covered", "ConverseOn", "Bridged"})
	n[49], n[50] = "Deafened", "Held"
	return n
}()

// The CallState constants as schema version 1 named them.
//
// Deprecated: use the T-Library spellings CallStateSitInvalidnum,
// CallStateSitNocircuit, CallStatePickedup and CallStateDroppednoanswer.
const (
	CallStateSitInvalidNum   = CallStateSitInvalidnum
	CallStateSitNoCircuit    = CallStateSitNocircuit
	CallStatePickedUp        = CallStatePickedup
	CallStateDroppedNoAnswer = CallStateDroppednoanswer
)

// Cause says, for network calls, why a state was reached. Its values are
// those of CallState (Busy, NoAnswer, ...): T-Library gives the attribute no
// enumeration of its own, and these are the names the contract uses.
type Cause = CallState

// DNRole is T-Library TDNRole.
type DNRole uint8

const (
	RoleUnknown DNRole = iota + 1
	RoleOrigination
	RoleDestination
	RoleConferenceMember
	RoleNewParty
	RoleAddedBy
	RoleDeletedBy
	RoleTransferredBy
	RoleDeletedParty
	RoleConferencedBy
	RoleObserver
)

var dnRoleNames = []string{"Unknown", "Origination", "Destination", "ConferenceMember", "NewParty",
	"AddedBy", "DeletedBy", "TransferredBy", "DeletedParty", "ConferencedBy", "Observer"}

// AgentWorkMode is T-Library TAgentWorkMode.
//
// T-Library's AgentLegalGuard, a not-ready sub-state, shares AutoIn's value
// 2; EVENTS.md 2.4 writes that value "LegalGuard" in EventAgentNotReady and
// "AutoIn" everywhere else. Go keeps the two apart as WorkModeAutoIn and
// WorkModeLegalGuard (both Int 2), so that String and a switch on the value
// say which is meant; the codec follows the event: value 2 is encoded and
// decoded as LegalGuard in EventAgentNotReady and as AutoIn in every other
// event, whichever of the two constants an Event holds.
type AgentWorkMode uint8

const (
	WorkModeUnknown AgentWorkMode = iota + 1
	WorkModeManualIn
	WorkModeAutoIn
	WorkModeAfterCallWork
	WorkModeAuxWork
	WorkModeNoCallDisconnect
	WorkModeWalkAway
	WorkModeReturnBack
	// WorkModeLegalGuard is T-Library AgentLegalGuard: its Int is 2, like
	// WorkModeAutoIn's (see AgentWorkMode).
	WorkModeLegalGuard
)

// workModeNames are the names of the T-Library values 0-7; workModeNamesAll
// adds LegalGuard, which has a name but no integer of its own.
var (
	workModeNames = []string{"Unknown", "ManualIn", "AutoIn", "AfterCallWork", "AuxWork",
		"NoCallDisconnect", "WalkAway", "ReturnBack"}
	workModeNamesAll = append(workModeNames[:len(workModeNames):len(workModeNames)], "LegalGuard")
)

// wireWorkMode is the work mode as event id writes it: value 2 is
// LegalGuard in EventAgentNotReady and AutoIn elsewhere.
func wireWorkMode(id Name, v AgentWorkMode) AgentWorkMode {
	switch {
	case v != WorkModeAutoIn && v != WorkModeLegalGuard:
		return v
	case id == EventAgentNotReady:
		return WorkModeLegalGuard
	}
	return WorkModeAutoIn
}

// MonitorNextCallType is T-Library TMonitorNextCallType.
type MonitorNextCallType uint8

const (
	MonitorOneCall MonitorNextCallType = iota + 1
	MonitorAllCalls
)

var monitorNames = []string{"MonitorOneCall", "MonitorAllCalls"}

// schema1Aliases are the spellings schema version 1 wrote where they differ
// from T-Library's (EVENTS.md 2.4): decoders and the Parse functions accept
// them, encoders never write them.
var schema1Aliases = struct {
	callState, monitor map[string]uint8
}{
	callState: map[string]uint8{
		"SitInvalidNum":   uint8(CallStateSitInvalidnum),
		"SitNoCircuit":    uint8(CallStateSitNocircuit),
		"PickedUp":        uint8(CallStatePickedup),
		"DroppedNoAnswer": uint8(CallStateDroppednoanswer),
	},
	monitor: map[string]uint8{
		"OneCall":  uint8(MonitorOneCall),
		"AllCalls": uint8(MonitorAllCalls),
	},
}

// TreatmentType is T-Library TTreatmentType.
type TreatmentType uint8

const (
	TreatmentUnknown TreatmentType = iota + 1
	TreatmentIVR
	TreatmentMusic
	TreatmentRingBack
	TreatmentSilence
	TreatmentBusy
	TreatmentCollectDigits
	TreatmentPlayAnnouncement
	TreatmentPlayAnnouncementAndDigits
	TreatmentVerifyDigits
	TreatmentRecordUserAnnouncement
	TreatmentDeleteUserAnnouncement
	TreatmentCancelCall
	TreatmentPlayApplication
	TreatmentSetDefaultRoute
	TreatmentTextToSpeech
	TreatmentTextToSpeechAndDigits
	TreatmentFastBusy
	TreatmentRAN
)

var treatmentNames = []string{"Unknown", "IVR", "Music", "RingBack", "Silence", "Busy",
	"CollectDigits", "PlayAnnouncement", "PlayAnnouncementAndDigits", "VerifyDigits",
	"RecordUserAnnouncement", "DeleteUserAnnouncement", "CancelCall", "PlayApplication",
	"SetDefaultRoute", "TextToSpeech", "TextToSpeechAndDigits", "FastBusy", "RAN"}

// enumString returns the name of the T-Library value v-1, or "" if v is 0
// (absent) or out of range.
func enumString(names []string, v uint8) string {
	if v == 0 || int(v) > len(names) {
		return ""
	}
	return names[v-1]
}

// enumParse returns the enumeration value (T-Library value plus one) for a
// name, or false.
func enumParse(names []string, s string) (uint8, bool) {
	for i, n := range names {
		if n != "" && n == s {
			return uint8(i + 1), true
		}
	}
	return 0, false
}

// enumFromInt returns the enumeration value for a T-Library integer, or false.
func enumFromInt(names []string, i int64) (uint8, bool) {
	if i < 0 || i >= int64(len(names)) || names[i] == "" {
		return 0, false
	}
	return uint8(i + 1), true
}

func (v CallType) String() string            { return enumString(callTypeNames, uint8(v)) }
func (v CallState) String() string           { return enumString(callStateNames, uint8(v)) }
func (v DNRole) String() string              { return enumString(dnRoleNames, uint8(v)) }
func (v AgentWorkMode) String() string       { return enumString(workModeNamesAll, uint8(v)) }
func (v MonitorNextCallType) String() string { return enumString(monitorNames, uint8(v)) }
func (v TreatmentType) String() string       { return enumString(treatmentNames, uint8(v)) }

// Int returns the T-Library integer value; -1 when absent.
func (v CallType) Int() int            { return int(v) - 1 }
func (v CallState) Int() int           { return int(v) - 1 }
func (v DNRole) Int() int              { return int(v) - 1 }
func (v MonitorNextCallType) Int() int { return int(v) - 1 }
func (v TreatmentType) Int() int       { return int(v) - 1 }

// Int returns the T-Library integer value; -1 when absent. WorkModeLegalGuard
// and WorkModeAutoIn are both 2.
func (v AgentWorkMode) Int() int {
	if v == WorkModeLegalGuard {
		return WorkModeAutoIn.Int()
	}
	return int(v) - 1
}

// Parse functions accept the T-Library name (as written on the wire) and
// the schema version 1 spellings of the few names that changed.

func ParseCallType(s string) (CallType, bool) {
	v, ok := enumParse(callTypeNames, s)
	return CallType(v), ok
}
func ParseCallState(s string) (CallState, bool) {
	v, ok := enumParse(callStateNames, s)
	if !ok {
		v, ok = schema1Aliases.callState[s]
	}
	return CallState(v), ok
}
func ParseDNRole(s string) (DNRole, bool) {
	v, ok := enumParse(dnRoleNames, s)
	return DNRole(v), ok
}
func ParseAgentWorkMode(s string) (AgentWorkMode, bool) {
	v, ok := enumParse(workModeNamesAll, s)
	return AgentWorkMode(v), ok
}
func ParseMonitorNextCallType(s string) (MonitorNextCallType, bool) {
	v, ok := enumParse(monitorNames, s)
	if !ok {
		v, ok = schema1Aliases.monitor[s]
	}
	return MonitorNextCallType(v), ok
}
func ParseTreatmentType(s string) (TreatmentType, bool) {
	v, ok := enumParse(treatmentNames, s)
	return TreatmentType(v), ok
}

package event

// Enumerations are written on the wire as their T-Library names without the
// type prefix (CallStateTransferred is "Transferred") and decoded from either
// the name or the T-Library integer (EVENTS.md section 2.4).
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
	CallStateSitInvalidNum
	CallStateSitVacant
	CallStateSitIntercept
	CallStateSitUnknown
	CallStateSitNoCircuit
	CallStateSitReorder
	CallStateFaxDetected
	CallStateQueueFull
	CallStateCleared
	CallStateOverflowed
	CallStateAbandoned
	CallStateRedirected
	CallStateForwarded
	CallStateConsult
	CallStatePickedUp
	CallStateDropped
	CallStateDroppedNoAnswer
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
		"AllTrunksBusy", "SitInvalidNum", "SitVacant", "SitIntercept", "SitUnknown",
		"SitNoCircuit", "SitReorder", "FaxDetected", "QueueFull", "Cleared", "Overflowed",
		"Abandoned", "Redirected", "Forwarded", "Consult", "PickedUp", "Dropped",
		"DroppedNoAnswer", "Unknown", "Covered", "ConverseOn", "Bridged"})
	n[49], n[50] = "Deafened", "Held"
	return n
}()

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
)

var workModeNames = []string{"Unknown", "ManualIn", "AutoIn", "AfterCallWork", "AuxWork",
	"NoCallDisconnect", "WalkAway", "ReturnBack"}

// MonitorNextCallType is T-Library TMonitorNextCallType.
type MonitorNextCallType uint8

const (
	MonitorOneCall MonitorNextCallType = iota + 1
	MonitorAllCalls
)

var monitorNames = []string{"OneCall", "AllCalls"}

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
func (v AgentWorkMode) String() string       { return enumString(workModeNames, uint8(v)) }
func (v MonitorNextCallType) String() string { return enumString(monitorNames, uint8(v)) }
func (v TreatmentType) String() string       { return enumString(treatmentNames, uint8(v)) }

// Int returns the T-Library integer value; -1 when absent.
func (v CallType) Int() int            { return int(v) - 1 }
func (v CallState) Int() int           { return int(v) - 1 }
func (v DNRole) Int() int              { return int(v) - 1 }
func (v AgentWorkMode) Int() int       { return int(v) - 1 }
func (v MonitorNextCallType) Int() int { return int(v) - 1 }
func (v TreatmentType) Int() int       { return int(v) - 1 }

// Parse functions accept the T-Library name (as written on the wire).

func ParseCallType(s string) (CallType, bool) {
	v, ok := enumParse(callTypeNames, s)
	return CallType(v), ok
}
func ParseCallState(s string) (CallState, bool) {
	v, ok := enumParse(callStateNames, s)
	return CallState(v), ok
}
func ParseDNRole(s string) (DNRole, bool) {
	v, ok := enumParse(dnRoleNames, s)
	return DNRole(v), ok
}
func ParseAgentWorkMode(s string) (AgentWorkMode, bool) {
	v, ok := enumParse(workModeNames, s)
	return AgentWorkMode(v), ok
}
func ParseMonitorNextCallType(s string) (MonitorNextCallType, bool) {
	v, ok := enumParse(monitorNames, s)
	return MonitorNextCallType(v), ok
}
func ParseTreatmentType(s string) (TreatmentType, bool) {
	v, ok := enumParse(treatmentNames, s)
	return TreatmentType(v), ok
}

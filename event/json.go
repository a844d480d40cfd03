package event

import (
	"errors"
	"strconv"
)

// The encoding/json interfaces, so that a consumer that embeds these types
// in its own structs gets the encoding of AppendJSON and the decoding of
// Unmarshal. json.Marshal(ev) gives the same bytes as Marshal(&ev).

// MarshalJSON implements json.Marshaler with AppendJSON.
func (e Event) MarshalJSON() ([]byte, error) { return Marshal(&e), nil }

// UnmarshalJSON implements json.Unmarshaler with Unmarshal; null leaves e
// unchanged.
func (e *Event) UnmarshalJSON(data []byte) error {
	if isJSONNull(data) {
		return nil
	}
	return Unmarshal(data, e)
}

// MarshalJSON writes t as {"seconds":S,"useconds":U}.
func (t Time) MarshalJSON() ([]byte, error) { return t.appendJSON(nil), nil }

// UnmarshalJSON reads {"seconds":S,"useconds":U}; null leaves t unchanged.
func (t *Time) UnmarshalJSON(data []byte) error {
	d := decoder{s: string(data)}
	d.ws()
	if err := d.timeField(t); err != nil {
		return err
	}
	return d.end()
}

// MarshalJSON writes kv as a JSON object in list order; an empty KV is {}.
func (kv KV) MarshalJSON() ([]byte, error) { return kv.appendJSON(nil), nil }

// UnmarshalJSON reads a JSON object as Unmarshal reads UserData: string,
// integer and object values; true and false become strings; a null member is
// dropped; arrays and fractional numbers are refused (ErrBadValue). null
// leaves kv unchanged; {} gives a nil KV.
func (kv *KV) UnmarshalJSON(data []byte) error {
	d := decoder{s: string(data)}
	if err := d.kvField("KV", kv); err != nil {
		return err
	}
	return d.end()
}

var errNoName = errors.New("event: enumeration value has no name")

func marshalEnum(v uint8, names []string) ([]byte, error) {
	if v == 0 {
		return []byte("null"), nil
	}
	s := enumString(names, v)
	if s == "" {
		return nil, errNoName
	}
	return []byte(strconv.Quote(s)), nil
}

func unmarshalEnum(data []byte, field string, p *uint8, names []string, index map[string]uint8) error {
	d := decoder{s: string(data)}
	d.ws()
	if err := d.enumField(field, p, names, index); err != nil {
		return err
	}
	return d.end()
}

func isJSONNull(data []byte) bool {
	d := decoder{s: string(data)}
	d.ws()
	if null, err := d.isNull(); !null || err != nil {
		return false
	}
	return d.end() == nil
}

// MarshalJSON writes the T-Library name; the zero (absent) value is null.
// A value without a name is an error.
func (v CallType) MarshalJSON() ([]byte, error) { return marshalEnum(uint8(v), callTypeNames) }

// MarshalJSON writes the T-Library name; the zero (absent) value is null.
// A value without a name is an error.
func (v CallState) MarshalJSON() ([]byte, error) { return marshalEnum(uint8(v), callStateNames) }

// MarshalJSON writes the T-Library name; the zero (absent) value is null.
// A value without a name is an error.
func (v DNRole) MarshalJSON() ([]byte, error) { return marshalEnum(uint8(v), dnRoleNames) }

// MarshalJSON writes the T-Library name; the zero (absent) value is null.
// A value without a name is an error.
func (v AgentWorkMode) MarshalJSON() ([]byte, error) { return marshalEnum(uint8(v), workModeNamesAll) }

// MarshalJSON writes the T-Library name; the zero (absent) value is null.
// A value without a name is an error.
func (v MonitorNextCallType) MarshalJSON() ([]byte, error) {
	return marshalEnum(uint8(v), monitorNames)
}

// MarshalJSON writes the T-Library name; the zero (absent) value is null.
// A value without a name is an error.
func (v TreatmentType) MarshalJSON() ([]byte, error) { return marshalEnum(uint8(v), treatmentNames) }

// MarshalJSON writes the event name; the zero (absent) Name is null. A
// value without a name is an error.
func (n Name) MarshalJSON() ([]byte, error) {
	if n == 0 {
		return []byte("null"), nil
	}
	s := n.String()
	if s == "" {
		return nil, errNoName
	}
	return []byte(strconv.Quote(s)), nil
}

// UnmarshalJSON reads the name or the T-Library integer; null leaves v
// unchanged. An unknown name or integer is an error (ErrBadValue).
func (v *CallType) UnmarshalJSON(data []byte) error {
	return unmarshalEnum(data, "CallType", (*uint8)(v), callTypeNames, callTypeIndex)
}

// UnmarshalJSON reads the name or the T-Library integer; null leaves v
// unchanged. An unknown name or integer is an error (ErrBadValue).
func (v *CallState) UnmarshalJSON(data []byte) error {
	return unmarshalEnum(data, "CallState", (*uint8)(v), callStateNames, callStateIndex)
}

// UnmarshalJSON reads the name or the T-Library integer; null leaves v
// unchanged. An unknown name or integer is an error (ErrBadValue).
func (v *DNRole) UnmarshalJSON(data []byte) error {
	return unmarshalEnum(data, "DNRole", (*uint8)(v), dnRoleNames, dnRoleIndex)
}

// UnmarshalJSON reads the name or the T-Library integer; null leaves v
// unchanged. An unknown name or integer is an error (ErrBadValue). Without
// an event to tell, 2 reads as WorkModeAutoIn and "LegalGuard" as
// WorkModeLegalGuard (see AgentWorkMode).
func (v *AgentWorkMode) UnmarshalJSON(data []byte) error {
	return unmarshalEnum(data, "AgentWorkMode", (*uint8)(v), workModeNames, workModeIndex)
}

// UnmarshalJSON reads the name or the T-Library integer; null leaves v
// unchanged. An unknown name or integer is an error (ErrBadValue).
func (v *MonitorNextCallType) UnmarshalJSON(data []byte) error {
	return unmarshalEnum(data, "MonitorNextCallType", (*uint8)(v), monitorNames, monitorIndex)
}

// UnmarshalJSON reads the name or the T-Library integer; null leaves v
// unchanged. An unknown name or integer is an error (ErrBadValue).
func (v *TreatmentType) UnmarshalJSON(data []byte) error {
	return unmarshalEnum(data, "TreatmentType", (*uint8)(v), treatmentNames, treatmentIndex)
}

// UnmarshalJSON reads an event name; null leaves n unchanged. An unknown
// name gives the zero Name without error, as Unmarshal does (consumers
// ignore events they do not know); a value that is not a string is an error.
func (n *Name) UnmarshalJSON(data []byte) error {
	d := decoder{s: string(data)}
	d.ws()
	if err := d.name(n); err != nil {
		return err
	}
	return d.end()
}

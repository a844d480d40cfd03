package event

import (
	"strconv"
	"unicode/utf8"
)

// This file is the encoder: a hand-written append-style writer of the record
// value of EVENTS.md section 2. The rules it follows are in doc.go.

// Marshal returns the JSON record value of e (see AppendJSON).
func Marshal(e *Event) []byte {
	return e.AppendJSON(make([]byte, 0, 512))
}

// AppendJSON appends the JSON record value of e to b and returns the extended
// buffer. Fields are written in the order Event declares them; a field at
// its zero value is omitted. It does not validate e (see Validate): an
// enumeration value outside its type's range is written as its integer, and
// the output is always well-formed JSON. It allocates only to grow b.
func (e *Event) AppendJSON(b []byte) []byte {
	// Every member is written as `,"name":value`; the first comma is then
	// replaced by the opening brace.
	start := len(b)
	if e.ID != 0 {
		if s := e.ID.String(); s != "" {
			b = append(b, `,"id":"`...)
			b = append(b, s...) // event names need no escaping
			b = append(b, '"')
		}
	}
	b = appendStrField(b, `,"Server":`, e.Server)
	if !e.Time.IsZero() {
		b = append(b, `,"time":`...)
		b = e.Time.appendJSON(b)
	}
	b = appendStrField(b, `,"CustomerID":`, e.CustomerID)
	b = appendIntField(b, `,"Seq":`, e.Seq)
	b = appendIntField(b, `,"SchemaVersion":`, int64(e.SchemaVersion))

	b = appendStrField(b, `,"CallThreadID":`, e.CallThreadID)
	b = appendStrField(b, `,"ConnID":`, e.ConnID)
	b = appendStrField(b, `,"PreviousConnID":`, e.PreviousConnID)
	b = appendStrField(b, `,"TransferConnID":`, e.TransferConnID)
	b = appendIntField(b, `,"CallID":`, e.CallID)
	b = appendEnumField(b, `,"CallType":`, uint8(e.CallType), callTypeNames)
	b = appendEnumField(b, `,"CallState":`, uint8(e.CallState), callStateNames)
	b = appendStrField(b, `,"ThisDN":`, e.ThisDN)
	b = appendEnumField(b, `,"ThisDNRole":`, uint8(e.ThisDNRole), dnRoleNames)
	b = appendStrField(b, `,"OtherDN":`, e.OtherDN)
	b = appendEnumField(b, `,"OtherDNRole":`, uint8(e.OtherDNRole), dnRoleNames)
	b = appendStrField(b, `,"ThirdPartyDN":`, e.ThirdPartyDN)
	b = appendEnumField(b, `,"ThirdPartyDNRole":`, uint8(e.ThirdPartyDNRole), dnRoleNames)
	b = appendStrField(b, `,"ThisQueue":`, e.ThisQueue)
	b = appendStrField(b, `,"OtherQueue":`, e.OtherQueue)
	b = appendStrField(b, `,"ThirdPartyQueue":`, e.ThirdPartyQueue)
	b = appendStrField(b, `,"ThisTrunk":`, e.ThisTrunk)
	b = appendStrField(b, `,"OtherTrunk":`, e.OtherTrunk)
	b = appendStrField(b, `,"ANI":`, e.ANI)
	b = appendStrField(b, `,"DNIS":`, e.DNIS)
	b = appendKVField(b, `,"UserData":`, e.UserData)
	b = appendKVField(b, `,"CallHistory":`, e.CallHistory)
	b = appendStrField(b, `,"NetworkCallID":`, e.NetworkCallID)
	b = appendStrField(b, `,"NetworkNodeID":`, e.NetworkNodeID)
	b = appendEnumField(b, `,"Cause":`, uint8(e.Cause), callStateNames)

	b = appendStrField(b, `,"AgentID":`, e.AgentID)
	b = appendEnumField(b, `,"AgentWorkMode":`, uint8(wireWorkMode(e.ID, e.AgentWorkMode)), workModeNamesAll)
	b = appendKVField(b, `,"Reasons":`, e.Reasons)
	b = appendKVField(b, `,"Extensions":`, e.Extensions)
	b = appendIntField(b, `,"ReferenceID":`, e.ReferenceID)
	b = appendEnumField(b, `,"MonitorNextCallType":`, uint8(e.MonitorNextCallType), monitorNames)
	b = appendEnumField(b, `,"TreatmentType":`, uint8(e.TreatmentType), treatmentNames)
	b = appendKVField(b, `,"TreatmentParms":`, e.TreatmentParms)
	b = appendStrField(b, `,"CollectedDigits":`, e.CollectedDigits)
	b = appendStrField(b, `,"LastCollectedDigit":`, e.LastCollectedDigit)
	b = appendIntField(b, `,"ErrorCode":`, e.ErrorCode)
	b = appendStrField(b, `,"ErrorMessage":`, e.ErrorMessage)
	b = appendStrField(b, `,"InfoStatus":`, e.InfoStatus)

	if len(b) == start {
		return append(b, '{', '}')
	}
	b[start] = '{'
	return append(b, '}')
}

func appendStrField(b []byte, name string, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, name...)
	return appendString(b, v)
}

func appendIntField(b []byte, name string, v int64) []byte {
	if v == 0 {
		return b
	}
	b = append(b, name...)
	return strconv.AppendInt(b, v, 10)
}

func appendEnumField(b []byte, name string, v uint8, names []string) []byte {
	if v == 0 {
		return b
	}
	b = append(b, name...)
	return appendEnum(b, v, names)
}

// appendEnum writes a present enumeration value as its quoted name, or as its
// T-Library integer when it has no name (out of range: Validate rejects it).
func appendEnum(b []byte, v uint8, names []string) []byte {
	if s := enumString(names, v); s != "" {
		b = append(b, '"')
		b = append(b, s...) // enumeration names need no escaping
		return append(b, '"')
	}
	return strconv.AppendInt(b, int64(v)-1, 10)
}

func appendKVField(b []byte, name string, kv KV) []byte {
	if len(kv) == 0 {
		return b
	}
	b = append(b, name...)
	return kv.appendJSON(b)
}

// appendJSON writes kv as a JSON object, members in list order (duplicate
// keys included). An empty KV is written {}.
func (kv KV) appendJSON(b []byte) []byte {
	if len(kv) == 0 {
		return append(b, '{', '}')
	}
	for i := range kv {
		p := &kv[i]
		if i == 0 {
			b = append(b, '{')
		} else {
			b = append(b, ',')
		}
		b = appendString(b, p.Key)
		b = append(b, ':')
		switch p.Kind {
		case KindInt:
			b = strconv.AppendInt(b, p.Int, 10)
		case KindList:
			b = p.List.appendJSON(b)
		default: // KindString, and any unknown kind
			b = appendString(b, p.Str)
		}
	}
	return append(b, '}')
}

func (t Time) appendJSON(b []byte) []byte {
	b = append(b, `{"seconds":`...)
	b = strconv.AppendInt(b, t.Seconds, 10)
	b = append(b, `,"useconds":`...)
	b = strconv.AppendInt(b, int64(t.USeconds), 10)
	return append(b, '}')
}

// safe[c] is true for ASCII bytes written as they are inside a JSON string.
// It is encoding/json's default (HTML-safe) set: control characters, '"',
// '\\', '<', '>' and '&' are escaped, so that json.Marshal of an Event gives
// the same bytes as Marshal.
var safe = func() (s [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		s[c] = true
	}
	s['"'], s['\\'], s['<'], s['>'], s['&'] = false, false, false, false, false
	return s
}()

const hexDigits = "0123456789abcdef"

// appendString writes s as a quoted JSON string exactly as encoding/json
// does: \" \\ \b \f \n \r \t short escapes, other control characters and <, >, &
// as \u00XX, U+2028 and U+2029 escaped, and each byte of invalid UTF-8 as
// \ufffd.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if safe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

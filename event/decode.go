package event

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// This file is the decoder: a hand-written scanner for the record value of
// EVENTS.md section 2. The rules it follows are in doc.go.

// Decoding errors. Every error Unmarshal returns wraps one of these.
var (
	// ErrSyntax: the input is not one well-formed JSON object.
	ErrSyntax = errors.New("event: invalid JSON")
	// ErrBadValue: well-formed JSON, but a field's value is not one the
	// contract allows (wrong JSON type, unknown enumeration name or integer,
	// a number that is not an integer, an array or a fractional number in a
	// key-value list, useconds out of range). Validate also wraps it for
	// present fields with bad values.
	ErrBadValue = errors.New("event: bad field value")
)

// maxDepth bounds the nesting of objects and arrays the decoder accepts
// (key-value lists within key-value lists, unknown fields' values).
const maxDepth = 100

// Unmarshal decodes one record value into e, which it first resets to the
// zero Event. It accepts what AppendJSON writes and, beyond that: enumeration
// values as T-Library integers, fields in any order, unknown fields (ignored,
// their values only checked to be well-formed JSON), null as "absent", an
// unknown event name (ID stays zero: consumers must ignore events they do not
// know, and can test ID == 0), integral numbers in any notation (30.0, 3e1),
// and in key-value lists true and false as the strings "true" and "false"
// and null members as absent. It refuses (ErrBadValue) arrays and
// fractional numbers in key-value lists, unknown enumeration names and
// integers, and values of the wrong JSON type. Field names are
// case-sensitive. A duplicate field takes its last value. Decoded strings
// are valid UTF-8: each byte of invalid UTF-8 and each unpaired surrogate
// escape becomes U+FFFD, as encoding/json does.
//
// Decoded strings share one copy of data; data itself is not retained.
func Unmarshal(data []byte, e *Event) error {
	*e = Event{}
	d := decoder{s: string(data)}
	err := d.event(e)
	// The work mode's value 2 is LegalGuard or AutoIn by event, and the id
	// may come after it.
	e.AgentWorkMode = wireWorkMode(e.ID, e.AgentWorkMode)
	return err
}

type decoder struct {
	s string
	i int
}

func (d *decoder) syntax(msg string) error {
	return fmt.Errorf("%w: offset %d: %s", ErrSyntax, d.i, msg)
}

func (d *decoder) unexpected(what string) error {
	if d.i >= len(d.s) {
		return d.syntax("unexpected end of input, want " + what)
	}
	return d.syntax(fmt.Sprintf("unexpected %q, want %s", d.s[d.i], what))
}

// wrongType reports a value of the wrong JSON type for field, or a syntax
// error if no JSON value starts here.
func (d *decoder) wrongType(field, want string) error {
	t := jsonType(d.peek())
	if t == "" {
		return d.unexpected("a value")
	}
	return badValue(field, "want "+want+", got "+t)
}

func badValue(field, msg string) error {
	return fmt.Errorf("%w: %s: %s", ErrBadValue, field, msg)
}

func (d *decoder) ws() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// peek returns the next byte, or 0 at the end of input.
func (d *decoder) peek() byte {
	if d.i < len(d.s) {
		return d.s[d.i]
	}
	return 0
}

func (d *decoder) expect(c byte) error {
	if d.i < len(d.s) && d.s[d.i] == c {
		d.i++
		return nil
	}
	return d.unexpected(strconv.QuoteRune(rune(c)))
}

// literal consumes one of true, false, null.
func (d *decoder) literal(lit string) error {
	if len(d.s)-d.i >= len(lit) && d.s[d.i:d.i+len(lit)] == lit {
		d.i += len(lit)
		return nil
	}
	return d.unexpected(lit)
}

// isNull consumes a null if one is next.
func (d *decoder) isNull() (bool, error) {
	if d.peek() != 'n' {
		return false, nil
	}
	return true, d.literal("null")
}

// jsonType names the JSON type starting with c, for error messages.
func jsonType(c byte) string {
	switch {
	case c == '"':
		return "a string"
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == '-' || (c >= '0' && c <= '9'):
		return "a number"
	}
	return ""
}

func (d *decoder) event(e *Event) error {
	d.ws()
	if err := d.expect('{'); err != nil {
		return err
	}
	d.ws()
	if d.peek() == '}' {
		d.i++
		return d.end()
	}
	for {
		d.ws()
		if d.peek() != '"' {
			return d.unexpected("a field name")
		}
		key, err := d.str()
		if err != nil {
			return err
		}
		d.ws()
		if err := d.expect(':'); err != nil {
			return err
		}
		d.ws()
		if err := d.field(e, key); err != nil {
			return err
		}
		d.ws()
		switch d.peek() {
		case ',':
			d.i++
		case '}':
			d.i++
			return d.end()
		default:
			return d.unexpected("',' or '}'")
		}
	}
}

// end checks that only white space follows the object.
func (d *decoder) end() error {
	d.ws()
	if d.i != len(d.s) {
		return d.syntax("data after the object")
	}
	return nil
}

// field decodes the value of the member key into e.
func (d *decoder) field(e *Event, key string) error {
	switch key {
	case "id":
		return d.name(&e.ID)
	case "Server":
		return d.strField(key, &e.Server)
	case "time":
		return d.timeField(&e.Time)
	case "CustomerID":
		return d.strField(key, &e.CustomerID)
	case "Seq":
		return d.intField(key, &e.Seq)
	case "SchemaVersion":
		var v int64
		if err := d.intField(key, &v); err != nil {
			return err
		}
		if int64(int(v)) != v {
			return badValue(key, "out of range")
		}
		e.SchemaVersion = int(v)
		return nil
	case "CallThreadID":
		return d.strField(key, &e.CallThreadID)
	case "ConnID":
		return d.strField(key, &e.ConnID)
	case "PreviousConnID":
		return d.strField(key, &e.PreviousConnID)
	case "TransferConnID":
		return d.strField(key, &e.TransferConnID)
	case "CallID":
		return d.intField(key, &e.CallID)
	case "CallType":
		return d.enumField(key, (*uint8)(&e.CallType), callTypeNames, callTypeIndex)
	case "CallState":
		return d.enumField(key, (*uint8)(&e.CallState), callStateNames, callStateIndex)
	case "ThisDN":
		return d.strField(key, &e.ThisDN)
	case "ThisDNRole":
		return d.enumField(key, (*uint8)(&e.ThisDNRole), dnRoleNames, dnRoleIndex)
	case "OtherDN":
		return d.strField(key, &e.OtherDN)
	case "OtherDNRole":
		return d.enumField(key, (*uint8)(&e.OtherDNRole), dnRoleNames, dnRoleIndex)
	case "ThirdPartyDN":
		return d.strField(key, &e.ThirdPartyDN)
	case "ThirdPartyDNRole":
		return d.enumField(key, (*uint8)(&e.ThirdPartyDNRole), dnRoleNames, dnRoleIndex)
	case "ThisQueue":
		return d.strField(key, &e.ThisQueue)
	case "OtherQueue":
		return d.strField(key, &e.OtherQueue)
	case "ThirdPartyQueue":
		return d.strField(key, &e.ThirdPartyQueue)
	case "ThisTrunk":
		return d.strField(key, &e.ThisTrunk)
	case "OtherTrunk":
		return d.strField(key, &e.OtherTrunk)
	case "ANI":
		return d.strField(key, &e.ANI)
	case "DNIS":
		return d.strField(key, &e.DNIS)
	case "UserData":
		return d.kvField(key, &e.UserData)
	case "CallHistory":
		return d.kvField(key, &e.CallHistory)
	case "NetworkCallID":
		return d.strField(key, &e.NetworkCallID)
	case "NetworkNodeID":
		return d.strField(key, &e.NetworkNodeID)
	case "Cause":
		return d.enumField(key, (*uint8)(&e.Cause), callStateNames, callStateIndex)
	case "AgentID":
		return d.strField(key, &e.AgentID)
	case "AgentWorkMode":
		return d.enumField(key, (*uint8)(&e.AgentWorkMode), workModeNames, workModeIndex)
	case "Reasons":
		return d.kvField(key, &e.Reasons)
	case "Extensions":
		return d.kvField(key, &e.Extensions)
	case "ReferenceID":
		return d.intField(key, &e.ReferenceID)
	case "MonitorNextCallType":
		return d.enumField(key, (*uint8)(&e.MonitorNextCallType), monitorNames, monitorIndex)
	case "TreatmentType":
		return d.enumField(key, (*uint8)(&e.TreatmentType), treatmentNames, treatmentIndex)
	case "TreatmentParms":
		return d.kvField(key, &e.TreatmentParms)
	case "CollectedDigits":
		return d.strField(key, &e.CollectedDigits)
	case "LastCollectedDigit":
		return d.strField(key, &e.LastCollectedDigit)
	case "ErrorCode":
		return d.intField(key, &e.ErrorCode)
	case "ErrorMessage":
		return d.strField(key, &e.ErrorMessage)
	case "InfoStatus":
		return d.strField(key, &e.InfoStatus)
	}
	return d.skip(0) // unknown field: ignored
}

func (d *decoder) name(p *Name) error {
	if null, err := d.isNull(); null || err != nil {
		return err
	}
	if d.peek() != '"' {
		return d.wrongType("id", "a string")
	}
	s, err := d.str()
	if err != nil {
		return err
	}
	*p = Name(nameIndex[s]) // an unknown name is absent: consumers ignore it
	return nil
}

func (d *decoder) strField(field string, p *string) error {
	if null, err := d.isNull(); null || err != nil {
		return err
	}
	if d.peek() != '"' {
		return d.wrongType(field, "a string")
	}
	s, err := d.str()
	if err != nil {
		return err
	}
	*p = s
	return nil
}

func (d *decoder) intField(field string, p *int64) error {
	if null, err := d.isNull(); null || err != nil {
		return err
	}
	c := d.peek()
	if c != '-' && (c < '0' || c > '9') {
		return d.wrongType(field, "an integer")
	}
	v, err := d.integer(field, "")
	if err != nil {
		return err
	}
	*p = v
	return nil
}

func (d *decoder) enumField(field string, p *uint8, names []string, index map[string]uint8) error {
	if null, err := d.isNull(); null || err != nil {
		return err
	}
	switch c := d.peek(); {
	case c == '"':
		s, err := d.str()
		if err != nil {
			return err
		}
		v, ok := index[s]
		if !ok {
			return badValue(field, "unknown value "+strconv.Quote(s))
		}
		*p = v
		return nil
	case c == '-' || (c >= '0' && c <= '9'):
		i, err := d.integer(field, "")
		if err != nil {
			return err
		}
		v, ok := enumFromInt(names, i)
		if !ok {
			return badValue(field, "unknown value "+strconv.FormatInt(i, 10))
		}
		*p = v
		return nil
	default:
		return d.wrongType(field, "a name or an integer")
	}
}

func (d *decoder) kvField(field string, p *KV) error {
	if null, err := d.isNull(); null || err != nil {
		return err
	}
	if d.peek() != '{' {
		return d.wrongType(field, "an object")
	}
	kv, err := d.kv(field, 1)
	if err != nil {
		return err
	}
	*p = kv
	return nil
}

func (d *decoder) timeField(t *Time) error {
	if null, err := d.isNull(); null || err != nil {
		return err
	}
	if d.peek() != '{' {
		return d.wrongType("time", "an object")
	}
	d.i++
	var v Time
	d.ws()
	if d.peek() == '}' {
		d.i++
		*t = v
		return nil
	}
	for {
		d.ws()
		if d.peek() != '"' {
			return d.unexpected("a member name")
		}
		key, err := d.str()
		if err != nil {
			return err
		}
		d.ws()
		if err := d.expect(':'); err != nil {
			return err
		}
		d.ws()
		switch key {
		case "seconds":
			err = d.intField("time.seconds", &v.Seconds)
		case "useconds":
			var u int64
			if err = d.intField("time.useconds", &u); err == nil {
				if u < 0 || u >= 1_000_000 {
					return badValue("time.useconds", strconv.FormatInt(u, 10)+" is not in [0, 999999]")
				}
				v.USeconds = int32(u)
			}
		default:
			err = d.skip(1)
		}
		if err != nil {
			return err
		}
		d.ws()
		switch d.peek() {
		case ',':
			d.i++
		case '}':
			d.i++
			*t = v
			return nil
		default:
			return d.unexpected("',' or '}'")
		}
	}
}

// kv decodes an object (the next byte is '{') into a KV, keeping member
// order and duplicate keys. An empty object gives a nil KV.
func (d *decoder) kv(field string, depth int) (KV, error) {
	if depth > maxDepth {
		return nil, d.syntax("nesting too deep")
	}
	d.i++ // '{'
	d.ws()
	if d.peek() == '}' {
		d.i++
		return nil, nil
	}
	var stack [8]Pair // most lists are short: one allocation for the result
	ps := stack[:0]
	for {
		d.ws()
		if d.peek() != '"' {
			return nil, d.unexpected("a member name")
		}
		key, err := d.str()
		if err != nil {
			return nil, err
		}
		d.ws()
		if err := d.expect(':'); err != nil {
			return nil, err
		}
		d.ws()
		switch c := d.peek(); {
		case c == '"':
			s, err := d.str()
			if err != nil {
				return nil, err
			}
			ps = append(ps, Pair{Key: key, Kind: KindString, Str: s})
		case c == '{':
			l, err := d.kv(field, depth+1)
			if err != nil {
				return nil, err
			}
			ps = append(ps, Pair{Key: key, Kind: KindList, List: l})
		case c == '-' || (c >= '0' && c <= '9'):
			n, err := d.integer(field, key)
			if err != nil {
				return nil, err
			}
			ps = append(ps, Pair{Key: key, Kind: KindInt, Int: n})
		case c == 't':
			if err := d.literal("true"); err != nil {
				return nil, err
			}
			ps = append(ps, Pair{Key: key, Kind: KindString, Str: "true"})
		case c == 'f':
			if err := d.literal("false"); err != nil {
				return nil, err
			}
			ps = append(ps, Pair{Key: key, Kind: KindString, Str: "false"})
		case c == 'n':
			if err := d.literal("null"); err != nil { // no value: no pair
				return nil, err
			}
		case c == '[':
			return nil, badValue(label(field, key),
				"an array is not allowed (want a string, an integer or an object)")
		default:
			return nil, d.unexpected("a value")
		}
		d.ws()
		switch d.peek() {
		case ',':
			d.i++
		case '}':
			d.i++
			if len(ps) == 0 {
				return nil, nil
			}
			out := make(KV, len(ps))
			copy(out, ps)
			return out, nil
		default:
			return nil, d.unexpected("',' or '}'")
		}
	}
}

// number scans a JSON number and returns its text and whether it is written
// as an integer (no fraction, no exponent).
func (d *decoder) number() (string, bool, error) {
	s, start := d.s, d.i
	i := start
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i++; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		}
	default:
		d.i = i
		return "", false, d.unexpected("a digit")
	}
	isInt := true
	if i < len(s) && s[i] == '.' {
		isInt = false
		i++
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			d.i = i
			return "", false, d.unexpected("a digit")
		}
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		isInt = false
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			d.i = i
			return "", false, d.unexpected("a digit")
		}
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		}
	}
	d.i = i
	return s[start:i], isInt, nil
}

// integer decodes a JSON number whose value is an integer in the int64
// range. A number written with a fraction or an exponent is accepted when
// its value is integral (30.0, 3e1); it is read as a float64.
//
// field names the value in errors; key, if not "", is its key in the
// key-value list field.
func (d *decoder) integer(field, key string) (int64, error) {
	tok, isInt, err := d.number()
	if err != nil {
		return 0, err
	}

	if isInt {
		if len(tok) <= 18 { // fits: no overflow check needed
			neg := tok[0] == '-'
			j := 0
			if neg {
				j = 1
			}
			var v int64
			for ; j < len(tok); j++ {
				v = v*10 + int64(tok[j]-'0')
			}
			if neg {
				v = -v
			}
			return v, nil
		}
		v, err := strconv.ParseInt(tok, 10, 64)
		if err != nil {
			return 0, badValue(label(field, key), tok+" is out of the integer range")
		}
		return v, nil
	}
	f, err := strconv.ParseFloat(tok, 64)
	if err != nil || f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
		return 0, badValue(label(field, key), tok+" is not an integer")
	}
	return int64(f), nil
}

// label names a field, or a key of the key-value list field, in errors.
func label(field, key string) string {
	if key == "" {
		return field
	}
	return field + "[" + strconv.Quote(key) + "]"
}

// skip consumes one well-formed JSON value of any type.
func (d *decoder) skip(depth int) error {
	if depth > maxDepth {
		return d.syntax("nesting too deep")
	}
	switch c := d.peek(); {
	case c == '"':
		_, err := d.str()
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		_, _, err := d.number()
		return err
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	case c == '{':
		d.i++
		d.ws()
		if d.peek() == '}' {
			d.i++
			return nil
		}
		for {
			d.ws()
			if d.peek() != '"' {
				return d.unexpected("a member name")
			}
			if _, err := d.str(); err != nil {
				return err
			}
			d.ws()
			if err := d.expect(':'); err != nil {
				return err
			}
			d.ws()
			if err := d.skip(depth + 1); err != nil {
				return err
			}
			d.ws()
			switch d.peek() {
			case ',':
				d.i++
			case '}':
				d.i++
				return nil
			default:
				return d.unexpected("',' or '}'")
			}
		}
	case c == '[':
		d.i++
		d.ws()
		if d.peek() == ']' {
			d.i++
			return nil
		}
		for {
			d.ws()
			if err := d.skip(depth + 1); err != nil {
				return err
			}
			d.ws()
			switch d.peek() {
			case ',':
				d.i++
			case ']':
				d.i++
				return nil
			default:
				return d.unexpected("',' or ']'")
			}
		}
	}
	return d.unexpected("a value")
}

// str decodes a JSON string (the next byte is '"'). Without escapes or
// invalid UTF-8 the result is a substring of the input: no allocation.
func (d *decoder) str() (string, error) {
	s := d.s
	start := d.i + 1
	i := start
	for i < len(s) && plain[s[i]] {
		i++
	}
	if i < len(s) && s[i] == '"' {
		d.i = i + 1
		return s[start:i], nil
	}
	return d.strSlow(start)
}

// plain[c] is true for the bytes a string's fast path copies as they are:
// ASCII except control characters, '"' and '\\'.
var plain = func() (p [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		p[c] = c != '"' && c != '\\'
	}
	return p
}()

// strSlow decodes a string that has escapes, non-ASCII bytes or errors.
func (d *decoder) strSlow(start int) (string, error) {
	s := d.s
	var buf []byte
	changed := false // buf holds the value, else it is s[start:i]
	last := start    // s[last:i] is not yet in buf
	i := start
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			d.i = i + 1
			if !changed {
				return s[start:i], nil
			}
			buf = append(buf, s[last:i]...)
			return string(buf), nil
		case c < 0x20:
			d.i = i
			return "", d.syntax("control character in string")
		case c == '\\':
			buf = append(buf, s[last:i]...)
			changed = true
			if i+1 >= len(s) {
				d.i = len(s)
				return "", d.syntax("unterminated string")
			}
			switch e := s[i+1]; e {
			case '"', '\\', '/':
				buf = append(buf, e)
				i += 2
			case 'b':
				buf = append(buf, '\b')
				i += 2
			case 'f':
				buf = append(buf, '\f')
				i += 2
			case 'n':
				buf = append(buf, '\n')
				i += 2
			case 'r':
				buf = append(buf, '\r')
				i += 2
			case 't':
				buf = append(buf, '\t')
				i += 2
			case 'u':
				r := hex4(s, i)
				if r < 0 {
					d.i = i
					return "", d.syntax(`bad \u escape`)
				}
				i += 6
				if utf16.IsSurrogate(r) {
					// A valid pair is one rune; anything else is U+FFFD
					// and the next escape is read on its own.
					if r2 := hex4(s, i); r2 >= 0 {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							buf = utf8.AppendRune(buf, dec)
							i += 6
							break
						}
					}
					r = utf8.RuneError
				}
				buf = utf8.AppendRune(buf, r)
			default:
				d.i = i
				return "", d.syntax("bad escape in string")
			}
			last = i
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				buf = append(buf, s[last:i]...)
				buf = append(buf, "\uFFFD"...)
				changed = true
				i++
				last = i
				continue
			}
			i += size
		}
	}
	d.i = len(s)
	return "", d.syntax("unterminated string")
}

// hex4 decodes the escape \uXXXX at s[i:], or returns -1.
func hex4(s string, i int) rune {
	if i+6 > len(s) || s[i] != '\\' || s[i+1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range []byte(s[i+2 : i+6]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// Name-to-value indexes for decoding.
var (
	nameIndex      = indexOf(nameStrings[1:], nil)
	callTypeIndex  = indexOf(callTypeNames, nil)
	callStateIndex = indexOf(callStateNames, schema1Aliases.callState)
	dnRoleIndex    = indexOf(dnRoleNames, nil)
	workModeIndex  = indexOf(workModeNamesAll, nil)
	monitorIndex   = indexOf(monitorNames, schema1Aliases.monitor)
	treatmentIndex = indexOf(treatmentNames, nil)
)

// indexOf maps each name, and each alias, to its value.
func indexOf(names []string, aliases map[string]uint8) map[string]uint8 {
	m := make(map[string]uint8, len(names)+len(aliases))
	for i, n := range names {
		if n != "" {
			m[n] = uint8(i + 1)
		}
	}
	for n, v := range aliases {
		m[n] = v
	}
	return m
}

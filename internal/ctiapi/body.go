package ctiapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/engine"
)

// MaxBody is the largest request body accepted (CTI-API.md: 64 KiB).
const MaxBody = 64 << 10

// Common are the fields every request body may carry (CTI-API.md
// conventions), copied to the events the request causes.
type Common struct {
	// ReferenceID is echoed as ReferenceID on the events; a positive integer.
	ReferenceID *int64 `json:"referenceId,omitempty" minimum:"1" doc:"echoed as ReferenceID on the events the request causes"`
	// Reasons are copied to Reasons: an object of string, integer or
	// nested-object values.
	Reasons KV `json:"reasons,omitempty" doc:"copied to Reasons on the events"`
	// Extensions are copied to Extensions, like Reasons.
	Extensions KV `json:"extensions,omitempty" doc:"copied to Extensions on the events"`
}

func (c *Common) request() (engine.Request, error) {
	var r engine.Request
	if c.ReferenceID != nil {
		if *c.ReferenceID <= 0 {
			return r, apiErr(CodeInvalid, "referenceId must be a positive integer, not %d", *c.ReferenceID)
		}
		r.ReferenceID = *c.ReferenceID
	}
	r.Reasons, r.Extensions = event.KV(c.Reasons), event.KV(c.Extensions)
	return r, nil
}

// KV is a T-Library key-value list in a request body: a JSON object whose
// values are strings, integers or nested objects, in the order given.
type KV event.KV

// kvError is a KV decoding error; it names the member at fault.
type kvError struct{ msg string }

func (e *kvError) Error() string { return e.msg }

const maxKVDepth = 16

// UnmarshalJSON reads a JSON object, keeping the order of its members.
func (kv *KV) UnmarshalJSON(data []byte) error {
	if string(bytes.TrimSpace(data)) == "null" {
		return nil // like an absent field
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	out, err := readKV(dec, "", 0)
	if err != nil {
		return err
	}
	*kv = KV(out)
	return nil
}

// MarshalJSON writes the list as a JSON object (for the OpenAPI examples).
func (kv KV) MarshalJSON() ([]byte, error) { return event.KV(kv).MarshalJSON() }

func readKV(dec *json.Decoder, path string, depth int) (event.KV, error) {
	if depth > maxKVDepth {
		return nil, &kvError{fmt.Sprintf("%s: nested more than %d levels", path, maxKVDepth)}
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		where := "value"
		if path != "" {
			where = strconv.Quote(path)
		}
		return nil, &kvError{fmt.Sprintf("%s must be an object of string, integer or object values", where)}
	}
	kv := event.KV{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key := tok.(string)
		p := key
		if path != "" {
			p = path + "." + key
		}
		if key == "" {
			return nil, &kvError{fmt.Sprintf("%q: empty key", path)}
		}
		if !dec.More() {
			return nil, &kvError{fmt.Sprintf("%q: missing value", p)}
		}
		// Peek at the value's kind.
		raw := json.RawMessage{}
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		switch c := firstByte(raw); {
		case c == '"':
			var s string
			json.Unmarshal(raw, &s)
			kv = append(kv, event.S(key, s))
		case c == '-' || (c >= '0' && c <= '9'):
			n, err := strconv.ParseInt(string(raw), 10, 64)
			if err != nil {
				return nil, &kvError{fmt.Sprintf("%q: %s is not an integer", p, raw)}
			}
			kv = append(kv, event.I(key, n))
		case c == '{':
			sub := json.NewDecoder(bytes.NewReader(raw))
			sub.UseNumber()
			list, err := readKV(sub, p, depth+1)
			if err != nil {
				return nil, err
			}
			kv = append(kv, event.L(key, list))
		default:
			return nil, &kvError{fmt.Sprintf("%q: %s is not a string, integer or object", p, raw)}
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return nil, err
	}
	return kv, nil
}

func firstByte(b []byte) byte {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// decode reads the request body into dst (a pointer to a body struct) with
// the API's rules: at most MaxBody bytes, one JSON object, no unknown
// fields, no trailing data. An empty body is the empty object.
func decode(w http.ResponseWriter, r *http.Request, dst any) *Error {
	if r.ContentLength > MaxBody {
		return apiErr(CodeTooLarge, "the body is %d bytes; the limit is %d", r.ContentLength, MaxBody)
	}
	body := http.MaxBytesReader(w, r.Body, MaxBody)
	data, err := io.ReadAll(body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return apiErr(CodeTooLarge, "the body is over the limit of %d bytes", MaxBody)
		}
		return apiErr(CodeMalformed, "cannot read the body: %v", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if firstByte(data) != '{' {
		return apiErr(CodeMalformed, "the body must be a JSON object")
	}
	if hasNull(data) {
		return apiErr(CodeWrongType, "null is not a value any field takes: leave the field out")
	}
	dec := json.NewDecoder(bytes.NewReader(integralNumbers(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err, data, dst)
	}
	if _, err := dec.Token(); err != io.EOF {
		return apiErr(CodeMalformed, "unexpected data after the JSON object")
	}
	return nil
}

// hasNull reports whether JSON text has a null literal (outside strings).
func hasNull(data []byte) bool {
	inString, escaped := false, false
	for i, c := range data {
		switch {
		case inString && escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case !inString && c == 'n' && bytes.HasPrefix(data[i:], []byte("null")):
			return true
		}
	}
	return false
}

// integralNumbers rewrites the number literals of JSON text that have a
// fraction or an exponent but an integral value (134.0, 1e3) as plain
// integers, as JSON Schema counts them integers: an integer field takes
// them. Other literals, and everything inside strings, are left alone.
func integralNumbers(data []byte) []byte {
	var out []byte // nil until something changes
	inString, escaped := false, false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			if out != nil {
				out = append(out, c)
			}
			continue
		}
		if c == '"' {
			inString = true
		} else if c == '-' || (c >= '0' && c <= '9') {
			j := i + 1
			for j < len(data) && strings.IndexByte("0123456789.eE+-", data[j]) >= 0 {
				j++
			}
			lit := data[i:j]
			if bytes.ContainsAny(lit, ".eE") {
				if n, ok := integral(lit); ok {
					if out == nil {
						out = append([]byte(nil), data[:i]...)
					}
					out = strconv.AppendInt(out, n, 10)
					i = j - 1
					continue
				}
			}
			if out != nil {
				out = append(out, lit...)
			}
			i = j - 1
			continue
		}
		if out != nil {
			out = append(out, c)
		}
	}
	if out == nil {
		return data
	}
	return out
}

// integral is the value of a number literal with a fraction or an
// exponent when that value is a whole number within int64, read exactly
// (9007199254740993.0 is not rounded to a float64 first).
func integral(lit []byte) (int64, bool) {
	if len(lit) > 64 { // no int64 needs more digits; bounds the exponent's work too
		return 0, false
	}
	f, ok := new(big.Float).SetPrec(256).SetString(string(lit))
	if !ok || !f.IsInt() {
		return 0, false
	}
	n, acc := f.Int64()
	return n, acc == big.Exact
}

// decodeError turns the error of decoding data into dst into the API's.
func decodeError(err error, data []byte, dst any) *Error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var ke *kvError
	switch {
	case errors.As(err, &se):
		return apiErr(CodeMalformed, "the body is not valid JSON: %v", strings.TrimPrefix(se.Error(), "json: "))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return apiErr(CodeMalformed, "the body is not valid JSON: unexpected end")
	case errors.As(err, &te):
		if te.Field == "" {
			return apiErr(CodeMalformed, "the body must be a JSON object")
		}
		return apiErr(CodeWrongType, "field %q: %s is not %s", te.Field, te.Value, jsonType(te.Type.String()))
	case errors.As(err, &ke):
		return apiErr(CodeWrongType, "%s", ke.msg)
	}
	// encoding/json reports an unknown field only as text: which member
	// it was is found again in the body, from dst's fields.
	if name, ok := unknownField(data, reflect.TypeOf(dst)); ok {
		return apiErr(CodeUnknownField, "unknown field %s", strconv.Quote(name))
	}
	return apiErr(CodeMalformed, "the body is not valid: %v", err)
}

// unknownField returns the first member of the JSON object data, in
// document order and nested objects of struct fields included, that no
// field of t (a struct, or a pointer to one) takes, matching names as
// encoding/json does: the exact name, else one equal under case folding.
func unknownField(data []byte, t reflect.Type) (string, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]()) {
		return "", false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return "", false
		}
		ft, ok := jsonField(t, key)
		if !ok {
			return key, true
		}
		if firstByte(raw) == '{' {
			if name, ok := unknownField(raw, ft); ok {
				return name, true
			}
		}
	}
	return "", false
}

// jsonField returns the type of the field of struct t that JSON member
// key sets (embedded structs' fields promoted).
func jsonField(t reflect.Type, key string) (reflect.Type, bool) {
	var fold reflect.Type
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() || f.Anonymous && f.Tag.Get("json") == "" {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-":
			continue
		case name == "":
			name = f.Name
		}
		if name == key {
			return f.Type, true
		}
		if fold == nil && strings.EqualFold(name, key) {
			fold = f.Type
		}
	}
	return fold, fold != nil
}

func jsonType(goType string) string {
	goType = strings.TrimLeft(goType, "*")
	switch {
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "a boolean"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "an integer"
	case strings.HasPrefix(goType, "[]"):
		return "an array of " + strings.TrimPrefix(jsonType(goType[2:]), "a ") + "s"
	}
	return "a " + goType
}

// missing is the error for an absent required field.
func missing(field string) *Error {
	return apiErr(CodeMissingField, "field %q is required", field)
}

// enumValue checks that v is one of allowed; def is used when v is nil
// (def "" means the field is required).
func enumValue(field string, v *string, def string, allowed ...string) (string, *Error) {
	if v == nil {
		if def == "" {
			return "", missing(field)
		}
		return def, nil
	}
	for _, a := range allowed {
		if *v == a {
			return a, nil
		}
	}
	return "", apiErr(CodeBadEnum, "field %q: %q is not one of %s", field, *v, strings.Join(allowed, ", "))
}

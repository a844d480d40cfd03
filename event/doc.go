// Package event is switchboard's wire contract as Go types: the 42 T-Library
// events of spec/EVENTS.md, their enumerations, the JSON codec of section 2,
// the topic and record key of section 1 with the partition Kafka's Java
// client gives a key (Partition: murmur2), the record headers and the
// mandatory-field validation of section 4.
//
// Consumers import this package to decode what switchboard writes to Kafka.
// It owns nothing else: no I/O, no Kafka client, no engine state, no logging;
// it imports only the standard library.
//
// One Go type, Event, carries every event: T-Library events are flat
// attribute lists and the same attribute means the same thing in every event,
// so a field is simply absent (its zero value) where an event does not carry
// it. The zero value of every enumeration type means "absent"; the T-Library
// integer value of a present enumeration is given by its Int method.
//
// # Encoding
//
// Marshal and (*Event).AppendJSON write one record value, a compact UTF-8
// JSON object, and consumers may rely on these rules:
//
//   - Member names are those of EVENTS.md section 2: "id", "Server", "time",
//     "CustomerID", "Seq", "SchemaVersion", then the T-Library attribute
//     names without the Attribute prefix ("CallThreadID", "ConnID", ...),
//     exactly as the Event field names except ID ("id") and Time ("time").
//   - Members appear in the order Event declares its fields (the order of
//     the tables of section 2), with no white space.
//   - A field at its zero value is omitted: never null, never "", never {}.
//     An empty string, a zero integer (Seq, CallID, ReferenceID, ErrorCode,
//     SchemaVersion), an absent enumeration, a zero Time and an empty KV are
//     all absent.
//   - time is {"seconds":S,"useconds":U}.
//   - Enumerations are written as their T-Library names without the type
//     prefix ("Transferred"), spelled exactly as the T-Library headers spell
//     them ("SitInvalidnum", "Pickedup", "MonitorOneCall"); a value that has
//     no name, which Validate rejects, is written as its T-Library integer.
//   - The work mode value 2 is written "LegalGuard" in EventAgentNotReady and
//     "AutoIn" in every other event, whether the Event holds
//     WorkModeLegalGuard or WorkModeAutoIn (EVENTS.md 2.4).
//   - SchemaVersion is what the Event holds (SchemaVersion for what
//     switchboard produces); the schema header of Headers follows it.
//   - A KV (UserData, Reasons, Extensions, TreatmentParms, CallHistory) is an
//     object whose members keep the list's order, duplicates included; a
//     value is a string, an integer or a nested object ({} when empty).
//   - Strings are escaped exactly as encoding/json escapes them: ", \ and
//     control characters, also <, > and &, U+2028 and U+2029, and each byte
//     of invalid UTF-8 becomes \ufffd. So json.Marshal of an Event gives the
//     same bytes as Marshal, and the output is valid JSON for any Event.
//
// The encoder never fails and does not validate; call Validate for that.
//
// # Decoding
//
// Unmarshal reads what the encoder writes and, as section 2 asks, more:
//
//   - Members in any order and with any white space; a duplicate member
//     takes its last value (a KV keeps duplicate keys inside one object).
//   - Unknown members are ignored, whatever their value (it must still be
//     well-formed JSON). Member names are case-sensitive.
//   - An unknown event name in "id" is not an error: the Event decodes with
//     ID zero (Name(0).String() is "") and the rest of its fields, so a
//     consumer ignores events it does not know by testing ID == 0.
//   - Enumerations are read from the name or the T-Library integer
//     ("Held" or 50), and from the spellings schema version 1 wrote where
//     they differ ("SitInvalidNum", "SitNoCircuit", "PickedUp",
//     "DroppedNoAnswer", "OneCall", "AllCalls"); an unknown name or integer
//     is an error. The work mode value 2 ("AutoIn", "LegalGuard" or 2)
//     decodes as WorkModeLegalGuard in EventAgentNotReady and as
//     WorkModeAutoIn elsewhere, so decoding, encoding and decoding again is
//     stable.
//   - null for any member means absent.
//   - Numbers must have integral values in the int64 range; 30, 30.0 and 3e1
//     are all 30, 1.5 is an error.
//   - In a KV, strings, integers and objects are read as such; true and
//     false become the strings "true" and "false" (T-Library key-value lists
//     have no boolean; switchboard writes them as strings); a null member is
//     dropped; an array or a fractional number is an error. An empty object
//     gives a nil KV.
//   - Strings are decoded as encoding/json decodes them; invalid UTF-8 and
//     unpaired surrogate escapes become U+FFFD, so decoded strings are valid
//     UTF-8 and decoding, encoding and decoding again is stable.
//
// Decoding errors wrap ErrSyntax (not one well-formed JSON object) or
// ErrBadValue (a member whose value the contract does not allow), and name
// the member and the input offset where it helps.
//
// Event, Time, KV, Name and the enumeration types implement json.Marshaler
// and json.Unmarshaler with the same rules, so they can be embedded in a
// consumer's own structs. As fields of such structs an absent enumeration or
// Name marshals as null and an empty KV as {} (use omitempty to drop them).
//
// # Validation
//
// (*Event).Validate checks one event against the contract: the common fields
// of section 2.1 (SchemaVersion 2, or 1 for older records), CallThreadID on
// voice-callthread, the mandatory fields of the event's row in section 4
// (see Name.Mandatory) and the value rules those rows state. It treats
// ConnIDs as EVENTS.md 2.2 asks validators to: 16 lowercase hex digits, or
// Voice Microservices' <ConnID>@<metainformation>. It never flags a field a
// row does not list (section 4 lets call events carry roles, trunks, queues,
// ANI, DNIS and CallID where they apply). It returns a *ValidationError listing every problem, each a
// *FieldError wrapping ErrUnknownEvent, ErrMissingField or ErrBadValue and
// naming the event and the field.
package event

// Package event is switchboard's wire contract as Go types: the 42 T-Library
// events of spec/EVENTS.md, their enumerations, the JSON codec of section 2,
// the topic and record key of section 1, the record headers and the
// mandatory-field validation of section 4.
//
// Consumers import this package to decode what switchboard writes to Kafka.
// It owns nothing else: no I/O, no Kafka client, no engine state.
//
// One Go type, Event, carries every event: T-Library events are flat
// attribute lists and the same attribute means the same thing in every event,
// so a field is simply absent (its zero value) where an event does not carry
// it. The zero value of every enumeration type means "absent"; the T-Library
// integer value of a present enumeration is given by its Int method.
package event

// Package verify is the `switchboard verify` subcommand and the stream
// checker behind it: it reads voice-agentstate and voice-callthread from
// the beginning to the end offsets they had when it started (assigned
// partitions, no consumer group, so it never joins the reserved group
// "callthread" and commits nothing) and checks every rule of
// spec/EVENTS.md it can check from outside: each record decodes and passes
// (*event.Event).Validate; topic, key, headers and partition (murmur2) are
// those of section 1; Seq is 1, 2, 3... per (topic, key) in offset order;
// call flows are well formed per call thread (parties consistent, every
// ringing ends, calls and threads end, Dialing before Ringing, consult and
// PartyChanged ConnIDs known, NetworkReached for the dialing originator,
// including a consultation through a trunk (5.15); a monitoring
// supervisor announced by PartyAdded(Observer, Bridged) to the parties
// before its own Ringing and Established, both Bridged (5.14)); agent
// state machines are sane; and, given a
// summary written by `switchboard sim`, the counts match what it did.
// Records of schema version 1 and 2 are both checked (decoders accept both
// spellings, EVENTS.md 2.4), and ConnIDs are opaque identities: the Voice
// Microservices form <ConnID>@<metainformation> is accepted and a call is
// the whole string.
//
// Checker is the pure part (records in, a Report out) so tests feed it
// streams with injected faults; Run adds the Kafka reading. The package
// owns only its flags, its report format and the expectation file format
// (Expect, shared with package sim). It must not produce to Kafka, create
// topics or touch switchboard's state: it is a read-only consumer that works
// against the embedded broker and any Kafka cluster alike.
package verify

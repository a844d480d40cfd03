// Package tail is the `switchboard tail` subcommand: a Kafka consumer that
// prints the events of voice-agentstate and voice-callthread as they arrive,
// one readable line per event or the raw JSON record values, with filters by
// tenant, DN, agent and event name.
//
// It owns its flags (Main parses them; cmd/switchboard only dispatches to
// Main) and its output format. It decodes with package event (records of
// schema version 1 and 2; enumerations are shown with their T-Library
// names, ConnIDs as written, <ConnID>@<metainformation> included) and consumes
// with franz-go without a consumer group, so it never commits offsets and
// never joins the reserved group "callthread". It must not produce, create
// topics or touch any other part of switchboard: it is a pure reader that
// works against the embedded broker and any Kafka cluster alike.
package tail

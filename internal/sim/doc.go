// Package sim is the `switchboard sim` subcommand: a contact-centre day
// simulator. Inbound callers arrive as a Poisson process, agents log in
// and out over the day, answer after a ringing delay, talk, transfer (one
// step or by consultation; a share of transfers goes to an external
// number through the trunk, EVENTS.md 5.15, after which the caller talks
// to the network until it hangs up) and conference at configured rates,
// wrap up and take not-ready breaks; callers abandon after their
// patience; supervisors monitor agents (5.14). Durations are log-normal. Every decision is drawn from
// one math/rand/v2 PCG source seeded by --seed, in simulated-time order,
// so the sequence of intended actions is a function of the seed (and of
// the switch's answers).
//
// Two drivers carry the actions out: HTTP drives a running switchboard
// through the CTI API and the network-side API on the wall clock (and
// counts events on the WebSocket stream); InProcess runs the engine in the
// simulator's goroutine on a virtual clock (engine timers go on the
// simulation's queue), writing events to JSON lines and/or Kafka, so a
// simulated day takes seconds. At the end it writes a summary (package
// verify's Expect) that `switchboard verify --expect` checks the stream
// against.
//
// Calls go either to Config.Targets, ACD queues and routing points (the
// default: the demo tenant's 7000, 7001, 5000 and 5001), where the switch
// picks the agent: the simulator learns it from EventRinging (ThisQueue
// set) through EventSource (InProcess sees every Step's events; HTTP reads
// the tenant's WebSocket stream) and answers after the answer delay; in
// that mode an agent goes NotReady(AfterCallWork) just before leaving a
// call, so the ACD offers nothing during wrap-up. Or, with Config.Direct
// (--direct), to agents directly: the simulator is the ACD and offers each
// call to its longest-ready agent's DN, holding callers itself while none
// is ready. The progress line and Stats count callers the same way in both
// modes: arrived, waiting (queued, ringing or held), answered, abandoned.
//
// The package owns its flags, its YAML configuration and its progress
// output. It must not touch the engine's state except through Step
// (in-process) or the API (HTTP), and never writes to a running server's
// journal or topics other than through its API.
package sim

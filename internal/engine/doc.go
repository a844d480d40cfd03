// Package engine is switchboard's switch core for one tenant: a pure,
// deterministic state machine over the tenant's DNs, agents and (later)
// calls, queues and routing points. It implements the switching logic and
// leaves everything else to its caller: Step takes one command (a CTI
// request, a signal from the network side, a timer firing) and the time it
// happened (unix microseconds, supplied by the caller), and returns either
// the exact wire events of spec/EVENTS.md that the command caused, in
// contract order and with Seq, Time, Server and CustomerID set, together
// with the effects the outside world must carry out (start or cancel a timer,
// later SIP messages), or an *Error with a stable code and nothing changed
// and no events. It does no I/O of any kind: no network, files, goroutines,
// wall clock, logging or global random source, and it imports no Kafka or
// SIP package (a test enforces this); the same commands from the same state
// produce the same events byte for byte, which is what makes golden flow
// files, crash recovery by replay and fast simulation possible. An Engine is
// not safe for concurrent use: one goroutine (internal/runtime) owns it,
// journals and publishes what Step returns, and runs the effects. This
// package must not touch configuration files, the journal, Kafka, SIP or
// HTTP; it receives a validated *config.Tenant and owns only in-memory state.
//
// Idempotency. Requests that set a state (Ready, NotReady, SetDND,
// SetForward, Hook, SetService, MessageWaiting) may be repeated: each
// repetition produces its event again with the new request's ReferenceID,
// Reasons and Extensions, as T-Library servers do. Requests that remove
// something (Logout, CancelForward, CancelMonitoring) are refused with
// CodeConflict when there is nothing to remove, and so is a Login to a queue
// the agent is already logged in to; a Login of a logged-in agent on the same
// DN to further queues produces one EventAgentLogin per new queue.
//
// Ordering within a step: events are produced in the order the contract
// gives; where a step ends monitoring because an agent leaves, the two
// EventMonitoringCancelled come first (while the agent is still logged in,
// so they stay on the agent's key), then the logout events.
package engine

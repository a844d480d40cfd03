// Package engine is switchboard's switch core for one tenant: a pure,
// deterministic state machine over the tenant's DNs, agents and calls
// (and its queues and routing points). It implements the switching
// logic and leaves everything else to its caller: Step takes one command (a CTI
// request, a signal from the network side, a timer firing) and the time it
// happened (unix microseconds, supplied by the caller), and returns either
// the exact wire events of spec/EVENTS.md that the command caused, in
// contract order and with Seq, Time, Server and CustomerID set, together
// with the effects the outside world must carry out (start or cancel a timer,
// later SIP messages), or an *Error with a stable code (and a reason:
// busy, out of service, or the code's own) and nothing changed and no
// events. It does no I/O of any kind: no network, files, goroutines,
// wall clock, logging or global random source, and it imports no Kafka or
// SIP package (a test enforces this); the same commands from the same state
// produce the same events byte for byte, which is what makes golden flow
// files, crash recovery by replay and fast simulation possible. An Engine is
// not safe for concurrent use: one goroutine (internal/tenant) owns it,
// journals and publishes what Step returns, and runs the effects. This
// package must not touch configuration files, the journal, Kafka, SIP or
// HTTP; it receives a validated *config.Tenant and owns only in-memory state.
//
// Idempotency. Requests that set a state (Ready, NotReady, SetDND,
// SetForward, Hook, SetService, MessageWaiting) may be repeated: each
// repetition produces its event again with the new request's ReferenceID,
// Reasons and Extensions, as T-Library servers do. Requests that remove
// something (Logout, CancelForward, CancelMonitoring) are refused with
// CodeConflict when there is nothing to remove. A Login of an agent already
// logged in on the same DN succeeds (EVENTS.md 4.1: Voice Microservices
// allows multiple logins of one DN and agent): one EventAgentLogin per
// queue of the request (or one without a queue) again; the agent's state
// is kept and queues it was not logged in to yet are added. Ready accepts
// ManualIn, AutoIn and ReturnBack; NotReady accepts AuxWork,
// AfterCallWork, WalkAway, NoCallDisconnect and LegalGuard (T-Library
// AgentLegalGuard: AutoIn's value, which EventAgentNotReady spells
// LegalGuard). MonitorNextCall from a supervisor already monitoring (the
// same agent or another) cancels the first request, its
// EventMonitoringCancelled pair first, then starts the new one; a target
// monitored by another supervisor is refused.
//
// Ordering within a step: events are produced in the order the contract
// gives; where a step ends monitoring because an agent leaves, the two
// EventMonitoringCancelled come first (while the agent is still logged in,
// so they stay on the agent's key), then the logout events.
//
// # Calls
//
// A call has a ConnID (ids.go: a seeded bijection of a per-tenant counter,
// so ids never repeat and a released ConnID is told apart from an unknown
// one without remembering it), a CallID (a per-engine counter), a CallType
// and parties in join order, each a DN or an external number (with its
// trunk) with a role and a state: Dialing (the originator waiting for the
// answer), Ringing, Established, Held, Busy (the originator after
// EventDestinationBusy), Bridged (a bridged appearance) or observing (a
// monitoring supervisor). A call that is not a consultation starts a call
// thread (UUIDv7 from the step time and seeded bits); consultations join
// their main call's thread; the thread ends with its last call. Every
// voice-callthread event is keyed and sequenced by its thread and carries
// the call's UserData, and AgentID when an agent is logged in on ThisDN.
//
// Event order. The contract's rule: first the party that acted, then the
// other parties in the order they joined the call, a party joining in the
// step last. Where section 5 is silent this engine decides:
//   - EventOffHook comes right before the Dialing or Established of a DN
//     that had no call and was on hook; EventOnHook comes after every
//     voice-callthread event of the step, for each DN whose last call
//     ended, in the order they left; then EventMonitoringCancelled of
//     OneCall monitoring whose call ended.
//   - On answer: Established for the answering DN (with
//     Extensions.WrapUpTime when it is an agent answering an ACD call that
//     after-call work will follow), then for each party that was waiting
//     (Dialing) in join order; then a monitoring supervisor joins as 5.14
//     lists it (service observing): PartyAdded(OtherDN S, Observer,
//     CallState Bridged) for the monitored party, then the other DN
//     parties in join order; [agent] OffHook(S); Ringing and Established
//     of S (ThisDNRole Observer, CallState Bridged); then EventBridged for
//     the bridged appearances of the DNs that became established.
//   - After a single-step transfer or a completed transfer only the newly
//     ringing party gets Established when it answers (5.7, 5.8): the other
//     party is already established.
//   - A party leaving a call on which two or more conversation parties
//     stay (a monitoring supervisor is not one) gets EventReleased, then
//     every remaining DN party EventPartyDeleted (also when another party
//     removed it: 5.13 says "the same"), a monitoring supervisor included;
//     CallState Conferenced while three or more conversation parties
//     remain, else Ok. So a supervisor leaving a two-party call gives
//     PartyDeleted(OtherDN S) to both parties. With fewer than two left the
//     call ends: the leaving party's EventReleased, then each other party in join
//     order EventAbandoned (if it was ringing) or EventReleased, a
//     monitoring supervisor after the last real party (then its OnHook
//     like any DN's).
//   - Single-step conference: PartyAdded for the requester, then the other
//     DN parties, then Ringing of the new party (joining last).
//   - After-call work: [agent] EventAgentNotReady(AfterCallWork,
//     Extensions.WrapUpTime) immediately before the agent's EventReleased
//     of the ACD call. A bridged appearance's EventReleased comes right
//     after its line's.
//
// CallState values the contract leaves open: Ringing Ok (Forwarded when
// forwarded, Redirected after a redirect); Established, Retrieved and
// Abandoned Ok; Released Ok, Busy (after DestinationBusy), Transferred or
// Conferenced, never Redirected (a ringing party redirected away gets
// EventDiverted). External parties get no events; OtherDN then is the
// number, with OtherTrunk.
//
// Attributes. Voice-callthread events carry beyond their M column, where
// they apply, ThisDNRole and OtherDNRole (the party's and its peer's
// roles), ThisQueue (the queue or routing point the call came through),
// OtherTrunk, ANI, DNIS and CallID, as T-Library servers do and as the
// preamble of EVENTS.md section 4 allows; ThisDNRole of EventRinging is Destination,
// ConferenceMember (a party a single-step conference adds) or Observer (a
// monitoring supervisor). Enumerations are spelled as T-Library spells them
// (schema 2, package event); Reasons.RouteTimeout is the string "true".
//
// Busy. A phone DN refuses a new call when it is out of service, on DND, or
// on any call (ringing, dialing, talking or holding) unless call-waiting is
// configured; bridged appearances do not count. A busy destination of
// MakeCall or a consultation is not a refusal: the call gets
// EventDestinationBusy (5.4) and ends when its originator releases it. A
// busy DNIS of NetworkCall, and a busy destination of a request that moves
// an existing call (Redirect, SingleStepTransfer, SingleStepConference), is
// refused with CodeConflict. Forwarding (unconditional, on busy, on no
// answer, one hop) goes to phone DNs of the tenant; forwarding to an
// external number applies (unconditional, or on busy) to calls a DN makes
// and to consultations, which then leave through the trunk
// (NetworkReached with ThirdPartyDN the forwarding DN), and to inbound
// calls (5.15), which go from trunk to trunk at once: no DN of the tenant
// is on such a call, so it has no event (only NetworkCall's reply). On no
// answer, and for calls a request moves, forwarding to an external number
// is not applied, nor forwarding to a queue.
//
// External consultation and transfer (5.15). InitiateTransfer,
// InitiateConference, SingleStepTransfer, SingleStepConference and
// Redirect take an external number (through the first trunk whose
// prefixes take it and that is in service; when all such trunks are out
// of service, SIP keepalives having failed, the first of them). So does
// MakeCall. A consultation is 5.3 on a Consult call:
// Dialing(Consult), NetworkReached (CallType Consult: the call keeps its
// type), Established when the network answers. Completing it follows 5.8
// and the external party gets no event: it moves to the main call, shown
// as OtherDN with OtherTrunk on the PartyChanged / PartyAdded of the DN
// parties. SingleStepTransfer and Redirect to X: Released(B, Transferred,
// ThirdPartyDN X), PartyChanged(Transferred, OtherDN X, OtherTrunk) for
// each remaining DN party, and X joins being called through its trunk
// with no further event; a caller still waiting (a redirected ringing
// call) gets Established when X answers, DestinationBusy if X is busy. (A
// redirect to an external number is reported as a transfer, as 5.15
// says, not with EventDiverted.) SingleStepConference to X: PartyAdded
// for the DN parties, no Ringing. A call may then have several external
// parties (an inbound call transferred out is a trunk-to-trunk call with
// no DN and no further events): NetworkAnswer, NetworkBusy and
// NetworkRelease name one with Party (by default the one being called,
// for NetworkRelease the first). An external party that is busy or
// hangs up while nobody waits for it leaves the call like a party
// hanging up (PartyDeleted, or the call ends).
// The no-answer timer runs at DNs forwarding on no answer (the DN's
// no-answer-timeout, else the tenant default; none: no timer); if the
// forward destination is busy when it fires, the call keeps ringing.
//
// Refusals (CTI-API.md): an empty ConnID is invalid; an unknown or
// malformed ConnID is not_found; a ConnID that was issued and released is a
// conflict, as are a DN not on the call and every request that does not fit
// the parties' states (answer a call not ringing there, release a call
// ringing there (answer or redirect it), hold a call that is not
// established, complete a transfer with a call that is not a consultation
// the DN made from that call, make a call or retrieve one while another
// call of the DN is active, Hook while the DN is on a call). A DN taken
// out of service (SetService, or its SIP registration ending) leaves its
// calls first, as if it hung up (its bridged appearances are released),
// goes on hook, then gets EventDNOutOfService and its agent is logged out.
// A conference member may transfer its place (single-step or two-step):
// every remaining DN party (a monitoring supervisor too) gets
// EventPartyChanged, the new party joins as a ConferenceMember.
// A single-step conference to a queue or routing point is refused with
// CodeConflict, and so is completing a transfer or conference whose
// consulted party is still waiting at one.
//
// Monitoring: a supervisor (MonitorNextCall) joins as Observer when a call
// of the target DN becomes established, if the supervisor's DN is not busy;
// OneCall monitoring is used by the first call it joins and cancelled when
// the supervisor leaves that call. The supervisor's phone goes off hook
// when it joins (EventOffHook before its Ringing) and on hook when it
// leaves (EventOnHook), like any DN's.
//
// After-call work: a party delivered through a queue (party.queue, set by
// the ACD's distribution) of a logged-in agent starts after-call work when
// it leaves the call: the agent's wrap-up time, else the queue's, else the
// tenant default; untimed, or timed with an acw timer returning the agent
// to Ready.
//
// # Routing points, ACD queues and treatments (acd.go)
//
// A call sent to an acd-queue or a routing point (MakeCall, NetworkCall,
// a consultation, SingleStepTransfer, Redirect, a route, an overflow)
// gets a party of that DN in state Queued or Routing (ThisQueue = the
// DN), shown as Destination; clear turns it into EventAbandoned (ThisDN
// the queue or routing point, CallState Ok) when the caller hangs up, after
// the caller's EventReleased (the ordering rule: the party that acted
// first).
//
// Routing points. Arrival: EventRouteRequest (OtherDN the caller, ANI,
// DNIS; PreviousConnID for a consultation). A built-in strategy decides
// at once, in the same step: EventRouteUsed follows immediately (queue:
// to its queue; skill: the agent available longest with the skill at the
// minimum level, optionally logged in to the strategy's queue, else the
// fallback; time-of-day: the first rule matching the step time in the
// strategy's zone, resolved once in New, else the fallback). When the
// strategy gives nothing usable (no agent and no fallback, a busy phone, a
// full queue) the call waits for a router like at a routing point
// without strategy: the route-timeout and treatment-after timers start.
// RouteCall: EventRouteUsed(ThirdPartyDN the destination, role
// Destination), then the destination's EventRinging (ThisQueue the
// routing point), EventQueued or EventRouteRequest; an external number is
// called through its trunk (EventNetworkReached for a dialing DN). A busy
// phone or a full queue refuses the route (conflict; the call stays). On
// route timeout: EventRouteUsed to the default destination with
// Reasons.RouteTimeout "true" (KV has no boolean; consumers decoding
// JSON true see the same); if the default cannot take the call then, it
// stays and the timer starts again. treatment-after: EventTreatmentRequired
// (ThisQueue the routing point) once, unless a treatment was applied
// (which cancels that timer) or the call left.
//
// ACD queues. Arrival: EventQueued. Calls wait oldest first (a call queued
// again after RONA keeps its place). Distribution goes to the agent
// available longest: logged in to the queue, Ready, in service, not on DND,
// on no call, with the queue's skills; "longest" counts from when the agent
// last became available (Ready after NotReady or after-call work, or idle
// again after a call while Ready). Each queue keeps its available agents
// in a doubly linked list sorted by that moment, updated on every change
// that can affect availability (agent state, login/logout, a party joining
// or leaving the agent's DN, DND, service), so a decision is O(1) in the
// number of agents: the head of the queue's list when a call arrives, or
// the oldest head among the agent's queues when an agent becomes
// available. Offer: EventDiverted(Q, ThirdPartyDN agent DN, CallState Ok),
// EventRinging(agent DN, ThisQueue Q). An agent becoming available while
// calls wait is offered the oldest at the end of the step, after its
// EventAgentReady (or after the EventReleased/EventOnHook that freed it).
// RONA: the agent's no-answer-timeout, else the queue's, else the tenant
// default: EventDiverted(agent DN, ThirdPartyDN Q, Redirected), then the
// RONA policy (5.16; the agent's rona, else the queue's, else the tenant
// default, else not-ready): not-ready gives [agent]
// EventAgentNotReady(AuxWork, Reasons.ReasonCode "NoAnswer"); logout logs
// the agent out with that reason (EventQueueLogout for all but its last
// queue, EventAgentLogout; its monitoring ends first); none leaves the
// agent Ready. Then EventQueued(Q) again, the call keeping its place; it
// is offered at once only if it is the oldest call waiting, otherwise
// (an agent freed by policy none while older calls wait) the end of the
// step offers the oldest first. Queue full (max-size calls waiting and no agent available):
// NetworkCall, SingleStepTransfer, Redirect and RouteCall are refused
// (conflict; nothing changes: the carrier gets busy); MakeCall and
// consultations give EventDialing then EventReleased(caller, CallState
// QueueFull, OtherDN Q) and the call ends (EventDestinationBusy cannot
// carry QueueFull: the contract allows only Busy and Sit* there).
// Overflow: after the queue's overflow wait, EventDiverted(Q, ThirdPartyDN
// the overflow DN, CallState Ok), then that DN's EventQueued,
// EventRouteRequest or EventRinging (ThisQueue Q, with RONA); if it cannot
// take the call then, the call stays and does not overflow again.
// After-call work is as for calls (above): the queue's wrap-up time for parties
// delivered through it (a call routed from a routing point straight to an
// agent counts as delivered through the routing point: the agent's or the
// tenant's wrap-up time applies).
//
// Treatments. ApplyTreatment on a call waiting at a routing point or
// queue: EventTreatmentApplied(ThisDNRole Destination, TreatmentType,
// TreatmentParms). Music, Busy and PlayAnnouncement with DURATION (whole
// seconds; required for PlayAnnouncement) end with EventTreatmentEnd after
// it (a timer); CollectDigits and PlayAnnouncementAndDigits (a prompt, then
// the same collection; no DURATION needed) end when CollectDigits supplies
// the digits (CollectedDigits, LastCollectedDigit), or after their DURATION. Every
// EventTreatmentEnd carries Extensions COMPLETION_STATUS and INTERRUPTED
// with the values of EVENTS.md 2.3: NORMAL when the treatment ran to its
// end (its duration ran out, or the digits were collected), TIMEOUT when
// digit collection timed out, ERROR otherwise; INTERRUPTED is always NO,
// since nothing here is cut short by the caller's keypad or voice (digits
// are taken only by CollectDigits and PlayAnnouncementAndDigits, which they
// complete, and there is no
// speech recognition). Silence, RingBack and Music without DURATION never
// end. A new treatment replaces the running one: one that would have ended
// gets EventTreatmentEnd with COMPLETION_STATUS ERROR first (it neither ran
// to its end nor timed out, and the contract has no other value for "replaced
// by a request"). A call that moves on ends its treatment silently. Unknown types (TreatmentType Unknown), other types
// (IVR, ...) and bad parameters give EventTreatmentNotApplied with
// ErrorCode 1, 2 or 3 and an ErrorMessage; that is a result, not a
// refusal. A queue's configured treatments start when the call is
// queued (after: 0) or after their wait, and repeat every "every".
//
// Snapshot note: the queues' waiting and ready lists and the agents'
// queue links are indexes over plain fields (party.w.qNo, agentState.avail,
// availNo, queues); reindex rebuilds them.
//
// # Adding a request
//
// Each command kind registers itself in its own file, req_<kind>.go
// (dashes as underscores), as franz-go's kfake registers each Kafka
// request: the file holds the type's Kind method (the journal name) and,
// in an init function, a request[C] registration with an adapter calling
// the handler (which lives with its family: agent.go, dn.go, callcmd.go,
// acd.go, signal.go) and the command's golden-file syntax (parse, and
// golden when its golden name is not its Kind). Step's dispatch,
// DecodeCommand, the journal prefixes and the golden parser all come from
// the registrations. So a new request is: its type in command.go, its
// handler, its req_<kind>.go, a golden flow in testdata, and a route in
// internal/ctiapi. TestEveryCommandRegistered fails for a type with a Kind
// method and no registration (or one outside its file),
// TestEveryCommandHasGoldenFlow for a kind no golden file runs, and
// ctiapi's TestEveryCommandHasRoute for a kind without an API route that
// its notRoutes list does not explain. If the simulator sends it over
// HTTP, sim's Request maps it too, and TestRequestMatchesAPIRoutes checks
// that mapping against the route.
package engine

// Package sipfront is switchboard's SIP front end: a registrar and a
// back-to-back user agent on sipgo. sipgo owns SIP transactions and
// dialogs; the engine owns calls. sipfront turns SIP requests and
// responses into engine commands (through each tenant's runtime, so a
// command's events are recorded before sipfront acts on its outcome), and
// the tenant's recorded call events (runtime.Subscribe) back into SIP. It
// must not touch engine state, configuration files, Kafka or HTTP; it keeps
// only SIP state: bindings, dialogs ("legs") and which legs belong to which
// engine call.
//
// # Tenancy
//
// One set of listeners serves every tenant. With one tenant, every request
// belongs to it. With several, a phone's request belongs to the tenant
// whose id is the host of its To URI (REGISTER) or From URI (INVITE), e.g.
// sip:1001@demo; an INVITE whose source address is a trunk's configured
// address belongs to that trunk's tenant.
//
// # Cluster
//
// On a node of a cluster (Config.Cluster, cluster.go) the tenants are
// configured but not served until Attach gives one its runtime (its
// bindings are read from Cluster.Bindings first) and Detach takes it away.
// A request for a tenant another node serves (by the rules above, read
// from the packet before sipgo sees it) is forwarded to that node
// statelessly, RFC 3261 section 16.11: our Via on top (branch a keyed hash
// of the request's top Via and Call-ID, so retransmissions, CANCEL and the
// ACK of a failure get the same one), received and rport set on the next,
// Max-Forwards decremented (0: 483). A response whose top Via is ours loses
// it and goes to the next Via's received:rport. A request with no owner
// known (a handover), or forwarded here by another node while this one
// does not serve its tenant either, is dropped: the client retransmits.
// The owner takes a forwarded request's origin from the received and rport
// the forwarder set only when the packet comes from a peer (Cluster.Peer);
// the origin is what authentication, rate limits, trunk matching and the
// binding's source use. A dialog of an INVITE a peer forwarded over UDP
// (no Record-Route) sends its in-dialog requests (BYE, re-INVITE, UPDATE)
// to that origin, not to the INVITE's source, the forwarder, as a dialog
// without a route set otherwise does (dialog.go; directDialog;
// TestClusterForwardCallReleasedByOwner). Bindings
// are written to Cluster.Bindings instead of
// StateDir. With Cluster.Dialogs, an answered leg's dialog (remote target,
// tags, Call-ID, a CSeq above ours) is kept there until the leg ends; a
// node attaching a tenant reads the dialogs its previous owner left (before
// it serves the tenant, so none is its own), sends each a BYE (Reason:
// SIP;cause=500) once, statelessly, and forgets them: the engine has
// released those calls (RecoveryCommands).
//
// Over TCP, TLS and WebSocket (cluster_stream.go) the node holding the
// phone's connection stays on the path: the stream's read filter cuts
// whole messages out of each connection's bytes, and one for another
// node's tenant goes there over UDP with our Via, a Path on a REGISTER and
// two Record-Routes (one facing the owner over UDP, one facing the phone
// on its transport) on an INVITE or SUBSCRIBE, their URIs carrying a flow
// token (the connection's transport, remote and local address). The owner
// keeps the Path as the contact's flow (and in Cluster.Bindings, so its
// successor has it) and sends requests for the phone over UDP to that node
// with the Path as Route; a request from a peer whose top Routes are ours
// loses them and goes on the connection the token names, with our Via
// (and our Record-Routes if it starts a dialog), or gets 430 Flow Failed.
// Responses with our Via on top go back by the next Via, on the phone's
// connection when its transport is a stream. A request on a stream that
// finds no owner, or its tenant not yet attached here, gets 503 with
// Retry-After (a stream has no retransmissions).
//
// A trunk's registration and keepalive loops run while its tenant is
// served here (from Attach until Detach, which ends its registration).
// A request with Proxy-Authorization naming the sip-user of a trunk that
// takes calls by credentials belongs to that trunk's tenant; the owner
// finds the nonce of the node that challenged it first stale and
// challenges again.
//
// # Transports
//
// UDP and TCP on Config.Listen (TCP elsewhere with Config.TCP), TLS on
// Config.TLS (certificate read at each handshake from what ReloadTLS last
// loaded), and SIP over WebSocket (RFC 7118) through Server.WebSocket, an
// http.Handler that hands the upgraded connection to sipgo. Responses go
// over the connection the request came on (sipgo; over UDP to the source
// port when the Via has rport, RFC 3581). A REGISTER records its contact's
// flow (transport.go): the transport and source address it came from. An
// INVITE to that contact goes over that flow while its connection lasts
// (over UDP always: to the REGISTER's source address), else to the Contact
// URI as it says (RFC 3261). Every dialog sends its in-dialog requests to
// the source address of the INVITE or of its answer over the INVITE's
// transport (sipgo's RewriteContact, which the dialog records of
// dialog.go keep), and puts our Contact of that transport in its messages
// (one sipgo dialog user agent per transport).
// A subscription's NOTIFYs go over its SUBSCRIBE's connection while that
// lasts (notify.go). A trunk address naming a transport (;transport=tcp)
// has its REGISTERs and OPTIONS sent over it by the stream client.
// Tests: the basic call through serve over each transport
// (TestServeSIPTransports); a representative sipp test of each feature
// runs as subtests over UDP, TCP and TLS (overTransports in
// transport_test.go: sipp -t t1 for TCP; this sipp has no TLS, so the
// calling phone's TCP goes through a TLS tunnel and the called phones,
// which sipp cannot serve TLS for, are over TCP): forking
// (TestForkFirstAnswerWins), REFER with its NOTIFYs (TestBlindTransfer),
// 100rel and PRACK (TestReliableRinging), message-summary
// (TestMessageWaiting); TestTrunkKeepalive runs over UDP and TCP.
// At most Config.MaxConns TCP and TLS connections are open at once; more
// are closed as accepted. A double CRLF on a connection is answered with
// a CRLF (RFC 5626 keepalive; sipgo), and a REGISTER asking with keep
// (RFC 6223) is told KeepInterval. A binding registered over TCP, TLS
// or WebSocket with outbound (a Contact with reg-id and +sip.instance;
// the 200 says Require: outbound) ends when its connection closes; any
// other stays until it expires (outbound.go). Each connection holds
// sipgo's read buffer (SetReadBuffer, process-wide: most of a TCP phone's
// memory, and the largest message over WebSocket); the UDP socket reads
// whole datagrams whatever its size (readbuf.go).
//
// On Linux the UDP socket is read and written with raw recvfrom and
// sendto system calls (syscall.RawSyscall6 inside the socket's RawConn
// callbacks, rawudp_linux.go): every datagram sipgo reads and every one
// sent from the socket (sipgo's, the absorber's, a cluster node's
// forwards) goes through fullDatagrams. net's calls enter the runtime's
// syscall state, and the first such call after the process went idle
// wakes the runtime's sysmon thread into 50 ticks of 20 us: at 1,000
// calls/s that was the largest cause of thread sleeps (issue 19). The
// socket is non-blocking, so the raw calls return at once; EAGAIN waits
// in the netpoller as net does, so deadlines, Close (net.ErrClosed) and
// the errors are net's. Elsewhere, and for destinations the raw path
// leaves to net (a zone, an unspecified address), net writes.
//
// # Registrar
//
// REGISTER for a phone DN (extension or acd-position) is authenticated
// with HTTP digest (auth.go: MD5 or SHA-256, as Config.DigestAlgorithms
// offers, qop=auth with nonce counts, or
// no qop; stateless HMAC nonces bound to the source address, valid for
// Config.NonceTTL; a replayed (nonce, nc) is challenged again) against the
// DN's sip-password, else the tenant's default one; the user name is the
// DN. A DN without a password, an unknown DN, a queue and an unknown
// tenant get the same challenge as a phone, and any credentials for them
// 403 like wrong ones: nothing tells which users exist. Failures slow down,
// then block, the source address and the user (Config.AuthSlowAfter,
// AuthBlockAfter, AuthBlockFor). Answers to requests that are not
// authenticated are sent without a transaction (once, never retransmitted)
// and over UDP within a quota per source address (Config.UnauthRate,
// UnauthBurst; against reflection, which a connection's handshake rules
// out). Their To tag starts with a random prefix of the server's: over
// UDP the read filter drops their ACKs by it before sipgo parses them
// (ack.go; a stateless UAS ignores them, RFC 3261 section 8.2.7).
// A request of another version than SIP/2.0 gets 505. A binding lasts
// the Expires asked for, capped at Config.MaxExpires. A DN may have
// several bindings, one per Contact URI (a desk phone and a softphone;
// contacts.go; a device, known by its +sip.instance or its REGISTERs'
// Call-ID, that registers a new Contact moves its binding): at most its
// max-contacts (else the tenant's default, else
// DefaultMaxContacts, 5), a new contact beyond that ending the binding
// that expires first; the 200 lists them all. The DN's first binding sends
// SetService{InService: true} (EventDNBackInService); the end of its last
// (un-registering with Expires 0 or Contact *, or expiry) sends
// SetService{InService: false} (EventDNOutOfService): the DN is out of
// service, so its calls are busy, until it registers again. A DN that
// never registered stays a CTI-only DN: calls to it ring virtually and are
// answered through the API.
//
// Bindings survive a restart when Config.StateDir is set (serve passes
// --data/sip): every change is appended to LogFile there (tenant, DN,
// contact, source address and expiry of the binding, or its end), and
// the appends waiting together share one fsync; StateFile is a snapshot
// (written atomically: a temporary file, fsync, rename, fsync of the
// directory) at start, at stop, and when the log holds more than 1,024
// records and more than twice the bindings, after which the log is
// emptied. A new binding is saved before its SetService{InService:
// true}; an ended one after its SetService{InService: false}: a stop between the two leaves a binding on disk, never a DN
// in service without one. At start, the log is replayed on the snapshot
// (a torn last record is skipped); bindings still valid come back with
// the time they have left and their expiry timers (and the DN is put in
// service if the engine has it out of service); bindings that expired
// while the process was down end then, through the runtime
// (EventDNOutOfService, journaled like any step; none if the engine already
// has the DN out of service). No files is no bindings; an unreadable
// snapshot is logged, kept aside (with the log) as StateFile.bad-<unix
// time> and treated as no
// bindings; bindings of DNs no longer configured as phones are dropped.
// The files are read once, before the socket serves, and written by the
// store's own goroutine (not under the tenant's lock), so a
// registration's fsync does not stall calls.
//
// # Requests to commands
//
//	INVITE from a phone DN      MakeCall{From, To: Request-URI user}, always
//	                            digest-authenticated (407 Proxy-Authenticate, then 403
//	                            for wrong credentials): a source address proves nothing.
//	INVITE from a phone DN to a SetDND{On: true} (*78) or false (*79), SetForward{To:
//	feature code (features.go)  number} (*72<number>), CancelForward (*73) for the DN
//	                            (Config.FeatureCodes, a tenant's feature-codes over them);
//	                            200 then BYE, or the refusal
//	INVITE from a trunk address NetworkCall{Trunk, ANI: From user, DNIS: Request-URI user};
//	                            digest-authenticated (407) too when the trunk has a
//	                            sip-password
//	200 from a called phone     Answer{ConnID, DN} (from a trunk: NetworkAnswer)
//	486/600/603 from a phone    DestinationBusy{ConnID, DN}: Released(DN, Busy) and
//	                            DestinationBusy(A) (5.4), or forwarding on busy, or RONA
//	                            for an ACD call. From a trunk: NetworkBusy.
//	408/480/other failure, or   NoAnswer{ConnID, DN}: at once, forwarding on no answer, or
//	no response at all          RONA, else the call ends (Released, CallState NoAnswer).
//	                            From a trunk: NetworkRelease.
//	CANCEL, BYE                 Release{ConnID, DN} (a trunk leg: NetworkRelease)
//	no ACK for our 200 to an    BYE to the phone, and Release{ConnID, DN} (a trunk leg:
//	INVITE or re-INVITE within  NetworkRelease) at once: the dialog was abandoned
//	Config.AckTimeout (64*T1)   half-way. No BYE of ours waits for its answer to release
//	                            (the release comes first); it gives up after timer F.
//	re-INVITE sendonly/inactive Hold; sendrecv: Retrieve (answered with the other leg's SDP);
//	                            one asking for the state the call is in already (a session
//	                            refresh; engine.ReasonAlready) is answered 200 as well
//	INVITE from a phone DN that InitiateTransfer{ConnID: the held call, To}: a consultation
//	has put a call on hold      (how phones start an attended transfer)
//	REFER                       SingleStepTransfer{To: Refer-To user}; 202
//	REFER with Replaces         CompleteTransfer{ConnID: the REFER's call, ConsultConnID:
//	                            the call of the replaced dialog (Replaces' Call-ID)}, or the
//	                            two swapped when the REFER came on the consultation; 202.
//	                            The 202 is sent before the BYE the transfer causes, and
//	                            so are the NOTIFYs of RFC 3515 (message/sipfrag "SIP/2.0
//	                            100 Trying", then "SIP/2.0 200 OK" ending the
//	                            subscription: the transfer is made when it is accepted)
//	INVITE with Replaces        call pick-up of a ringing phone (Redirect to the caller's DN,
//	(RFC 3891, replaces.go)     then Answer), another device of the same DN taking an answered
//	                            call (no command; old dialog BYE, far party re-INVITEd), or
//	                            another DN taking it over (SingleStepTransfer, then Answer);
//	                            matched by Call-ID and both tags; 481 otherwise, 486 for
//	                            early-only on an answered dialog
//	SUBSCRIBE message-summary   a phone DN's own mailbox (RFC 3842; digest-authenticated,
//	                            another's: 403): 200 and NOTIFYs of the engine's message-
//	                            waiting state, at once and at each EventMessageWaitingOn/Off
//	SUBSCRIBE dialog            a DN of the tenant (RFC 4235, busy-lamp fields): 200 and
//	                            full dialog-info NOTIFYs of its calls in the engine (early,
//	                            confirmed; none when idle; the other party as remote
//	                            identity), at once and after each call
//	                            event of the DN (notify.go); a ringing phone's dialog
//	                            (only) carries its call-id and tags, for a BLF key's
//	                            pick-up (INVITE with Replaces)
//	SUBSCRIBE Event: refer      200, and a NOTIFY with the REFER's last progress ending the
//	in a dialog                 subscription; another event package: 489
//	UPDATE in a dialog          without SDP a session refresh (200); with SDP answered
//	                            like a re-INVITE (hold, retrieve), without the ACK
//	re-INVITE or UPDATE moving  (another address, port or codecs in its c=/m= lines, not
//	the phone's media           a hold): the far party is re-INVITEd with the new SDP
//	                            (anchored and relayed legs excepted: the relay latches)
//	Session-Expires below       422 with Min-SE (Config.MinSE, default 90 s); otherwise the
//	Min-SE (INVITE, UPDATE)     session timer of RFC 4028 (sessiontimer.go): our 200 names
//	                            the refresher (the phone when it asked or supports timer,
//	                            else switchboard); our INVITEs offer Config.SessionExpires
//	                            (30 min; a 422 with a larger Min-SE is retried once with
//	                            it) and the answer decides. Switchboard refreshes at
//	                            half the interval (UPDATE when the phone allows it, else a
//	                            re-INVITE with the same SDP); a session the phone should
//	                            refresh and did not by the interval less min(32 s, a
//	                            third) is ended: BYE (Reason SIP 408) and a Release
//	INVITE with Require: 100rel its 180s are reliable (RFC 3262, prack.go): Require: 100rel,
//	                            RSeq, retransmitted until the PRACK (200; none within
//	                            Config.AckTimeout: 504 and a Release); our INVITEs say
//	                            Supported: 100rel and PRACK reliable 18x answers
//	INVITE requiring another    420 Bad Extension with Unsupported (we support timer,
//	extension                   100rel, replaces)
//
// # Events to SIP
//
//	EventDialing(A)             binds the SIP INVITE from A to the ConnID; a call made
//	                            through the API from a registered A (not a consultation)
//	                            rings A's phone first (placeholder SDP, From the number
//	                            dialled): the destination's INVITE waits for its answer
//	                            and offers its SDP; a refusal or no answer is a Release
//	                            by A (clicktodial.go)
//	EventRinging(B)             180 to a waiting SIP caller; if B is registered, an INVITE
//	                            to each of B's contacts with the caller's SDP, unchanged
//	                            (forking, fork.go: the first 2xx is B's Answer; the other
//	                            devices get CANCEL with Reason: SIP;cause=200;text="Call
//	                            completed elsewhere", and a 2xx of theirs that comes anyway
//	                            ACK and BYE; a refusal counts when every device refused:
//	                            busy if one said busy; a 6xx cancels the others at once)
//	EventNetworkReached(A)      an INVITE to the trunk's address for the external number
//	EventEstablished(A)         200 to A's INVITE with the answering leg's SDP (a CTI-only
//	                            answer gives an inactive placeholder SDP: no media)
//	EventDestinationBusy(A)     486 to A's INVITE, then Release by A (flow 5.4)
//	EventReleased/Abandoned/    BYE to D's leg if answered, else CANCEL (we called) or 487
//	Diverted(D)                 (it called; 486 after Released CallState Busy, 480 after
//	                            NoAnswer); when no DN is left on the call, its external
//	                            legs end too. Diverted covers no-answer forwarding,
//	                            redirect and RONA: the phone stops ringing.
//	                            A transfer (CallState Transferred) does not end the call's
//	                            other legs (the call goes on); to an external number that
//	                            has no leg yet (SingleStepTransfer, Redirect: ThirdPartyDN),
//	                            an INVITE to the trunk's address for it (5.15). Released
//	                            (Transferred or Conferenced) of a consultation moves its
//	                            trunk leg to the main call: the consulted number stays.
//	EventPartyAdded(NewParty X  a single-step conference to an external number: an INVITE
//	with OtherTrunk)            to the trunk's address for it (once per call)
//	EventPartyChanged(C, prev)  after a completed transfer C's leg moves to the kept call
//	EventHeld/Retrieved(D)      requested through the API: a re-INVITE sendonly/sendrecv
//	                            to D's phone (one that the phone asked for is not echoed)
//	any event leaving a call    the far party changed (transfer, pick-up, conference back
//	with two answered legs      to two): each leg not given the other's SDP yet gets a
//	                            re-INVITE sendrecv with it (anchored legs excepted)
//
// Every BYE switchboard sends carries a Reason header (RFC 3326,
// reason.go): Q.850 cause 16 (normal clearing) when the engine released
// the party, SIP cause 200 "Call transferred" on the transferor's legs,
// SIP cause 408 for a 2xx never acknowledged or a session timer that ran
// out. CANCELs are sipgo's and carry none.
//
// The SDP sent on a dialog keeps one o= line (the first SDP's username,
// session id and address) whose version rises at each change (RFC 3264
// section 8), whichever phone the SDP came from; a direction set by
// switchboard (hold answers, re-INVITEs) is one attribute per media section.
//
// A trunk call to a DN that forwards to an external number goes straight
// out (5.15) with no event: when NetworkCall produced none, sipfront reads
// the engine's view of the call and INVITEs the number being called
// through its trunk, and answers the carrier's INVITE itself when that
// number answers (NetworkAnswer again without an event).
//
// A call may have several trunk legs (a trunk call transferred out):
// NetworkAnswer, NetworkBusy and NetworkRelease name the leg's number
// (Party). Such a call has no DN, so no events: when the engine takes a
// trunk leg's NetworkRelease (or NetworkBusy) without an event, sipfront
// ends the call's other legs itself (BYE).
//
// Correlation: a SIP-originated MakeCall is bound to its ConnID by the
// command's reply or by the first EventDialing of that DN to that
// destination, whichever comes first (a DN has one dialing call at a time);
// a trunk call by its reply or by the first inbound EventRinging from that
// trunk and ANI. Subscribers only see recorded events, so every SIP effect
// follows the durable record of what caused it.
//
// # Several devices per DN (contacts.go, fork.go)
//
// A DN's bindings are one per Contact URI, up to its max-contacts; a call
// rings all of them at once (RFC 3261 section 16.7, parallel forking). The
// first 2xx is the DN's Answer; the other devices get CANCEL with
// `Reason: SIP;cause=200;text="Call completed elsewhere"` (RFC 3326; the
// clients' transaction requester, UDP's and the streams', adds the header
// to the CANCEL sipgo builds), and a 2xx of theirs that comes anyway (it crossed the CANCEL)
// is ACKed and BYEd. A refusal counts when every device has refused (busy
// if one said busy); a 6xx cancels the others at once. The engine sees
// one ringing party and one answer. Tests: golden testdata/book/fork.txt;
// sipp with two UAS on one DN, the loser's scenario checking the Reason
// (TestForkFirstAnswerWins, over UDP, TCP and TLS), and one whose 200 crosses the CANCEL
// (TestForkLateAnswer); the whole server's events through check-events
// (TestServeSIPForkToKafka); two real softphones (Debian's baresip) on one
// DN over TLS, one answering, the other checking the CANCEL's Reason
// (TestServeBaresipTLSTwoDevices, with --sip-digest MD5: its libre fails
// on a SHA-256 challenge).
//
// # Carriers (carrier.go)
//
// A trunk may have an account at its carrier (config.CarrierAccount): our
// INVITEs answer the carrier's 401/407 with it, and with register the
// trunk registers to its address (digest; refreshed at three quarters of
// the time granted; retried after Config.TrunkRetry; un-registered at
// Close). Inbound calls are the trunk's by source address (host:port, over
// the transport the address names, if it names one: trunkFor), by digest
// credentials as its sip-user from any address, or both (inbound:); a call
// to the registered contact takes its number from To. Every trunk with an
// address gets OPTIONS every keepalive interval: Config.KeepaliveMisses
// probes unanswered in a row (Config.KeepaliveTimeout each; a 503 is no
// answer) send SetService{DN: trunk, InService: false}
// (EventDNOutOfService), the next answer SetService{InService: true}; the
// engine sends external calls through another trunk that takes the number
// and is in service, if any. Server.TrunkStatus reports both (the CTI API and /metrics show it).
// Tests: sipp registrars that challenge and check the digest (the refresh
// too) or refuse, a sipp carrier that challenges our INVITE, a sipp
// carrier that stops answering OPTIONS, over UDP and TCP
// (TestTrunkKeepalive logs the time to notice: about 0.45 s with 100 ms
// probes, 200 ms timeout, 2 misses).
//
// # Bad input
//
// Requests that lack To, From, Call-ID, CSeq or Via get 400; requests in
// a dialog we do not know (BYE, re-INVITE, REFER, NOTIFY, a CANCEL that
// matches no INVITE) 481; calls to unknown DNs 404 (after
// authentication; from a trunk address, a number that is not a DN of the
// tenant is 404 too: no trunk-to-trunk calls); failed authentication
// 401/407/403; engine refusals map by their reason (engine.Error.Why) in one
// table, sipStatus: not_found 404, busy and out_of_service 486, any other
// conflict 403, invalid 400; runtime failures 503. None of them changes
// engine state. sipgo answers malformed messages itself or drops them.
// FuzzHandlers feeds parsed random messages to every handler.
//
// # Finished transactions (absorb.go)
//
// A non-INVITE request over UDP (BYE, REGISTER, OPTIONS, REFER...) that
// has its final response is kept until Timer J (64*T1) as a compact
// record: its top Via branch, method and source address and the
// response's bytes, swept by one timer armed only while records exist.
// sipgo's transaction ends at once; a retransmission of the request is
// answered with the recorded bytes by the transport's read filter, before
// it is parsed. Answered INVITEs have records too (below).
//
// # ACKs (ack.go)
//
// The ACK of our 2xx has no transaction (RFC 3261 17.1.1.3), yet sipgo
// gives it a server transaction, a goroutine and a full parse like any
// request. Over UDP the read filter takes it first, in the socket's
// reading goroutine, when it is certainly the ACK of a 2xx of ours that
// awaits it (its leg by Call-ID, the established dialog's To and From
// tags, an ACK awaited for its CSeq number), and ends the wait as
// handleAck does (a few map lookups under short locks; nothing waits for
// an engine). Anything else goes to sipgo unchanged: the ACK of a failure
// sent through sipgo's INVITE transaction, which stops resending it
// (Timer G), a second ACK, an ACK with other tags. The ACK of a stateless
// answer (above: the 407 to every phone's first INVITE) is dropped there
// too. In a cluster an ACK for another node's dialog is forwarded before
// the read filter. Over TCP, TLS and WebSocket ACKs go through sipgo as
// before (handleAck, which checks the tags too).
//
// # Dialogs (dialog.go)
//
// A leg keeps sipgo's dialog session (DialogServerSession for a phone's
// INVITE, DialogClientSession for ours) only while its INVITE is answered;
// once the dialog is established (our 2xx sent, or theirs received and
// acknowledged) it keeps a compact record instead (tags, remote target,
// route set, CSeq numbers, transport and destination: RFC 3261 section
// 12), from which BYE, re-INVITE and its ACK, UPDATE and NOTIFY are built
// as sipgo built them, and sent through sipgo's client transactions.
//
// # INVITE transactions after the 2xx (invite.go)
//
// RFC 6026 keeps an INVITE transaction 32 s after its 2xx (timers L and
// M); sipgo's kept the INVITE, the 2xx and (client side) the dialog
// session with it, and does not stop those timers when a transaction is
// terminated. So sipgo's INVITE transactions end before their 2xx: a
// phone's INVITE's server transaction ends when the handler sends our 2xx
// itself (resending it from T1 doubling up to T2 until the ACK, for at
// most AckTimeout), and over UDP the absorber keeps the INVITE's branch,
// source and the 2xx's bytes for Timer L: a retransmitted INVITE gets the
// 2xx again until the ACK and is dropped after, a CANCEL matching it gets
// 200. Our INVITE's client transaction over UDP ends when the read filter
// sees the 2xx coming (by the INVITE's branch), before sipgo parses it;
// sipgo then hands the 2xx, stray, to our handler, which passes it to the
// waiting session through the wrapper that stands in for the transaction.
// A retransmitted 2xx of an established dialog is ACKed again from the
// leg's record (RFC 3261 13.2.2.4). Over TCP, TLS and WebSocket our
// INVITE's client transaction stays sipgo's until Timer M.
//
// # Concurrency
//
// sipgo runs each request's handler on a goroutine of its own; an INVITE's
// handler returns when the INVITE has its final response (sipgo ends the
// transaction when the handler returns). One dispatcher goroutine per
// tenant reads the event subscription and never blocks on the network:
// INVITEs to phones, BYEs and re-INVITEs run on goroutines of their own.
// A tenant's mutex guards its bindings and its book (book.go: calls and
// their legs, each leg in an explicit state: calling, answered, ended,
// gone); the server's guards the Call-ID index. An answered call holds no
// goroutine.
//
// Deciding and sending are apart: under the tenant's lock, the book's
// methods (decide for an event; placed, gone, end, refer... for a
// request's outcome) update the legs and return the SIP actions to take
// (180, a final response, an INVITE, CANCEL, BYE, re-INVITE, a Release for
// the engine); act carries them out once the lock is released. The
// decisions do no I/O, so golden files (testdata/book, TestBookGolden, with
// -rewrite) pin the event-to-SIP table above.
//
// # Media: anchoring callers for their treatments (anchor.go)
//
// A tenant with Media (serve builds it from the tenant's media section)
// anchors its SIP callers: switchboard answers a caller still waiting for
// its answer with its own SDP (one audio stream, PCMU or PCMA in the
// offer's order, telephone-event when offered; an offer with neither
// G.711 law gets 488 and the caller leaves its call) and an
// internal/media session plays to it. The table, decided with the SIP
// table under the lock (decideMedia, golden file testdata/book/media.txt):
//
//	EventQueued, EventRouteRequest  with Media.OnArrival or Always: anchor, play the default
//	                                music (comfort noise without one)
//	EventTreatmentApplied           anchor if not yet, then play: Music the clip of
//	                                MUSIC_DN, else the default music, looped;
//	                                PlayAnnouncement the ANNOUNCEMENT clip once, then
//	                                comfort noise; RingBack, Busy the tone plan's tones;
//	                                Silence comfort noise; CollectDigits (and
//	                                PlayAnnouncementAndDigits) an optional
//	                                ANNOUNCEMENT prompt and a collection ending at
//	                                TOTAL_DIGITS (or MAX_DIGITS), a TERM_DIGITS digit or
//	                                INTER_DIGIT_TIMEOUT seconds (default 5) after the
//	                                last digit, sent as the CollectDigits command
//	EventTreatmentEnd               the default music, or comfort noise
//	EventRinging (an agent)         ringback tone while it rings
//	EventDiverted/Released (agent)  RONA, redirect: the treatment again
//	EventEstablished (an agent)     step out: re-INVITE the caller with the agent's
//	                                SDP (RFC 3725; the agent's phone was offered the
//	                                caller's SDP, as without media), close the session.
//	                                If the caller refuses (488, 491) or does not answer
//	                                in ReinviteTimeout (10 s): re-INVITE the agent's
//	                                leg to a second session and relay RTP between
//	                                the two.
//	                                With Media.Always (anchor: always): no step-out;
//	                                that relay at once, for every party answering
//	                                (a transfer's target too)
//	our INVITE, a direct call       With Media.Always, a call whose SIP caller was not
//	                                anchored for a queue (extension to extension, a
//	                                trunk's call to an extension, a call out through
//	                                a trunk): the INVITE offers a session of ours,
//	                                relayed to a second one whose SDP answers the
//	                                caller when the party answers (relay.go); a party
//	                                INVITEd later for the call gets a new session
//	                                relayed to the caller's; no re-INVITE
//
// With Media.Recording a relayed call (of the queues named) is recorded
// from its first relayed packet (media.Recorder: channel 1 the caller,
// channel 2 the other party; paused time is a gap), its path attached to
// the call's UserData as RecordingPath before that packet (later events
// carry it); Server.Recording pauses, resumes or stops it (the CTI API's
// POST .../recording); the caller's leg ending stops it.
//
// Once a leg's RTP is relayed, switchboard's side of the relay is what
// that leg's phone is offered or answered (peerSDP): a hold or retrieve,
// from the phone or through the API, keeps the relay in the path. The
// sessions latch (symmetric RTP): each sends to where its phone's packets
// come from, so phones behind NAT are reached at the address their NAT
// gave, with switchboard's address (external-ip) and ports (rtp-ports)
// in the SDP. A transfer's target is first offered the caller's SDP, as
// without media, and re-INVITEd to the relay once it answers.
//
// MUSIC_DN, TOTAL_DIGITS and TERM_DIGITS are Genesys's T-Library treatment
// parameter names (TTreatmentType); ANNOUNCEMENT and INTER_DIGIT_TIMEOUT
// are switchboard's. A caller that hangs up while anchored sends BYE: a
// Release, so EventAbandoned. A diverted call keeps its legs (it moves on:
// to an agent, back to its queue after RONA). A tenant without Media is
// served as before: nothing of this runs. Tests: a Go phone (media_test.go)
// checks the exact frames, digits, 488, a step-out re-INVITE never
// answered, abandon, silence after the step-out and the relay, and with
// Always audio both ways through the relay in the configured port range,
// latching past an agent SDP naming another port, hold and retrieve
// keeping the relay, a single-step transfer relayed to its target, and
// direct calls relayed, recorded and freed (relay_test.go); sipp
// (sippmedia_test.go) plays digits from a pcap the test writes, is
// stepped out to an agent phone with -rtp_echo, abandons, refuses the
// re-INVITE (488, and 491 for glare) so that the agent's phone is
// re-INVITEd to relay, and after the step-out is held, retrieved and
// transferred by the agent's phone (REFER), the caller re-INVITEd to the
// target; their events pass check-events.
// A real softphone, Debian's baresip (headless: ALSA's null device, its
// sndfile module dumping what it decodes), calls 7000 and what it heard
// must be the music: its RMS far above the comfort noise's
// (baresip_test.go; fails in CI without baresip, which scripts/test
// installs).
//
// # Figures (BenchmarkSIPLoad, BenchmarkSIPMemoryPerCall; 2 cores, sipp
// UAC and UAS on the same machine)
//
// 2,000 basic calls/s sustained for 20,000 calls with no failed call and
// nothing left over (p99 INVITE-to-200 16-68 ms on a quiet machine; with
// other test suites running on the two cores, p99 up to 0.5 s and in one
// run of several 31 failed calls): this is the edge; at 2,500/s calls
// start to fail or stall. 350-450 us of CPU per call in
// the switchboard process (sipgo transactions, UDP writes, GC). With the
// embedded Kafka broker in the same process (events published and
// acknowledged before SIP acts; SIPLOAD_KAFKA=embedded), 1,500 calls/s
// without a failure in every run (p99 12-24 ms; 550-750 us of CPU per call,
// the broker and publisher included) and 2,000 calls/s in one run of
// three (the others: 55 and 192 failed calls), with load average 3-4 on
// the two cores from other work. Of that CPU, sipfront's own code is under
// 5%: sipgo (parsing, transactions, UDP syscalls), the GC (sipgo kept
// each transaction 32 s after its end, Timer J/L/M, so about 100 MB of
// transactions lived at 1,000 calls/s; these figures predate the compact
// records below) and the in-process broker take the rest. Live heap per
// answered, idle call (both legs and the engine call; BenchmarkSIPMemoryPerCall,
// 2,000 calls held, load average 2-4): 3.7-4.0 KB right after set-up and
// 3.7-3.8 KB 32 s later, where sipgo's INVITE transactions made it
// 16.5-16.8 KB for the first 32 s (each call then had two 32 s timers,
// L and M, and now none); earlier, with the dialog records but before
// the INVITE transactions ended with the exchange, after their timers:
// 3.8-3.9 KB
// (load average 12-62; 4.1 KB with 1,000 calls held at load average 120,
// where the same benchmark before the dialog records gave 15.9 KB; 15.7 and
// 16.3 KB with 2,000: sipgo's dialog sessions, each keeping its leg's
// parsed INVITE, response, ACK and INVITE transaction, were about 11 KB
// of it). Of the
// rest, per call: two legs (416 bytes each), two dialog records (128
// bytes each and their strings), the engine's call (about 550 bytes),
// sipfront's call and its DN set, the SDPs, the session timers, and up to
// 800 bytes of goroutine descriptors the runtime keeps after the set-up's
// peak (more when the machine is loaded); no goroutine per answered
// call.
//
// Since finished non-INVITE transactions are compact records (above) and
// digest headers are parsed and formatted without the digest package's
// allocations, `switchboard bench --peer kamailio --sip-only --sip-rate
// 1000 --duration 5s --bindings 10000 --idle 20s` (2 cores shared with
// other work, load average 14-47) measured 0.52-0.84 ms of serve's CPU per
// call against Kamailio's 0.23-0.27 in the same runs (2.3-3.1 times; the
// same command before them: 1.0 ms, 3.7-4.2 times), 0.52-0.58 ms (2.2-2.4
// times) with --kafka-brokers on scripts/kafka, and 1.5-5.5 ms/s idle after
// the load (6-22 before). The p99 INVITE-to-200 of both servers swung
// with the machine's load in those runs (switchboard 52 ms to 8.8 s,
// Kamailio 4 ms to 1.6 s): not a figure to quote.
//
// # Load testing
//
// The sipp load driver is package sipload (used by `switchboard bench` and
// BenchmarkSIPLoad); Server.Bind and Unbind let it register its phones
// directly, since registration is not what it measures.
//
// # Not done yet
//
// Performance: our INVITE over TCP, TLS or WebSocket keeps sipgo's client
// transaction (and so its dialog session) 32 s after its 2xx (Timer M); a
// re-INVITE's and a feature code's INVITE's server transactions are
// sipgo's until Timer L. A target
// refresh (a re-INVITE's or UPDATE's new Contact) does not change the
// remote target of a dialog, as with sipgo's sessions. At low call rates the
// journal's and the embedded broker's batches are small and cost more per
// call (bench --peer at 200 calls/s: about 2.2 ms per call against 0.5-0.8
// at 1,000/s).
// Media: a recording follows a single-step transfer to its target but a
// two-step transfer's is not tested; the re-INVITE to the
// caller reuses the agent's answer as the offer; a two-step transfer or
// conference of a relayed call is not tested; glare (491) falls back to
// relaying at once, like any refusal, without the retry after a random
// wait of RFC 3261 section 14.1.
// In-dialog signalling: feature codes are the same for every tenant
// (serve's --sip-feature-codes); subscriptions do not survive a restart.
// Carriers: no OPTIONS keepalive to registered phones (they keep their
// flows with RFC 5626 CRLF pings, answered; no STUN keepalives over UDP);
// a trunk's address is one host:port (no DNS SRV failover, no list of
// source addresses). A restart loses
// the SIP dialogs (serve's recovery releases their calls:
// TestServeRestartReleasesSIPCalls) but not the bindings
// (TestServeRestartKeepsSIPBindings). An unreadable bindings file loses
// them: DNs registered before the restart then stay in service without a
// contact (their calls ring virtually) until their phones register again.
// An un-registration that the process stopped before saving is undone at
// the next start if the binding would still be valid (the DN comes back
// in service until the binding expires or the phone registers again).
package sipfront

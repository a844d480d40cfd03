// Package media is switchboard's media plane: RTP sessions that play
// audio to callers and read the digits they press. It knows nothing of the
// engine, calls or SIP; its user (the SIP front end) opens a session per
// anchored call, tells it what to play and what digits to collect, and
// closes it.
//
// What it holds:
//   - G.711 µ-law and A-law (github.com/zaf/g711; a hand-written encoder
//     is easy to get a few dB wrong) and RTP headers (github.com/pion/rtp,
//     MarshalTo into each session's own buffer);
//   - Clip: audio encoded once, at configuration load, into 20 ms frames
//     of both laws and shared read-only by every call. LoadWAV accepts
//     8 kHz 16-bit mono PCM WAV only and says what the file is otherwise;
//   - tones generated in Go per tone plan (eu: 425 Hz; us: 440+480 Hz
//     ringback, 480+620 Hz busy), one cadence period long, looped;
//   - comfort noise as a seeded low-level noise clip in the call's own
//     codec rather than RFC 3389 payload type 13, which phones must
//     negotiate: it keeps NAT bindings open with every G.711 phone;
//   - DigitDecoder: RFC 4733 telephone-events to digits in our own code,
//     reporting a digit when its event's timestamp is first seen (duration
//     0 first packets, lost and repeated end packets, long-event segments
//     and late packets handled; see its doc);
//   - Scheduler: one goroutine and one timer per scheduler (a Plane runs
//     GOMAXPROCS of them) ticking every 20 ms on a fixed grid while it
//     carries a session (without one its timer is stopped: an idle server
//     does not wake for it); each tick sends one packet per session
//     without allocating. After a stall it
//     sends one packet, not a burst: the RTP timestamp skips the missed
//     periods, the sequence number does not. The Clock is injected, and
//     FakeClock runs the tests;
//   - Session: one UDP socket (even ports of a configured range), one
//     reader goroutine, symmetric RTP (it sends to the address the first
//     packet came from, and ignores other sources afterwards), digit
//     collection ending at a maximum, a terminating digit or an
//     inter-digit timeout checked on the scheduler's tick;
//   - ParseOffer and Answer: the one-audio-stream SDP offer/answer (PCMU or
//     PCMA in the offer's order, telephone-event/8000; ErrNoCodec when the
//     offer has neither G.711 law, which SIP answers with 488);
//   - Recorder: a call's two directions in one two-channel G.711 WAV
//     (format 7 or 6 with a fact chunk), samples paired in arrival order,
//     silence for a party more than 60 ms behind, and a gap (no samples)
//     while paused; Session.Record feeds it what a session receives;
//   - OpenRelay and Session.RelayTo: a session that sends nothing of its
//     own and forwards what its peer receives (anchor: always), its far
//     end set later (SetRemote) when the SDP comes after it opened;
//   - Load: the harness behind `switchboard bench`'s media rows: sessions
//     playing music to loopback receivers that talk back 50 packets/s per
//     call, packets timed by the kernel's arrival stamps (Linux), and each
//     scheduler's wake-ups counted by lateness (LateOver). Every packet is
//     one sendto or recvfrom: each call has its own socket and port (its
//     SDP's, and symmetric RTP needs the source port to match), so
//     sendmmsg, which batches on one socket, does not apply; a profile
//     at 500 calls shows the system calls at about 85% of the CPU.
//
// The design and its measurements are ../../../shared/design/media.md.
// Where this package differs from it: digits are reported at the start of
// an event rather than at its first end packet (the same digits on a clean
// stream, the right ones when every end packet is lost), and comfort
// noise is audio rather than payload type 13 (above).
package media

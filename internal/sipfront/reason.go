package sipfront

import (
	"github.com/emiago/sipgo/sip"
)

// Reason headers (RFC 3326) on the BYEs switchboard sends: why the call
// ended for the phone or carrier. A party released by the engine (the
// other party hung up, a release through the API, the call moved on) is
// normal clearing, Q.850 cause 16; the transferor's own legs after its
// transfer say so (SIP 200, "Call transferred"); a dialog whose phone never
// acknowledged our 2xx (RFC 3261 section 13.3.1.4), or whose session timer
// ran out unrefreshed (RFC 4028, sessiontimer.go), SIP 408.
const (
	reasonCleared     = `Q.850;cause=16;text="Normal call clearing"`
	reasonTransferred = `SIP;cause=200;text="Call transferred"`
	reasonNoAck       = `SIP;cause=408;text="ACK not received"`
	reasonExpired     = `SIP;cause=408;text="Session expired"`
)

// byeReason is a leg's Reason for its BYE, one of the above: a byte in
// the leg, not a string.
type byeReason uint8

const (
	whyNone byeReason = iota
	whyTransferred
	whyExpired
)

// String is the Reason header's value ("" for none).
func (r byeReason) String() string {
	switch r {
	case whyTransferred:
		return reasonTransferred
	case whyExpired:
		return reasonExpired
	}
	return ""
}

// byeRequest is the BYE of leg l's dialog with Reason why (none when
// empty); sipgo's WriteBye adds the dialog's headers.
func byeRequest(l *leg, why string) *sip.Request {
	target, ok := l.remoteTarget()
	if !ok {
		return nil
	}
	req := sip.NewRequest(sip.BYE, target)
	if uas := l.uas.Load(); uas != nil {
		req.SetTransport(uas.InviteRequest.Transport())
	}
	if why != "" {
		req.AppendHeader(sip.NewHeader("Reason", why))
	}
	return req
}

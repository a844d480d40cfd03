package media

import "encoding/binary"

// DigitDecoder turns RFC 4733 telephone-event payloads into DTMF digits.
//
// An event is identified by its RTP timestamp (RFC 4733 section 2.5.1:
// every packet of one event carries the event's start timestamp). The
// decoder reports a digit the first time it sees a timestamp newer than
// the last event's, whatever the packet says about duration or end:
//   - a first packet with duration 0 (SIPp's pcaps, some gateways) counts;
//   - lost end packets cost nothing, the digit was reported at the start;
//   - the three repeated end packets, and any retransmission, carry the
//     same timestamp and are ignored;
//   - the same digit pressed twice is two events with two timestamps;
//   - a late packet of an older event (timestamp before the last one, in
//     serial arithmetic) is ignored;
//   - an event longer than the 16-bit duration field is sent as segments
//     with new timestamps (section 2.5.1.3); a segment that continues an
//     unended event of the same code at ts+duration is not a new digit.
//
// Reporting at the start rather than at the first E bit (what the design
// note proposed) gives the same digits on a clean stream and the right
// digit when every end packet is lost.
//
// A DigitDecoder is not safe for concurrent use; the zero value is ready.
type DigitDecoder struct {
	seen    bool
	lastTS  uint32
	lastEv  byte
	lastDur uint16
	ended   bool
}

// digitChars maps event codes 0-15 to their characters.
const digitChars = "0123456789*#ABCD"

// Feed takes one telephone-event payload with its packet's RTP timestamp
// and returns the digit it starts, if any.
func (d *DigitDecoder) Feed(ts uint32, payload []byte) (digit byte, ok bool) {
	if len(payload) < 4 {
		return 0, false
	}
	ev := payload[0]
	end := payload[1]&0x80 != 0
	dur := binary.BigEndian.Uint16(payload[2:4])
	if d.seen {
		delta := int32(ts - d.lastTS)
		if delta < 0 {
			return 0, false // an older event's packet
		}
		if delta == 0 {
			if ev == d.lastEv {
				if dur > d.lastDur {
					d.lastDur = dur
				}
				d.ended = d.ended || end
			}
			return 0, false
		}
		// A long-event segment: same code, previous not ended, starting
		// where the previous segment's duration reached (one frame of slack).
		if ev == d.lastEv && !d.ended && d.lastDur > 0 {
			gap := int64(delta) - int64(d.lastDur)
			if gap >= -FrameSamples && gap <= FrameSamples {
				d.lastTS, d.lastDur, d.ended = ts, dur, end
				return 0, false
			}
		}
	}
	d.seen, d.lastTS, d.lastEv, d.lastDur, d.ended = true, ts, ev, dur, end
	if ev >= 16 {
		return 0, false // not a DTMF digit (flash, tones): ignored
	}
	return digitChars[ev], true
}

// DigitEvent encodes one telephone-event payload (used by tests and the
// bench's phones).
func DigitEvent(digit byte, end bool, volume byte, duration uint16) []byte {
	code := byte(0)
	for i := 0; i < len(digitChars); i++ {
		if digitChars[i] == digit {
			code = byte(i)
		}
	}
	b := []byte{code, volume & 0x3f, 0, 0}
	if end {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], duration)
	return b
}

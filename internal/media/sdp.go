package media

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ErrNoCodec means an offer has neither PCMU nor PCMA (SIP answers 488).
var ErrNoCodec = errors.New("media: offer has neither PCMU nor PCMA")

// Offer is what the media plane needs from an SDP offer's first audio
// stream.
type Offer struct {
	Remote netip.AddrPort
	Law    Law   // the offer's first G.711 payload type
	DTMF   uint8 // telephone-event/8000 payload type, 0 if not offered
}

// ParseOffer reads the first m=audio line of an SDP body.
func ParseOffer(body []byte) (Offer, error) {
	var o Offer
	var sessAddr, mediaAddr netip.Addr
	inAudio, seenAudio := false, false
	port := 0
	var pts []string
	for _, line := range strings.Split(string(body), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "m="):
			if seenAudio {
				inAudio = false
				continue
			}
			f := strings.Fields(line[2:])
			if len(f) < 4 || f[0] != "audio" {
				inAudio = false
				continue
			}
			p, err := strconv.Atoi(f[1])
			if err != nil || p < 0 || p > 65535 {
				return o, fmt.Errorf("media: bad m= port %q", f[1])
			}
			inAudio, seenAudio, port, pts = true, true, p, f[3:]
		case strings.HasPrefix(line, "c="):
			f := strings.Fields(line[2:])
			if len(f) != 3 {
				continue
			}
			a, err := netip.ParseAddr(strings.Split(f[2], "/")[0])
			if err != nil {
				continue
			}
			if inAudio {
				mediaAddr = a
			} else if !seenAudio {
				sessAddr = a
			}
		case inAudio && strings.HasPrefix(line, "a=rtpmap:"):
			f := strings.Fields(line[len("a=rtpmap:"):])
			if len(f) == 2 && strings.EqualFold(f[1], "telephone-event/8000") {
				if pt, err := strconv.Atoi(f[0]); err == nil && pt >= 96 && pt <= 127 && o.DTMF == 0 {
					o.DTMF = uint8(pt)
				}
			}
		}
	}
	if !seenAudio {
		return o, ErrNoCodec
	}
	found := false
	for _, pt := range pts {
		if pt == "0" || pt == "8" {
			o.Law, found = PCMU, true
			if pt == "8" {
				o.Law = PCMA
			}
			break
		}
	}
	if !found {
		return o, ErrNoCodec
	}
	addr := mediaAddr
	if !addr.IsValid() {
		addr = sessAddr
	}
	if !addr.IsValid() {
		return o, errors.New("media: offer has no c= address")
	}
	o.Remote = netip.AddrPortFrom(addr, uint16(port))
	return o, nil
}

// Answer is switchboard's SDP answer: one audio stream at local with the
// chosen law and, when the offer had it, telephone-event 0-15 on the
// offer's payload type. id numbers the o= line.
func Answer(local netip.AddrPort, law Law, dtmf uint8, id uint64) []byte {
	ip := "IP4"
	if local.Addr().Is6() {
		ip = "IP6"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=switchboard %d %d IN %s %s\r\ns=switchboard\r\nc=IN %s %s\r\nt=0 0\r\n",
		id, id, ip, local.Addr(), ip, local.Addr())
	fmt.Fprintf(&b, "m=audio %d RTP/AVP %d", local.Port(), law)
	if dtmf != 0 {
		fmt.Fprintf(&b, " %d", dtmf)
	}
	fmt.Fprintf(&b, "\r\na=rtpmap:%d %s/8000\r\n", law, law)
	if dtmf != 0 {
		fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-15\r\n", dtmf, dtmf)
	}
	b.WriteString("a=ptime:20\r\na=sendrecv\r\n")
	return []byte(b.String())
}

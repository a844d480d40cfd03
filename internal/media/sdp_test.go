package media

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestParseOffer(t *testing.T) {
	sdp := func(m string, extra ...string) []byte {
		return []byte("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n" + m + "\r\n" + strings.Join(extra, "\r\n") + "\r\n")
	}
	cases := []struct {
		name string
		body []byte
		want Offer
		err  error
	}{
		{"PCMU first with telephone-event", sdp("m=audio 4000 RTP/AVP 0 8 101", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16"),
			Offer{netip.MustParseAddrPort("10.0.0.1:4000"), PCMU, 101}, nil},
		{"PCMA preferred by order", sdp("m=audio 4002 RTP/AVP 18 8 0"), Offer{netip.MustParseAddrPort("10.0.0.1:4002"), PCMA, 0}, nil},
		{"media-level c= wins", sdp("m=audio 4004 RTP/AVP 8 96", "c=IN IP4 192.0.2.7", "a=rtpmap:96 telephone-event/8000"),
			Offer{netip.MustParseAddrPort("192.0.2.7:4004"), PCMA, 96}, nil},
		{"G.729 only gets 488", sdp("m=audio 4000 RTP/AVP 18"), Offer{}, ErrNoCodec},
		{"video only", sdp("m=video 4000 RTP/AVP 96"), Offer{}, ErrNoCodec},
		{"telephone-event/48000 is not ours", sdp("m=audio 4000 RTP/AVP 0 110", "a=rtpmap:110 telephone-event/48000"),
			Offer{netip.MustParseAddrPort("10.0.0.1:4000"), PCMU, 0}, nil},
	}
	for _, c := range cases {
		got, err := ParseOffer(c.body)
		if !errors.Is(err, c.err) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.err)
			continue
		}
		if err == nil && got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestAnswerRoundTrips(t *testing.T) {
	local := netip.MustParseAddrPort("203.0.113.5:20000")
	a := Answer(local, PCMA, 101, 7)
	want := "v=0\r\no=switchboard 7 7 IN IP4 203.0.113.5\r\ns=switchboard\r\nc=IN IP4 203.0.113.5\r\nt=0 0\r\n" +
		"m=audio 20000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
	if string(a) != want {
		t.Fatalf("answer:\n%s\nwant:\n%s", a, want)
	}
	o, err := ParseOffer(a)
	if err != nil || o != (Offer{local, PCMA, 101}) {
		t.Fatalf("answer parsed back as %+v %v", o, err)
	}
}

package sipfront

import (
	"strings"
	"testing"
	"time"
)

func TestSDPDirection(t *testing.T) {
	base := "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
	tests := []struct {
		name, body, want string
	}{
		{"no attribute", base, "sendrecv"},
		{"sendonly", base + "a=sendonly\r\n", "sendonly"},
		{"inactive", base + "a=inactive\r\n", "inactive"},
		{"recvonly", base + "a=recvonly\r\n", "recvonly"},
		{"sendrecv", base + "a=sendrecv\r\n", "sendrecv"},
		{"RFC 2543 hold", strings.Replace(base, "c=IN IP4 10.0.0.1", "c=IN IP4 0.0.0.0", 1), "inactive"},
		{"LF only", strings.ReplaceAll(base+"a=sendonly\r\n", "\r\n", "\n"), "sendonly"},
		{"empty", "", "sendrecv"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sdpDirection([]byte(tt.body)); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestWithDirection(t *testing.T) {
	base := "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
	for _, dir := range []string{"sendonly", "recvonly", "inactive", "sendrecv"} {
		got := string(withDirection([]byte(base), dir))
		if sdpDirection([]byte(got)) != dir || strings.Count(got, "a="+dir) != 1 {
			t.Fatalf("%s added: %q", dir, got)
		}
		again := string(withDirection([]byte(got), "sendrecv"))
		if strings.Contains(again, "a="+dir) && dir != "sendrecv" || sdpDirection([]byte(again)) != "sendrecv" {
			t.Fatalf("%s replaced: %q", dir, again)
		}
	}
}

func TestUnescape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"abc", "abc"},
		{"a%3Bb%3db", "a;b=b"},
		{"%", "%"},
		{"%zz", "%zz"},
		{"x%4", "x%4"},
	}
	for _, tt := range tests {
		if got := unescape(tt.in); got != tt.want {
			t.Errorf("unescape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestNonce: a nonce is valid for NonceTTL, not after, and not when forged.
func TestNonce(t *testing.T) {
	s := &Server{cfg: Config{NonceTTL: 5 * time.Minute}}
	s.secret[0] = 1
	now := time.Unix(1_800_000_000, 0)
	n := s.nonce(now)
	if !s.nonceValid(n, now.Add(4*time.Minute)) {
		t.Fatal("fresh nonce refused")
	}
	if s.nonceValid(n, now.Add(6*time.Minute)) {
		t.Fatal("expired nonce accepted")
	}
	forged := n[:len(n)-1] + string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", n[len(n)-1])+1)%16])
	if s.nonceValid(forged, now) {
		t.Fatal("forged nonce accepted")
	}
	other := &Server{cfg: s.cfg}
	other.secret[0] = 2
	if other.nonceValid(n, now) {
		t.Fatal("another server's nonce accepted")
	}
}

// TestHoldAnswerSDP: the answer to a hold re-INVITE is the far phone's SDP
// with a=recvonly, once per media section, whether the far phone put its
// direction at session level, media level or nowhere.
func TestHoldAnswerSDP(t *testing.T) {
	head := "v=0\r\no=baresip 1 2 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\n"
	audio := "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
	video := "m=video 4002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
	for _, tt := range []struct{ name, body string }{
		{"media level", head + audio + "a=sendrecv\r\n"},
		{"session level", head + "a=sendrecv\r\n" + audio},
		{"both levels", head + "a=sendrecv\r\n" + audio + "a=sendrecv\r\n"},
		{"none", head + audio},
		{"two media", head + audio + "a=sendrecv\r\n" + video + "a=sendrecv\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := string(withDirection([]byte(tt.body), "recvonly"))
			sections := strings.Split(got, "m=")
			if strings.Contains(sections[0], "a=recvonly") {
				t.Fatalf("session-level direction: %q", got)
			}
			for _, m := range sections[1:] {
				if strings.Count(m, "a=recvonly") != 1 || strings.Contains(m, "a=sendrecv") {
					t.Fatalf("want one a=recvonly per media section: %q", got)
				}
			}
			if strings.Count(got, "m=") != strings.Count(tt.body, "m=") || !strings.Contains(got, "a=rtpmap:0 PCMU/8000\r\n") {
				t.Fatalf("media lost: %q", got)
			}
		})
	}
}

// TestOriginStamp: what one dialog is sent keeps one origin (the first
// SDP's username, session id and address) and raises its version at each
// change, also when the SDP comes from another phone (RFC 3264 section 8).
func TestOriginStamp(t *testing.T) {
	var o origin
	first := []byte("v=0\r\no=alice 100 7 IN IP4 10.0.0.1\r\ns=-\r\nm=audio 4000 RTP/AVP 0\r\na=sendrecv\r\n")
	origins := []string{}
	for _, sdp := range [][]byte{
		first,
		first, // sent again unchanged: same version
		withDirection(first, "recvonly"),
		[]byte("v=0\r\no=carol 555 1 IN IP4 10.0.0.3\r\ns=-\r\nm=audio 5000 RTP/AVP 0\r\n"), // the far party changed
	} {
		got := string(o.stamp(sdp))
		line, _, _ := strings.Cut(got[strings.Index(got, "o="):], "\r\n")
		origins = append(origins, line)
	}
	want := []string{"o=alice 100 7 IN IP4 10.0.0.1", "o=alice 100 7 IN IP4 10.0.0.1", "o=alice 100 8 IN IP4 10.0.0.1", "o=alice 100 9 IN IP4 10.0.0.1"}
	if strings.Join(origins, "|") != strings.Join(want, "|") {
		t.Fatalf("origins %q, want %q", origins, want)
	}
	if got := string(o.stamp([]byte("v=0\r\no=carol 555 1 IN IP4 10.0.0.3\r\nm=audio 5000 RTP/AVP 0\r\n"))); !strings.Contains(got, "m=audio 5000") {
		t.Fatalf("body changed beyond o=: %q", got)
	}
}

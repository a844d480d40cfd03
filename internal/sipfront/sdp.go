package sipfront

import (
	"bytes"
	"strconv"
	"strings"
	"sync"
)

// sdpDirection is the media direction an SDP body asks for: the first
// a=sendrecv/sendonly/recvonly/inactive line (session or media level),
// "sendrecv" when there is none. A c= address of 0.0.0.0 (RFC 2543 hold)
// counts as "inactive".
func sdpDirection(body []byte) string {
	dir := ""
	hold := false
	for _, line := range strings.Split(string(body), "\n") {
		line = strings.TrimSpace(line)
		switch line {
		case "a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive":
			if dir == "" {
				dir = line[2:]
			}
		}
		if strings.HasPrefix(line, "c=") && strings.HasSuffix(line, " 0.0.0.0") {
			hold = true
		}
	}
	switch {
	case dir != "":
		return dir
	case hold:
		return "inactive"
	}
	return "sendrecv"
}

// withDirection returns a copy of body with one direction attribute dir
// per media section (after its other lines) and none at session level:
// the direction attributes it had are dropped, wherever they were.
func withDirection(body []byte, dir string) []byte {
	if dir == "" {
		return body
	}
	lines := strings.Split(strings.ReplaceAll(string(body), "\r\n", "\n"), "\n")
	var out bytes.Buffer
	media := false
	for _, line := range lines {
		switch strings.TrimSpace(line) {
		case "a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive", "":
			continue
		}
		if strings.HasPrefix(line, "m=") {
			if media {
				out.WriteString("a=" + dir + "\r\n") // ends the previous section
			}
			media = true
		}
		out.WriteString(line)
		out.WriteString("\r\n")
	}
	out.WriteString("a=" + dir + "\r\n")
	return out.Bytes()
}

// origin is the o= line of the SDP switchboard sends on one dialog. Its
// SDP comes from whichever phone is the far party, but RFC 3264 section 8
// wants one origin per session, its version raised by one at each changed
// SDP: the first SDP sent fixes the username, session id and address, and
// stamp rewrites the o= line of each later one with them.
type origin struct {
	mu   sync.Mutex
	head string // "o=<username> <sess-id>"
	tail string // "<nettype> <addrtype> <unicast-address>"
	ver  uint64
	last []byte // the SDP last stamped, as given
}

// stamp returns sdp with its o= line made this dialog's: the same version
// as the last one sent when sdp is the same, else one more.
func (o *origin) stamp(sdp []byte) []byte {
	lines := strings.Split(string(sdp), "\n")
	for i, line := range lines {
		if !strings.HasPrefix(line, "o=") {
			continue
		}
		f := strings.Fields(strings.TrimSuffix(line[2:], "\r"))
		if len(f) != 6 {
			return sdp
		}
		o.mu.Lock()
		switch {
		case o.head == "":
			o.head, o.tail = "o="+f[0]+" "+f[1], f[3]+" "+f[4]+" "+f[5]
			o.ver, _ = strconv.ParseUint(f[2], 10, 64)
		case !bytes.Equal(sdp, o.last):
			o.ver++
		}
		o.last = sdp
		cr := ""
		if strings.HasSuffix(line, "\r") {
			cr = "\r"
		}
		lines[i] = o.head + " " + strconv.FormatUint(o.ver, 10) + " " + o.tail + cr
		o.mu.Unlock()
		return []byte(strings.Join(lines, "\n"))
	}
	return sdp
}

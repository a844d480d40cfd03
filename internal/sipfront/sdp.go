package sipfront

import (
	"bytes"
	"strings"
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

// withDirection returns a copy of body with its direction attributes
// replaced by dir (added after the first m= line when there are none).
func withDirection(body []byte, dir string) []byte {
	if dir == "" {
		return body
	}
	lines := strings.Split(strings.ReplaceAll(string(body), "\r\n", "\n"), "\n")
	var out bytes.Buffer
	done := false
	for _, line := range lines {
		switch strings.TrimSpace(line) {
		case "a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive":
			line = "a=" + dir
			done = true
		}
		if line == "" {
			continue
		}
		out.WriteString(line)
		out.WriteString("\r\n")
		if !done && strings.HasPrefix(line, "m=") {
			out.WriteString("a=" + dir + "\r\n")
			done = true
		}
	}
	if !done {
		out.WriteString("a=" + dir + "\r\n")
	}
	return out.Bytes()
}

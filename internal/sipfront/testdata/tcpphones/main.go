// Command tcpphones registers -n phones (users -base .. -base+n-1) over
// TCP to a SIP server, one connection each, with digest authentication,
// prints "registered N" and holds the connections open until its standard
// input closes: the client side of BenchmarkTCPRegistrations, in a process
// of its own (its sockets and memory apart from the server's).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/icholy/digest"
)

func main() {
	server := flag.String("server", "", "SIP server TCP host:port")
	n := flag.Int("n", 10000, "phones")
	base := flag.Int("base", 10000, "first user")
	password := flag.String("password", "", "SIP password")
	workers := flag.Int("workers", 32, "registrations at once")
	flag.Parse()
	conns := make([]net.Conn, *n)
	var failed atomic.Int64
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= *n {
					return
				}
				c, err := register(*server, strconv.Itoa(*base+i), *password)
				if err != nil {
					if failed.Add(1) <= 3 {
						fmt.Fprintln(os.Stderr, "tcpphones:", err)
					}
					continue
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	fmt.Printf("registered %d failed %d\n", int64(*n)-failed.Load(), failed.Load())
	io.Copy(io.Discard, os.Stdin)
}

// register opens a connection and registers user on it.
func register(server, user, password string) (net.Conn, error) {
	c, err := net.Dial("tcp", server)
	if err != nil {
		return nil, err
	}
	local := c.LocalAddr().String()
	r := bufio.NewReader(c)
	req := func(cseq int, auth string) string {
		return "REGISTER sip:load SIP/2.0\r\nVia: SIP/2.0/TCP " + local + ";branch=z9hG4bK" + user + strconv.Itoa(cseq) + "\r\n" +
			"From: <sip:" + user + "@load>;tag=" + user + "\r\nTo: <sip:" + user + "@load>\r\nCall-ID: reg-" + user + "\r\n" +
			"CSeq: " + strconv.Itoa(cseq) + " REGISTER\r\nContact: <sip:" + user + "@" + local + ";transport=tcp>\r\nExpires: 3600\r\n" +
			auth + "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	}
	if _, err := io.WriteString(c, req(1, "")); err != nil {
		c.Close()
		return nil, err
	}
	status, hdrs, err := read(r)
	if err != nil || status != 401 {
		c.Close()
		return nil, fmt.Errorf("%s: first REGISTER: %d %v", user, status, err)
	}
	chal, err := digest.ParseChallenge(hdrs["www-authenticate"])
	if err != nil {
		c.Close()
		return nil, err
	}
	cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:load", Username: user, Password: password, Count: 1})
	if err != nil {
		c.Close()
		return nil, err
	}
	if _, err := io.WriteString(c, req(2, "Authorization: "+cred.String()+"\r\n")); err != nil {
		c.Close()
		return nil, err
	}
	if status, _, err = read(r); err != nil || status != 200 {
		c.Close()
		return nil, fmt.Errorf("%s: REGISTER: %d %v", user, status, err)
	}
	return c, nil
}

// read reads one response: its status and headers (lower-case names).
func read(r *bufio.Reader) (int, map[string]string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return 0, nil, err
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		return 0, nil, fmt.Errorf("status line %q", line)
	}
	status, _ := strconv.Atoi(f[1])
	hdrs := map[string]string{}
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return 0, nil, err
		}
		l = strings.TrimRight(l, "\r\n")
		if l == "" {
			break
		}
		if k, v, ok := strings.Cut(l, ":"); ok {
			hdrs[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		}
	}
	if n, _ := strconv.Atoi(hdrs["content-length"]); n > 0 {
		if _, err := io.CopyN(io.Discard, r, int64(n)); err != nil {
			return 0, nil, err
		}
	}
	return status, hdrs, nil
}

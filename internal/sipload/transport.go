package sipload

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
)

// transport is how the load's phones reach the server.
type transport struct {
	sipp     string // sipp -t
	uriParam string // of a contact bound directly
	tls      bool   // callers through a TLS tunnel
}

// transport checks Config.Transport.
func (cfg Config) transport() (transport, error) {
	switch strings.ToLower(cfg.Transport) {
	case "", "udp":
		return transport{sipp: "u1"}, nil
	case "tcp":
		return transport{sipp: "t1", uriParam: ";transport=tcp"}, nil
	case "tls":
		if cfg.TLSAddr == "" {
			return transport{}, fmt.Errorf("%w: transport tls needs Config.TLSAddr", ErrLoad)
		}
		return transport{sipp: "t1", uriParam: ";transport=tcp", tls: true}, nil
	}
	return transport{}, fmt.Errorf("%w: transport %q: udp, tcp or tls", ErrLoad, cfg.Transport)
}

// tunnel listens on loopback TCP and carries each connection over TLS to
// a server (certificate not verified: a load tool for its own server).
type tunnel struct {
	net.Listener
	wg sync.WaitGroup
}

func startTLSTunnel(server string) (*tunnel, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrLoad, err)
	}
	t := &tunnel{Listener: ln}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := tls.Dial("tcp", server, &tls.Config{InsecureSkipVerify: true})
			if err != nil {
				c.Close()
				continue
			}
			t.wg.Add(2)
			pipe := func(dst, src net.Conn) {
				defer t.wg.Done()
				io.Copy(dst, src)
				dst.Close()
				src.Close()
			}
			go pipe(s, c)
			go pipe(c, s)
		}
	}()
	return t, nil
}

// Close stops the tunnel once its connections have ended (sipp closes
// them when it exits).
func (t *tunnel) Close() error {
	err := t.Listener.Close()
	t.wg.Wait()
	return err
}

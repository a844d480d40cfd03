package broker

import (
	"crypto/tls"
	"net"
	"sync"
)

// muxListener is the broker's listener: the TCP connections clients make
// (TLS-wrapped when configured) and in-process connections from the
// broker's own maintenance client (plain, never on the network). kfake names
// the broker in metadata by Addr, which is the advertised address.
type muxListener struct {
	tcp  net.Listener
	tls  *tls.Config
	addr net.Addr

	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newMuxListener(tcp net.Listener, tc *tls.Config, advertise string) *muxListener {
	l := &muxListener{tcp: tcp, tls: tc, addr: namedAddr(advertise), conns: make(chan net.Conn), done: make(chan struct{})}
	go l.acceptTCP()
	return l
}

func (l *muxListener) acceptTCP() {
	for {
		c, err := l.tcp.Accept()
		if err != nil {
			l.Close()
			return
		}
		if l.tls != nil {
			c = tls.Server(c, l.tls) // the handshake runs on the first read, in kfake's goroutine
		}
		select {
		case l.conns <- c:
		case <-l.done:
			c.Close()
			return
		}
	}
}

// dialInternal returns a plain in-process connection to the broker.
func (l *muxListener) dialInternal() (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		client.Close()
		server.Close()
		return nil, net.ErrClosed
	}
}

func (l *muxListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *muxListener) Close() error {
	l.once.Do(func() {
		close(l.done)
		l.tcp.Close()
	})
	return nil
}

func (l *muxListener) Addr() net.Addr { return l.addr }

// namedAddr is the advertised host:port as written: kfake splits it into the
// host and port it puts in metadata.
type namedAddr string

func (a namedAddr) Network() string { return "tcp" }
func (a namedAddr) String() string  { return string(a) }

package sipfront

import (
	"crypto/tls"
	"crypto/x509"
	"testing"

	"github.com/emiago/sipgo"
)

// WriteCert writes a new self-signed certificate for 127.0.0.1 named cn
// as dir/cert.pem and dir/key.pem.
func WriteCert(t testing.TB, dir, cn string) *x509.Certificate { return writeCert(t, dir, cn) }

// TLSTunnel listens on TCP and carries each connection over TLS to server
// (trusting only cert): a TLS phone for a sipp without TLS.
func TLSTunnel(t testing.TB, server string, cert *x509.Certificate) string {
	return tlsTunnel(t, server, cert)
}

// GoPhone is a SIP phone on sipgo over TCP, TLS or WebSocket whose
// Contact no one can reach (goPhone): calls reach it only over the
// connection it opened.
type GoPhone struct{ p *goPhone }

// NewGoPhone makes DN user's phone of the demo tenant (TestPassword),
// sending to server over network (TCP, TLS with tlsConf, WS at wsPath).
func NewGoPhone(t testing.TB, network, server, user string, tlsConf *tls.Config, wsPath string) GoPhone {
	return GoPhone{newGoPhone(t, network, server, user, tlsConf, wsPath)}
}

// Register registers the phone for an hour.
func (g GoPhone) Register() { g.p.register() }

// Call calls dn, waits for the answer and ACKs it; Bye hangs it up.
func (g GoPhone) Call(dn string) *sipgo.DialogClientSession { return g.p.call(dn) }

// WaitCall, WaitAck and WaitBye wait for an INVITE (answered 200), its
// ACK and a BYE at the phone.
func (g GoPhone) WaitCall() { wait(g.p.t, g.p.calls, "INVITE at "+g.p.user) }
func (g GoPhone) WaitAck()  { wait(g.p.t, g.p.acks, "ACK at "+g.p.user) }
func (g GoPhone) WaitBye()  { wait(g.p.t, g.p.byes, "BYE at "+g.p.user) }

// Trusting is a TLS client configuration trusting dir's cert.pem.
func Trusting(t testing.TB, dir string) *tls.Config { return trusting(t, dir) }

// FakeCarrier is a carrier on UDP answering every request 200 and keeping
// each as "METHOD expires from" (fakeCarrier).
type FakeCarrier struct{ c *fakeCarrier }

func NewFakeCarrier(t testing.TB) FakeCarrier { return FakeCarrier{newFakeCarrier(t)} }

// Addr is the carrier's address.
func (f FakeCarrier) Addr() string { return f.c.conn.LocalAddr().String() }

// Await reads requests until want comes (within 30 s), returning those
// before it.
func (f FakeCarrier) Await(t testing.TB, want string) []string { return f.c.await(t, want) }

// Drain returns the requests received and not read yet.
func (f FakeCarrier) Drain() []string {
	var out []string
	for len(f.c.reqs) > 0 {
		out = append(out, <-f.c.reqs)
	}
	return out
}

package sipfront

import (
	"crypto/x509"
	"testing"
)

// WriteCert writes a new self-signed certificate for 127.0.0.1 named cn
// as dir/cert.pem and dir/key.pem.
func WriteCert(t testing.TB, dir, cn string) *x509.Certificate { return writeCert(t, dir, cn) }

// TLSTunnel listens on TCP and carries each connection over TLS to server
// (trusting only cert): a TLS phone for a sipp without TLS.
func TLSTunnel(t testing.TB, server string, cert *x509.Certificate) string {
	return tlsTunnel(t, server, cert)
}

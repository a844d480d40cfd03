package sipfront

import (
	"crypto/x509"
	"testing"
)

// WriteCert writes a new self-signed certificate for 127.0.0.1 named cn
// as dir/cert.pem and dir/key.pem.
func WriteCert(t testing.TB, dir, cn string) *x509.Certificate { return writeCert(t, dir, cn) }

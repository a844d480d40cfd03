package publisher_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/broker"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/switchboard-cc/switchboard/internal/publisher"
)

// serverCert returns a TLS server config for 127.0.0.1 and the path of a
// PEM file with its (self-signed) certificate, for TLSConfig.CAFile.
func serverCert(t *testing.T) (*tls.Config, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "switchboard test broker"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"kafka.test"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, ca
}

// The TLS and SASL options reach the wire: against the embedded broker
// with TLS and SCRAM/PLAIN users the publisher connects, creates its topics
// and publishes; with a wrong password, an untrusted certificate or no TLS it
// does not get in.
func TestTLSAndSASL(t *testing.T) {
	srv, ca := serverCert(t)
	users := []broker.SASLUser{
		{Mechanism: broker.MechanismScramSHA512, User: "sw512", Password: "s3cret-512"},
		{Mechanism: broker.MechanismScramSHA256, User: "sw256", Password: "s3cret-256"},
		{Mechanism: broker.MechanismPlain, User: "swplain", Password: "s3cret-plain"},
	}
	b, err := broker.Start(context.Background(), broker.Config{Dir: t.TempDir(), Listen: "127.0.0.1:0", TLS: srv, SASL: users,
		Logger: kafkatest.Logger(t, slog.LevelWarn)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	brokers := []string{b.Addr()}
	timeout := 10 * time.Second
	newP := func(tc publisher.TLSConfig, sc publisher.SASLConfig) (*publisher.Publisher, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		return publisher.New(ctx, publisher.Config{Brokers: brokers, CreateTopics: true, TLS: tc, SASL: sc,
			Logger: kafkatest.Logger(t, slog.LevelError)})
	}
	goodTLS := publisher.TLSConfig{Enabled: true, CAFile: ca}
	for _, u := range users {
		t.Run(u.Mechanism, func(t *testing.T) {
			p, err := newP(goodTLS, publisher.SASLConfig{Mechanism: u.Mechanism, User: u.User, Password: u.Password})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			done := make(chan error, 1)
			p.Publish([]event.Event{ringing("t", u.User, 1)}, func(err error) { done <- err })
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("server name", func(t *testing.T) {
		p, err := newP(publisher.TLSConfig{Enabled: true, CAFile: ca, ServerName: "kafka.test"},
			publisher.SASLConfig{Mechanism: users[0].Mechanism, User: users[0].User, Password: users[0].Password})
		if err != nil {
			t.Fatal(err)
		}
		p.Close()
	})
	// kfake drops the connection of a failed login, which the client
	// retries until New's context ends: keep that short.
	timeout = time.Second
	for _, tc := range []struct {
		name string
		tls  publisher.TLSConfig
		sasl publisher.SASLConfig
	}{
		{"wrong password", goodTLS, publisher.SASLConfig{Mechanism: users[0].Mechanism, User: users[0].User, Password: "nope"}},
		{"unknown user", goodTLS, publisher.SASLConfig{Mechanism: "PLAIN", User: "nobody", Password: "x"}},
		{"no sasl", goodTLS, publisher.SASLConfig{}},
		{"untrusted certificate", publisher.TLSConfig{Enabled: true}, publisher.SASLConfig{Mechanism: users[0].Mechanism, User: users[0].User, Password: users[0].Password}},
		{"wrong server name", publisher.TLSConfig{Enabled: true, CAFile: ca, ServerName: "other.test"}, publisher.SASLConfig{Mechanism: users[0].Mechanism, User: users[0].User, Password: users[0].Password}},
		{"no tls", publisher.TLSConfig{}, publisher.SASLConfig{Mechanism: users[0].Mechanism, User: users[0].User, Password: users[0].Password}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := newP(tc.tls, tc.sasl)
			if err == nil {
				p.Close()
				t.Fatal("New succeeded")
			}
			if !errors.Is(err, publisher.ErrConnect) && !errors.Is(err, publisher.ErrTopics) {
				t.Fatalf("New: %v, want ErrConnect or ErrTopics", err)
			}
		})
	}
	t.Run("missing CA file", func(t *testing.T) {
		_, err := newP(publisher.TLSConfig{Enabled: true, CAFile: filepath.Join(t.TempDir(), "none.pem")}, publisher.SASLConfig{})
		if !errors.Is(err, publisher.ErrInvalidConfig) {
			t.Fatalf("New: %v, want ErrInvalidConfig", err)
		}
	})
}

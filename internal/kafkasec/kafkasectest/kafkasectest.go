package kafkasectest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Want is the TLS and SASL a set of kgo options must make.
type Want struct {
	TLS      bool
	CAFile   string // "" the system roots
	CertFile string // client certificate; "" none
	// Mechanism is "", PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism, User, Password string
}

// Case is one command line of Kafka TLS and SASL flags (without
// --kafka-brokers) with the environment it runs in: either Want, or Err, a
// text the command's error must contain.
type Case struct {
	Name string
	Args []string
	Env  map[string]string
	Want Want
	Err  string
}

// Run runs every case as a subtest: parse parses the case's command line
// and environment as the command under test does and returns the kgo
// options its clients get. A case with Err must be refused with an error
// that wraps sentinel and contains Err; the others must give Want.
func Run(t *testing.T, sentinel error, parse func(t *testing.T, c Case) ([]kgo.Opt, error)) {
	for _, c := range Cases(t) {
		t.Run(c.Name, func(t *testing.T) {
			opts, err := parse(t, c)
			if c.Err != "" {
				if err == nil || !strings.Contains(err.Error(), c.Err) || !errors.Is(err, sentinel) {
					t.Fatalf("err %v, want %v with %q", err, sentinel, c.Err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := Check(opts, c.Want); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Getenv is the case's environment.
func (c Case) Getenv(k string) string { return c.Env[k] }

// Cases are the command lines, with a CA, a client certificate and key and
// a password file made in t.TempDir.
func Cases(t testing.TB) []Case {
	t.Helper()
	dir := t.TempDir()
	ca := writeCert(t, dir, "ca", true, false)
	cert := writeCert(t, dir, "client", false, true)
	key := filepath.Join(dir, "client.key")
	pwFile := filepath.Join(dir, "password")
	if err := os.WriteFile(pwFile, []byte("from-the-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const pwEnv = "SWITCHBOARD_KAFKA_SASL_PASSWORD"
	return []Case{
		{Name: "none", Want: Want{}},
		{Name: "tls, system roots", Args: []string{"--kafka-tls"}, Want: Want{TLS: true}},
		{Name: "mutual tls, scram-sha-512, password from env",
			Args: []string{"--kafka-tls", "--kafka-tls-ca", ca, "--kafka-tls-cert", cert, "--kafka-tls-key", key,
				"--kafka-sasl-mechanism", "SCRAM-SHA-512", "--kafka-sasl-user", "sb512"},
			Env:  map[string]string{pwEnv: "s3cret-512"},
			Want: Want{TLS: true, CAFile: ca, CertFile: cert, Mechanism: "SCRAM-SHA-512", User: "sb512", Password: "s3cret-512"}},
		{Name: "plain over tls, password file",
			Args: []string{"--kafka-tls=true", "--kafka-tls-ca", ca, "--kafka-sasl-mechanism", "PLAIN", "--kafka-sasl-user", "sbplain",
				"--kafka-sasl-password-file", pwFile},
			Env:  map[string]string{pwEnv: "not-this-one"},
			Want: Want{TLS: true, CAFile: ca, Mechanism: "PLAIN", User: "sbplain", Password: "from-the-file"}},
		{Name: "scram-sha-256 from the environment variables alone",
			Env: map[string]string{"SWITCHBOARD_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256", "SWITCHBOARD_KAFKA_SASL_USER": "sb256",
				pwEnv: "s3cret-256"},
			Want: Want{Mechanism: "SCRAM-SHA-256", User: "sb256", Password: "s3cret-256"}},
		{Name: "a flag wins over its variable",
			Args: []string{"--kafka-sasl-user", "flaguser"},
			Env: map[string]string{"SWITCHBOARD_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256", "SWITCHBOARD_KAFKA_SASL_USER": "envuser",
				pwEnv: "pw"},
			Want: Want{Mechanism: "SCRAM-SHA-256", User: "flaguser", Password: "pw"}},
		{Name: "plain without tls", Args: []string{"--kafka-sasl-mechanism", "PLAIN", "--kafka-sasl-user", "u"},
			Env: map[string]string{pwEnv: "pw"}, Err: "PLAIN sends the password in clear"},
		{Name: "ca without tls", Args: []string{"--kafka-tls-ca", ca}, Err: "--kafka-tls-ca: needs --kafka-tls"},
		{Name: "cert without key", Args: []string{"--kafka-tls", "--kafka-tls-cert", cert}, Err: "go together"},
		{Name: "user without mechanism", Args: []string{"--kafka-sasl-user", "u"}, Err: "--kafka-sasl-mechanism: required"},
		{Name: "unknown mechanism", Args: []string{"--kafka-sasl-mechanism", "GSSAPI", "--kafka-sasl-user", "u"},
			Err: `"GSSAPI" is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512`},
		{Name: "no password", Args: []string{"--kafka-sasl-mechanism", "SCRAM-SHA-512", "--kafka-sasl-user", "u"},
			Err: "no password"},
		{Name: "bad boolean variable", Env: map[string]string{"SWITCHBOARD_KAFKA_TLS": "maybe"}, Err: "SWITCHBOARD_KAFKA_TLS"},
	}
}

// ServerTLS returns a broker's TLS configuration for 127.0.0.1 (a
// self-signed certificate) and the path of that certificate's PEM file,
// for --kafka-tls-ca.
func ServerTLS(t testing.TB) (*tls.Config, string) {
	t.Helper()
	dir := t.TempDir()
	path := writeCert(t, dir, "server", true, true)
	c, err := tls.LoadX509KeyPair(path, filepath.Join(dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{c}}, path
}

// writeCert writes a self-signed certificate for 127.0.0.1 (and, with
// withKey, its key in dir/NAME.key) and returns the certificate's path.
func writeCert(t testing.TB, dir, name string, isCA, withKey bool) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "kafkasectest " + name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: isCA,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if withKey {
		k, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: k}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// Check builds a client with opts (it does not connect) and compares its
// TLS configuration and SASL login with w.
func Check(opts []kgo.Opt, w Want) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers("127.0.0.1:1")}, opts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	tc, _ := cl.OptValue(kgo.DialTLSConfig).(*tls.Config)
	if err := checkTLS(tc, w); err != nil {
		return err
	}
	ms, _ := cl.OptValue(kgo.SASL).([]sasl.Mechanism)
	if w.Mechanism == "" {
		if len(ms) != 0 {
			return fmt.Errorf("SASL %s, want none", ms[0].Name())
		}
		return nil
	}
	if len(ms) != 1 {
		return fmt.Errorf("%d SASL mechanisms, want %s", len(ms), w.Mechanism)
	}
	return checkSASL(ms[0], w)
}

func checkTLS(tc *tls.Config, w Want) error {
	if !w.TLS {
		if tc != nil {
			return fmt.Errorf("TLS, want none")
		}
		return nil
	}
	if tc == nil {
		return fmt.Errorf("no TLS, want TLS")
	}
	if tc.MinVersion != tls.VersionTLS12 || tc.InsecureSkipVerify || tc.ServerName != "" {
		return fmt.Errorf("TLS min version %x, insecure %v, server name %q; want 1.2, verified, the host dialled",
			tc.MinVersion, tc.InsecureSkipVerify, tc.ServerName)
	}
	if w.CAFile == "" {
		if tc.RootCAs != nil {
			return fmt.Errorf("TLS roots set, want the system roots")
		}
	} else {
		b, err := os.ReadFile(w.CAFile)
		if err != nil {
			return err
		}
		want := x509.NewCertPool()
		want.AppendCertsFromPEM(b)
		if tc.RootCAs == nil || !tc.RootCAs.Equal(want) {
			return fmt.Errorf("TLS roots are not %s", w.CAFile)
		}
	}
	if w.CertFile == "" {
		if len(tc.Certificates) != 0 {
			return fmt.Errorf("a client certificate, want none")
		}
		return nil
	}
	b, err := os.ReadFile(w.CertFile)
	if err != nil {
		return err
	}
	blk, _ := pem.Decode(b)
	if len(tc.Certificates) != 1 || blk == nil || !bytes.Equal(tc.Certificates[0].Certificate[0], blk.Bytes) {
		return fmt.Errorf("client certificate is not %s", w.CertFile)
	}
	return nil
}

// checkSASL starts m's login and compares its messages with those of a
// mechanism made here from w's user and password.
func checkSASL(m sasl.Mechanism, w Want) error {
	if m.Name() != w.Mechanism {
		return fmt.Errorf("SASL %s, want %s", m.Name(), w.Mechanism)
	}
	ctx := context.Background()
	sess, first, err := m.Authenticate(ctx, "127.0.0.1:1")
	if err != nil {
		return err
	}
	if w.Mechanism == "PLAIN" {
		_, want, _ := plain.Auth{User: w.User, Pass: w.Password}.AsMechanism().Authenticate(ctx, "")
		if !bytes.Equal(first, want) {
			return fmt.Errorf("PLAIN login is not user %q with the expected password", w.User)
		}
		return nil
	}
	// SCRAM: the first message names the user and a random nonce; the
	// second, the answer to a made-up server challenge, proves the
	// password. A reference mechanism with the same nonce must send the
	// same.
	_, nonce, ok := strings.Cut(string(first), ",r=")
	if !ok {
		return fmt.Errorf("SCRAM first message %q has no nonce", first)
	}
	raw, err := base64.RawStdEncoding.DecodeString(nonce)
	if err != nil {
		return fmt.Errorf("SCRAM nonce %q: %v", nonce, err)
	}
	ref := scram.Auth{User: w.User, Pass: w.Password, Nonce: raw}
	var rm sasl.Mechanism
	if w.Mechanism == "SCRAM-SHA-256" {
		rm = ref.AsSha256Mechanism()
	} else {
		rm = ref.AsSha512Mechanism()
	}
	rsess, rfirst, err := rm.Authenticate(ctx, "")
	if err != nil {
		return err
	}
	if !bytes.Equal(first, rfirst) {
		return fmt.Errorf("SCRAM first message %q, want %q", first, rfirst)
	}
	challenge := []byte("r=" + nonce + "server-nonce,s=" + base64.StdEncoding.EncodeToString([]byte("kafkasectest-salt")) + ",i=4096")
	_, final, err := sess.Challenge(challenge)
	if err != nil {
		return err
	}
	_, rfinal, err := rsess.Challenge(challenge)
	if err != nil {
		return err
	}
	if !bytes.Equal(final, rfinal) {
		return fmt.Errorf("SCRAM proof differs: not user %q's expected password", w.User)
	}
	return nil
}

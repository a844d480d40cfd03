package kafkasec

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/switchboard-cc/switchboard/internal/publisher"
)

// EnvPrefix makes a flag's environment variable: --kafka-tls-ca is
// $SWITCHBOARD_KAFKA_TLS_CA.
const EnvPrefix = "SWITCHBOARD_"

// EnvKafkaSASLPassword holds the SASL password. There is deliberately no
// flag for it: a command line is visible to every user of the machine (ps)
// and ends up in shell histories. Use the variable or
// --kafka-sasl-password-file.
const EnvKafkaSASLPassword = "SWITCHBOARD_KAFKA_SASL_PASSWORD"

// ErrConfig wraps the errors of a wrong flag combination or an unreadable
// password file.
var ErrConfig = errors.New("kafka security")

// EnvName is the environment variable of flag name.
func EnvName(name string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Flags is TLS and SASL to the Kafka cluster given with --kafka-brokers
// (the embedded broker listens in plain text on loopback).
type Flags struct {
	// TLS connects with TLS (--kafka-tls); the other TLS fields need it.
	TLS bool
	// TLSCA is a PEM file of the roots that verify the brokers
	// (--kafka-tls-ca); default the system roots.
	TLSCA string
	// TLSCert and TLSKey are the PEM client certificate and key, both or
	// neither (--kafka-tls-cert, --kafka-tls-key).
	TLSCert, TLSKey string
	// SASLMechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
	// (--kafka-sasl-mechanism); empty: no SASL.
	SASLMechanism string
	// SASLUser is the SASL user name (--kafka-sasl-user).
	SASLUser string
	// SASLPasswordFile is a file whose content (trailing newline removed)
	// is the SASL password (--kafka-sasl-password-file); otherwise the
	// password comes from $SWITCHBOARD_KAFKA_SASL_PASSWORD.
	SASLPasswordFile string
}

// AddFlags registers the flags of k with add (serve's ParseFlags, or
// Register's flag set).
func (k *Flags) AddFlags(add func(name string, v flag.Value, usage string)) {
	add("kafka-tls", (*BoolValue)(&k.TLS), "connect to --kafka-brokers with TLS (`BOOL`)")
	add("kafka-tls-ca", (*stringValue)(&k.TLSCA), "PEM `FILE` of the CA certificates that verify the brokers (default: the system roots)")
	add("kafka-tls-cert", (*stringValue)(&k.TLSCert), "PEM client certificate `FILE` (mutual TLS; with --kafka-tls-key)")
	add("kafka-tls-key", (*stringValue)(&k.TLSKey), "PEM client key `FILE` (with --kafka-tls-cert)")
	add("kafka-sasl-mechanism", (*stringValue)(&k.SASLMechanism), "SASL `MECHANISM` to the brokers: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (PLAIN only over TLS)")
	add("kafka-sasl-user", (*stringValue)(&k.SASLUser), "SASL `USER`; the password comes from $"+EnvKafkaSASLPassword+" or --kafka-sasl-password-file")
	add("kafka-sasl-password-file", (*stringValue)(&k.SASLPasswordFile), "`FILE` holding the SASL password")
}

// Register adds the flags to fs for a command other than serve, each
// defaulting to its environment variable (EnvName) as in serve; a flag
// on the command line wins. The error is a variable's unreadable value.
func (k *Flags) Register(fs *flag.FlagSet, getenv func(string) string) error {
	var err error
	k.AddFlags(func(name string, v flag.Value, usage string) {
		env := EnvName(name)
		if getenv != nil && err == nil {
			if s := getenv(env); s != "" {
				if e := v.Set(s); e != nil {
					err = fmt.Errorf("%w: %s: %v", ErrConfig, env, e)
				}
			}
		}
		fs.Var(v, name, usage+" (env "+env+")")
	})
	return err
}

// Validate checks the fields, bad building the error for a flag. brokers
// are the --kafka-brokers given (none: serve's embedded broker, which has
// neither TLS nor SASL).
func (k *Flags) Validate(brokers []string, bad func(flag, format string, args ...any) error) error {
	set := k.TLS || k.TLSCA != "" || k.TLSCert != "" || k.TLSKey != "" || k.SASLMechanism != "" || k.SASLUser != "" || k.SASLPasswordFile != ""
	if set && len(brokers) == 0 {
		return bad("kafka-brokers", "the Kafka TLS and SASL options are for a cluster given with --kafka-brokers; the embedded broker has neither")
	}
	if !k.TLS {
		for _, f := range []struct{ flag, v string }{{"kafka-tls-ca", k.TLSCA}, {"kafka-tls-cert", k.TLSCert}, {"kafka-tls-key", k.TLSKey}} {
			if f.v != "" {
				return bad(f.flag, "needs --kafka-tls")
			}
		}
	}
	if (k.TLSCert == "") != (k.TLSKey == "") {
		return bad("kafka-tls-cert", "--kafka-tls-cert and --kafka-tls-key go together")
	}
	switch k.SASLMechanism {
	case "":
		if k.SASLUser != "" || k.SASLPasswordFile != "" {
			return bad("kafka-sasl-mechanism", "required with --kafka-sasl-user or --kafka-sasl-password-file")
		}
	case publisher.MechanismPlain:
		if !k.TLS {
			return bad("kafka-sasl-mechanism", "PLAIN sends the password in clear: use it with --kafka-tls (or SCRAM)")
		}
		fallthrough
	case publisher.MechanismScramSHA256, publisher.MechanismScramSHA512:
		if k.SASLUser == "" {
			return bad("kafka-sasl-user", "required with --kafka-sasl-mechanism")
		}
	default:
		return bad("kafka-sasl-mechanism", "%q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", k.SASLMechanism)
	}
	return nil
}

// PublisherConfig returns the TLS and SASL configuration, reading the
// password from the file or the environment.
func (k *Flags) PublisherConfig(getenv func(string) string) (publisher.TLSConfig, publisher.SASLConfig, error) {
	tc := publisher.TLSConfig{Enabled: k.TLS, CAFile: k.TLSCA, CertFile: k.TLSCert, KeyFile: k.TLSKey}
	if k.SASLMechanism == "" {
		return tc, publisher.SASLConfig{}, nil
	}
	var pw string
	if k.SASLPasswordFile != "" {
		b, err := os.ReadFile(k.SASLPasswordFile)
		if err != nil {
			return tc, publisher.SASLConfig{}, fmt.Errorf("%w: --kafka-sasl-password-file: %v", ErrConfig, err)
		}
		pw = strings.TrimRight(string(b), "\r\n")
	} else if getenv != nil {
		pw = getenv(EnvKafkaSASLPassword)
	}
	if pw == "" {
		return tc, publisher.SASLConfig{}, fmt.Errorf("%w: --kafka-sasl-mechanism %s: no password: set $%s or --kafka-sasl-password-file",
			ErrConfig, k.SASLMechanism, EnvKafkaSASLPassword)
	}
	return tc, publisher.SASLConfig{Mechanism: k.SASLMechanism, User: k.SASLUser, Password: pw}, nil
}

// KgoOpts are the TLS and SASL options of a Kafka client for the flags,
// the same as Opts of PublisherConfig's result.
func (k *Flags) KgoOpts(getenv func(string) string) ([]kgo.Opt, error) {
	tc, sc, err := k.PublisherConfig(getenv)
	if err != nil {
		return nil, err
	}
	return Opts(tc, sc)
}

// Opts are the kgo options of tc and sc: a TLS dialer and a SASL
// mechanism, or none.
func Opts(tc publisher.TLSConfig, sc publisher.SASLConfig) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	if tc.Enabled {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if tc.CAFile != "" {
			pem, err := os.ReadFile(tc.CAFile)
			if err != nil {
				return nil, fmt.Errorf("%w: kafka TLS CA: %v", ErrConfig, err)
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%w: kafka TLS CA %s: no certificate", ErrConfig, tc.CAFile)
			}
		}
		if tc.CertFile != "" {
			c, err := tls.LoadX509KeyPair(tc.CertFile, tc.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("%w: kafka TLS client certificate: %v", ErrConfig, err)
			}
			cfg.Certificates = []tls.Certificate{c}
		}
		cfg.InsecureSkipVerify = tc.InsecureSkipVerify //nolint:gosec // the operator's explicit choice (tests)
		cfg.ServerName = tc.ServerName
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	switch sc.Mechanism {
	case "":
	case publisher.MechanismPlain:
		opts = append(opts, kgo.SASL(plain.Auth{User: sc.User, Pass: sc.Password}.AsMechanism()))
	case publisher.MechanismScramSHA256:
		opts = append(opts, kgo.SASL(scram.Auth{User: sc.User, Pass: sc.Password}.AsSha256Mechanism()))
	case publisher.MechanismScramSHA512:
		opts = append(opts, kgo.SASL(scram.Auth{User: sc.User, Pass: sc.Password}.AsSha512Mechanism()))
	default:
		return nil, fmt.Errorf("%w: unknown SASL mechanism %q", ErrConfig, sc.Mechanism)
	}
	return opts, nil
}

// Explain adds what the command tried to a Kafka start-up error, so that
// a wrong password or CA reads as such: a broker that refuses a SASL login
// may just close the connection, which the client retries until its
// deadline.
func (k *Flags) Explain(err error, brokers []string) error {
	if err == nil {
		return nil
	}
	var how []string
	if k.TLS {
		ca := "the system roots"
		if k.TLSCA != "" {
			ca = k.TLSCA
		}
		how = append(how, "TLS verified with "+ca)
	} else {
		how = append(how, "no TLS (--kafka-tls)")
	}
	if k.SASLMechanism != "" {
		how = append(how, fmt.Sprintf("SASL %s as %q (password from %s)", k.SASLMechanism, k.SASLUser, k.passwordSource()))
	} else {
		how = append(how, "no SASL (--kafka-sasl-mechanism)")
	}
	return fmt.Errorf("%w; connecting to %s with %s: check these against the cluster's listeners and users",
		err, strings.Join(brokers, ","), strings.Join(how, ", "))
}

func (k *Flags) passwordSource() string {
	if k.SASLPasswordFile != "" {
		return k.SASLPasswordFile
	}
	return "$" + EnvKafkaSASLPassword
}

// BoolValue is a bool flag.Value that takes what strconv.ParseBool takes,
// spaces around it ignored (serve's other bool flags use it too).
type BoolValue bool

func (b *BoolValue) String() string   { return strconv.FormatBool(bool(*b)) }
func (b *BoolValue) IsBoolFlag() bool { return true }
func (b *BoolValue) Set(v string) error {
	x, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("%q is not true or false", v)
	}
	*b = BoolValue(x)
	return nil
}

type stringValue string

func (s *stringValue) String() string     { return string(*s) }
func (s *stringValue) Set(v string) error { *s = stringValue(v); return nil }

// Check validates the flags as serve does, for a command other than
// serve; the error wraps ErrConfig.
func (k *Flags) Check(brokers []string) error {
	return k.Validate(brokers, func(flag, format string, args ...any) error {
		return fmt.Errorf("%w: --%s: %s", ErrConfig, flag, fmt.Sprintf(format, args...))
	})
}

// Options checks the flags (Check) and returns the kgo options they give:
// what a command other than serve calls after parsing its flags.
func (k *Flags) Options(brokers []string, getenv func(string) string) ([]kgo.Opt, error) {
	if err := k.Check(brokers); err != nil {
		return nil, err
	}
	return k.KgoOpts(getenv)
}

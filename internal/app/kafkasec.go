package app

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/switchboard-cc/switchboard/internal/publisher"
)

// EnvKafkaSASLPassword holds the SASL password. There is deliberately no
// flag for it: a command line is visible to every user of the machine (ps)
// and ends up in shell histories. Use the variable or
// --kafka-sasl-password-file.
const EnvKafkaSASLPassword = "SWITCHBOARD_KAFKA_SASL_PASSWORD"

// KafkaSecurity is TLS and SASL from serve to the Kafka cluster given with
// --kafka-brokers (the embedded broker listens in plain text on loopback).
type KafkaSecurity struct {
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

// addFlags registers the flags of k with ParseFlags' add.
func (k *KafkaSecurity) addFlags(add func(name string, v flag.Value, usage string)) {
	add("kafka-tls", (*boolValue)(&k.TLS), "connect to --kafka-brokers with TLS (`BOOL`)")
	add("kafka-tls-ca", (*stringValue)(&k.TLSCA), "PEM `FILE` of the CA certificates that verify the brokers (default: the system roots)")
	add("kafka-tls-cert", (*stringValue)(&k.TLSCert), "PEM client certificate `FILE` (mutual TLS; with --kafka-tls-key)")
	add("kafka-tls-key", (*stringValue)(&k.TLSKey), "PEM client key `FILE` (with --kafka-tls-cert)")
	add("kafka-sasl-mechanism", (*stringValue)(&k.SASLMechanism), "SASL `MECHANISM` to the brokers: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (PLAIN only over TLS)")
	add("kafka-sasl-user", (*stringValue)(&k.SASLUser), "SASL `USER`; the password comes from $"+EnvKafkaSASLPassword+" or --kafka-sasl-password-file")
	add("kafka-sasl-password-file", (*stringValue)(&k.SASLPasswordFile), "`FILE` holding the SASL password")
}

// validate checks the fields, bad being Config.Validate's error builder.
func (k *KafkaSecurity) validate(brokers []string, bad func(flag, format string, args ...any) error) error {
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

// publisherConfig returns the publisher's TLS and SASL configuration,
// reading the password from the file or the environment.
func (k *KafkaSecurity) publisherConfig(getenv func(string) string) (publisher.TLSConfig, publisher.SASLConfig, error) {
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

type boolValue bool

func (b *boolValue) String() string   { return strconv.FormatBool(bool(*b)) }
func (b *boolValue) IsBoolFlag() bool { return true }
func (b *boolValue) Set(v string) error {
	x, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("%q is not true or false", v)
	}
	*b = boolValue(x)
	return nil
}

// explain adds what serve tried to a Kafka start-up error, so that a wrong
// password or CA reads as such: a broker that refuses a SASL login may just
// close the connection, which the client retries until its deadline.
// Serve's Run wraps publisher.New's error with it.
func (k *KafkaSecurity) explain(err error, brokers []string) error {
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

func (k *KafkaSecurity) passwordSource() string {
	if k.SASLPasswordFile != "" {
		return k.SASLPasswordFile
	}
	return "$" + EnvKafkaSASLPassword
}

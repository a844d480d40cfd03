package kafkasec

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchboard-cc/switchboard/internal/kafkasec/kafkasectest"
	"github.com/switchboard-cc/switchboard/internal/publisher"
)

func TestKafkaExplain(t *testing.T) {
	base := errors.New("publisher: cannot connect: context deadline exceeded")
	k := Flags{TLS: true, TLSCA: "/etc/ca.pem", SASLMechanism: publisher.MechanismScramSHA512, SASLUser: "sb"}
	err := k.Explain(base, []string{"k1:9093", "k2:9093"})
	if !errors.Is(err, base) {
		t.Fatalf("%v does not wrap the cause", err)
	}
	for _, want := range []string{"k1:9093,k2:9093", "TLS verified with /etc/ca.pem", `SCRAM-SHA-512 as "sb"`, "$" + EnvKafkaSASLPassword} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v lacks %q", err, want)
		}
	}
	k = Flags{SASLMechanism: publisher.MechanismScramSHA256, SASLUser: "sb", SASLPasswordFile: "/run/secrets/kafka"}
	if err := k.Explain(base, []string{"k:9092"}); !strings.Contains(err.Error(), "no TLS") || !strings.Contains(err.Error(), "/run/secrets/kafka") {
		t.Errorf("%v", err)
	}
	if (&Flags{}).Explain(nil, nil) != nil {
		t.Error("Explain(nil) is not nil")
	}
}

// The flags registered on a command's flag set, from the command line and
// the environment, give the TLS and SASL each case wants, and refuse the
// same combinations serve refuses.
func TestRegisterOptions(t *testing.T) {
	kafkasectest.Run(t, ErrConfig, func(t *testing.T, c kafkasectest.Case) ([]kgo.Opt, error) {
		return parseOptions(c.Args, c.Getenv)
	})
}

func parseOptions(args []string, getenv func(string) string) ([]kgo.Opt, error) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var k Flags
	regErr := k.Register(fs, getenv)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if regErr != nil {
		return nil, regErr
	}
	return k.Options([]string{"k:9093"}, getenv)
}

// Check catches options that differ from the case: it is not satisfied by
// anything.
func TestCheckRefuses(t *testing.T) {
	cases := kafkasectest.Cases(t)
	var full kafkasectest.Case
	for _, c := range cases {
		if c.Want.CertFile != "" {
			full = c
		}
	}
	opts, err := parseOptions(full.Args, full.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	w := full.Want
	for name, bad := range map[string]func(*kafkasectest.Want){
		"no tls":         func(w *kafkasectest.Want) { w.TLS, w.CAFile, w.CertFile = false, "", "" },
		"system roots":   func(w *kafkasectest.Want) { w.CAFile = "" },
		"no client cert": func(w *kafkasectest.Want) { w.CertFile = "" },
		"other password": func(w *kafkasectest.Want) { w.Password += "x" },
		"other user":     func(w *kafkasectest.Want) { w.User += "x" },
		"other sha":      func(w *kafkasectest.Want) { w.Mechanism = "SCRAM-SHA-256" },
		"no sasl":        func(w *kafkasectest.Want) { w.Mechanism = "" },
	} {
		ww := w
		bad(&ww)
		if err := kafkasectest.Check(opts, ww); err == nil {
			t.Errorf("%s: Check accepted it", name)
		}
	}
	if err := kafkasectest.Check(nil, w); err == nil {
		t.Error("Check accepted no options")
	}
}

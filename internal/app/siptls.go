package app

import (
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/switchboard-cc/switchboard/internal/sipfront"
)

// SIPTLS is SIP over TLS beside UDP and TCP on --sip.
type SIPTLS struct {
	// Listen is the TLS address (--sip-tls); empty serves no TLS.
	Listen string
	// Cert and Key are the PEM certificate (chain) and key files
	// (--sip-tls-cert, --sip-tls-key), read again on SIGHUP.
	Cert, Key string
}

// addFlags registers the flags of t with ParseFlags' add.
func (t *SIPTLS) addFlags(add func(name string, v flag.Value, usage string)) {
	add("sip-tls", (*stringValue)(&t.Listen), "SIP over TLS listen `ADDR` (with --sip-tls-cert and --sip-tls-key; both files are read again on SIGHUP)")
	add("sip-tls-cert", (*stringValue)(&t.Cert), "PEM certificate (chain) `FILE` of --sip-tls")
	add("sip-tls-key", (*stringValue)(&t.Key), "PEM key `FILE` of --sip-tls")
}

// validate checks the fields, bad being Config.Validate's error builder.
func (t *SIPTLS) validate(bad func(flag, format string, args ...any) error) error {
	if t.Listen == "" {
		if t.Cert != "" || t.Key != "" {
			return bad("sip-tls", "required with --sip-tls-cert and --sip-tls-key")
		}
		return nil
	}
	if err := hostPort(t.Listen); err != nil {
		return bad("sip-tls", "%v", err)
	}
	if t.Cert == "" || t.Key == "" {
		return bad("sip-tls-cert", "--sip-tls needs --sip-tls-cert and --sip-tls-key")
	}
	return nil
}

// config is sipfront's TLS configuration.
func (t SIPTLS) config() sipfront.TLSConfig {
	return sipfront.TLSConfig{Listen: t.Listen, CertFile: t.Cert, KeyFile: t.Key}
}

// reloadOnHangup reads srv's TLS certificate and key again on every
// SIGHUP until the returned stop is called; a failed reload keeps the
// certificate in use and is logged.
func reloadOnHangup(srv *sipfront.Server, log *slog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				if err := srv.ReloadTLS(); err != nil {
					log.Error("SIP TLS certificate not reloaded; the one in use stays", "err", err)
				} else {
					log.Info("SIP TLS certificate reloaded")
				}
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(hup); close(done) }
}

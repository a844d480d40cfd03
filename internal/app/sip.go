package app

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/metrics"
	"github.com/switchboard-cc/switchboard/internal/sipfront"
	"github.com/switchboard-cc/switchboard/internal/tenant"
)

// startSIP starts the SIP front end (internal/sipfront) on c.SIP (UDP) for
// the tenants of file, its bindings kept in c.Data/sip so that phones stay
// registered across a restart; rts are their runtimes in the same order. With the
// demo tenant (demo true) it prints the SIP credentials to stdout, since
// the password may have been generated. Close the returned server after
// the CTI API stops and before the runtimes close. set counts SIP
// requests and responses for /metrics.
func startSIP(c Config, file *config.File, rts []*tenant.Tenant, demo bool, set *metrics.Set, stdout io.Writer, log *slog.Logger) (*sipfront.Server, error) {
	if len(rts) != len(file.Tenants) {
		return nil, fmt.Errorf("app: SIP: %d runtimes for %d tenants", len(rts), len(file.Tenants))
	}
	ts := make([]sipfront.Tenant, len(rts))
	for i, rt := range rts {
		ts[i] = sipfront.Tenant{Config: &file.Tenants[i], Runtime: rt}
	}
	srv, err := sipfront.Start(sipfront.Config{
		Listen:   c.SIP,
		Tenants:  ts,
		StateDir: filepath.Join(c.Data, "sip"),
		Logger:   log.With("component", "sipfront"),
		Metrics:  set,
	})
	if err != nil {
		return nil, err
	}
	if demo {
		fmt.Fprintf(stdout, "  SIP: register extensions 1001-1020 at sip:%s (UDP), user = the extension, password %s\n",
			srv.Addr(), file.Tenants[0].Defaults.SIPPassword)
	}
	return srv, nil
}

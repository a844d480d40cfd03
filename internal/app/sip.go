package app

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/ctiapi"
	"github.com/switchboard-cc/switchboard/internal/media"
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
	srv, err := startSIPFront(c, file, rts, sipfront.Config{StateDir: filepath.Join(c.Data, "sip")}, set, log)
	if err != nil {
		return nil, err
	}
	trunkMetrics(set, srv)
	if demo {
		fmt.Fprintf(stdout, "  SIP: register extensions 1001-1020 at sip:%s (UDP), user = the extension, password %s\n",
			srv.Addr(), file.Tenants[0].Defaults.SIPPassword)
	}
	return srv, nil
}

// startSIPFront starts sipfront on c.SIP with sc's other settings for the
// tenants of file, rts their runtimes in the same order (nil in a cluster,
// where they come and go), each with its media plane.
func startSIPFront(c Config, file *config.File, rts []*tenant.Tenant, sc sipfront.Config, set *metrics.Set, log *slog.Logger) (*sipfront.Server, error) {
	clips, err := loadClips(file)
	if err != nil {
		return nil, err
	}
	ts := make([]sipfront.Tenant, len(file.Tenants))
	var planes []*media.Plane
	for i := range ts {
		ts[i] = sipfront.Tenant{Config: &file.Tenants[i]}
		if rts != nil {
			ts[i].Runtime = rts[i]
		}
		m, err := tenantMedia(c, file.Tenants[i].Media, clips[i])
		if err != nil {
			return nil, err
		}
		if m != nil {
			ts[i].Media = m
			planes = append(planes, m.Plane)
		}
	}
	fc, err := sipfront.ParseFeatureCodes(c.SIPFeatureCodes)
	if err != nil {
		return nil, err // Validate has refused it already
	}
	if err := sipfront.SetReadBuffer(int(c.SIPReadBuffer)); err != nil {
		return nil, err // Validate has refused it already
	}
	if sc.DigestAlgorithms, err = sipfront.ParseDigestAlgorithms(c.SIPDigest); err != nil {
		return nil, err // Validate has refused it already
	}
	sc.Listen, sc.TLS, sc.MaxConns, sc.FeatureCodes = c.SIP, c.SIPTLS.config(), c.SIPMaxConns, fc
	sc.Tenants, sc.Logger, sc.Metrics = ts, log.With("component", "sipfront"), set
	// 0 is sipfront's default.
	sc.UnauthRate, sc.UnauthBurst = c.Ops.SIPUnauthRate, c.Ops.SIPUnauthBurst
	srv, err := sipfront.Start(sc)
	if err != nil {
		return nil, err
	}
	for _, p := range planes {
		go p.Run(srv.Context())
	}
	return srv, nil
}

// tenantMedia is a tenant's media setup for sipfront from its
// configuration (nil without a media section): a plane of its own binding
// RTP on the SIP listener's host (all interfaces when it has none), its
// SDP advertising external-ip, else that host (127.0.0.1 for all
// interfaces: set external-ip for phones on other hosts), its clips as
// loaded at validation, its tone plan.
func tenantMedia(c Config, m *config.Media, clips map[string]*media.Clip) (*sipfront.Media, error) {
	if m == nil {
		return nil, nil
	}
	bind := netip.MustParseAddr("127.0.0.1")
	if host, _, err := net.SplitHostPort(c.SIP); err == nil {
		if a, err := netip.ParseAddr(host); err == nil {
			bind = a
		} else if host == "" {
			bind = netip.IPv4Unspecified()
		}
	}
	adv := bind
	if m.ExternalIP != "" {
		a, err := netip.ParseAddr(m.ExternalIP)
		if err != nil {
			return nil, fmt.Errorf("app: media external-ip: %w", err)
		}
		adv = a
	} else if bind.IsUnspecified() {
		adv = netip.MustParseAddr("127.0.0.1")
	}
	plan := media.TonesEU
	if m.Tones == "us" {
		plan = media.TonesUS
	}
	tones, err := media.NewTones(plan)
	if err != nil {
		return nil, err
	}
	lo, hi := m.Ports()
	sm := &sipfront.Media{
		Plane:     media.NewPlane(media.Config{Bind: bind, PortMin: lo, PortMax: hi}),
		Advertise: adv, Tones: tones, OnArrival: m.AnswerOn == "arrival", Always: m.Anchor == "always",
		Music: map[string]*media.Clip{}, Announcements: map[string]*media.Clip{},
		DefaultMusic: clips[m.DefaultMusic],
	}
	if r := m.Recording; r != nil {
		sm.Recording = &sipfront.Recording{Template: r.Path, Queues: map[string]bool{}}
		for _, q := range r.Queues {
			sm.Recording.Queues[q] = true
		}
	}
	for k, f := range m.Music {
		sm.Music[k] = clips[f]
	}
	for k, f := range m.Announcements {
		sm.Announcements[k] = clips[f]
	}
	return sm, nil
}

// loadClips loads and encodes every tenant's audio files once (a file
// named twice, by any tenant, is loaded once and shared) and returns each
// tenant's clips by the names its configuration uses, the demo's built-in
// ones included. A missing or malformed file is a configuration error at
// its field: "file:line: path: message".
func loadClips(file *config.File) ([]map[string]*media.Clip, error) {
	builtin := map[string]*media.Clip{config.DemoMusic: media.DemoMusic(), config.DemoAnnouncement: media.DemoAnnouncement()}
	byPath := map[string]*media.Clip{}
	out := make([]map[string]*media.Clip, len(file.Tenants))
	for i := range out {
		out[i] = map[string]*media.Clip{}
		for k, v := range builtin {
			out[i][k] = v
		}
	}
	for _, mf := range file.MediaFiles() {
		c := byPath[mf.Path]
		if c == nil {
			var err error
			if c, err = media.LoadWAV(mf.Path); err != nil {
				return nil, file.FieldError(mf.Field, err.Error())
			}
			byPath[mf.Path] = c
		}
		out[mf.Tenant][mf.Name] = c
	}
	return out, nil
}

// sipRecording is the CTI API's recording control of tenant id's calls:
// sipfront's, its "not recorded" as the API's.
func sipRecording(srv *sipfront.Server, id string) func(connID, action string) error {
	return func(connID, action string) error {
		err := srv.Recording(id, connID, action)
		if errors.Is(err, sipfront.ErrNoRecording) {
			return fmt.Errorf("%w", ctiapi.ErrNotRecorded)
		}
		return err
	}
}

// sipTrunk is the CTI API's view of tenant id's trunks' SIP state
// (GET .../dns/{trunk}): sipfront's TrunkStatus.
func sipTrunk(srv *sipfront.Server, id string) func(dn string) *ctiapi.TrunkSIP {
	return func(dn string) *ctiapi.TrunkSIP {
		st, ok := srv.TrunkStatus(id, dn)
		if !ok {
			return nil
		}
		out := &ctiapi.TrunkSIP{Registration: st.Registration, RegistrationError: st.RegistrationError, Keepalive: st.Keepalive}
		if !st.RegisteredUntil.IsZero() {
			out.RegisteredUntil = st.RegisteredUntil.UTC().Format(time.RFC3339)
		}
		if !st.LastAnswer.IsZero() {
			out.LastAnswer = st.LastAnswer.UTC().Format(time.RFC3339Nano)
		}
		return out
	}
}

// trunkMetrics puts the trunks' SIP state on /metrics: registered (trunks
// that register) and answering their keepalives (trunks that have them).
func trunkMetrics(set *metrics.Set, srv *sipfront.Server) {
	if set == nil {
		return
	}
	labels := []string{"tenant", "trunk"}
	set.GaugeFunc(metrics.NameSIPTrunkRegistered, "1 if the trunk is registered to its carrier, else 0, by tenant and trunk (trunks that register).", labels,
		func(emit metrics.Emit) {
			srv.Trunks(func(tenant, dn string, st sipfront.TrunkStatus) {
				if st.Registration != "off" {
					emit(oneIf(st.Registration == "registered"), tenant, dn)
				}
			})
		})
	set.GaugeFunc(metrics.NameSIPTrunkUp, "1 if the trunk answers its OPTIONS keepalives, 0 while it is out of service for want of answers, by tenant and trunk (trunks with keepalive).", labels,
		func(emit metrics.Emit) {
			srv.Trunks(func(tenant, dn string, st sipfront.TrunkStatus) {
				if st.Keepalive != "off" {
					emit(oneIf(st.Keepalive == "up"), tenant, dn)
				}
			})
		})
}

func oneIf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// carrierPasswords reads each carrier account's password-env from the
// environment: a variable unset or empty is a configuration error.
func carrierPasswords(file *config.File, getenv func(string) string) error {
	for ti := range file.Tenants {
		for di := range file.Tenants[ti].DNs {
			d := &file.Tenants[ti].DNs[di]
			if d.Trunk == nil || d.Trunk.Account == nil || d.Trunk.Account.PasswordEnv == "" {
				continue
			}
			a := d.Trunk.Account
			if a.Password = getenv(a.PasswordEnv); a.Password == "" {
				return fmt.Errorf("%w: tenant %s trunk %s: account password-env %s is not set", ErrConfig, file.Tenants[ti].ID, d.Number, a.PasswordEnv)
			}
		}
	}
	return nil
}

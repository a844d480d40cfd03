package config

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Media is a tenant's media setup: what SIP callers hear while their call
// waits at a routing point or queue (internal/media, driven by sipfront).
// Without it (nil) callers are not anchored and hear nothing.
type Media struct {
	// Anchor is when switchboard answers a SIP caller with its own SDP:
	// "treatments" (default: when the call's first audible treatment
	// starts; the caller steps out to its agent's phone when answered) or
	// "always" (on arrival at a routing point or queue, and the call's RTP
	// stays relayed through switchboard after the agent answers; a direct
	// call between phones is relayed from its INVITE on: the safe mode
	// behind NAT, with external-ip and rtp-ports).
	Anchor string `yaml:"anchor"`
	// AnswerOn is "treatment" (default: anchor at the first audible
	// treatment) or "arrival" (anchor as soon as the call is queued or
	// reaches a routing point; the caller hears DefaultMusic meanwhile).
	AnswerOn string `yaml:"answer-on"`
	// Tones is the tone plan of RingBack and Busy: "eu" (default) or "us".
	Tones string `yaml:"tones"`
	// DefaultMusic is the file played for Music without a known MUSIC_DN,
	// and between treatments; empty: comfort noise.
	DefaultMusic string `yaml:"default-music"`
	// Music maps a MUSIC_DN treatment parameter to a file.
	Music map[string]string `yaml:"music"`
	// Announcements maps an ANNOUNCEMENT treatment parameter to a file.
	Announcements map[string]string `yaml:"announcements"`
	// ExternalIP is the address written in switchboard's SDP (behind NAT);
	// default the RTP bind address.
	ExternalIP string `yaml:"external-ip"`
	// RTPPorts is the RTP port range "low-high" (even ports are used);
	// empty: any free port.
	RTPPorts string `yaml:"rtp-ports"`
	// Recording records relayed calls (needs anchor: always).
	Recording *Recording `yaml:"recording"`
}

// Recording is a tenant's call recording: every relayed call, or those
// queued at Queues, into a two-channel G.711 WAV named by Path, a
// template: {connid}, {tenant}, {date} (YYYYMMDD), {time} (HHMMSS, UTC).
// A relative path is relative to serve's working directory.
type Recording struct {
	Path   string   `yaml:"path"`
	Queues []string `yaml:"queues"`
}

// The demo tenant's built-in audio (synthesised by internal/media; serve
// maps these names), named as files never are.
const (
	DemoMusic        = "builtin:demo-music"
	DemoAnnouncement = "builtin:demo-announcement"
)

var reIPAddr = regexp.MustCompile(`^([0-9]{1,3}(\.[0-9]{1,3}){3}|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)$`)

// Ports parses RTPPorts (validated): 0, 0 when empty.
func (m *Media) Ports() (lo, hi int) {
	a, b, ok := strings.Cut(m.RTPPorts, "-")
	if !ok {
		return 0, 0
	}
	lo, _ = strconv.Atoi(strings.TrimSpace(a))
	hi, _ = strconv.Atoi(strings.TrimSpace(b))
	return lo, hi
}

// media checks a tenant's media section (the audio files' format is
// checked when serve loads them: MediaFiles, FieldError; the engine's
// dependency rules keep the media plane out of this package).
func (v *validator) media(p string, m *Media) {
	if m == nil {
		return
	}
	p += ".media"
	switch m.Anchor {
	case "", "treatments", "always":
	default:
		v.add(p+".anchor", "bad anchor %q (want treatments or always)", m.Anchor)
	}
	switch m.AnswerOn {
	case "", "treatment", "arrival":
	default:
		v.add(p+".answer-on", "bad answer-on %q (want treatment or arrival)", m.AnswerOn)
	}
	switch m.Tones {
	case "", "eu", "us":
	default:
		v.add(p+".tones", "bad tone plan %q (want eu or us)", m.Tones)
	}
	if m.ExternalIP != "" {
		// The engine's dependency rules keep net out of this package: the
		// characters here, the address itself where serve parses it.
		if !reIPAddr.MatchString(m.ExternalIP) {
			v.add(p+".external-ip", "bad address %q (want an IPv4 or IPv6 address)", m.ExternalIP)
		}
	}
	if m.RTPPorts != "" {
		lo, hi := m.Ports()
		if lo < 1024 || hi > 65535 || hi < lo+1 {
			v.add(p+".rtp-ports", "bad port range %q (want low-high within 1024-65535, at least two ports)", m.RTPPorts)
		}
	}
	if r := m.Recording; r != nil {
		if m.Anchor != "always" {
			v.add(p+".recording", "recording needs anchor: always (a call that steps out has no RTP through switchboard)")
		}
		if r.Path == "" {
			v.add(p+".recording.path", "missing file name template")
		} else if !strings.Contains(r.Path, "{connid}") {
			v.add(p+".recording.path", "template %q lacks {connid} (every call needs a file of its own)", r.Path)
		}
	}
	check := func(path, file string) {
		if file == "" {
			v.add(path, "missing file name")
		}
	}
	if m.DefaultMusic != "" {
		check(p+".default-music", m.DefaultMusic)
	}
	for _, k := range sortedKeys(m.Music) {
		check(p+".music."+k, m.Music[k])
	}
	for _, k := range sortedKeys(m.Announcements) {
		check(p+".announcements."+k, m.Announcements[k])
	}
}

// MediaFile is one audio file a tenant's media section names.
type MediaFile struct {
	Tenant int    // index in File.Tenants
	Field  string // field path, e.g. tenants[0].media.music.9001
	Name   string // as written
	Path   string // resolved: relative to the configuration file's directory
}

// MediaFiles lists every audio file of every tenant's media section, in
// a stable order (built-in demo names are not files and are left out).
// The file format is checked where it is loaded (internal/media, by
// serve at start-up), which reports a bad file with FieldError.
func (f *File) MediaFiles() []MediaFile {
	var out []MediaFile
	for i := range f.Tenants {
		m := f.Tenants[i].Media
		if m == nil {
			continue
		}
		p := fmt.Sprintf("tenants[%d].media", i)
		add := func(field, name string) {
			if name == "" || strings.HasPrefix(name, "builtin:") {
				return
			}
			path := name
			if !filepath.IsAbs(path) && f.dir != "" {
				path = filepath.Join(f.dir, name)
			}
			out = append(out, MediaFile{Tenant: i, Field: field, Name: name, Path: path})
		}
		add(p+".default-music", m.DefaultMusic)
		for _, k := range sortedKeys(m.Music) {
			add(p+".music."+k, m.Music[k])
		}
		for _, k := range sortedKeys(m.Announcements) {
			add(p+".announcements."+k, m.Announcements[k])
		}
	}
	return out
}

// FieldError is a configuration error at a field path, with the file name
// and the field's line: "file:line: path: message".
func (f *File) FieldError(path, msg string) error {
	v := &validator{f: f}
	v.add(path, "%s", msg)
	return v.errs[0]
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

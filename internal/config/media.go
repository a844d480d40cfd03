package config

import (
	"net/netip"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/switchboard-cc/switchboard/internal/media"
)

// Media is a tenant's media setup: what SIP callers hear while their call
// waits at a routing point or queue (internal/media, driven by sipfront).
// Without it (nil) callers are not anchored and hear nothing.
type Media struct {
	// Anchor is when switchboard answers a SIP caller with its own SDP:
	// "treatments" (default: when the call's first audible treatment
	// starts).
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

	// Clips are the files above loaded and encoded at validation, by
	// file name as written; shared by every call. Demo clips are built in.
	Clips map[string]*media.Clip `yaml:"-"`
}

// The demo tenant's built-in audio (synthesised by internal/media), named
// as files never are.
const (
	DemoMusic        = "builtin:demo-music"
	DemoAnnouncement = "builtin:demo-announcement"
)

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

// media checks a tenant's media section and loads its audio files
// (relative to the configuration file's directory): each must be an 8 kHz
// 16-bit mono PCM WAV.
func (v *validator) media(p string, m *Media) {
	if m == nil {
		return
	}
	p += ".media"
	switch m.Anchor {
	case "", "treatments":
	case "always":
		v.add(p+".anchor", "anchor: always (relaying every call) is not supported yet; use treatments")
	default:
		v.add(p+".anchor", "bad anchor %q (want treatments)", m.Anchor)
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
		if _, err := netip.ParseAddr(m.ExternalIP); err != nil {
			v.add(p+".external-ip", "bad address %q", m.ExternalIP)
		}
	}
	if m.RTPPorts != "" {
		lo, hi := m.Ports()
		if lo < 1024 || hi > 65535 || hi < lo+1 {
			v.add(p+".rtp-ports", "bad port range %q (want low-high within 1024-65535, at least two ports)", m.RTPPorts)
		}
	}
	if m.Clips == nil {
		m.Clips = map[string]*media.Clip{}
	}
	load := func(path, file string) {
		if file == "" {
			v.add(path, "missing file name")
			return
		}
		if m.Clips[file] != nil {
			return
		}
		full := file
		if !filepath.IsAbs(full) && v.f.dir != "" {
			full = filepath.Join(v.f.dir, file)
		}
		c, err := media.LoadWAV(full)
		if err != nil {
			v.add(path, "%v", err)
			return
		}
		m.Clips[file] = c
	}
	if m.DefaultMusic != "" {
		load(p+".default-music", m.DefaultMusic)
	}
	for _, k := range sortedKeys(m.Music) {
		load(p+".music."+k, m.Music[k])
	}
	for _, k := range sortedKeys(m.Announcements) {
		load(p+".announcements."+k, m.Announcements[k])
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard-cc/switchboard/internal/media"
)

func writeWAV(t *testing.T, path string, rate uint32) {
	t.Helper()
	var b bytes.Buffer
	if err := media.WriteWAV(&b, make([]int16, 800)); err != nil {
		t.Fatal(err)
	}
	raw := b.Bytes()
	raw[24], raw[25], raw[26], raw[27] = byte(rate), byte(rate>>8), byte(rate>>16), byte(rate>>24)
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestMediaFilesLoadedRelativeToTheConfig(t *testing.T) {
	dir := t.TempDir()
	writeWAV(t, filepath.Join(dir, "moh.wav"), 8000)
	writeWAV(t, filepath.Join(dir, "hello.wav"), 8000)
	src := base + `    media:
      default-music: moh.wav
      music: {"9001": moh.wav}
      announcements: {welcome: hello.wav}
      tones: us
      anchor: always
      external-ip: 203.0.113.7
      rtp-ports: 20000-20099
      recording: {path: "rec/{date}-{connid}.wav", queues: ["7000"]}
`
	path := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	m := f.Tenants[0].Media
	var got []string
	for _, mf := range f.MediaFiles() {
		got = append(got, mf.Field+"="+mf.Path)
	}
	want := []string{
		"tenants[0].media.default-music=" + filepath.Join(dir, "moh.wav"),
		"tenants[0].media.music.9001=" + filepath.Join(dir, "moh.wav"),
		"tenants[0].media.announcements.welcome=" + filepath.Join(dir, "hello.wav"),
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("media files:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if err := f.FieldError(want[2][:strings.Index(want[2], "=")], "bad file").Error(); err != "c.yaml:21: tenants[0].media.announcements.welcome: bad file" {
		t.Fatalf("FieldError: %s", err)
	}
	if m.Recording == nil || m.Recording.Path != "rec/{date}-{connid}.wav" || len(m.Recording.Queues) != 1 {
		t.Fatalf("recording %+v", m.Recording)
	}
	if m.Anchor != "always" || m.ExternalIP != "203.0.113.7" {
		t.Fatalf("anchor %q external-ip %q", m.Anchor, m.ExternalIP)
	}
	if lo, hi := m.Ports(); lo != 20000 || hi != 20099 {
		t.Fatalf("ports %d-%d", lo, hi)
	}
}

func TestMediaErrorsNameFileLineAndPath(t *testing.T) {
	src := base + `    media:
      default-music: ""
      announcements:
        welcome: cd.wav
      tones: uk
      anchor: sometimes
      rtp-ports: 5-4
      answer-on: ring
      recording: {path: calls.wav}
`
	_, err := Parse("c.yaml", []byte(src))
	if err == nil {
		t.Fatal("bad media section accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		"c.yaml:22: tenants[0].media.tones: bad tone plan \"uk\"",
		"c.yaml:23: tenants[0].media.anchor: bad anchor \"sometimes\"",
		"c.yaml:24: tenants[0].media.rtp-ports: bad port range \"5-4\"",
		"c.yaml:25: tenants[0].media.answer-on: bad answer-on \"ring\"",
		"c.yaml:26: tenants[0].media.recording: recording needs anchor: always",
		"c.yaml:26: tenants[0].media.recording.path: template \"calls.wav\" lacks {connid}",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
}

func TestDemoHasMedia(t *testing.T) {
	f := Demo("tok", "pw")
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	m := f.Tenants[0].Media
	if m == nil || m.AnswerOn != "arrival" || m.DefaultMusic != DemoMusic || m.Announcements["welcome"] != DemoAnnouncement || len(f.MediaFiles()) != 0 {
		t.Fatalf("demo media %+v", m)
	}
}

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
      rtp-ports: 20000-20099
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
	if m.Clips["moh.wav"] == nil || m.Clips["hello.wav"] == nil || m.Clips["moh.wav"].Frames() != 5 {
		t.Fatalf("clips %v", m.Clips)
	}
	if lo, hi := m.Ports(); lo != 20000 || hi != 20099 {
		t.Fatalf("ports %d-%d", lo, hi)
	}
}

func TestMediaErrorsNameFileLineAndPath(t *testing.T) {
	dir := t.TempDir()
	writeWAV(t, filepath.Join(dir, "cd.wav"), 44100)
	src := base + `    media:
      default-music: missing.wav
      announcements:
        welcome: cd.wav
      tones: uk
      anchor: sometimes
      rtp-ports: 5-4
`
	path := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil {
		t.Fatal("bad media section accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		"c.yaml:19: tenants[0].media.default-music: open " + filepath.Join(dir, "missing.wav"),
		"c.yaml:21: tenants[0].media.announcements.welcome: " + filepath.Join(dir, "cd.wav") + ": must be 8000 Hz, 16-bit, mono PCM WAV (this file: format 1, 44100 Hz, 16-bit, 1 channels)",
		"c.yaml:22: tenants[0].media.tones: bad tone plan \"uk\"",
		"c.yaml:23: tenants[0].media.anchor: bad anchor \"sometimes\"",
		"c.yaml:24: tenants[0].media.rtp-ports: bad port range \"5-4\"",
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
	if m == nil || m.AnswerOn != "arrival" || m.Clips[m.DefaultMusic] == nil || m.Clips[m.Announcements["welcome"]] == nil {
		t.Fatalf("demo media %+v", m)
	}
}

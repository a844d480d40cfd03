package app

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/media"
)

const mediaConfig = `tenants:
  - id: t1
    tokens: [tok1]
    dns:
      - number: "7000"
        type: acd-queue
    media:
      default-music: moh.wav
      music: {"9001": moh.wav}
      announcements: {welcome: WELCOME}
`

func TestLoadClipsSharesFilesAndNamesBadOnes(t *testing.T) {
	dir := t.TempDir()
	var b bytes.Buffer
	if err := media.WriteWAV(&b, make([]int16, 1600)); err != nil {
		t.Fatal(err)
	}
	good := b.Bytes()
	if err := os.WriteFile(filepath.Join(dir, "moh.wav"), good, 0o644); err != nil {
		t.Fatal(err)
	}
	bad := append([]byte{}, good...)
	bad[22] = 2 // stereo
	if err := os.WriteFile(filepath.Join(dir, "stereo.wav"), bad, 0o644); err != nil {
		t.Fatal(err)
	}
	load := func(welcome string) ([]map[string]*media.Clip, error) {
		path := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(path, []byte(strings.Replace(mediaConfig, "WELCOME", welcome, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		return loadClips(f)
	}
	clips, err := load("moh.wav")
	if err != nil {
		t.Fatal(err)
	}
	c := clips[0]["moh.wav"]
	if c == nil || c.Frames() != 10 || clips[0][config.DemoMusic] == nil {
		t.Fatalf("clips %v", clips[0])
	}
	_, err = load("stereo.wav")
	want := "c.yaml:10: tenants[0].media.announcements.welcome: " + filepath.Join(dir, "stereo.wav") + ": must be 8000 Hz, 16-bit, mono PCM WAV (this file: format 1, 8000 Hz, 16-bit, 2 channels)"
	if err == nil || err.Error() != want {
		t.Fatalf("stereo file: %v\nwant %s", err, want)
	}
	_, err = load("gone.wav")
	if err == nil || !strings.HasPrefix(err.Error(), "c.yaml:10: tenants[0].media.announcements.welcome: open ") {
		t.Fatalf("missing file: %v", err)
	}
}

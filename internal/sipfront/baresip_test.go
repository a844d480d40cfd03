package sipfront

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard-cc/switchboard/internal/media"
	"github.com/switchboard-cc/switchboard/internal/testenv"
)

// TestBaresipHearsTheMusicOf7000: a real softphone (Debian's baresip,
// headless: no sound card, its sndfile module writing what it decodes to a
// WAV) calls 7000 through the trunk; the queue answers on arrival with the
// demo music on the wall clock. What baresip heard must be music: its RMS
// well above the comfort noise switchboard sends otherwise, over at least
// a second of audio.
func TestBaresipHearsTheMusicOf7000(t *testing.T) {
	bin := testenv.LookPath(t, "Debian package baresip", "baresip")
	plane := media.NewPlane(media.Config{Schedulers: 1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { plane.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	tones, err := media.NewTones(media.TonesEU)
	if err != nil {
		t.Fatal(err)
	}
	moh := media.DemoMusic()
	// baresip also listens on TCP and TLS next to the trunk's UDP port;
	// when one of those is taken, a fixture on another port tries again.
	for attempt := 1; ; attempt++ {
		out, pcm := baresipCall(t, bin, plane, tones, moh)
		if pcm == nil && strings.Contains(string(out), "Address already in use") && attempt < 4 {
			t.Logf("baresip's ports were taken; again:\n%s", out)
			continue
		}
		checkHeard(t, out, pcm, moh)
		return
	}
}

// baresipCall runs baresip against a new fixture: its output, and the
// samples it decoded (nil when it wrote none).
func baresipCall(t *testing.T, bin string, plane *media.Plane, tones *media.Tones, moh *media.Clip) ([]byte, []int16) {
	f := newFixture(t, func(c *Config) {
		c.Tenants[0].Media = &Media{Plane: plane, DefaultMusic: moh, Tones: tones, OnArrival: true}
	})
	dir := t.TempDir()
	dumps := filepath.Join(dir, "heard")
	if err := os.Mkdir(dumps, 0o755); err != nil {
		t.Fatal(err)
	}
	var silence strings.Builder
	if err := media.WriteWAV(&silence, make([]int16, 8000*30)); err != nil { // longer than the call: aufile ends the call at its end
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "silence.wav"), []byte(silence.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	modules := "/usr/lib/baresip/modules"
	if _, err := os.Stat(filepath.Join(modules, "g711.so")); err != nil {
		testenv.Missing(t, "baresip's modules are not in %s: %v", modules, err)
	}
	config := strings.Join([]string{
		"poll_method epoll",
		"sip_listen " + f.trunk,
		"audio_player alsa,null",
		"audio_source aufile," + filepath.Join(dir, "silence.wav"),
		"audio_alert alsa,null",
		"audio_srate 8000",
		"audio_channels 1",
		"rtp_timeout 0",
		"module_path " + modules,
		"module stdio.so",
		"module g711.so",
		"module alsa.so",
		"module aufile.so",
		"module sndfile.so",
		"module_app account.so",
		"module_app menu.so",
		"snd_path " + dumps,
		"",
	}, "\n")
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "accounts"), []byte("<sip:+3377@127.0.0.1>;regint=0;audio_codecs=PCMU\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-f", dir, "-e", "/dial sip:7000@"+f.sip.Addr(), "-t", "6")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Logf("baresip: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(dumps, "*dec*.wav"))
	if len(files) != 1 {
		return out, nil
	}
	heard, err := media.LoadWAV(files[0])
	if err != nil {
		t.Fatalf("%s: %v\n%s", files[0], err, out)
	}
	return out, clipPCM(heard)
}

// checkHeard: over a second of audio after the first half second, and
// its RMS far above the comfort noise's.
func checkHeard(t *testing.T, out []byte, pcm []int16, moh *media.Clip) {
	t.Helper()
	if pcm == nil {
		t.Fatalf("baresip wrote no decoded audio; its output:\n%s", out)
	}
	const skip = 4000 // the first half second: answer, jitter buffer
	if len(pcm) < skip+8000 {
		t.Fatalf("baresip heard %d samples, want over 1.5 s; its output:\n%s", len(pcm), out)
	}
	noise := clipPCM(media.NewComfortNoise())
	got, floor := rms(pcm[skip:]), rms(noise)
	t.Logf("heard %d samples, RMS %.0f (comfort noise %.0f, the music %.0f)", len(pcm), got, floor, rms(clipPCM(moh)))
	if got < 10*floor || got < 300 {
		t.Fatalf("baresip heard RMS %.0f: not the music (comfort noise is %.0f)", got, floor)
	}
}

func rms(pcm []int16) float64 {
	var sum float64
	for _, s := range pcm {
		sum += float64(s) * float64(s)
	}
	return math.Sqrt(sum / float64(max(len(pcm), 1)))
}

// clipPCM decodes a clip's µ-law frames back to samples.
func clipPCM(c *media.Clip) []int16 {
	var out []int16
	for i := range c.Frames() {
		for _, b := range c.Frame(media.PCMU, i) {
			out = append(out, media.PCMU.Decode(b))
		}
	}
	return out
}

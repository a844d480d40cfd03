package media

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestG711RoundTripLevels(t *testing.T) {
	// Companding keeps the level: an encoder a few dB hot (a known bug in
	// hand-written A-law) fails this.
	for _, l := range []Law{PCMU, PCMA} {
		for _, s := range []int16{-32000, -8000, -1000, -100, 100, 1000, 8000, 32000} {
			got := l.Decode(l.Encode(s))
			if math.Abs(float64(got)-float64(s)) > math.Abs(float64(s))*0.07+16 {
				t.Errorf("%s: %d -> %d", l, s, got)
			}
		}
	}
	if PCMU.Encode(0) != 0xff || PCMA.Encode(0) != 0xd5 {
		t.Errorf("silence bytes %#x %#x, want 0xff 0xd5", PCMU.Encode(0), PCMA.Encode(0))
	}
}

func TestClipFraming(t *testing.T) {
	pcm := make([]int16, 3*FrameSamples+10)
	for i := range pcm {
		pcm[i] = int16(i)
	}
	c := NewClip("x", pcm)
	if c.Frames() != 4 {
		t.Fatalf("frames %d, want 4 (the last padded)", c.Frames())
	}
	for _, l := range []Law{PCMU, PCMA} {
		for i := 0; i < 4; i++ {
			f := c.Frame(l, i)
			if len(f) != FrameBytes {
				t.Fatalf("frame %d is %d bytes", i, len(f))
			}
			for j, b := range f {
				k := i*FrameSamples + j
				want := l.Encode(0)
				if k < len(pcm) {
					want = l.Encode(pcm[k])
				}
				if b != want {
					t.Fatalf("%s frame %d byte %d = %#x, want %#x", l, i, j, b, want)
				}
			}
		}
	}
	if NewClip("empty", nil).Frames() != 1 {
		t.Fatal("an empty clip must still have one frame")
	}
}

func TestWAVRoundTripAndErrors(t *testing.T) {
	pcm := []int16{0, 1, -1, 32767, -32768, 1234}
	var b bytes.Buffer
	if err := WriteWAV(&b, pcm); err != nil {
		t.Fatal(err)
	}
	got, err := ReadWAV(bytes.NewReader(b.Bytes()))
	if err != nil || len(got) != len(pcm) {
		t.Fatalf("ReadWAV: %v %v", got, err)
	}
	for i := range pcm {
		if got[i] != pcm[i] {
			t.Fatalf("sample %d: %d want %d", i, got[i], pcm[i])
		}
	}
	// An unknown chunk between fmt and data is skipped.
	raw := b.Bytes()
	withList := append(append(append([]byte{}, raw[:36]...), []byte("LIST\x03\x00\x00\x00abc\x00")...), raw[36:]...)
	if got, err := ReadWAV(bytes.NewReader(withList)); err != nil || len(got) != len(pcm) {
		t.Fatalf("with LIST chunk: %v %v", got, err)
	}
	bad := func(mut func(b []byte)) error {
		c := append([]byte{}, raw...)
		mut(c)
		_, err := ReadWAV(bytes.NewReader(c))
		return err
	}
	if err := bad(func(b []byte) { b[24] = 0x44; b[25] = 0xac }); !errors.Is(err, ErrWAVFormat) || !strings.Contains(err.Error(), "44100 Hz") {
		t.Errorf("44.1 kHz: %v", err)
	}
	if err := bad(func(b []byte) { b[22] = 2 }); !errors.Is(err, ErrWAVFormat) {
		t.Errorf("stereo: %v", err)
	}
	if err := bad(func(b []byte) { b[34] = 8 }); !errors.Is(err, ErrWAVFormat) {
		t.Errorf("8-bit: %v", err)
	}
	if err := bad(func(b []byte) { b[20] = 7 }); !errors.Is(err, ErrWAVFormat) {
		t.Errorf("µ-law WAV: %v", err)
	}
	if err := bad(func(b []byte) { copy(b, "RIFX") }); !errors.Is(err, ErrNotWAV) {
		t.Errorf("not RIFF: %v", err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "a.wav")
	if err := os.WriteFile(p, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if c, err := LoadWAV(p); err != nil || c.Frames() != 1 {
		t.Fatalf("LoadWAV: %v %v", c, err)
	}
	if _, err := LoadWAV(filepath.Join(dir, "missing.wav")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// goertzel is the power of frequency f in pcm, relative to the signal.
func goertzel(pcm []int16, f float64) float64 {
	k := 2 * math.Cos(2*math.Pi*f/SampleRate)
	var s1, s2, energy float64
	for _, x := range pcm {
		s := float64(x) + k*s1 - s2
		s2, s1 = s1, s
		energy += float64(x) * float64(x)
	}
	p := s1*s1 + s2*s2 - k*s1*s2
	return p / (energy * float64(len(pcm)) / 2)
}

func decode(c *Clip, l Law, from, to int) []int16 {
	var out []int16
	for i := from; i < to; i++ {
		for _, b := range c.Frame(l, i) {
			out = append(out, l.Decode(b))
		}
	}
	return out
}

func TestTonePlans(t *testing.T) {
	cases := []struct {
		plan           TonePlan
		clip           func(*Tones) *Clip
		onMs, offMs    int
		freqs, notFreq []float64
	}{
		{TonesEU, func(t *Tones) *Clip { return t.RingBack }, 1000, 4000, []float64{425}, []float64{480}},
		{TonesEU, func(t *Tones) *Clip { return t.Busy }, 500, 500, []float64{425}, []float64{620}},
		{TonesUS, func(t *Tones) *Clip { return t.RingBack }, 2000, 4000, []float64{440, 480}, []float64{425}},
		{TonesUS, func(t *Tones) *Clip { return t.Busy }, 500, 500, []float64{480, 620}, []float64{425}},
	}
	for _, c := range cases {
		tones, err := NewTones(c.plan)
		if err != nil {
			t.Fatal(err)
		}
		clip := c.clip(tones)
		if want := (c.onMs + c.offMs) / 20; clip.Frames() != want {
			t.Errorf("%s: %d frames, want %d (one cadence period)", clip.Name, clip.Frames(), want)
		}
		on := c.onMs / 20
		for _, l := range []Law{PCMU, PCMA} {
			tone := decode(clip, l, 0, on)
			if rms := RMS(tone); rms < 2000 || rms > 6000 {
				t.Errorf("%s %s: on-part RMS %.0f", clip.Name, l, rms)
			}
			for _, f := range c.freqs {
				if p := goertzel(tone, f); p < 0.3/float64(len(c.freqs)) {
					t.Errorf("%s %s: %v Hz power %.3f", clip.Name, l, f, p)
				}
			}
			for _, f := range c.notFreq {
				if p := goertzel(tone, f); p > 0.01 {
					t.Errorf("%s %s: %v Hz power %.3f, want none", clip.Name, l, f, p)
				}
			}
			if rms := RMS(decode(clip, l, on, clip.Frames())); rms > 10 {
				t.Errorf("%s %s: off-part RMS %.1f, want silence", clip.Name, l, rms)
			}
		}
	}
	if _, err := NewTones("uk"); err == nil {
		t.Error("unknown plan accepted")
	}
}

func TestComfortNoiseIsQuietButNotDigitalSilence(t *testing.T) {
	c := NewComfortNoise()
	for _, l := range []Law{PCMU, PCMA} {
		rms := RMS(decode(c, l, 0, c.Frames()))
		if rms < 1 || rms > 20 {
			t.Errorf("%s comfort noise RMS %.2f", l, rms)
		}
	}
}

func TestDemoAudioIsAudible(t *testing.T) {
	for _, c := range []*Clip{DemoMusic(), DemoAnnouncement()} {
		if c.Frames() < 50 {
			t.Errorf("%s: %d frames", c.Name, c.Frames())
		}
		if rms := RMS(decode(c, PCMU, 0, c.Frames())); rms < 500 {
			t.Errorf("%s: RMS %.0f, want audible", c.Name, rms)
		}
	}
}

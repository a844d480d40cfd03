package media

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// frame is 160 samples of byte b.
func frame(b byte) []byte { return bytes.Repeat([]byte{b}, FrameSamples) }

// readStereo checks a recording's header and returns its two channels.
func readStereo(t *testing.T, path string, law Law) (ch0, ch1 []byte) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	format := uint16(7)
	if law == PCMA {
		format = 6
	}
	if len(raw) < wavHeader || string(raw[0:4]) != "RIFF" || string(raw[8:12]) != "WAVE" ||
		le.Uint16(raw[20:]) != format || le.Uint16(raw[22:]) != 2 || le.Uint32(raw[24:]) != 8000 ||
		le.Uint16(raw[32:]) != 2 || le.Uint16(raw[34:]) != 8 || string(raw[50:54]) != "data" {
		t.Fatalf("not a two-channel 8 kHz G.711 %v WAV: % x", law, raw[:min(len(raw), wavHeader)])
	}
	data := raw[wavHeader:]
	if int(le.Uint32(raw[54:])) != len(data) || int(le.Uint32(raw[4:])) != len(raw)-8 || int(le.Uint32(raw[46:]))*2 != len(data) {
		t.Fatalf("sizes in the header: data %d riff %d fact %d, file %d", le.Uint32(raw[54:]), le.Uint32(raw[4:]), le.Uint32(raw[46:]), len(raw))
	}
	for i := 0; i+1 < len(data); i += 2 {
		ch0, ch1 = append(ch0, data[i]), append(ch1, data[i+1])
	}
	return ch0, ch1
}

// TestRecorderPairsChannelsPadsSilenceAndPausesAsAGap: frames of both
// directions are interleaved in order; a channel running ahead by more
// than RecordLag gets silence in the other; what arrives while paused is
// not in the file (a gap), and recording goes on after Resume.
func TestRecorderPairsChannelsPadsSilenceAndPausesAsAGap(t *testing.T) {
	for _, law := range []Law{PCMU, PCMA} {
		path := filepath.Join(t.TempDir(), "call.wav")
		r, err := NewRecorder(path, law)
		if err != nil {
			t.Fatal(err)
		}
		sil := law.Silence()
		var want0, want1 []byte
		// Both directions, in either order.
		r.Write(0, frame(1))
		r.Write(1, frame(2))
		r.Write(1, frame(4))
		r.Write(0, frame(3))
		want0 = append(want0, append(frame(1), frame(3)...)...)
		want1 = append(want1, append(frame(2), frame(4)...)...)
		// The other party sends nothing for 5 frames: silence on its
		// channel once the caller is more than RecordLag ahead, and at Pause.
		for i := range 5 {
			r.Write(0, frame(byte(10+i)))
			want0 = append(want0, frame(byte(10+i))...)
			want1 = append(want1, frame(sil)...)
		}
		// Paused: a card number is not recorded, nor replaced by silence.
		r.Pause()
		r.Write(0, frame(0x55))
		r.Write(1, frame(0x66))
		r.Resume()
		r.Write(1, frame(7))
		r.Write(0, frame(8))
		want0 = append(want0, frame(8)...)
		want1 = append(want1, frame(7)...)
		// Pending at Stop: paired with silence.
		r.Write(0, frame(9))
		want0 = append(want0, frame(9)...)
		want1 = append(want1, frame(sil)...)
		if err := r.Stop(); err != nil {
			t.Fatal(err)
		}
		r.Write(0, frame(0x77))
		if err := r.Stop(); err != ErrStopped {
			t.Fatalf("second Stop: %v", err)
		}
		ch0, ch1 := readStereo(t, path, law)
		if !bytes.Equal(ch0, want0) || !bytes.Equal(ch1, want1) {
			t.Fatalf("%v: channels\n%v\n%v\nwant\n%v\n%v", law, frames(ch0), frames(ch1), frames(want0), frames(want1))
		}
	}
}

// frames shows a channel as its 160-sample frames' first bytes.
func frames(b []byte) []byte {
	var out []byte
	for i := 0; i < len(b); i += FrameSamples {
		out = append(out, b[i])
	}
	return out
}

// TestRecorderRefusesAnExistingFile: a template naming a file twice does
// not overwrite the first recording.
func TestRecorderRefusesAnExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.wav")
	if err := os.WriteFile(path, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewRecorder(path, PCMU); err == nil {
		t.Fatal("an existing file was overwritten")
	}
}

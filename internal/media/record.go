package media

import (
	"bufio"
	"encoding/binary"
	"errors"
	"os"
	"sync"
)

// Recorder writes one call's two directions into a two-channel G.711 WAV
// (format 7 µ-law or 6 A-law, 8 kHz, 8 bits a sample, interleaved):
// channel 1 is what the caller sent (Write channel 0), channel 2 what the
// other party sent (channel 1). Samples pair in arrival order: a
// channel's samples wait for the other's; once a channel is more than
// RecordLag ahead, the other's missing samples are recorded as silence
// (a party that sends nothing, or pauses its stream, is silent in its
// channel rather than stalling the file).
//
// Pause drops what arrives until Resume: a gap, not silence. The file has
// no samples for the paused time (what was said then, a card number, is
// neither in it nor marked), and the two channels stay paired. Stop
// writes what is pending and the header's sizes; a stopped recorder
// drops every later Write.
type Recorder struct {
	mu      sync.Mutex
	f       *os.File
	w       *bufio.Writer
	law     Law
	pending [2][]byte
	out     []byte
	samples uint32
	paused  bool
	stopped bool
	path    string
}

// RecordLag is how far (in samples: 60 ms) a channel may run ahead of
// the other before the other's missing samples are taken as silence.
const RecordLag = 3 * FrameSamples

// wavHeader is RIFF, fmt (18 bytes: G.711 needs cbSize), fact, data.
const wavHeader = 12 + 8 + 18 + 8 + 4 + 8

// NewRecorder creates the file at path (its directory must exist) and
// writes a header to fill in at Stop.
func NewRecorder(path string, law Law) (*Recorder, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, err
	}
	r := &Recorder{f: f, w: bufio.NewWriter(f), law: law, path: path}
	if _, err := r.w.Write(r.header()); err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

// Path is the recording's file.
func (r *Recorder) Path() string { return r.path }

func (r *Recorder) header() []byte {
	h := make([]byte, wavHeader)
	le := binary.LittleEndian
	data := 2 * r.samples
	copy(h[0:], "RIFF")
	le.PutUint32(h[4:], uint32(wavHeader-8)+data)
	copy(h[8:], "WAVE")
	copy(h[12:], "fmt ")
	le.PutUint32(h[16:], 18)
	format := uint16(7) // µ-law
	if r.law == PCMA {
		format = 6
	}
	le.PutUint16(h[20:], format)
	le.PutUint16(h[22:], 2)         // channels
	le.PutUint32(h[24:], 8000)      // sample rate
	le.PutUint32(h[28:], 2*8000)    // bytes a second
	le.PutUint16(h[32:], 2)         // block align
	le.PutUint16(h[34:], 8)         // bits a sample
	le.PutUint16(h[36:], 0)         // cbSize
	copy(h[38:], "fact")            //
	le.PutUint32(h[42:], 4)         //
	le.PutUint32(h[46:], r.samples) // samples a channel
	copy(h[50:], "data")
	le.PutUint32(h[54:], data)
	return h
}

// Silence is the law's code for a zero sample.
func (l Law) Silence() byte { return l.Encode(0) }

// Write records payload (G.711 in the recorder's law) on channel ch (0:
// the caller, 1: the other party).
func (r *Recorder) Write(ch int, payload []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped || r.paused || ch < 0 || ch > 1 {
		return
	}
	r.pending[ch] = append(r.pending[ch], payload...)
	if d := len(r.pending[ch]) - len(r.pending[1-ch]); d > RecordLag {
		r.pad(1-ch, d)
	}
	r.flush()
}

// pad appends n samples of silence to channel ch.
func (r *Recorder) pad(ch, n int) {
	s := r.law.Silence()
	for range n {
		r.pending[ch] = append(r.pending[ch], s)
	}
}

// flush writes the samples both channels have, interleaved.
func (r *Recorder) flush() {
	n := min(len(r.pending[0]), len(r.pending[1]))
	if n == 0 {
		return
	}
	r.out = r.out[:0]
	for i := range n {
		r.out = append(r.out, r.pending[0][i], r.pending[1][i])
	}
	if _, err := r.w.Write(r.out); err == nil {
		r.samples += uint32(n)
	}
	r.pending[0] = append(r.pending[0][:0], r.pending[0][n:]...)
	r.pending[1] = append(r.pending[1][:0], r.pending[1][n:]...)
}

// drain pairs what is pending with silence and writes it.
func (r *Recorder) drain() {
	if d := len(r.pending[0]) - len(r.pending[1]); d > 0 {
		r.pad(1, d)
	} else if d < 0 {
		r.pad(0, -d)
	}
	r.flush()
}

// Pause stops recording (what is pending is written first) until Resume.
func (r *Recorder) Pause() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.stopped {
		r.drain()
		r.paused = true
	}
}

// Resume records again after Pause.
func (r *Recorder) Resume() {
	r.mu.Lock()
	r.paused = false
	r.mu.Unlock()
}

// ErrStopped is returned by Stop when the recording was stopped already.
var ErrStopped = errors.New("media: recording stopped")

// Stop writes what is pending, the header's sizes, and closes the file.
func (r *Recorder) Stop() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return ErrStopped
	}
	r.stopped = true
	r.drain()
	err := r.w.Flush()
	if _, e := r.f.WriteAt(r.header(), 0); err == nil {
		err = e
	}
	if e := r.f.Close(); err == nil {
		err = e
	}
	return err
}

// Stopped reports whether Stop was called.
func (r *Recorder) Stopped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopped
}

package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/zaf/g711"
)

// Law is a G.711 companding law, named by its static RTP payload type.
type Law uint8

// The two G.711 laws with their static payload types (RFC 3551).
const (
	PCMU Law = 0 // µ-law
	PCMA Law = 8 // A-law
)

// String is the SDP encoding name.
func (l Law) String() string {
	if l == PCMA {
		return "PCMA"
	}
	return "PCMU"
}

func (l Law) index() int {
	if l == PCMA {
		return 1
	}
	return 0
}

// Encode companding one linear sample.
func (l Law) Encode(s int16) byte {
	if l == PCMA {
		return g711.EncodeAlawFrame(s)
	}
	return g711.EncodeUlawFrame(s)
}

// Decode expands one companded sample.
func (l Law) Decode(b byte) int16 {
	if l == PCMA {
		return g711.DecodeAlawFrame(b)
	}
	return g711.DecodeUlawFrame(b)
}

// Timing of every stream: 8 kHz, 20 ms packets of 160 samples.
const (
	SampleRate   = 8000
	FrameSamples = 160
	FrameBytes   = FrameSamples // one byte per G.711 sample
)

// Clip is audio encoded once, at load, into whole 20 ms frames of both
// laws, and shared read-only by every call that plays it. The last frame
// is padded with silence.
type Clip struct {
	Name   string
	frames [2][]byte // per law, len = N*FrameBytes
}

// Frames is how many 20 ms frames the clip holds.
func (c *Clip) Frames() int { return len(c.frames[0]) / FrameBytes }

// Frame is frame i of the clip in law l; the slice is shared and must not
// be written.
func (c *Clip) Frame(l Law, i int) []byte {
	b := c.frames[l.index()]
	return b[i*FrameBytes : (i+1)*FrameBytes : (i+1)*FrameBytes]
}

// Duration is the clip's playing time.
func (c *Clip) Duration() float64 { return float64(c.Frames()) * 0.02 }

// NewClip encodes linear 8 kHz samples. An empty input gives one frame of
// silence so that a clip always has a frame to send.
func NewClip(name string, pcm []int16) *Clip {
	n := (len(pcm) + FrameSamples - 1) / FrameSamples
	if n == 0 {
		n = 1
	}
	c := &Clip{Name: name}
	for _, l := range []Law{PCMU, PCMA} {
		b := make([]byte, n*FrameBytes)
		for i := range b {
			var s int16
			if i < len(pcm) {
				s = pcm[i]
			}
			b[i] = l.Encode(s)
		}
		c.frames[l.index()] = b
	}
	return c
}

// WAV format errors; LoadWAV wraps them with the file's path.
var (
	ErrNotWAV    = errors.New("not a RIFF/WAVE file")
	ErrWAVFormat = errors.New("must be 8000 Hz, 16-bit, mono PCM WAV")
)

// LoadWAV reads an 8 kHz 16-bit mono PCM WAV file and encodes it.
func LoadWAV(path string) (*Clip, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pcm, err := ReadWAV(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return NewClip(path, pcm), nil
}

// ReadWAV parses a RIFF/WAVE stream that must be 8 kHz, 16-bit, mono PCM
// (format 1, or WAVE_FORMAT_EXTENSIBLE with the PCM subformat) and
// returns its samples. Unknown chunks are skipped.
func ReadWAV(r io.Reader) ([]int16, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, ErrNotWAV
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return nil, ErrNotWAV
	}
	gotFmt := false
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			if gotFmt {
				return nil, fmt.Errorf("%w: no data chunk", ErrNotWAV)
			}
			return nil, fmt.Errorf("%w: no fmt chunk", ErrNotWAV)
		}
		id, size := string(ch[0:4]), binary.LittleEndian.Uint32(ch[4:8])
		switch id {
		case "fmt ":
			if size < 16 || size > 1024 {
				return nil, fmt.Errorf("%w: fmt chunk of %d bytes", ErrNotWAV, size)
			}
			b := make([]byte, size+size%2)
			if _, err := io.ReadFull(r, b); err != nil {
				return nil, fmt.Errorf("%w: short fmt chunk", ErrNotWAV)
			}
			format := binary.LittleEndian.Uint16(b[0:2])
			chans := binary.LittleEndian.Uint16(b[2:4])
			rate := binary.LittleEndian.Uint32(b[4:8])
			bits := binary.LittleEndian.Uint16(b[14:16])
			if format == 0xFFFE && size >= 40 {
				format = binary.LittleEndian.Uint16(b[24:26]) // SubFormat GUID's first two bytes
			}
			if format != 1 || chans != 1 || rate != SampleRate || bits != 16 {
				return nil, fmt.Errorf("%w (this file: format %d, %d Hz, %d-bit, %d channels)", ErrWAVFormat, format, rate, bits, chans)
			}
			gotFmt = true
		case "data":
			if !gotFmt {
				return nil, fmt.Errorf("%w: data before fmt", ErrNotWAV)
			}
			if size > 64<<20 {
				return nil, fmt.Errorf("%w: data chunk of %d bytes (at most 64 MiB)", ErrWAVFormat, size)
			}
			b := make([]byte, size)
			n, err := io.ReadFull(r, b)
			if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("%w: reading data: %v", ErrNotWAV, err)
			}
			b = b[:n-n%2] // a truncated last chunk keeps what is there
			pcm := make([]int16, len(b)/2)
			for i := range pcm {
				pcm[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
			}
			return pcm, nil
		default:
			if _, err := io.CopyN(io.Discard, r, int64(size)+int64(size%2)); err != nil {
				return nil, fmt.Errorf("%w: short %q chunk", ErrNotWAV, id)
			}
		}
	}
}

// WriteWAV writes linear samples as an 8 kHz 16-bit mono PCM WAV.
func WriteWAV(w io.Writer, pcm []int16) error {
	b := make([]byte, 44+2*len(pcm))
	copy(b[0:], "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+2*len(pcm)))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1)
	binary.LittleEndian.PutUint16(b[22:], 1)
	binary.LittleEndian.PutUint32(b[24:], SampleRate)
	binary.LittleEndian.PutUint32(b[28:], SampleRate*2)
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(2*len(pcm)))
	for i, s := range pcm {
		binary.LittleEndian.PutUint16(b[44+2*i:], uint16(s))
	}
	_, err := w.Write(b)
	return err
}

// RMS is the root mean square of linear samples (0 for none).
func RMS(pcm []int16) float64 {
	if len(pcm) == 0 {
		return 0
	}
	var sum float64
	for _, s := range pcm {
		sum += float64(s) * float64(s)
	}
	return math.Sqrt(sum / float64(len(pcm)))
}

package steprec

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/switchboard-cc/switchboard/event"
)

// ErrBad: a journal record is not a step record this version reads.
var ErrBad = errors.New("steprec: bad step record")

// magic opens every step record (format version 1).
const magic = 0x53 // 'S'
const version = 1

// headerSize is magic, version and the time.
const headerSize = 10

// Record is the journal record of one engine step: the time it ran at, the
// command in its journal encoding (engine.EncodeCommand), and the wire JSON
// of each event it produced (event.AppendJSON), in order. Replaying the
// command at At on the state before the step reproduces exactly these
// events.
type Record struct {
	At      int64
	Command []byte
	Events  [][]byte
}

// Append appends the encoding of a step record whose command is already
// encoded (cmd) to dst:
//
//	'S' | version 1 | at int64 LE | uvarint len | command | uvarint n | n * (uvarint len | event JSON)
func Append(dst []byte, at int64, cmd []byte, evs []event.Event) []byte {
	dst = appendHeader(dst, at)
	dst = binary.AppendUvarint(dst, uint64(len(cmd)))
	dst = append(dst, cmd...)
	return appendEvents(dst, evs)
}

// AppendWith appends the same bytes as Append, but appendCmd appends the
// command's encoding in place, so the command is not copied. On error (from
// appendCmd) dst is returned unchanged.
func AppendWith(dst []byte, at int64, evs []event.Event, appendCmd func([]byte) ([]byte, error)) ([]byte, error) {
	base := len(dst)
	dst = appendHeader(dst, at)
	start := len(dst)
	dst, err := appendCmd(dst)
	if err != nil {
		return dst[:base], err
	}
	dst = prefixLength(dst, start)
	return appendEvents(dst, evs), nil
}

func appendHeader(dst []byte, at int64) []byte {
	dst = append(dst, magic, version)
	return binary.LittleEndian.AppendUint64(dst, uint64(at))
}

func appendEvents(dst []byte, evs []event.Event) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(evs)))
	for i := range evs {
		start := len(dst)
		dst = evs[i].AppendJSON(dst)
		dst = prefixLength(dst, start)
	}
	return dst
}

// prefixLength puts the uvarint length of dst[start:] before it. Reserving
// a maximal uvarint would waste bytes; the bytes are written first, then
// moved after their measured length.
func prefixLength(dst []byte, start int) []byte {
	n := len(dst) - start
	var lb [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(lb[:], uint64(n))
	dst = append(dst, lb[:k]...)
	copy(dst[start+k:], dst[start:start+n])
	copy(dst[start:], lb[:k])
	return dst
}

// Decode decodes what Append wrote. The slices of the result share p. A
// record that is not exactly one step record is an error wrapping ErrBad,
// with a zero Record: nothing of a corrupt record is returned.
func Decode(p []byte) (Record, error) {
	r, err := decode(p)
	if err != nil {
		return Record{}, err
	}
	return r, nil
}

func decode(p []byte) (Record, error) {
	var r Record
	if len(p) < headerSize || p[0] != magic || p[1] != version {
		return r, fmt.Errorf("%w: header", ErrBad)
	}
	r.At = int64(binary.LittleEndian.Uint64(p[2:]))
	p = p[headerSize:]
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(p)-k) {
		return r, fmt.Errorf("%w: command length", ErrBad)
	}
	r.Command = p[k : k+int(n)]
	p = p[k+int(n):]
	cnt, k := binary.Uvarint(p)
	if k <= 0 || cnt > uint64(len(p)) {
		return r, fmt.Errorf("%w: event count", ErrBad)
	}
	p = p[k:]
	r.Events = make([][]byte, 0, cnt)
	for i := uint64(0); i < cnt; i++ {
		n, k := binary.Uvarint(p)
		if k <= 0 || n > uint64(len(p)-k) {
			return r, fmt.Errorf("%w: event %d length", ErrBad, i)
		}
		r.Events = append(r.Events, p[k:k+int(n)])
		p = p[k+int(n):]
	}
	if len(p) != 0 {
		return r, fmt.Errorf("%w: %d trailing bytes", ErrBad, len(p))
	}
	return r, nil
}

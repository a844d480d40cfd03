package tenant

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/engine"
)

// ErrBadRecord: a journal record is not a step record this version reads.
var ErrBadRecord = errors.New("tenant: bad step record")

// stepMagic opens every step record (format version 1).
const stepMagic = 0x53 // 'S'
const stepVersion = 1

// StepRecord is the journal record of one engine step: the time it ran at,
// the command as engine.EncodeCommand wrote it, and the wire JSON of each
// event it produced (event.AppendJSON), in order. Replaying the command at
// At on the state before the step reproduces exactly these events.
type StepRecord struct {
	At      int64
	Command []byte
	Events  [][]byte
}

// AppendStepRecord appends the encoding of a step record to dst:
//
//	'S' | version 1 | at int64 LE | uvarint len | command | uvarint n | n * (uvarint len | event JSON)
func AppendStepRecord(dst []byte, at int64, cmd []byte, evs []event.Event) []byte {
	dst = append(dst, stepMagic, stepVersion)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(at))
	dst = binary.AppendUvarint(dst, uint64(len(cmd)))
	dst = append(dst, cmd...)
	return appendEvents(dst, evs)
}

// AppendStep appends the step record of cmd stepped at at with events evs:
// the same bytes as AppendStepRecord(dst, at, engine.EncodeCommand(cmd),
// evs), but the command is encoded in place (engine.AppendCommand). On
// error dst is returned unchanged.
func AppendStep(dst []byte, at int64, cmd engine.Command, evs []event.Event) ([]byte, error) {
	return appendStep(dst, at, cmd, evs, nil)
}

// StepEncoder appends step records as AppendStep does, through an
// engine.CommandEncoder it keeps: with a reused dst a record costs no
// allocation of its own. The zero value is ready to use; it is not safe
// for concurrent use (a tenant has one, used by its goroutine).
type StepEncoder struct {
	cmd engine.CommandEncoder
}

// Append appends the step record of cmd stepped at at with events evs to
// dst (what AppendStep appends). On error dst is returned unchanged.
func (s *StepEncoder) Append(dst []byte, at int64, cmd engine.Command, evs []event.Event) ([]byte, error) {
	return appendStep(dst, at, cmd, evs, &s.cmd)
}

// appendStep encodes the command with ce, or engine.AppendCommand if nil.
func appendStep(dst []byte, at int64, cmd engine.Command, evs []event.Event, ce *engine.CommandEncoder) ([]byte, error) {
	base := len(dst)
	dst = append(dst, stepMagic, stepVersion)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(at))
	start := len(dst)
	var err error
	if ce != nil {
		dst, err = ce.Append(dst, cmd)
	} else {
		dst, err = engine.AppendCommand(dst, cmd)
	}
	if err != nil {
		return dst[:base], err
	}
	dst = prefixLength(dst, start)
	return appendEvents(dst, evs), nil
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

// DecodeStepRecord decodes what AppendStepRecord wrote. The slices of the
// result share p.
func DecodeStepRecord(p []byte) (StepRecord, error) {
	var r StepRecord
	if len(p) < 10 || p[0] != stepMagic || p[1] != stepVersion {
		return r, fmt.Errorf("%w: header", ErrBadRecord)
	}
	r.At = int64(binary.LittleEndian.Uint64(p[2:]))
	p = p[10:]
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(p)-k) {
		return r, fmt.Errorf("%w: command length", ErrBadRecord)
	}
	r.Command = p[k : k+int(n)]
	p = p[k+int(n):]
	cnt, k := binary.Uvarint(p)
	if k <= 0 || cnt > uint64(len(p)) {
		return r, fmt.Errorf("%w: event count", ErrBadRecord)
	}
	p = p[k:]
	r.Events = make([][]byte, 0, cnt)
	for i := uint64(0); i < cnt; i++ {
		n, k := binary.Uvarint(p)
		if k <= 0 || n > uint64(len(p)-k) {
			return r, fmt.Errorf("%w: event %d length", ErrBadRecord, i)
		}
		r.Events = append(r.Events, p[k:k+int(n)])
		p = p[k+int(n):]
	}
	if len(p) != 0 {
		return r, fmt.Errorf("%w: %d trailing bytes", ErrBadRecord, len(p))
	}
	return r, nil
}

package journal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"path/filepath"
	"strconv"
	"strings"
)

// Type is a record's type byte. 0 is reserved (zeroed space never decodes as
// a record); the journal gives no meaning to the others.
type Type uint8

// Record types used by convention.
const (
	// TypeData is the type of records written by Append, AppendAsync and
	// AppendSync: for the runtime, one engine step.
	TypeData Type = 1
	// TypeMarker is for the caller's markers (for example "snapshot taken at
	// this LSN"); the journal treats it like any other type.
	TypeMarker Type = 2
)

// Record is one record as a Reader yields it.
type Record struct {
	LSN     uint64
	Type    Type
	Payload []byte // owned by the caller
}

const headerSize = 17 // crc32c(4) length(4) type(1) lsn(8)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// payloadCRC is the first half of a frame's checksum, computed before the
// LSN is known (outside the journal's lock).
func payloadCRC(payload []byte) uint32 { return crc32.Update(0, castagnoli, payload) }

// appendFrame appends the framed record to buf; pcrc is payloadCRC(payload).
// The checksum is CRC-32C over payload || length || type || lsn.
func appendFrame(buf []byte, lsn uint64, t Type, payload []byte, pcrc uint32) []byte {
	var h [headerSize]byte
	binary.LittleEndian.PutUint32(h[4:8], uint32(len(payload)))
	h[8] = byte(t)
	binary.LittleEndian.PutUint64(h[9:17], lsn)
	binary.LittleEndian.PutUint32(h[0:4], crc32.Update(pcrc, castagnoli, h[4:]))
	buf = append(buf, h[:]...)
	return append(buf, payload...)
}

// frameHeader is a decoded, not yet verified header.
type frameHeader struct {
	crc    uint32
	length uint32
	typ    Type
	lsn    uint64
}

func parseHeader(h []byte) frameHeader {
	return frameHeader{
		crc:    binary.LittleEndian.Uint32(h[0:4]),
		length: binary.LittleEndian.Uint32(h[4:8]),
		typ:    Type(h[8]),
		lsn:    binary.LittleEndian.Uint64(h[9:17]),
	}
}

// check reports why a header cannot start the record with LSN want, or "".
func (h frameHeader) check(want uint64, maxRecord int) string {
	switch {
	case h.typ == 0:
		return "record type 0 (zeroed or torn)"
	case int64(h.length) > int64(maxRecord):
		return fmt.Sprintf("length %d beyond MaxRecordSize %d", h.length, maxRecord)
	case h.lsn != want:
		return fmt.Sprintf("lsn %d, want %d", h.lsn, want)
	}
	return ""
}

// frameCRC computes the checksum of a frame given its header bytes and payload.
func frameCRC(h, payload []byte) uint32 {
	return crc32.Update(payloadCRC(payload), castagnoli, h[4:headerSize])
}

const (
	segmentExt = ".log"
	snapPrefix = "snap-"
	snapExt    = ".bin"
	tmpExt     = ".tmp"
	lockName   = "LOCK"
)

func segmentName(first uint64) string { return fmt.Sprintf("%020d%s", first, segmentExt) }

// parseSegmentName returns the first LSN of a segment file name.
func parseSegmentName(name string) (uint64, bool) {
	s, ok := strings.CutSuffix(name, segmentExt)
	if !ok || len(s) != 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

func snapshotName(lsn uint64) string { return fmt.Sprintf("%s%020d%s", snapPrefix, lsn, snapExt) }

func parseSnapshotName(name string) (uint64, bool) {
	s, ok := strings.CutPrefix(name, snapPrefix)
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, snapExt)
	if !ok || len(s) != 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

func join(dir, name string) string { return filepath.Join(dir, name) }

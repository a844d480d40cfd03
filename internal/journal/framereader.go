package journal

import (
	"errors"
	"io"
	"os"
)

// frameReader decodes frames sequentially from a segment file. Reaching the
// end of the file is not sticky: a later call reads what was appended since,
// which is what a tailing Reader needs.
type frameReader struct {
	f    *os.File
	buf  []byte
	r, w int   // unread bytes are buf[r:w]
	pos  int64 // file offset of buf[r]
	size int   // initial buffer size
	// limit, if not negative, is the offset the reader reads no further
	// than: a Reader tailing the active segment sets it to where the
	// durable records end, because the bytes after it may still change
	// (zeros written ahead, about to be overwritten by records).
	limit int64
}

// badFrame says why the frame at offset pos cannot be decoded.
type badFrame struct {
	pos    int64
	reason string
	torn   bool // the file ended inside the frame
}

func (e *badFrame) Error() string { return e.reason }

func newFrameReader(f *os.File, bufSize int) *frameReader {
	return &frameReader{f: f, size: bufSize, limit: -1}
}

// fill makes at least n unread bytes available, or returns io.EOF.
func (fr *frameReader) fill(n int) error {
	if fr.w-fr.r >= n {
		return nil
	}
	if fr.buf == nil {
		fr.buf = make([]byte, max(fr.size, n))
	}
	if len(fr.buf)-fr.r < n {
		if n > len(fr.buf) {
			nb := make([]byte, n)
			fr.w = copy(nb, fr.buf[fr.r:fr.w])
			fr.buf = nb
		} else {
			fr.w = copy(fr.buf, fr.buf[fr.r:fr.w])
		}
		fr.r = 0
	}
	for fr.w-fr.r < n {
		p := fr.buf[fr.w:]
		if fr.limit >= 0 {
			p = p[:max(min(int64(len(p)), fr.limit-fr.pos-int64(fr.w-fr.r)), 0)]
		}
		if len(p) == 0 {
			return io.EOF
		}
		m, err := fr.f.Read(p)
		fr.w += m
		if m == 0 {
			if err == nil || errors.Is(err, io.EOF) {
				return io.EOF
			}
			return err
		}
	}
	return nil
}

// next decodes the frame that must carry LSN want. It returns io.EOF when the
// file ends exactly at a frame boundary or a header of zeros follows (the
// zeroed tail of a segment: see scanSegment for how recovery tells it from
// a torn frame), a *badFrame for a frame that is
// torn or invalid (pos is not advanced), or an I/O error. The payload aliases
// the reader's buffer until the next call.
func (fr *frameReader) next(want uint64, maxRecord int) (frameHeader, []byte, error) {
	if err := fr.fill(headerSize); err != nil {
		if errors.Is(err, io.EOF) {
			if allZero(fr.buf[fr.r:fr.w]) {
				return frameHeader{}, nil, io.EOF // the end, or zeros to the end
			}
			return frameHeader{}, nil, &badFrame{pos: fr.pos, reason: "file ends inside a frame header", torn: true}
		}
		return frameHeader{}, nil, err
	}
	hb := fr.buf[fr.r : fr.r+headerSize]
	if allZero(hb) {
		return frameHeader{}, nil, io.EOF
	}
	h := parseHeader(hb)
	if reason := h.check(want, maxRecord); reason != "" {
		return frameHeader{}, nil, &badFrame{pos: fr.pos, reason: reason}
	}
	total := headerSize + int(h.length)
	if err := fr.fill(total); err != nil {
		if errors.Is(err, io.EOF) {
			return frameHeader{}, nil, &badFrame{pos: fr.pos, reason: "file ends inside a record", torn: true}
		}
		return frameHeader{}, nil, err
	}
	hb = fr.buf[fr.r : fr.r+headerSize]
	payload := fr.buf[fr.r+headerSize : fr.r+total]
	if frameCRC(hb, payload) != h.crc {
		return frameHeader{}, nil, &badFrame{pos: fr.pos, reason: "checksum mismatch"}
	}
	fr.r += total
	fr.pos += int64(total)
	return h, payload, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

package journal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// Recovery reports what Open found and did, for the caller to log.
type Recovery struct {
	Segments int    // segment files kept
	FirstLSN uint64 // first record kept; FirstLSN > LastLSN when there is none
	LastLSN  uint64 // last record kept
	Records  uint64 // records kept
	Bytes    int64  // bytes of the records kept (zeroed tails not counted)

	// Set when a torn tail was cut from the final segment. A zeroed tail
	// (zeros written ahead of the records, Options.ZeroAhead) is the end
	// of the records, not a torn tail: it is kept and not reported.
	BytesCut   int64  // bytes of the torn tail removed, up to its last nonzero byte (zeros after it are removed too, not counted)
	CutSegment string // file name
	CutOffset  int64  // new size of that file
	CutReason  string // why the frame at CutOffset was bad
	// IntactAfterCut counts intact frames (correct checksum) found beyond the
	// cut, all within the torn-write window. Nonzero means the crash tore the
	// middle of a write, or a record was damaged just before the tail: worth
	// a loud log line, though those records were never reported durable if
	// the former.
	IntactAfterCut int

	Duration time.Duration
}

type segment struct {
	first   uint64
	size    int64 // bytes of records, including records appended but not yet written
	fileEnd int64 // set by recovery: the file's size, zeroed tail included
}

// listDir returns the segments (sorted) and snapshots of dir and removes
// leftover temporary files.
func listDir(dir string) (segs []*segment, snaps []uint64, err error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("journal: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() {
			continue
		}
		if strings.HasSuffix(name, tmpExt) {
			if err := os.Remove(join(dir, name)); err != nil {
				return nil, nil, fmt.Errorf("journal: remove leftover %s: %w", name, err)
			}
			continue
		}
		if first, ok := parseSegmentName(name); ok {
			segs = append(segs, &segment{first: first})
		} else if lsn, ok := parseSnapshotName(name); ok {
			snaps = append(snaps, lsn)
		}
	}
	slices.SortFunc(segs, func(a, b *segment) int { return cmpU64(a.first, b.first) })
	slices.Sort(snaps)
	return segs, snaps, nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// scanResult is what scanning one segment found.
type scanResult struct {
	next     uint64    // the LSN after the last valid record
	validEnd int64     // offset after the last valid record
	dataEnd  int64     // offset after the last nonzero byte (validEnd when the rest is zeros)
	size     int64     // file size
	bad      *badFrame // first bad frame, nil if the whole file is valid records then zeros
}

// scanSegment verifies every frame of a segment whose first LSN is first.
func scanSegment(path string, first uint64, maxRecord int) (scanResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return scanResult{}, fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return scanResult{}, fmt.Errorf("journal: %w", err)
	}
	res := scanResult{next: first, size: fi.Size()}
	fr := newFrameReader(f, 1<<20)
	for {
		_, _, err := fr.next(res.next, maxRecord)
		if err == nil {
			res.next++
			res.validEnd = fr.pos
			continue
		}
		var bf *badFrame
		if !errors.Is(err, io.EOF) && !errors.As(err, &bf) {
			return res, fmt.Errorf("journal: read %s: %w", path, err)
		}
		// The records end here: at the end of the file, before zeros only
		// (written ahead of the records), or at a bad frame.
		if res.dataEnd, err = nonZeroEnd(f, res.validEnd, res.size); err != nil {
			return res, fmt.Errorf("journal: read %s: %w", path, err)
		}
		if res.dataEnd > res.validEnd {
			if bf == nil {
				bf = &badFrame{pos: res.validEnd, reason: "record type 0 (zeroed or torn)"}
			}
			res.bad = bf
		}
		return res, nil
	}
}

// intactAfter looks for intact frames in path beyond offset cut, where the
// record with LSN want was bad. It returns how many it found and the end
// offset of the furthest one (0 if none).
func intactAfter(path string, cut int64, want uint64, maxRecord int) (count int, furthestEnd int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	rest, err := io.ReadAll(io.NewSectionReader(f, cut, 1<<62))
	if err != nil {
		return 0, 0, fmt.Errorf("journal: read %s: %w", path, err)
	}
	// Every frame is at least headerSize bytes, so no LSN beyond this fits.
	maxLSN := want + uint64(len(rest))/headerSize
	for y := 1; y+headerSize <= len(rest); y++ {
		h := parseHeader(rest[y:])
		if h.typ == 0 || int64(h.length) > int64(maxRecord) || h.lsn < want || h.lsn > maxLSN {
			continue
		}
		end := y + headerSize + int(h.length)
		if end > len(rest) {
			continue
		}
		if frameCRC(rest[y:y+headerSize], rest[y+headerSize:end]) != h.crc {
			continue
		}
		count++
		furthestEnd = cut + int64(end)
	}
	return count, furthestEnd, nil
}

// recoverSegments verifies the segments of dir (see the package doc for the
// policy), cuts a torn tail from the final one, and fills in their sizes.
// It changes nothing unless every segment but the final one is intact.
//
// snapLSN is the newest snapshot's LSN (0 if none): a snapshot is only ever
// written at a durable LSN, so recovering fewer records than that means
// durable records were lost, which is reported, never cut.
func recoverSegments(dir string, segs []*segment, o Options, snapLSN uint64) (Recovery, error) {
	rec := Recovery{Segments: len(segs)}
	if len(segs) == 0 {
		return rec, nil
	}
	rec.FirstLSN = segs[0].first
	if segs[0].first == 0 {
		return rec, &CorruptError{Segment: segmentName(0), Reason: "lsn 0 is never written"}
	}
	var next uint64
	for i, s := range segs {
		name := segmentName(s.first)
		path := join(dir, name)
		if i > 0 && s.first != next {
			return rec, &CorruptError{Segment: name, LSN: next,
				Reason: fmt.Sprintf("segment starts at lsn %d but the previous one ends before lsn %d", s.first, next)}
		}
		res, err := scanSegment(path, s.first, o.MaxRecordSize)
		if err != nil {
			return rec, err
		}
		final := i == len(segs)-1
		if res.bad != nil && !final {
			return rec, &CorruptError{Segment: name, Offset: res.bad.pos, LSN: res.next,
				Reason: res.bad.reason + " (not the final segment: fsynced records are damaged)"}
		}
		s.size, s.fileEnd = res.validEnd, res.size
		if final && res.next-1 < snapLSN {
			reason := "the segments end"
			if res.bad != nil {
				reason = res.bad.reason
			}
			return rec, &CorruptError{Segment: name, Offset: res.validEnd, LSN: res.next,
				Reason: fmt.Sprintf("%s before lsn %d of the newest snapshot: durable records are lost", reason, snapLSN)}
		}
		if res.bad != nil {
			count, furthest, err := intactAfter(path, res.validEnd, res.next, o.MaxRecordSize)
			if err != nil {
				return rec, err
			}
			if count > 0 && furthest-res.validEnd > o.tornWindow() {
				return rec, &CorruptError{Segment: name, Offset: res.bad.pos, LSN: res.next,
					Reason: fmt.Sprintf("%s, and an intact record ends %d bytes further, beyond the %d bytes a crash can tear: fsynced records are damaged",
						res.bad.reason, furthest-res.validEnd, o.tornWindow())}
			}
			if err := cutFile(path, res.validEnd); err != nil {
				return rec, err
			}
			rec.BytesCut = res.dataEnd - res.validEnd
			rec.CutSegment = name
			rec.CutOffset = res.validEnd
			rec.CutReason = res.bad.reason
			rec.IntactAfterCut = count
			s.fileEnd = res.validEnd
		}
		rec.Records += res.next - s.first
		rec.Bytes += s.size
		next = res.next
	}
	rec.LastLSN = next - 1
	return rec, nil
}

// cutFile truncates path to size and makes that durable.
func cutFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("journal: cut tail: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("journal: cut tail: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("journal: cut tail: %w", err)
	}
	return nil
}

// syncDir makes directory entries (created, renamed, removed files) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("journal: sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("journal: sync dir: %w", err)
	}
	return nil
}

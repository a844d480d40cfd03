package startoffset

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Partition names one partition of a topic.
type Partition struct {
	Topic     string
	Partition int32
}

// Range is where to start reading a partition, and its end as listed.
// Start <= End.
type Range struct{ Start, End int64 }

// Listing is what List found.
type Listing struct {
	Ranges  map[Partition]Range // every partition of the topics that exist
	Missing []string            // topics that do not exist, sorted
}

// Options say where List starts.
type Options struct {
	// Since: start at the first record stamped at or after it.
	Since time.Time
	// FromBeginning: start at the log start offset instead (Since unused).
	FromBeginning bool
	// Committed: the ends are the last stable offsets (what a
	// read_committed consumer reaches), not the high watermarks.
	Committed bool
}

// List lists, for every partition of topics, the end offset and then the
// offset to start at, and starts at the smaller of the two.
//
// The order matters. A lookup by time that finds no record stamped at or
// after Since answers with the partition's end as of a second request
// (kadm.ListOffsetsAfterMilli, and a consumer's AfterMilli reset, do
// that), so a record appended between the two requests would be skipped:
// the first records of a new topic were lost so when the statistics
// started beside a switchboard publishing its first call. The end listed
// before the lookup is at or before any such record, so starting at the
// smaller reads it (and at most a few records stamped before Since).
//
// A topic whose end listing says it does not exist is in Missing. The
// first other error is returned, with the partitions listed without one.
func List(ctx context.Context, adm *kadm.Client, topics []string, o Options) (Listing, error) {
	l := Listing{Ranges: map[Partition]Range{}}
	listEnds := adm.ListEndOffsets
	if o.Committed {
		listEnds = adm.ListCommittedOffsets
	}
	ends, err := listEnds(ctx, topics...)
	if err != nil {
		return l, fmt.Errorf("listing end offsets: %w", err)
	}
	var starts kadm.ListedOffsets
	if o.FromBeginning {
		starts, err = adm.ListStartOffsets(ctx, topics...)
	} else {
		starts, err = adm.ListOffsetsAfterMilli(ctx, o.Since.UnixMilli(), topics...)
	}
	if err != nil {
		return l, fmt.Errorf("listing start offsets: %w", err)
	}
	var firstErr error
	ends.Each(func(e kadm.ListedOffset) {
		if e.Err != nil {
			if errors.Is(e.Err, kerr.UnknownTopicOrPartition) {
				if !slices.Contains(l.Missing, e.Topic) {
					l.Missing = append(l.Missing, e.Topic)
				}
			} else if firstErr == nil {
				firstErr = fmt.Errorf("end offset of %s[%d]: %w", e.Topic, e.Partition, e.Err)
			}
			return
		}
		s, ok := starts.Lookup(e.Topic, e.Partition)
		if !ok || s.Err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("start offset of %s[%d] not listed: %v", e.Topic, e.Partition, s.Err)
			}
			return
		}
		r := Range{Start: e.Offset, End: e.Offset}
		if s.Offset >= 0 && s.Offset < e.Offset {
			r.Start = s.Offset
		}
		l.Ranges[Partition{e.Topic, e.Partition}] = r
	})
	slices.Sort(l.Missing)
	return l, firstErr
}

// Package startoffset says where a consumer that pins its own offsets
// starts reading each partition of some topics: at the first record
// stamped at or after a time (or at the log start), found without a gap
// against records appended meanwhile. `switchboard tail` and the
// statistics consumer (internal/stats) both start so.
//
// It only lists offsets (kadm, ListOffsets): it must not consume, produce
// or commit; where the records go is its callers' business.
package startoffset

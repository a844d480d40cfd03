// Package steprec is the journal's step-record format: the framing of one
// engine step (the time it ran at, the command in its journal encoding, the
// wire JSON of each event it produced) and its decoding. It knows nothing
// of the engine: the command arrives as bytes, or is appended in place by a
// function the caller passes (package tenant passes the engine's command
// encoder). Package tenant writes step records; package tenant (recovery)
// and package relay read them.
package steprec

// Command switchboard is the thin entry point: `serve` (app.Main), `tail`
// (internal/tail) and `version`. It owns argument dispatch and signal
// handling only; everything else lives in the internal packages.
package main

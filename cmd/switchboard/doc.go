// Command switchboard is the thin entry point: `serve` and `hash-token`
// (internal/app), `tail`, `sim`, `stats`, `verify` and `bench` (the
// internal packages of those names), `version` and `help`. It owns
// argument dispatch and signal handling only; everything else lives in the
// internal packages. TestREADMEFlags holds the README's flag tables to the
// flags each command's --help lists.
package main

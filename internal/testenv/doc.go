// Package testenv is what tests do when something they need from the
// machine is missing (a tool such as sipp, kcat or chromium, a real Kafka:
// Missing; root to mount a tmpfs, /proc/meminfo: Unavailable):
// in CI (CI=true, as .ci/run and scripts/test set it) the test fails, since
// scripts/test installs everything; elsewhere it is skipped, saying so. It is
// imported by tests and test helpers only.
package testenv

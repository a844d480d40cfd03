// Package bench is the `switchboard bench` subcommand: switchboard's
// benchmark suite run inside the installed binary (no Go toolchain or
// source needed), printed as one table or as JSON, with ratios against an
// earlier run (--baseline). It measures the engine alone (steps, calls and
// events per second on one goroutine), the simulator's contact-centre mix
// in-process, the statistics aggregator (internal/stats) on one goroutine
// over a simulated hour's events, decoded and as record values, serve
// started in this process end to end through the CTI API to the embedded
// broker and to a given Kafka (calls per second, and
// events per second until Kafka holds them all), API latency percentiles
// at a fixed request rate, engine memory per active call and per agent,
// and, when sipp is installed, SIP calls per second sustained at
// --sip-rate for --duration between phones registered on an in-process
// sipfront (sipload.Run), with failed calls and the INVITE-to-200
// p99; without sipp those rows are skipped with a note. --peer kamailio
// (peer.go, ComparePeer) runs one sipp load, phones registering with
// digest then basic calls then an idle spell, through serve in this
// process and through Kamailio (sipload.StartKamailio), and prints both
// servers' CPU per call, p99, registrations per second and idle CPU side
// by side with their ratios; --sip-only leaves out the other rows.
// --cluster-brokers (cluster.go) adds cluster mode: a paced login/logout
// load on one single-node serve and on three cluster nodes in this process
// against that Kafka (ClusterAPI), and a shard takeover (Takeover).
//
// It owns only its measurement loops and its output. It starts serve
// through internal/app on loopback with free ports and a temporary data
// directory, and removes them; it must not touch a running server, and
// timings are reported, never asserted.
package bench

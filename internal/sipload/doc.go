// Package sipload drives a SIP load through a SIP server with sipp: basic
// calls between caller and callee phones, a sipp UAS answering and a sipp
// UAC calling on free loopback ports. The phones are bound directly on a
// single-tenant sipfront.Server (Server.Bind; Tenant builds such a tenant)
// or, with Config.Register (always for a server that cannot bind
// directly), registered by REGISTER with digest authentication from their
// own ports, which is timed. Run returns calls/s, failed calls,
// INVITE-to-200 times (sipp rtd), registrations/s and, given Config.CPU,
// the server's CPU time during the registrations and during the calls.
//
// StartKamailio runs Kamailio (Debian package kamailio) as the peer of a
// comparison: a stateful proxy with a registrar and bindings in memory,
// configured by kamailio/kamailio.cfg; ProcessCPU and TreeCPU read
// /proc/PID/stat. The scenarios and the Kamailio configuration are
// embedded and written to temporary directories, so an installed binary
// needs only sipp (and kamailio): `switchboard bench` (internal/bench) and
// sipfront's BenchmarkSIPLoad use it. It is no part of serving calls.
package sipload

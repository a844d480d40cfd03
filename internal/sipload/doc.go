// Package sipload drives a SIP load through a sipfront.Server with sipp:
// basic calls between caller and callee phones of a single-tenant server
// (Tenant builds such a tenant), registered directly (Server.Bind), a sipp
// UAS answering and a sipp UAC calling on free loopback ports. Run returns
// calls/s, failed calls and INVITE-to-200 times (sipp rtd). Its scenarios
// are embedded (scenarios/) and written to a temporary directory, so an
// installed binary needs only sipp: `switchboard bench` (internal/bench)
// and sipfront's BenchmarkSIPLoad use it. It is no part of serving calls.
package sipload

package sipfront

import (
	"net"
	"strconv"

	"github.com/emiago/sipgo/sip"
)

// Flows that fail (RFC 5626, SIP outbound).
//
// A phone on TCP, TLS or WebSocket keeps its connection open and pings it
// with a double CRLF, which sipgo answers with a single CRLF (RFC 5626
// section 3.5.1; over UDP a CRLF is ignored, and STUN keepalives are not
// served). A REGISTER over a connection whose top Via asks with an empty
// keep parameter (RFC 6223) is told how often: keep=KeepInterval in its
// 200's Via. When such a connection closes, what happens to the bindings
// registered over it depends on what the phone asked for:
//
//   - a Contact with a reg-id and a +sip.instance (the phone uses
//     outbound): the registrar says so (Require: outbound in the 200) and
//     the binding is that flow's: it ends when the connection closes
//     (RFC 5626 section 7: a flow that fails ends its binding), with
//     EventDNOutOfService if it was the DN's last. The phone registers
//     again over a new flow when it notices;
//   - any other: the binding stays until it expires or the phone
//     registers again (RFC 3261). Requests to it go over the connection
//     while it lasts, then to its Contact URI as it says (transport.go).
//
// Over UDP, a reg-id is ignored: no Require: outbound, the binding as
// RFC 3261 has it (outbound over UDP needs the STUN keepalives we do not
// serve). So is it in a REGISTER a cluster peer forwarded (over UDP: the
// phone's connection is the peer's, cluster.go).

// KeepInterval is the keepalive interval, in seconds, given to a phone
// that asks (RFC 6223): RFC 5626 section 4.4.1's 95 to 120 s for
// connections.
const KeepInterval = 115

// obFlow is the binding a failing flow ends: DN dn of tenant t (the
// contact is the flow's key).
type obFlow struct {
	t  *sipTenant
	dn string
}

// markOutbound is for a REGISTER over a stream transport: it sets the
// keep interval asked for in its top Via (which its 200 copies), and
// records, when its Contact asks for outbound (reg-id and +sip.instance),
// that its binding ends with its connection, returning the header the 200
// then carries (Require: outbound).
func (s *Server) markOutbound(t *sipTenant, dn string, contact *sip.ContactHeader, req *sip.Request) []sip.Header {
	if sip.NetworkToUpper(req.Transport()) == "UDP" {
		return nil
	}
	if via := req.Via(); via != nil {
		if v, ok := via.Params.Get("keep"); ok && v == "" {
			via.Params.Add("keep", strconv.Itoa(KeepInterval))
		}
	}
	if id, ok := contact.Params.Get("reg-id"); !ok || id == "" {
		return nil
	}
	if inst, ok := contact.Params.Get("+sip.instance"); !ok || inst == "" {
		return nil
	}
	key := contact.Address.String()
	v, ok := s.tr.flows.Load(key)
	if !ok {
		return nil
	}
	f := v.(flow)
	f.ob = &obFlow{t: t, dn: dn}
	s.tr.flows.Store(key, f)
	return []sip.Header{sip.NewHeader("Require", "outbound")}
}

// closedFlow is what to do when connection c of transport tr closes: end
// the outbound bindings registered over it (not when the server is
// stopping: bindings outlive a restart).
func (s *Server) closedFlow(tr string, c net.Conn) func() {
	source := c.RemoteAddr().String()
	return func() {
		if s.ctx == nil || s.ctx.Err() != nil {
			return
		}
		if s.cl != nil {
			s.cl.dropStream(tr, source)
		}
		go s.endFlow(tr, source)
	}
}

// endFlow ends the outbound bindings over the flow from source on
// transport tr.
func (s *Server) endFlow(tr, source string) {
	type gone struct {
		ob      *obFlow
		contact string
	}
	var ended []gone
	s.tr.flows.Range(func(k, v any) bool {
		if f := v.(flow); f.ob != nil && f.transport == tr && f.source == source {
			ended = append(ended, gone{f.ob, k.(string)})
		}
		return true
	})
	for _, g := range ended {
		s.log.Info("SIP outbound flow closed: binding ended", "tenant", g.ob.t.id, "dn", g.ob.dn, "contact", g.contact, "transport", tr, "source", source)
		g.ob.t.unregisterContact(g.ob.dn, g.contact) // contacts.go
	}
}

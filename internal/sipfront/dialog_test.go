package sipfront

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

func parseMsg(t *testing.T, lines ...string) sip.Message {
	t.Helper()
	m, err := sip.ParseMessage([]byte(strings.Join(lines, "\r\n") + "\r\n\r\nv=0\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var testUA = &sipgo.DialogUA{RewriteContact: true,
	ContactHDR: sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "switchboard", Host: "10.0.0.1", Port: 5060}}}

// checkRequest checks what build gave req: its dialog headers, Route
// headers and destination.
func checkRequest(t *testing.T, req *sip.Request, from, to string, seq uint32, method sip.RequestMethod, routes []string, dest string) {
	t.Helper()
	if req.From() == nil || req.From().Value() != from {
		t.Errorf("From %v, want %s", req.From(), from)
	}
	if req.To() == nil || req.To().Value() != to {
		t.Errorf("To %v, want %s", req.To(), to)
	}
	if req.CallID() == nil || req.CallID().Value() != "cid-1" {
		t.Errorf("Call-ID %v", req.CallID())
	}
	if cs := req.CSeq(); cs == nil || cs.SeqNo != seq || cs.MethodName != method {
		t.Errorf("CSeq %v, want %d %s", cs, seq, method)
	}
	var got []string
	for _, h := range req.GetHeaders("Route") {
		got = append(got, h.Value())
	}
	if strings.Join(got, ",") != strings.Join(routes, ",") {
		t.Errorf("Route %q, want %q", got, routes)
	}
	if req.Destination() != dest {
		t.Errorf("destination %s, want %s", req.Destination(), dest)
	}
	if req.Contact() == nil || req.Contact().Address.User != "switchboard" {
		t.Errorf("Contact %v, want ours", req.Contact())
	}
}

// TestServerDialogRecord: the record of a dialog the phone's INVITE made
// (we are its UAS) builds requests as RFC 3261 section 12 says: From is
// our side (the 2xx's To, with our tag), To the phone's (the INVITE's
// From), CSeq ours (counting on from the INVITE's, as sipgo did; an ACK
// takes the last), the route set the INVITE's Record-Route in its order,
// the first route the destination; without a route set, the address the
// INVITE came from.
func TestServerDialogRecord(t *testing.T) {
	req := parseMsg(t, "INVITE sip:1002@10.0.0.1 SIP/2.0",
		"Via: SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bK1",
		"Record-Route: <sip:p1.example:5080;lr>",
		"Record-Route: <sip:p2.example;lr>",
		"From: <sip:1001@demo>;tag=a1",
		"To: <sip:1002@demo>;tag=b2",
		"Call-ID: cid-1",
		"CSeq: 7 INVITE",
		"Contact: <sip:1001@10.0.0.9:5070>",
		"Allow: INVITE, ACK, BYE, UPDATE",
		"Content-Length: 5").(*sip.Request)
	req.SetSource("10.0.0.9:5070")
	d := &sipgo.DialogServerSession{Dialog: sipgo.Dialog{InviteRequest: req}}
	d.Init()
	rec := serverDialog(d, testUA)
	if !rec.uas || !rec.update || rec.remoteCSeq != 7 || rec.target != "sip:1001@10.0.0.9:5070" {
		t.Fatalf("record %+v", rec)
	}
	if l, r := rec.tags(); l != "b2" || r != "a1" {
		t.Errorf("tags %s %s, want b2 a1", l, r)
	}
	target, _ := rec.remoteTarget()
	bye := sip.NewRequest(sip.BYE, target)
	rec.build("cid-1", bye)
	routes := []string{"<sip:p1.example:5080;lr>", "<sip:p2.example;lr>"}
	checkRequest(t, bye, "<sip:1002@demo>;tag=b2", "<sip:1001@demo>;tag=a1", 8, sip.BYE, routes, "p1.example:5080")
	ack := sip.NewRequest(sip.ACK, target)
	rec.build("cid-1", ack)
	checkRequest(t, ack, "<sip:1002@demo>;tag=b2", "<sip:1001@demo>;tag=a1", 8, sip.ACK, routes, "p1.example:5080")
	if !rec.validBye(7) || rec.validBye(6) {
		t.Error("a BYE below the INVITE's CSeq must be refused, not one at or above it")
	}

	for req.GetHeader("Record-Route") != nil {
		req.RemoveHeader("Record-Route")
	}
	d = &sipgo.DialogServerSession{Dialog: sipgo.Dialog{InviteRequest: req}}
	d.Init()
	rec = serverDialog(d, testUA)
	bye = sip.NewRequest(sip.BYE, target)
	rec.build("cid-1", bye)
	checkRequest(t, bye, "<sip:1002@demo>;tag=b2", "<sip:1001@demo>;tag=a1", 8, sip.BYE, nil, "10.0.0.9:5070")
}

// TestClientDialogRecord: the record of a dialog our INVITE made (we are
// its UAC): From is the INVITE's, To the 2xx's (with the phone's tag), the
// remote target the 2xx's Contact, the route set its Record-Route
// reversed; a strict router (no lr) first becomes the Request-URI; without
// a route set, requests go where the 2xx came from.
func TestClientDialogRecord(t *testing.T) {
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "1002", Host: "10.0.0.8", Port: 5062})
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "1001", Host: "10.0.0.1"}}
	from.Params.Add("tag", "ours")
	cid := sip.CallIDHeader("cid-1")
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: "1002", Host: "10.0.0.8", Port: 5062}})
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 2, MethodName: sip.INVITE})
	req.SetTransport("UDP")
	res := parseMsg(t, "SIP/2.0 200 OK",
		"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK2",
		"Record-Route: <sip:p1.example;lr>",
		"Record-Route: <sip:p2.example:5090>",
		"From: <sip:1001@10.0.0.1>;tag=ours",
		"To: <sip:1002@10.0.0.8:5062>;tag=theirs",
		"Call-ID: cid-1",
		"CSeq: 2 INVITE",
		"Contact: <sip:1002@10.0.0.8:5062>",
		"Content-Length: 5").(*sip.Response)
	res.SetSource("10.0.0.8:5062")
	d := &sipgo.DialogClientSession{Dialog: sipgo.Dialog{InviteRequest: req, InviteResponse: res}, UA: testUA}
	d.Init()
	rec := clientDialog(d)
	if rec.uas || rec.update || rec.target != "sip:1002@10.0.0.8:5062" || !rec.strict {
		t.Fatalf("record %+v", rec)
	}
	if l, r := rec.tags(); l != "ours" || r != "theirs" {
		t.Errorf("tags %s %s, want ours theirs", l, r)
	}
	target, _ := rec.remoteTarget()
	reinvite := sip.NewRequest(sip.INVITE, target)
	rec.build("cid-1", reinvite)
	checkRequest(t, reinvite, "<sip:1001@10.0.0.1>;tag=ours", "<sip:1002@10.0.0.8:5062>;tag=theirs", 3, sip.INVITE,
		[]string{"<sip:p2.example:5090>", "<sip:p1.example;lr>"}, "p2.example:5090")
	if reinvite.Recipient.Host != "p2.example" {
		t.Errorf("Request-URI %s: a strict router first must be it", reinvite.Recipient.String())
	}

	for res.GetHeader("Record-Route") != nil {
		res.RemoveHeader("Record-Route")
	}
	d = &sipgo.DialogClientSession{Dialog: sipgo.Dialog{InviteRequest: req, InviteResponse: res}, UA: testUA}
	d.Init()
	rec = clientDialog(d)
	bye := sip.NewRequest(sip.BYE, target)
	rec.build("cid-1", bye)
	checkRequest(t, bye, "<sip:1001@10.0.0.1>;tag=ours", "<sip:1002@10.0.0.8:5062>;tag=theirs", 3, sip.BYE, nil, "10.0.0.8:5062")
}

// TestAnsweredLegsKeepRecords: once 1001's call to 1002 is answered and
// acknowledged, both legs keep the record of their dialog and no longer
// sipgo's session (dialog.go); 1001's BYE is answered from its leg's
// record and 1002 is sent its BYE from its own; sipgo keeps neither INVITE
// transaction meanwhile: the flow is 5.1, nothing left over.
func TestAnsweredLegsKeepRecords(t *testing.T) {
	f := newFixture(t, nil)
	uas, uac := f.startCall("uas.xml", "uac.xml", "-d", "3000")
	// Poll (the ACK, then 1001's BYE after 3 s) until both legs hold a
	// record and no session; seen is the last state polled.
	var legs []*leg
	seen := "no legs"
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		legs = legs[:0]
		f.sip.mu.Lock()
		for _, l := range f.sip.legs {
			legs = append(legs, l)
		}
		f.sip.mu.Unlock()
		done := len(legs) == 2
		if len(legs) > 0 {
			seen = ""
		}
		for _, l := range legs {
			d, uas, uac := l.dlg.Load(), l.uas.Load(), l.uac.Load()
			done = done && d != nil && uas == nil && uac == nil
			seen += fmt.Sprintf("[leg of %s: record %v, sipgo's server session %v, client session %v] ", l.dn, d != nil, uas != nil, uac != nil)
		}
		if done {
			break
		}
	}
	if len(legs) != 2 {
		t.Fatalf("answered legs never all kept a record and no session; last seen: %s", seen)
	}
	for _, l := range legs {
		d := l.dlg.Load()
		if d == nil || l.uas.Load() != nil || l.uac.Load() != nil {
			t.Fatalf("answered legs never all kept a record and no session; last seen: %s", seen)
		}
		if local, remote := d.tags(); local == "" || remote == "" || d.uas != l.caller {
			t.Errorf("leg of %s: record %+v", l.dn, d)
		}
	}
	// While the call is up (1001 hangs up after 3 s), sipgo holds none of
	// its INVITE transactions: they ended with the exchange, compact
	// records stand in for them (invite.go), the phone's INVITE's in the
	// absorber.
	// (An ACK's transaction may be there for a moment.)
	server, client := sipgoTransactions(f.sip)
	for wait := time.Now().Add(time.Second); len(server)+len(client) > 0 && time.Now().Before(wait); {
		time.Sleep(20 * time.Millisecond)
		server, client = sipgoTransactions(f.sip)
	}
	if len(server)+len(client) > 0 {
		t.Errorf("sipgo keeps INVITE transactions of the answered call: server %v, client %v", server, client)
	}
	if n := f.sip.pending.n.Load(); n != 0 {
		t.Errorf("%d INVITEs still pending", n)
	}
	if !hasInviteRecord(f.sip) {
		t.Error("no record of 1001's answered INVITE in the absorber")
	}
	uac.wait(t)
	uas.wait(t)
	f.basicFlow()
}

// sipgoTransactions are the keys of the INVITE transactions sipgo's
// transaction layer holds (read through reflect and unsafe, under the
// store's lock: sipgo does not export them).
func sipgoTransactions(s *Server) (server, client []string) {
	txl := reflect.ValueOf(s.ua.TransactionLayer()).Elem()
	keys := func(store string) []string {
		st := txl.FieldByName(store).Elem()
		// The store's lock, as sipgo takes it.
		mu := (*sync.RWMutex)(unsafe.Pointer(st.FieldByName("mu").UnsafeAddr()))
		mu.RLock()
		defer mu.RUnlock()
		var out []string
		for _, k := range st.FieldByName("items").MapKeys() {
			if strings.HasSuffix(k.String(), "INVITE") {
				out = append(out, k.String())
			}
		}
		return out
	}
	return keys("serverTransactions"), keys("clientTransactions")
}

// hasInviteRecord reports whether the absorber has a record of an
// INVITE.
func hasInviteRecord(s *Server) bool {
	s.absorb.mu.Lock()
	defer s.absorb.mu.Unlock()
	for _, r := range s.absorb.recs {
		if r.method == "INVITE" {
			return true
		}
	}
	return false
}

package sipfront

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// orphanDialog is what ends an answered leg's dialog without its session:
// the BYE's addressing, kept in Cluster.Dialogs while the dialog lasts, so
// that the node taking its tenant over (after this one died) can end it.
type orphanDialog struct {
	Dest   string `json:"dest"` // host:port the BYE goes to
	RURI   string `json:"ruri"` // the remote target
	From   string `json:"from"` // our side, with its tag
	To     string `json:"to"`   // the phone's or carrier's side, with its tag
	CallID string `json:"callId"`
	CSeq   uint32 `json:"cseq"`
	// Route is the dialog's route set, when a node holding the phone's
	// connection put itself on the path (cluster_stream.go): the BYE
	// goes through it (Dest is then its address).
	Route []string `json:"route,omitempty"`
}

// byeCSeqStep is added to the dialog's CSeq for the BYE: above anything
// this side sent in it (re-INVITEs), since that count is not kept.
const byeCSeqStep = 1000

// dialogUp keeps answered leg l's dialog (its record dl) in the cluster.
func (s *Server) dialogUp(l *leg, dl *dialog) {
	if s.cl == nil || s.cl.cfg.Dialogs == nil || dl == nil {
		return
	}
	target, ok := dl.remoteTarget()
	if !ok {
		return
	}
	d := orphanDialog{RURI: dl.target, From: dl.local, To: dl.remote, CallID: l.callID,
		CSeq: byeCSeqStep + dl.cseq.Load()}
	port := target.Port
	if port == 0 {
		port = 5060
	}
	d.Dest = net.JoinHostPort(target.Host, strconv.Itoa(port))
	// The route set (RFC 3261 12.1), in the order our Route headers list
	// it: through the node holding the phone's connection, if any.
	d.Route = append(d.Route, dl.routes...)
	if len(d.Route) > 0 {
		if f, ok := flowThrough(d.Route[0]); ok {
			d.Dest = f.source
		}
	}
	v, err := json.Marshal(d)
	if err != nil {
		return
	}
	// Only while the leg is indexed: one released before its dialog was
	// up (its 200's ACK came after the release, ack.go) had its
	// dialogDown already, and nothing would end the record. The check,
	// the mark and the Put are under the lock so that a dialogDown after
	// them finds the mark and puts the end after the record.
	s.cl.mu.Lock()
	defer s.cl.mu.Unlock()
	if s.legByCallID(l.callID) != l {
		return
	}
	s.cl.up[l.callID] = true
	s.cl.cfg.Dialogs.Put(l.t.id, l.callID, v, func(err error) {
		if err != nil {
			s.log.Warn("SIP dialog not kept in the cluster: a node taking the tenant over could not end it", "call_id", l.callID, "err", err)
		}
	})
}

// dialogDown forgets leg l's dialog in the cluster: it ended.
func (s *Server) dialogDown(l *leg) {
	if s.cl == nil || s.cl.cfg.Dialogs == nil {
		return
	}
	s.cl.mu.Lock()
	up := s.cl.up[l.callID]
	delete(s.cl.up, l.callID)
	s.cl.mu.Unlock()
	if up {
		s.cl.cfg.Dialogs.Put(l.t.id, l.callID, nil, func(error) {})
	}
}

// orphans are the dialogs of tenant id its previous owner left (it died,
// or handed the tenant over with calls up: the new owner's engine releases
// those calls). Read before the tenant is served here, so none is ours.
func (s *Server) orphans(id string) map[string][]byte {
	if s.cl.cfg.Dialogs == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	vals, err := s.cl.cfg.Dialogs.Load(ctx, id)
	cancel()
	if err != nil {
		s.log.Error("SIP dialogs of a tenant taken over not read: their phones are not sent BYE", "tenant", id, "err", err)
	}
	return vals
}

// endOrphans sends a BYE for each of tenant id's orphaned dialogs and
// forgets them. Each BYE is sent once, statelessly: the answer, if any, is
// dropped.
func (s *Server) endOrphans(id string, orphans map[string][]byte) {
	for callID, v := range orphans {
		var d orphanDialog
		if json.Unmarshal(v, &d) == nil && d.CallID == callID {
			s.cl.send(orphanBye(&d, s.cl.via), d.Dest)
		}
		s.cl.cfg.Dialogs.Put(id, callID, nil, func(error) {})
	}
	if len(orphans) > 0 {
		s.log.Info("SIP: dialogs left by the tenant's previous node ended", "tenant", id, "dialogs", len(orphans))
	}
}

// orphanBye is the BYE that ends dialog d, sent from via.
func orphanBye(d *orphanDialog, via sip.ViaHeader) rawMessage {
	var b strings.Builder
	fmt.Fprintf(&b, "BYE %s SIP/2.0\r\n", d.RURI)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=%s\r\n", via.SentBy(), sip.GenerateBranch())
	b.WriteString("Max-Forwards: 70\r\n")
	for _, r := range d.Route {
		fmt.Fprintf(&b, "Route: %s\r\n", r)
	}
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d BYE\r\n", d.From, d.To, d.CallID, d.CSeq)
	b.WriteString("Reason: SIP;cause=500;text=\"the call's node failed\"\r\nContent-Length: 0\r\n\r\n")
	return rawMessage(b.String())
}

// rawMessage is a SIP message already written out.
type rawMessage string

func (m rawMessage) String() string { return string(m) }

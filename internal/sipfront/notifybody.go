package sipfront

import (
	"slices"
	"strconv"
	"strings"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/engine"
)

// The bodies of the NOTIFYs of subscribe.go: pure functions of the state
// they report (golden files testdata/notify/*.txt, TestNotifyBodies).

// mwiState is a DN's message-waiting indicator (EventMessageWaitingOn/Off,
// the message-waiting request).
type mwiState struct {
	on       bool
	new, old int
}

// mwiOf is the message-waiting state an EventMessageWaitingOn/Off sets.
func mwiOf(ev *event.Event) mwiState {
	st := mwiState{on: ev.ID == event.EventMessageWaitingOn}
	if p, ok := ev.Extensions.Get("NewMessages"); ok {
		st.new = int(p.Int)
	}
	if p, ok := ev.Extensions.Get("OldMessages"); ok {
		st.old = int(p.Int)
	}
	return st
}

// messageSummary is the application/simple-message-summary body (RFC
// 3842) for account (a SIP URI): whether messages wait, and the voice
// messages new/old (no urgent ones: the counts have none).
func messageSummary(account string, st mwiState) []byte {
	yes := "no"
	if st.on {
		yes = "yes"
	}
	return []byte("Messages-Waiting: " + yes + "\r\n" +
		"Message-Account: " + account + "\r\n" +
		"Voice-Message: " + strconv.Itoa(st.new) + "/" + strconv.Itoa(st.old) + " (0/0)\r\n")
}

// dialogState is one dialog of a watched DN for the dialog event package
// (RFC 4235): one engine call the DN is on.
type dialogState struct {
	id        string // the call's ConnID
	initiator bool   // the DN made the call (direction initiator), else recipient
	state     string // trying, early, confirmed or terminated
	remote    string // the other party's DN or number ("" unknown)
}

// Dialog states of RFC 4235 section 3.7.1.
const (
	dlgTrying     = "trying"
	dlgEarly      = "early"
	dlgConfirmed  = "confirmed"
	dlgTerminated = "terminated"
)

// applyCall updates dialogs (a watched DN's, by ConnID) with call event ev
// about that DN; false when nothing it reports changed. A terminated
// dialog stays in the map, for the NOTIFY that says so (the caller drops
// it after).
func applyCall(dialogs map[string]*dialogState, ev *event.Event) bool {
	set := func(connID, state string, initiator bool) bool {
		d := dialogs[connID]
		if d == nil {
			d = &dialogState{id: connID, initiator: initiator}
			dialogs[connID] = d
		} else if d.state == state && (ev.OtherDN == "" || d.remote == ev.OtherDN) {
			return false
		}
		d.state = state
		if ev.OtherDN != "" {
			d.remote = ev.OtherDN
		}
		return true
	}
	switch ev.ID {
	case event.EventDialing:
		return set(ev.ConnID, dlgTrying, true)
	case event.EventNetworkReached:
		return set(ev.ConnID, dlgEarly, true)
	case event.EventRinging:
		return set(ev.ConnID, dlgEarly, false)
	case event.EventEstablished:
		return set(ev.ConnID, dlgConfirmed, ev.ThisDNRole == event.RoleOrigination)
	case event.EventPartyChanged:
		// A completed transfer moved the DN to call ConnID.
		if d := dialogs[ev.PreviousConnID]; d != nil && ev.PreviousConnID != ev.ConnID {
			d.state = dlgTerminated
			set(ev.ConnID, dlgConfirmed, d.initiator)
			return true
		}
		return set(ev.ConnID, dlgConfirmed, false)
	case event.EventReleased, event.EventAbandoned, event.EventDiverted:
		d := dialogs[ev.ConnID]
		if d == nil || d.state == dlgTerminated {
			return false
		}
		d.state = dlgTerminated
		return true
	}
	return false
}

// dropTerminated removes the terminated dialogs once reported.
func dropTerminated(dialogs map[string]*dialogState) {
	for id, d := range dialogs {
		if d.state == dlgTerminated {
			delete(dialogs, id)
		}
	}
}

// dialogFromParty is a DN's dialog on a call as the engine's view of the
// call shows it (a subscription's first NOTIFY); nil when the DN is not
// a party of it.
func dialogFromParty(dn string, v engine.CallView) *dialogState {
	var me *engine.PartyView
	remote := ""
	for i := range v.Parties {
		p := &v.Parties[i]
		if p.DN == dn && !p.External && me == nil {
			me = p
		} else if remote == "" {
			remote = p.DN
		}
	}
	if me == nil {
		return nil
	}
	d := &dialogState{id: v.ConnID, initiator: me.Role == "Origination", remote: remote, state: dlgConfirmed}
	switch me.State {
	case "Dialing", "Busy":
		d.state = dlgTrying
	case "Ringing":
		d.state = dlgEarly
	}
	return d
}

// dialogInfo is the application/dialog-info+xml body (RFC 4235) for the
// watched DN entity (a SIP URI), version version, full state: its
// dialogs in ConnID order; remote parties are written sip:<number>@host.
func dialogInfo(entity, host string, version int, dialogs map[string]*dialogState) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="` + strconv.Itoa(version) +
		`" state="full" entity="` + xmlEscape(entity) + `">` + "\n")
	ids := make([]string, 0, len(dialogs))
	for id := range dialogs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		d := dialogs[id]
		dir := "recipient"
		if d.initiator {
			dir = "initiator"
		}
		b.WriteString(`  <dialog id="` + xmlEscape(d.id) + `" direction="` + dir + `">` + "\n")
		b.WriteString("    <state>" + d.state + "</state>\n")
		b.WriteString("    <local><identity>" + xmlEscape(entity) + "</identity></local>\n")
		if d.remote != "" {
			b.WriteString("    <remote><identity>" + xmlEscape("sip:"+d.remote+"@"+host) + "</identity></remote>\n")
		}
		b.WriteString("  </dialog>\n")
	}
	b.WriteString("</dialog-info>\n")
	return []byte(b.String())
}

var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;")

func xmlEscape(s string) string { return xmlEscaper.Replace(s) }

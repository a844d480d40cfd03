package sipfront

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/media"
)

// Golden files of "what to send": testdata/book/*.txt hold blocks of
//
//	<command> [key=value ...]
//	----
//	<expected output: the SIP actions decided, one a line, or "ok">
//	<blank line>
//
// Lines starting with '#' between blocks are comments. Commands set up leg
// state the way the request handlers do (register: one more device of the
// DN each time; trunk [down=true: its keepalive failed], phone-invite,
// trunk-invite, placed, answered, failed [code=, default 480], gone,
// phone-hold, phone-offer, refer,
// referred, hangup, unacked, relay-opened), turn anchoring on (media [default=true]
// [arrival=true] [always=true]), feed a recorded call event (event <Name>
// conn= this= other= [inbound=true] [consult=true] [trunk=] [third=]
// [role=newparty] [state=busy|noanswer|transferred|conferenced] [prev=]
// [type=<TreatmentType>] [parms=KEY:value,...]), tell what the engine took
// without an event (trunk-gone, trunk-answered) or print the book (state).
// Run with -rewrite to write the actual output back, then
// review the diff.

var rewrite = flag.Bool("rewrite", false, "rewrite the golden files in testdata/book with the actual output")

func TestBookGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "book", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			r := newBookRunner(t)
			var out strings.Builder
			lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
			for i := 0; i < len(lines); i++ {
				l := lines[i]
				if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
					out.WriteString(l + "\n")
					continue
				}
				cmd, at := l, i+1
				if i++; i >= len(lines) || lines[i] != "----" {
					t.Fatalf("%s:%d: want ---- after the command", path, at)
				}
				var want []string
				for i++; i < len(lines) && lines[i] != ""; i++ {
					want = append(want, lines[i])
				}
				got := r.run(cmd)
				out.WriteString(cmd + "\n----\n" + strings.Join(got, "\n") + "\n\n")
				if !*rewrite && strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("%s:%d: %s\ngot:\n%s\nwant:\n%s", path, at, cmd, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
			}
			if *rewrite {
				if err := os.WriteFile(path, []byte(strings.TrimRight(out.String(), "\n")+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

type bookRunner struct {
	t     *testing.T
	b     book
	legs  map[string]*leg // by Call-ID (the name given to the legs the test makes)
	binds map[string][]sip.Uri
	seq   uint64
}

func newBookRunner(t *testing.T) *bookRunner {
	r := &bookRunner{t: t, legs: map[string]*leg{}, binds: map[string][]sip.Uri{}}
	r.b = newBook(nil, func(dn string) []sip.Uri { return r.binds[dn] },
		func() uint64 { r.seq++; return r.seq })
	return r
}

type kv map[string]string

func parseLine(line string) (string, []string, kv) {
	fields := strings.Fields(line)
	a := kv{}
	var pos []string
	for _, f := range fields[1:] {
		if k, v, ok := strings.Cut(f, "="); ok {
			a[k] = v
		} else {
			pos = append(pos, f)
		}
	}
	return fields[0], pos, a
}

func (r *bookRunner) leg(a kv) *leg {
	l := r.legs[a["leg"]]
	if l == nil {
		r.t.Fatalf("no leg %q", a["leg"])
	}
	return l
}

// run executes one command line and returns its output lines.
func (r *bookRunner) run(line string) []string {
	t, b := r.t, &r.b
	name, pos, a := parseLine(line)
	switch name {
	case "register":
		contact := a["contact"]
		if contact == "" {
			contact = "sip:" + a["dn"] + "@" + a["dn"] + ".phone"
		}
		var u sip.Uri
		if err := sip.ParseUri(contact, &u); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		r.binds[a["dn"]] = append(r.binds[a["dn"]], u) // another device of the DN
		return []string{"ok"}
	case "trunk":
		tr := trunk{dn: a["dn"], address: a["address"], state: &trunkState{down: a["down"] == "true"}}
		if p := a["prefixes"]; p != "" {
			tr.prefixes = strings.Split(p, ",")
		}
		b.trunks = append(b.trunks, tr)
		return []string{"ok"}
	case "phone-invite", "trunk-invite":
		l := &leg{dn: a["from"], to: a["to"], trunk: a["trunk"], callID: a["leg"], caller: true,
			sdp: []byte(or(a["sdp"], "sdp-"+a["leg"])), final: make(chan final, 1)}
		r.legs[l.callID] = l
		if !b.await(l) {
			return []string{"final " + l.callID + " " + strconv.Itoa(busyHere.code) + " " + busyHere.reason}
		}
		return []string{"ok"}
	case "placed":
		return r.format(b.placed(r.leg(a), a["conn"], a["refused"] == "true"))
	case "answered":
		l := r.leg(a)
		live, acts := b.answered(l, []byte(or(a["sdp"], "sdp-"+l.callID)))
		if !live {
			return []string{"ack and bye " + l.callID + " (ended meanwhile)"}
		}
		out := r.format(acts) // the other devices of a forked call stop ringing
		if len(acts) == 0 {
			out = nil
		}
		if l.first {
			return append(append(out, "ack "+l.callID+", the destination's INVITE goes:"), r.format(b.firstAnswered(l))...)
		}
		return append(out, "ack "+l.callID+", tell the engine")
	case "failed":
		// Our INVITE got final response code= (default 480).
		l := r.leg(a)
		code := 480
		if a["code"] != "" {
			code, _ = strconv.Atoi(a["code"])
		}
		tell, status, acts := b.forkFailed(l, code)
		var out []string
		if len(acts) > 0 {
			out = r.format(acts)
		}
		switch {
		case !tell:
			return append(out, "nothing to tell the engine")
		case l.first:
			return append(out, "tell the engine: Release by "+l.dn)
		}
		return append(out, "tell the engine "+strconv.Itoa(status))
	case "gone":
		return r.format(b.gone(r.leg(a)))
	case "unacked":
		return r.format(b.abandoned(r.leg(a)))
	case "hangup":
		return r.format(b.end(r.leg(a), terminated))
	case "phone-hold":
		// A re-INVITE from the phone the engine took: its event is not
		// echoed; a hold makes the phone's next INVITE a consultation.
		l := r.leg(a)
		l.phoneHold++
		if a["hold"] == "true" {
			b.heldBy[l.dn] = l
		} else if b.heldBy[l.dn] == l {
			delete(b.heldBy, l.dn)
		}
		return []string{"ok"}
	case "phone-offer":
		// A re-INVITE or UPDATE from the phone with a new SDP (hold=true:
		// sendonly).
		l := r.leg(a)
		return r.format(b.offered(b.calls[l.connID], l, []byte(a["sdp"]), a["hold"] == "true"))
	case "refer":
		if !b.refer(r.leg(a)) {
			return []string{"481"}
		}
		return []string{"ok"}
	case "referred":
		return r.format(b.referred(r.leg(a)))
	case "relay-opened":
		// relayInvite's I/O opened the relay sessions: the SDP of ours
		// given to leg and to the caller leg (relay.go).
		r.leg(a).ours = []byte(a["ours"])
		if c := a["caller"]; c != "" {
			r.legs[c].ours = []byte(a["caller-ours"])
		}
		return []string{"ok"}
	case "trunk-gone":
		return r.format(b.trunkGone(r.leg(a)))
	case "trunk-answered":
		return r.format(b.trunkAnswered(r.leg(a)))
	case "event":
		if len(pos) != 1 {
			t.Fatalf("%s: want the event's name", line)
		}
		id, ok := event.ParseName(pos[0])
		if !ok {
			t.Fatalf("%s: unknown event %q", line, pos[0])
		}
		ev := &event.Event{ID: id, ConnID: a["conn"], PreviousConnID: a["prev"], ThisDN: a["this"],
			OtherDN: a["other"], OtherTrunk: a["trunk"], ThirdPartyDN: a["third"]}
		if a["type"] != "" {
			typ, ok := event.ParseTreatmentType(a["type"])
			if !ok {
				t.Fatalf("%s: unknown treatment type", line)
			}
			ev.TreatmentType = typ
		}
		if a["parms"] != "" {
			for _, p := range strings.Split(a["parms"], ",") {
				k, v, _ := strings.Cut(p, ":")
				ev.TreatmentParms = append(ev.TreatmentParms, event.S(k, v))
			}
		}
		if a["inbound"] == "true" {
			ev.CallType = event.CallTypeInbound
		}
		if a["consult"] == "true" {
			ev.CallType = event.CallTypeConsult
		}
		if a["role"] == "newparty" {
			ev.OtherDNRole = event.RoleNewParty
		}
		switch a["state"] {
		case "":
		case "busy":
			ev.CallState = event.CallStateBusy
		case "noanswer":
			ev.CallState = event.CallStateNoAnswer
		case "transferred":
			ev.CallState = event.CallStateTransferred
		case "conferenced":
			ev.CallState = event.CallStateConferenced
		default:
			t.Fatalf("%s: state is busy, noanswer, transferred or conferenced", line)
		}
		return r.format(b.decide(ev))
	case "state":
		return r.state()
	case "media":
		// Anchoring on, with music "jazz" on MUSIC_DN 9001, the default
		// music "moh" when default=true, announcement "welcome", eu tones;
		// arrival=true anchors callers when their call is queued.
		tones, err := media.NewTones(media.TonesEU)
		if err != nil {
			t.Fatal(err)
		}
		m := &Media{Music: map[string]*media.Clip{"9001": media.NewClip("jazz", nil)},
			Announcements: map[string]*media.Clip{"welcome": media.NewClip("welcome", nil)}, Tones: tones}
		if a["default"] == "true" {
			m.DefaultMusic = media.NewClip("moh", nil)
		}
		m.OnArrival = a["arrival"] == "true"
		m.Always = a["always"] == "true"
		b.media = m
		return []string{"ok"}
	}
	t.Fatalf("unknown command %q", line)
	return nil
}

func sdpName(sdp []byte) string {
	if bytes.Equal(sdp, placeholderSDP) {
		return "placeholder"
	}
	return string(sdp)
}

// format prints actions, and names the legs they create.
func (r *bookRunner) format(acts []action) []string {
	if len(acts) == 0 {
		return []string{"nothing"}
	}
	var out []string
	for _, a := range acts {
		id := a.leg.callID
		switch a.kind {
		case actRinging:
			out = append(out, "180 "+id)
		case actFinal:
			switch a.fin.code {
			case 0:
				out = append(out, "done "+id+" (sipgo answered the INVITE)")
			case 200:
				out = append(out, "final "+id+" 200 sdp="+sdpName(a.fin.sdp))
			default:
				out = append(out, "final "+id+" "+strconv.Itoa(a.fin.code)+" "+a.fin.reason)
			}
		case actInvite, actRelayInvite:
			r.legs[id] = a.leg
			s := "invite " + id + " dn=" + a.leg.dn
			if a.leg.trunk != "" {
				s += " trunk=" + a.leg.trunk
			}
			if a.kind == actRelayInvite {
				out = append(out, s+" to="+a.target.String()+" from="+a.from+" sdp=a session of ours relayed to "+a.peer.callID+"'s")
				continue
			}
			out = append(out, s+" to="+a.target.String()+" from="+a.from+" sdp="+sdpName(a.sdp))
		case actCancel:
			s := "cancel " + id
			if a.reason != "" {
				s += " Reason: " + a.reason
			}
			out = append(out, s)
		case actBye:
			if a.why != reasonCleared {
				id += " reason=" + a.why
			}
			out = append(out, "bye "+id)
		case actReinvite:
			dir := "retrieve"
			if a.hold {
				dir = "hold"
			}
			out = append(out, "reinvite "+id+" "+dir+" sdp="+sdpName(a.sdp))
		case actRelease:
			out = append(out, "release "+id+" conn="+a.leg.connID)
		case actAnchor:
			out = append(out, "anchor "+id+" (200 with our SDP), play "+a.play.what)
		case actPlay:
			out = append(out, "play "+id+" "+a.play.what)
		case actStepOut:
			out = append(out, "step out "+id+" reinvite sdp="+sdpName(a.sdp)+", close media")
		case actRelay:
			peer := "none"
			if a.peer != nil {
				peer = a.peer.callID
			}
			out = append(out, "relay "+id+" to "+peer+" (reinvite it to a session of ours)")
		default:
			r.t.Fatalf("unknown action %d", a.kind)
		}
	}
	return out
}

// state prints the book: calls with their DNs and legs, and the legs
// waiting for a call or held by their phone.
func (r *bookRunner) state() []string {
	b := &r.b
	var out []string
	for _, id := range sortedKeys(b.calls) {
		c := b.calls[id]
		var legs []string
		for _, l := range c.legs {
			s := l.callID + "(" + l.dn
			if l.trunk != "" {
				s += " trunk=" + l.trunk
			}
			if l.caller {
				s += " caller"
			}
			s += " " + l.state.String()
			if l.phoneHold > 0 {
				s += " phone-hold=" + strconv.Itoa(int(l.phoneHold))
			}
			if l.referring {
				s += " referring"
			}
			if l.anchored {
				s += " anchored"
			}
			if l.steppedOut {
				s += " stepped-out"
			}
			if l.direct {
				s += " direct"
			}
			if l.relayed {
				s += " relayed"
			}
			legs = append(legs, s+")")
		}
		out = append(out, "call "+id+" dns="+strings.Join(sortedKeys(c.dns), ",")+" legs="+strings.Join(legs, ","))
	}
	for _, dn := range sortedKeys(b.dialing) {
		out = append(out, "dialing "+dn+"="+b.dialing[dn].callID)
	}
	for _, k := range sortedKeys(b.inbound) {
		var ids []string
		for _, l := range b.inbound[k] {
			ids = append(ids, l.callID)
		}
		out = append(out, "inbound "+strings.ReplaceAll(k, "\x00", "/")+"="+strings.Join(ids, ","))
	}
	for _, dn := range sortedKeys(b.heldBy) {
		out = append(out, "held "+dn+"="+b.heldBy[dn].callID)
	}
	if len(out) == 0 {
		return []string{"empty"}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

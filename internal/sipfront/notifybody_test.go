package sipfront

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/engine"
)

// TestNotifyBodies pins the NOTIFY bodies (testdata/notify/*.golden; run
// with -rewrite to write the actual output back, then review the diff):
// message-summary for message-waiting states, and dialog-info for 1002's
// dialogs through a call's events (the dialog package's table), each
// body well-formed XML.
func TestNotifyBodies(t *testing.T) {
	var mwi strings.Builder
	for _, st := range []mwiState{{}, {on: true, new: 2, old: 8}, {on: false, new: 0, old: 3}} {
		mwi.WriteString("# " + strings.ReplaceAll(strings.TrimSpace(formatMWI(st)), "\n", " ") + "\n")
		mwi.Write(messageSummary("sip:1001@demo", st))
		mwi.WriteString("\n")
	}
	golden(t, "mwi.golden", mwi.String())

	call := func(id event.Name, conn, other string, role event.DNRole) *event.Event {
		return &event.Event{ID: id, ConnID: conn, ThisDN: "1002", OtherDN: other, ThisDNRole: role}
	}
	steps := []struct {
		what string
		ev   *event.Event
	}{
		{"1001 calls 1002: it rings", call(event.EventRinging, "c1", "1001", event.RoleDestination)},
		{"rings again (no change)", call(event.EventRinging, "c1", "1001", event.RoleDestination)},
		{"1002 answers", call(event.EventEstablished, "c1", "1001", event.RoleDestination)},
		{"1002 dials 1003 meanwhile", call(event.EventDialing, "c2", "1003", event.RoleOrigination)},
		{"1003 answers", call(event.EventEstablished, "c2", "1003", event.RoleOrigination)},
		{"1002 completes the transfer: leaves c1", call(event.EventReleased, "c1", "1001", event.RoleDestination)},
		{"1002 leaves c2", call(event.EventReleased, "c2", "1003", event.RoleOrigination)},
		{"a release of a call never seen (no change)", call(event.EventReleased, "c9", "", event.RoleDestination)},
		{"1002 calls out through a trunk", call(event.EventNetworkReached, "c3", "0123", event.RoleOrigination)},
		{"c3 moves to c4 (a completed transfer)", &event.Event{ID: event.EventPartyChanged, ConnID: "c4", PreviousConnID: "c3", ThisDN: "1002", OtherDN: "0123"}},
		{"c4 diverted away", call(event.EventDiverted, "c4", "", event.RoleDestination)},
	}
	var dlg strings.Builder
	dialogs := map[string]*dialogState{}
	version := 0
	for _, s := range steps {
		dlg.WriteString("# " + s.what + "\n")
		if !applyCall(dialogs, s.ev) {
			dlg.WriteString("(no NOTIFY)\n\n")
			continue
		}
		body := dialogInfo("sip:1002@demo", "demo", version, dialogs)
		version++
		wellFormed(t, body)
		dlg.Write(body)
		dlg.WriteString("\n")
		dropTerminated(dialogs)
	}
	// A subscription's first NOTIFY from the engine's view of the calls.
	dlg.WriteString("# from the engine's view: 1002 ringing on c5 (1001 calls), dialing on c6\n")
	view := map[string]*dialogState{}
	for _, v := range []engine.CallView{
		{ConnID: "c5", Parties: []engine.PartyView{{DN: "1001", Role: "Origination", State: "Dialing"}, {DN: "1002", Role: "Destination", State: "Ringing"}}},
		{ConnID: "c6", Parties: []engine.PartyView{{DN: "1002", Role: "Origination", State: "Dialing"}, {DN: "0123", External: true, Role: "Destination", State: "Ringing"}}},
		{ConnID: "c7", Parties: []engine.PartyView{{DN: "1003", Role: "Origination", State: "Established"}}},
	} {
		if d := dialogFromParty("1002", v); d != nil {
			view[d.id] = d
		}
	}
	body := dialogInfo("sip:1002@demo", "demo", 0, view)
	wellFormed(t, body)
	dlg.Write(body)
	golden(t, "dialog.golden", dlg.String())
}

func formatMWI(st mwiState) string {
	return "on=" + map[bool]string{true: "true", false: "false"}[st.on] + " new=" + strconv.Itoa(st.new) + " old=" + strconv.Itoa(st.old)
}

// wellFormed fails the test unless body parses as XML.
func wellFormed(t *testing.T, body []byte) {
	t.Helper()
	var v struct {
		XMLName xml.Name
		Dialogs []struct {
			ID    string `xml:"id,attr"`
			State string `xml:"state"`
		} `xml:"dialog"`
	}
	if err := xml.Unmarshal(body, &v); err != nil || v.XMLName.Local != "dialog-info" || v.XMLName.Space != "urn:ietf:params:xml:ns:dialog-info" {
		t.Fatalf("not a dialog-info document (%v):\n%s", err, body)
	}
	for _, d := range v.Dialogs {
		if d.ID == "" || d.State == "" {
			t.Fatalf("dialog without id or state:\n%s", body)
		}
	}
}

// golden compares got with testdata/notify/name (rewritten with -rewrite).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "notify", name)
	if *rewrite {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != got {
		t.Errorf("%s differs (run with -rewrite and review the diff)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

package sipfront

import (
	"strconv"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/engine"
)

// TestClickToDial: a MakeCall through the API from registered 1001 to
// registered 1002 rings 1001's phone first; once it answers, 1002's phone
// is INVITEd with 1001's SDP and answers, and 1001 is re-INVITEd with
// 1002's SDP (media port checked by the scenario). A Release through the
// API ends both dialogs (1002's BYE carries Reason: Q.850 cause 16). The events are MakeCall's flow 5.1.
func TestClickToDial(t *testing.T) {
	f := newFixture(t, nil)
	pa, pb, mb := freeUDPPort(t), freeUDPPort(t), freeUDPPort(t)
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	a := f.startSipp(repointed(t, "uas_repointed.xml", mb), pa)
	b := f.startSipp(withReason(t, reasonClearedRE), pb, "-mp", strconv.Itoa(mb))
	out, err := f.rt.Do(t.Context(), engine.MakeCall{From: "1001", To: "1002"})
	if err != nil {
		t.Fatal(err)
	}
	conn := out.Reply.(engine.CallReply).ConnID
	if got := f.waitEstablished(); got != conn {
		t.Fatalf("established %s, want %s", got, conn)
	}
	time.Sleep(200 * time.Millisecond) // 1001's re-INVITE
	if _, err := f.rt.Do(t.Context(), engine.Release{ConnID: conn, DN: "1001"}); err != nil {
		t.Fatal(err)
	}
	a.wait(t)
	b.wait(t)
	basicFlow(t, f)
}

// TestClickToDialRefused: the originator's phone refuses the call (486):
// the engine hears a Release by 1001 and the call ends; 1002's phone was
// CTI-only here (not registered), and its ringing ends with the call.
func TestClickToDialRefused(t *testing.T) {
	f := newFixture(t, nil)
	pa := freeUDPPort(t)
	f.register("1001", pa, 3600)
	a := f.startSipp("uas_busy.xml", pa)
	if _, err := f.rt.Do(t.Context(), engine.MakeCall{From: "1001", To: "1002"}); err != nil {
		t.Fatal(err)
	}
	a.wait(t)
	f.flowIs(
		engine.SetService{DN: "1001", InService: true},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.Release{ConnID: "$1", DN: "1001"},
	)
}

package sipfront

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-cc/switchboard/internal/engine"
)

// waitSubscribed waits until the server holds n subscriptions.
func (f *fixture) waitSubscribed(n int) {
	f.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		f.sip.notes.mu.Lock()
		got := len(f.sip.notes.byID)
		f.sip.notes.mu.Unlock()
		if got == n {
			return
		}
	}
	f.t.Fatalf("never %d subscriptions", n)
}

// TestMessageWaiting: 1001 subscribes to its mailbox; the message-waiting
// command (the CTI API's) turns its indicator on: a NOTIFY says
// Messages-Waiting: yes, Voice-Message 2/1; it unsubscribes. The events
// are the command's.
func TestMessageWaiting(t *testing.T) {
	f := newFixture(t, nil)
	pa := freeUDPPort(t)
	f.register("1001", pa, 3600)
	p := f.startSipp("uac_mwi.xml", pa, "-key", "user", "1001", "-au", "1001", "-ap", testPassword)
	f.waitSubscribed(1)
	mw := engine.MessageWaiting{DN: "1001", On: true, New: 2, Old: 1}
	if _, err := f.rt.Do(t.Context(), mw); err != nil {
		t.Fatal(err)
	}
	p.wait(t)
	want := expected(t, f.tenant, engine.SetService{DN: "1001", InService: true}, mw)
	sameFlow(t, f.events(len(want)), want)
	f.waitSubscribed(0)
}

// TestBusyLampField: 1003 subscribes to 1002's dialog state (RFC 4235);
// 1001 calls 1002, whose phone answers a second after ringing, and hangs
// up: 1003's NOTIFYs (dialog-info, versions rising) show 1002 idle, then
// its call early (ringing, recipient), then confirmed, then idle again.
func TestBusyLampField(t *testing.T) {
	f := newFixture(t, nil)
	pa, pb := freeUDPPort(t), freeUDPPort(t)
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	w := newUDPPhone(t, f.sip.Addr())
	ruri := "sip:1002@demo"
	hdr := "Event: dialog\r\nAccept: application/dialog-info+xml\r\nExpires: 60\r\n"
	chal := w.request("SUBSCRIBE", ruri, "1003", "1002", hdr)
	if res := w.request("SUBSCRIBE", ruri, "1003", "1002", hdr, answer(t, "SUBSCRIBE", ruri, chal, "1003", testPassword, 1)); res.StatusCode != 200 {
		t.Fatalf("SUBSCRIBE: %d", res.StatusCode)
	}
	seen := make(chan []string, 1)
	go func() { seen <- w.dialogStates(t, 5*time.Second) }()
	f.waitSubscribed(1)
	uas := f.startSipp("uas_late.xml", pb)
	f.startSipp("uac.xml", pa, "-key", "user", "1001", "-s", "1002").wait(t)
	uas.wait(t)
	states := <-seen
	// Collapse repeats (a NOTIFY per event; several may show one state).
	var got []string
	for _, s := range states {
		if len(got) == 0 || got[len(got)-1] != s {
			got = append(got, s)
		}
	}
	if strings.Join(got, " ") != "idle early confirmed idle" {
		t.Fatalf("1002's states seen: %v (each NOTIFY: %v), want idle early confirmed idle", got, states)
	}
}

// dialogStates answers the NOTIFYs of a dialog subscription (200) until
// none came for quiet, and returns the state each showed ("idle" when no
// dialog), checking that their versions rise.
func (p *udpPhone) dialogStates(t *testing.T, quiet time.Duration) []string {
	var states []string
	last := -1
	buf := make([]byte, 65535)
	for {
		p.conn.SetReadDeadline(time.Now().Add(quiet))
		n, _, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			return states
		}
		m, err := sip.ParseMessage(buf[:n])
		req, ok := m.(*sip.Request)
		if err != nil || !ok || req.Method != sip.NOTIFY {
			continue
		}
		res := sip.NewResponseFromRequest(req, 200, "OK", nil)
		p.conn.WriteToUDP([]byte(res.String()), p.to)
		body := string(req.Body())
		v := regexp.MustCompile(`version="(\d+)"`).FindStringSubmatch(body)
		if v == nil {
			t.Errorf("NOTIFY without a version: %s", body)
			continue
		}
		ver, _ := strconv.Atoi(v[1])
		if ver <= last {
			t.Errorf("version %d after %d", ver, last)
		}
		last = ver
		switch st := regexp.MustCompile(`direction="recipient"><state>(\w+)</state>`).FindStringSubmatch(body); {
		case st != nil:
			states = append(states, st[1])
		case strings.Contains(body, "<dialog "):
			t.Errorf("unexpected dialog: %s", body)
		default:
			states = append(states, "idle")
		}
	}
}

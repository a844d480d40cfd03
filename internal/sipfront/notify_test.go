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
// are the command's. Over each transport (overTransports).
func TestMessageWaiting(t *testing.T) {
	overTransports(t, nil, nil, func(t *testing.T, ph *phones) {
		f := ph.f
		pa := freeUDPPort(t)
		ph.registerCaller("1001", pa)
		p := ph.call("uac_mwi.xml", pa, "-key", "user", "1001", "-au", "1001", "-ap", testPassword)
		f.waitSubscribed(1)
		mw := engine.MessageWaiting{DN: "1001", On: true, New: 2, Old: 1}
		if _, err := f.rt.Do(t.Context(), mw); err != nil {
			t.Fatal(err)
		}
		p.wait(t)
		want := expected(t, f.tenant, engine.SetService{DN: "1001", InService: true}, mw)
		sameFlow(t, f.events(len(want)), want)
		f.waitSubscribed(0)
	})
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
	w := f.watch("1003", "1002")
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

// TestBusyLampPickUp: 1003's BLF key watches 1002; 1001 calls 1002, whose
// phone rings; the dialog NOTIFY names the ringing dialog (call-id,
// local-tag, remote-tag), and 1003 picks the call up with Replaces built
// from it, as a phone's BLF key does. The flow is TestPickUp's.
func TestBusyLampPickUp(t *testing.T) {
	f := newFixture(t, nil)
	port := f.threePhones()
	w := f.watch("1003", "1002")
	ids := make(chan []string, 1)
	go func() { ids <- w.ringingDialog(t, 10*time.Second) }()
	f.pickUp(port, func() string {
		id := <-ids
		if id == nil {
			t.Fatal("no NOTIFY named 1002's ringing dialog")
		}
		return id[0] + ";to-tag=" + id[2] + ";from-tag=" + id[1]
	})
}

// watch subscribes watcher's phone (a Go UDP phone, returned) to DN dn's
// dialog state (authenticating after the challenge).
func (f *fixture) watch(watcher, dn string) *udpPhone {
	t := f.t.(*testing.T)
	w := newUDPPhone(t, f.sip.Addr())
	ruri := "sip:" + dn + "@demo"
	hdr := "Event: dialog\r\nAccept: application/dialog-info+xml\r\nExpires: 60\r\n"
	chal := w.request("SUBSCRIBE", ruri, watcher, dn, hdr)
	if res := w.request("SUBSCRIBE", ruri, watcher, dn, hdr, answer(t, "SUBSCRIBE", ruri, chal, watcher, testPassword, 1)); res.StatusCode != 200 {
		t.Fatalf("SUBSCRIBE: %d", res.StatusCode)
	}
	return w
}

// ringingDialog answers a dialog subscription's NOTIFYs (200) until one
// shows an early dialog with its ids, and returns them: call-id,
// local-tag, remote-tag (nil when none came within wait); it keeps
// answering the later NOTIFYs meanwhile.
func (p *udpPhone) ringingDialog(t *testing.T, wait time.Duration) []string {
	re := regexp.MustCompile(`call-id="([^"]+)" local-tag="([^"]+)" remote-tag="([^"]+)" direction="recipient"><state>early<`)
	buf := make([]byte, 65535)
	deadline := time.Now().Add(wait)
	var found []string
	for found == nil && time.Now().Before(deadline) {
		p.conn.SetReadDeadline(deadline)
		n, _, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			return nil
		}
		m, err := sip.ParseMessage(buf[:n])
		req, ok := m.(*sip.Request)
		if err != nil || !ok || req.Method != sip.NOTIFY {
			continue
		}
		p.conn.WriteToUDP([]byte(sip.NewResponseFromRequest(req, 200, "OK", nil).String()), p.to)
		if m := re.FindStringSubmatch(string(req.Body())); m != nil {
			found = m[1:]
		}
	}
	go p.answerNotifies()
	return found
}

// answerNotifies answers NOTIFYs (200) until the phone's socket is closed
// or quiet for 5 s.
func (p *udpPhone) answerNotifies() {
	buf := make([]byte, 65535)
	for {
		p.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if m, err := sip.ParseMessage(buf[:n]); err == nil {
			if req, ok := m.(*sip.Request); ok && req.Method == sip.NOTIFY {
				p.conn.WriteToUDP([]byte(sip.NewResponseFromRequest(req, 200, "OK", nil).String()), p.to)
			}
		}
	}
}

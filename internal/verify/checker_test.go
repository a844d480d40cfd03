package verify_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/sim"
	"github.com/switchboard-cc/switchboard/internal/verify"
)

const parts = 12

// goodStream runs a short simulated day in-process (the real engine) and
// returns its records as switchboard publishes them: topic, key, headers
// and the murmur2 partition, offsets per partition.
func goodStream(t *testing.T) ([]verify.Record, *verify.Expect) {
	t.Helper()
	cfg := sim.Default()
	cfg.Agents, cfg.Rate, cfg.Duration, cfg.Seed = 10, 0.2, 20*time.Minute, 3
	cfg.TalkTime = sim.Dist{Median: 40 * time.Second, Sigma: 0.6}
	cfg.WrapUp = sim.Dist{Median: 5 * time.Second, Sigma: 0.5}
	cfg.Patience = sim.Dist{Median: 10 * time.Second, Sigma: 0.8}
	cfg.ConsultTime = sim.Dist{Median: 8 * time.Second, Sigma: 0.5}
	cfg.TransferRate, cfg.ConferenceRate, cfg.MonitorsPerHour, cfg.BreaksPerHour = 0.2, 0.15, 60, 6
	var recs []verify.Record
	offsets := map[string]int64{}
	d, err := sim.NewInProcess(&cfg, "acme", func(evs []event.Event) error {
		for i := range evs {
			r := verify.RecordOf(evs[i].AppendJSON(nil), "", 0)
			r.Partition = event.Partition(r.Key, parts)
			tp := r.Topic + string(rune('a'+r.Partition))
			r.Offset = offsets[tp]
			offsets[tp]++
			recs = append(recs, r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	d.Attach(s)
	if err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Errors > 0 || st.Transfers == 0 || st.Conferences == 0 || st.Abandoned == 0 {
		t.Fatalf("the day is not a useful test stream: %s", st.Summary())
	}
	return recs, st.Expect("acme", cfg.Seed)
}

func check(recs []verify.Record, closed bool, exp *verify.Expect) *verify.Report {
	c := verify.NewChecker(verify.Options{Closed: closed, Expect: exp,
		Partitions: map[string]int32{event.AgentStateTopic: parts, event.CallThreadTopic: parts}})
	for _, r := range recs {
		c.Add(r)
	}
	return c.Finish()
}

func clone(recs []verify.Record) []verify.Record {
	out := make([]verify.Record, len(recs))
	for i, r := range recs {
		r.Key = bytes.Clone(r.Key)
		r.Value = bytes.Clone(r.Value)
		r.Headers = append([]verify.Header(nil), r.Headers...)
		out[i] = r
	}
	return out
}

// find returns the index of the n-th (from 0) record whose event satisfies f.
func find(t *testing.T, recs []verify.Record, n int, f func(*event.Event) bool) int {
	t.Helper()
	for i, r := range recs {
		var ev event.Event
		if event.Unmarshal(r.Value, &ev) == nil && f(&ev) {
			if n == 0 {
				return i
			}
			n--
		}
	}
	t.Fatal("no such record")
	return -1
}

func decode(t *testing.T, r verify.Record) event.Event {
	var ev event.Event
	if err := event.Unmarshal(r.Value, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestGoodStream(t *testing.T) {
	recs, exp := goodStream(t)
	rep := check(recs, true, exp)
	if !rep.OK {
		t.Fatalf("good stream reported:\n%s", rep.Text())
	}
	if rep.Threads == 0 || rep.OpenThreads != 0 || rep.Counts[verify.CountOffered] == 0 {
		t.Fatalf("report: %+v", rep)
	}
	// The day has the flows of 5.14 and 5.15: monitored calls and
	// consultations and transfers through the trunk.
	if rep.Counts[verify.CountObserved] == 0 || rep.Counts[verify.CountExtConsults] == 0 || rep.Events[event.EventNetworkReached.String()] == 0 {
		t.Fatalf("the day has no monitored call or no external consultation: %v", rep.Counts)
	}
	// ... and single-step transfers out through the trunk: a transfer to
	// an external number with no consultation call in its thread before.
	consulted := map[string]bool{}
	oneStep := 0
	for _, r := range recs {
		ev := decode(t, r)
		switch {
		case ev.ID == event.EventDialing && ev.CallType == event.CallTypeConsult:
			consulted[ev.PreviousConnID] = true
		case ev.ID == event.EventReleased && ev.CallState == event.CallStateTransferred &&
			ev.CallType != event.CallTypeConsult && strings.HasPrefix(ev.ThirdPartyDN, "+") && !consulted[ev.ConnID]:
			oneStep++
		}
	}
	if oneStep == 0 {
		t.Fatal("the day has no single-step transfer to an external number")
	}
	// The expectations are checked: a changed count is a problem.
	exp.Counts[verify.CountAnswered]++
	if rep := check(recs, true, exp); !rep.Has(verify.RuleExpect) {
		t.Fatalf("a wrong expected count was not reported:\n%s", rep.Text())
	}
}

func isCall(ev *event.Event) bool { return ev.ID.Topic() == event.CallThreadTopic }

func TestFaults(t *testing.T) {
	good, _ := goodStream(t)
	mid := len(good) / 2
	cases := []struct {
		name   string
		closed bool
		want   verify.Rule
		msg    string // a problem's message contains it
		mutate func(t *testing.T, recs []verify.Record) []verify.Record
	}{
		{"gap", false, verify.RuleSeqGap, "", func(t *testing.T, recs []verify.Record) []verify.Record {
			// drop an EventHeld: the flow stays consistent, only Seq jumps
			i := find(t, recs, 3, func(ev *event.Event) bool { return ev.ID == event.EventHeld })
			return append(recs[:i], recs[i+1:]...)
		}},
		{"duplicate", false, verify.RuleSeqDup, "", func(t *testing.T, recs []verify.Record) []verify.Record {
			i := find(t, recs, 0, func(ev *event.Event) bool { return ev.Seq > 3 && ev.ID == event.EventAgentReady })
			// the same record again right after it (same key, so same partition)
			return append(recs[:i+1], recs[i:]...)
		}},
		{"ringing never ends", true, verify.RuleRinging, "", func(t *testing.T, recs []verify.Record) []verify.Record {
			// cut a thread right after a Ringing: its later events are gone
			i := find(t, recs, 5, func(ev *event.Event) bool { return ev.ID == event.EventRinging })
			key := string(recs[i].Key)
			out := recs[: i+1 : i+1]
			for _, r := range recs[i+1:] {
				if string(r.Key) != key {
					out = append(out, r)
				}
			}
			return out
		}},
		{"wrong partition", false, verify.RulePartition, "", func(t *testing.T, recs []verify.Record) []verify.Record {
			recs[mid].Partition = (recs[mid].Partition + 1) % parts
			return recs
		}},
		{"bad key", false, verify.RuleKey, "", func(t *testing.T, recs []verify.Record) []verify.Record {
			i := find(t, recs, 0, func(ev *event.Event) bool { return ev.ID == event.EventAgentLogin })
			recs[i].Key = []byte("acme:somebody-else")
			return recs
		}},
		{"wrong topic", false, verify.RuleTopic, "", func(t *testing.T, recs []verify.Record) []verify.Record {
			i := find(t, recs, 0, func(ev *event.Event) bool { return isCall(ev) })
			recs[i].Topic = event.AgentStateTopic
			return recs
		}},
		{"wrong header", false, verify.RuleHeaders, "", func(t *testing.T, recs []verify.Record) []verify.Record {
			recs[mid].Headers[0].Value = "EventNothing"
			return recs
		}},
		{"undecodable", false, verify.RuleDecode, "", func(t *testing.T, recs []verify.Record) []verify.Record {
			recs[mid].Value = []byte(`{"id":"EventRinging",`)
			return recs
		}},
		{"invalid event", false, verify.RuleValid, "", func(t *testing.T, recs []verify.Record) []verify.Record {
			i := find(t, recs, 2, func(ev *event.Event) bool { return ev.ID == event.EventEstablished })
			ev := decode(t, recs[i])
			ev.CallType = 0 // mandatory
			recs[i].Value = ev.AppendJSON(nil)
			return recs
		}},
		{"party not on call", false, verify.RuleCallFlow, "not on call", func(t *testing.T, recs []verify.Record) []verify.Record {
			i := find(t, recs, 4, func(ev *event.Event) bool { return ev.ID == event.EventEstablished })
			ev := decode(t, recs[i])
			ev.ThisDN, ev.AgentID = "1009999", ""
			recs[i].Value = ev.AppendJSON(nil)
			return recs
		}},
		{"event after released", false, verify.RuleCallFlow, "after the call ended", func(t *testing.T, recs []verify.Record) []verify.Record {
			// a Held right after the call's last Released, with the next Seq
			i := lastOfThread(t, recs, 7)
			ev := decode(t, recs[i])
			ev.ID, ev.Seq, ev.CallState = event.EventHeld, ev.Seq+1, 0
			ev.OtherDN = "+15550000000"
			r := recs[i]
			r.Value, r.Offset = ev.AppendJSON(nil), r.Offset+1_000_000
			r.Headers = nil
			for _, h := range ev.Headers() {
				r.Headers = append(r.Headers, verify.Header{Key: h.Key, Value: h.Value})
			}
			return append(recs, r)
		}},
		{"ringing without dialing", false, verify.RuleCallFlow, "without a Dialing", func(t *testing.T, recs []verify.Record) []verify.Record {
			// an internal (consult) call's Dialing turned into a second Ringing-less event: drop Dialing, renumber the thread
			i := find(t, recs, 0, func(ev *event.Event) bool {
				// a consultation of an agent (not of an external number)
				return ev.ID == event.EventDialing && ev.CallType == event.CallTypeConsult && !strings.HasPrefix(ev.OtherDN, "+")
			})
			ev := decode(t, recs[i])
			ev.ID, ev.ThisDNRole = event.EventHeld, 0 // the DN holds instead of dialing; the consult then rings without Dialing
			ev.CallType = event.CallTypeInbound
			ev.ConnID = ev.PreviousConnID
			ev.PreviousConnID, ev.DNIS, ev.ANI = "", "", ""
			recs[i].Value = ev.AppendJSON(nil)
			recs[i].Headers[0].Value = "EventHeld"
			return recs
		}},
		{"party changed unknown conn", false, verify.RuleCallFlow, "PreviousConnID", func(t *testing.T, recs []verify.Record) []verify.Record {
			i := find(t, recs, 0, func(ev *event.Event) bool { return ev.ID == event.EventPartyChanged })
			ev := decode(t, recs[i])
			ev.PreviousConnID = "00000000000000ff"
			recs[i].Value = ev.AppendJSON(nil)
			return recs
		}},
		{"consult outside thread", false, verify.RuleThread, "", func(t *testing.T, recs []verify.Record) []verify.Record {
			i := find(t, recs, 1, func(ev *event.Event) bool {
				return ev.ID == event.EventDialing && ev.CallType == event.CallTypeConsult
			})
			ev := decode(t, recs[i])
			ev.PreviousConnID = "00000000000000fe"
			recs[i].Value = ev.AppendJSON(nil)
			return recs
		}},
		{"observer not bridged", false, verify.RuleCallFlow, "want Bridged", func(t *testing.T, recs []verify.Record) []verify.Record {
			i := find(t, recs, 0, func(ev *event.Event) bool { return ev.ID == event.EventRinging && ev.ThisDNRole == event.RoleObserver })
			ev := decode(t, recs[i])
			ev.CallState = event.CallStateOk
			recs[i].Value = ev.AppendJSON(nil)
			return recs
		}},
		{"observer not announced", false, verify.RuleCallFlow, "without PartyAdded", func(t *testing.T, recs []verify.Record) []verify.Record {
			// the parties are told of another observer than the one that joins
			for n := 0; n < 2; n++ {
				i := find(t, recs, 0, func(ev *event.Event) bool {
					return ev.ID == event.EventPartyAdded && ev.OtherDNRole == event.RoleObserver && ev.OtherDN != "1999"
				})
				ev := decode(t, recs[i])
				ev.OtherDN = "1999"
				recs[i].Value = ev.AppendJSON(nil)
			}
			return recs
		}},
		{"network reached not dialing", false, verify.RuleCallFlow, "want the dialing originator", func(t *testing.T, recs []verify.Record) []verify.Record {
			// a second NetworkReached after the consultation was answered
			i := find(t, recs, 0, func(ev *event.Event) bool {
				return ev.ID == event.EventEstablished && ev.CallType == event.CallTypeConsult && ev.OtherTrunk != ""
			})
			ev := decode(t, recs[i])
			ev.ID, ev.CallState, ev.Seq = event.EventNetworkReached, 0, ev.Seq+1
			r := recs[i]
			r.Value, r.Offset = ev.AppendJSON(nil), r.Offset+1_000_000
			r.Headers = []verify.Header{{Key: "event", Value: "EventNetworkReached"}, {Key: "tenant", Value: "acme"}, {Key: "schema", Value: "2"}}
			out := append(append(append([]verify.Record(nil), recs[:i+1]...), r), recs[i+1:]...)
			return out
		}},
		{"ConnID with empty metainformation", false, verify.RuleValid, "ConnID", func(t *testing.T, recs []verify.Record) []verify.Record {
			i := find(t, recs, 3, func(ev *event.Event) bool { return ev.ID == event.EventEstablished })
			ev := decode(t, recs[i])
			ev.ConnID += "@"
			recs[i].Value = ev.AppendJSON(nil)
			return recs
		}},
		{"Released Redirected", false, verify.RuleValid, "Redirected", func(t *testing.T, recs []verify.Record) []verify.Record {
			i := find(t, recs, 3, func(ev *event.Event) bool { return ev.ID == event.EventReleased })
			ev := decode(t, recs[i])
			ev.CallState = event.CallStateRedirected
			recs[i].Value = ev.AppendJSON(nil)
			return recs
		}},
		{"ready when logged out", false, verify.RuleAgent, "", func(t *testing.T, recs []verify.Record) []verify.Record {
			// the first AgentLogin becomes an AgentReady: the agent is not logged in
			i := find(t, recs, 0, func(ev *event.Event) bool { return ev.ID == event.EventAgentLogin })
			ev := decode(t, recs[i])
			ev.ID, ev.ThisQueue, ev.AgentWorkMode = event.EventAgentReady, "", event.WorkModeManualIn
			recs[i].Value = ev.AppendJSON(nil)
			recs[i].Headers[0].Value = "EventAgentReady"
			return recs
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			recs := tc.mutate(t, clone(good))
			rep := check(recs, tc.closed, nil)
			if rep.OK || !rep.Has(tc.want) {
				t.Fatalf("fault %q not reported as %s:\n%s", tc.name, tc.want, rep.Text())
			}
			if !strings.Contains(rep.Text(), string(tc.want)+":"+" ") || !strings.Contains(rep.Text(), tc.msg) {
				t.Fatalf("the text report does not name the rule:\n%s", rep.Text())
			}
		})
	}
}

// rewrite returns recs with each value passed through f (decoded, changed,
// re-encoded by the caller) and the headers of the result.
func rewrite(t *testing.T, recs []verify.Record, f func(ev *event.Event, value []byte) []byte) []verify.Record {
	t.Helper()
	out := clone(recs)
	for i := range out {
		ev := decode(t, out[i])
		out[i].Value = f(&ev, out[i].Value)
		var back event.Event
		if err := event.Unmarshal(out[i].Value, &back); err != nil {
			t.Fatal(err)
		}
		out[i].Headers = nil
		for _, h := range back.Headers() {
			out[i].Headers = append(out[i].Headers, verify.Header{Key: h.Key, Value: h.Value})
		}
	}
	return out
}

// ConnIDs are opaque (EVENTS.md 2.2): a stream whose ConnIDs carry Voice
// Microservices' @metainformation checks exactly as the plain one.
func TestConnIDWithMetainformation(t *testing.T) {
	good, exp := goodStream(t)
	meta := func(id string) string {
		if id == "" {
			return ""
		}
		return id + "@sipnode-3.eu-west-1"
	}
	n := 0
	recs := rewrite(t, good, func(ev *event.Event, _ []byte) []byte {
		if ev.ConnID != "" {
			n++
		}
		ev.ConnID, ev.PreviousConnID, ev.TransferConnID = meta(ev.ConnID), meta(ev.PreviousConnID), meta(ev.TransferConnID)
		return ev.AppendJSON(nil)
	})
	if n == 0 {
		t.Fatal("no ConnID rewritten")
	}
	rep := check(recs, true, exp)
	if !rep.OK {
		t.Fatalf("stream with ConnID@metainformation reported:\n%s", rep.Text())
	}
	if plain := check(good, true, nil); rep.Threads != plain.Threads || rep.Counts[verify.CountAnswered] != plain.Counts[verify.CountAnswered] {
		t.Fatalf("report differs from the plain stream's: %+v, plain %+v", rep, plain)
	}
}

// A stream written with schema version 1 (its spellings and headers)
// checks as the schema 2 one: decoders accept both (EVENTS.md 2.4).
func TestSchema1Stream(t *testing.T) {
	good, exp := goodStream(t)
	old := strings.NewReplacer(`"MonitorOneCall"`, `"OneCall"`, `"MonitorAllCalls"`, `"AllCalls"`,
		`"Pickedup"`, `"PickedUp"`, `"SitInvalidnum"`, `"SitInvalidNum"`)
	spelled := 0
	recs := rewrite(t, good, func(ev *event.Event, value []byte) []byte {
		ev.SchemaVersion = 1
		v := old.Replace(string(ev.AppendJSON(nil)))
		if v != string(ev.AppendJSON(nil)) {
			spelled++
		}
		return []byte(v)
	})
	if spelled == 0 {
		t.Fatal("the stream has no value whose spelling changed in schema 2")
	}
	if recs[0].Headers[2].Value != "1" {
		t.Fatalf("headers %v, want schema 1", recs[0].Headers)
	}
	if rep := check(recs, true, exp); !rep.OK {
		t.Fatalf("schema 1 stream reported:\n%s", rep.Text())
	}
}

// Open calls at the end of the stream are not faults unless Closed.
func TestOpenCallsWithoutClosed(t *testing.T) {
	good, _ := goodStream(t)
	i := find(t, good, 10, func(ev *event.Event) bool { return ev.ID == event.EventEstablished })
	cut := good[:i+1]
	rep := check(cut, false, nil)
	if !rep.OK {
		t.Fatalf("an unfinished stream without --closed:\n%s", rep.Text())
	}
	if rep.OpenCalls == 0 || len(rep.Open) == 0 {
		t.Fatalf("open calls not reported: %+v", rep)
	}
	if rep := check(cut, true, nil); rep.OK || !rep.Has(verify.RuleOpenCall) {
		t.Fatalf("--closed did not fail open calls:\n%s", rep.Text())
	}
}

func TestCheckLines(t *testing.T) {
	good, _ := goodStream(t)
	var buf bytes.Buffer
	for _, r := range good {
		buf.Write(r.Value)
		buf.WriteByte('\n')
	}
	rep, err := verify.CheckLines(&buf, verify.Options{Closed: true})
	if err != nil || !rep.OK {
		t.Fatalf("CheckLines: %v\n%s", err, rep.Text())
	}
}

// lastOfThread returns the n-th (from 0) EventReleased of an inbound call
// that is the last record of its thread.
func lastOfThread(t *testing.T, recs []verify.Record, n int) int {
	t.Helper()
	last := map[string]int{}
	for i, r := range recs {
		last[string(r.Key)] = i
	}
	for i, r := range recs {
		var ev event.Event
		if event.Unmarshal(r.Value, &ev) == nil && ev.ID == event.EventReleased &&
			ev.CallType == event.CallTypeInbound && ev.CallState != event.CallStateTransferred && last[string(r.Key)] == i {
			if n == 0 {
				return i
			}
			n--
		}
	}
	t.Fatal("no such record")
	return -1
}

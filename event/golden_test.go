package event

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the Go values")

// The golden events: one realistic, valid example of each of the 42 events of
// EVENTS.md section 4 (schema 2), with its mandatory and typical optional
// fields, including the role, trunk, queue, ANI and DNIS fields the section
// 4 preamble lets every call event carry where they apply. The scene: tenant
// acme, agents alice (DN 5001), bob (5002) and supervisor sam (5900); ACD
// queue 8000, routing point 7000, an inbound caller on a PSTN trunk.
const (
	gTenant = "acme"
	gServer = "sb-node-1"
	gThread = "019ab9f2-6a4c-7e21-8b3d-5c0f9e8d7a61"
	gConn1  = "019ab9f26a4c0001"
	gConn2  = "019ab9f26a4c0002"
	gCaller = "+14155550123"
	gDNIS   = "+18005550100"
	gTrunk  = "trunk-pstn-1"
)

var gUserData = KV{
	S("CustomerSegment", "Gold"),
	S("AccountNumber", "4711-0815"),
	I("Priority", 5),
	L("IVR", KV{S("Language", "en-US"), S("Intent", "billing")}),
}

// base returns an event with the common fields of section 2.1 set.
func base(n Name, seq int64, us int64) Event {
	return Event{
		ID:            n,
		Server:        gServer,
		Time:          TimeFromUnixMicro(1795599000_000000 + us),
		CustomerID:    gTenant,
		Seq:           seq,
		SchemaVersion: SchemaVersion,
	}
}

// call returns a voice-callthread event of the inbound call gConn1.
func call(n Name, seq int64, us int64) Event {
	e := base(n, seq, us)
	e.CallThreadID = gThread
	e.ConnID = gConn1
	e.CallID = 1042
	e.CallType = CallTypeInbound
	return e
}

var goldenEvents = map[Name]func() Event{
	EventAgentLogin: func() Event {
		e := base(EventAgentLogin, 1, 100)
		e.ThisDN, e.AgentID, e.ThisQueue = "5001", "alice", "8000"
		e.AgentWorkMode = WorkModeManualIn
		e.Reasons = KV{S("ReasonCode", "ShiftStart")}
		e.ReferenceID = 17
		return e
	},
	EventQueueLogout: func() Event {
		e := base(EventQueueLogout, 12, 200)
		e.ThisDN, e.AgentID, e.ThisQueue = "5001", "alice", "8001"
		e.Reasons = KV{S("ReasonCode", "SkillChange")}
		e.ReferenceID = 31
		return e
	},
	EventAgentLogout: func() Event {
		e := base(EventAgentLogout, 13, 300)
		e.ThisDN, e.AgentID, e.ThisQueue = "5001", "alice", "8000"
		e.Reasons = KV{S("ReasonCode", "EndOfShift")}
		e.ReferenceID = 32
		return e
	},
	EventAgentReady: func() Event {
		e := base(EventAgentReady, 2, 400)
		e.ThisDN, e.AgentID, e.ThisQueue = "5001", "alice", "8000"
		e.AgentWorkMode = WorkModeManualIn
		e.ReferenceID = 18
		return e
	},
	EventAgentNotReady: func() Event {
		e := base(EventAgentNotReady, 7, 500)
		e.ThisDN, e.AgentID, e.ThisQueue = "5001", "alice", "8000"
		e.AgentWorkMode = WorkModeAfterCallWork
		e.Extensions = KV{I("WrapUpTime", 30)}
		return e
	},
	EventDNOutOfService: func() Event {
		e := base(EventDNOutOfService, 4, 600)
		e.ThisDN = "5003"
		e.Reasons = KV{S("ReasonCode", "RegistrationExpired")}
		return e
	},
	EventDNBackInService: func() Event {
		e := base(EventDNBackInService, 5, 700)
		e.ThisDN = "5003"
		return e
	},
	EventDNDOn: func() Event {
		e := base(EventDNDOn, 3, 800)
		e.ThisDN, e.AgentID = "5002", "bob"
		e.Reasons = KV{S("ReasonCode", "Coaching")}
		e.ReferenceID = 5
		return e
	},
	EventDNDOff: func() Event {
		e := base(EventDNDOff, 4, 900)
		e.ThisDN, e.AgentID = "5002", "bob"
		e.ReferenceID = 6
		return e
	},
	EventForwardSet: func() Event {
		e := base(EventForwardSet, 1, 1000)
		e.ThisDN, e.OtherDN = "5004", "5005"
		e.Extensions = KV{S("ForwardMode", ForwardOnNoAnswer)}
		e.ReferenceID = 3
		return e
	},
	EventForwardCancel: func() Event {
		e := base(EventForwardCancel, 2, 1100)
		e.ThisDN = "5004"
		e.ReferenceID = 4
		return e
	},
	EventMonitoringNextCall: func() Event {
		e := base(EventMonitoringNextCall, 3, 1200)
		e.ThisDN, e.AgentID, e.OtherDN = "5001", "alice", "5900"
		e.MonitorNextCallType = MonitorOneCall
		e.ReferenceID = 44
		return e
	},
	EventMonitoringCancelled: func() Event {
		e := base(EventMonitoringCancelled, 9, 1300)
		e.ThisDN, e.AgentID, e.OtherDN = "5900", "sam", "5001"
		return e
	},
	EventOffHook: func() Event {
		e := base(EventOffHook, 5, 1400)
		e.ThisDN, e.AgentID = "5001", "alice"
		e.ConnID, e.CallID = gConn1, 1042
		return e
	},
	EventOnHook: func() Event {
		e := base(EventOnHook, 8, 1500)
		e.ThisDN, e.AgentID = "5001", "alice"
		e.ConnID, e.CallID = gConn1, 1042
		return e
	},
	EventMuteOn: func() Event {
		e := base(EventMuteOn, 6, 1600)
		e.ThisDN, e.AgentID, e.ConnID, e.OtherDN = "5001", "alice", gConn1, "5900"
		e.ReferenceID = 51
		return e
	},
	EventMuteOff: func() Event {
		e := base(EventMuteOff, 7, 1700)
		e.ThisDN, e.AgentID, e.ConnID, e.OtherDN = "5001", "alice", gConn1, "5900"
		e.ReferenceID = 52
		return e
	},
	EventListenDisconnected: func() Event {
		e := base(EventListenDisconnected, 10, 1800)
		e.ThisDN, e.AgentID, e.ConnID, e.OtherDN = "5002", "bob", gConn1, "5001"
		e.CallState = CallStateHeld
		e.ReferenceID = 53
		return e
	},
	EventListenReconnected: func() Event {
		e := base(EventListenReconnected, 11, 1900)
		e.ThisDN, e.AgentID, e.ConnID, e.OtherDN = "5002", "bob", gConn1, "5001"
		e.ReferenceID = 54
		return e
	},
	EventMessageWaitingOn: func() Event {
		e := base(EventMessageWaitingOn, 6, 2000)
		e.ThisDN = "5003"
		e.Extensions = KV{I("NewMessages", 2), I("OldMessages", 5)}
		return e
	},
	EventMessageWaitingOff: func() Event {
		e := base(EventMessageWaitingOff, 7, 2100)
		e.ThisDN = "5003"
		e.Extensions = KV{I("NewMessages", 0), I("OldMessages", 7)}
		return e
	},

	// 4.2: the inbound call gConn1 reaches alice through queue 8000; alice
	// consults bob (gConn2), conferences and transfers.
	EventDialing: func() Event {
		e := call(EventDialing, 14, 3000)
		e.ConnID, e.PreviousConnID, e.CallID = gConn2, gConn1, 1043
		e.CallType = CallTypeConsult
		e.ThisDN, e.ThisDNRole = "5001", RoleOrigination
		e.OtherDN, e.OtherDNRole = "5002", RoleDestination
		e.UserData = gUserData
		e.AgentID = "alice"
		e.ReferenceID = 61
		return e
	},
	EventNetworkReached: func() Event {
		e := base(EventNetworkReached, 2, 3100)
		e.CallThreadID = "019ab9f3-0b1d-7f00-a2c4-0d9e8f7a6b5c"
		e.ConnID, e.CallID = "019ab9f30b1d0001", 1050
		e.CallType = CallTypeOutbound
		e.ThisDN, e.ThisDNRole = "5002", RoleOrigination
		e.OtherDN, e.OtherDNRole, e.OtherTrunk = "+14155550199", RoleDestination, gTrunk
		e.AgentID = "bob"
		return e
	},
	EventRinging: func() Event { return ringing() },
	EventEstablished: func() Event {
		e := call(EventEstablished, 6, 3300)
		e.CallState = CallStateOk
		e.ThisDN, e.ThisDNRole = "5001", RoleDestination
		e.OtherDN, e.OtherDNRole = gCaller, RoleOrigination
		e.ThisQueue, e.OtherTrunk = "8000", gTrunk
		e.ANI, e.DNIS = gCaller, gDNIS
		e.UserData = gUserData
		e.AgentID = "alice"
		e.ReferenceID = 60
		return e
	},
	EventDestinationBusy: func() Event {
		e := base(EventDestinationBusy, 2, 3400)
		e.CallThreadID = "019ab9f4-1c2e-7a10-b3d5-1e0f9a8b7c6d"
		e.ConnID, e.CallID = "019ab9f41c2e0001", 1060
		e.CallType, e.CallState = CallTypeInternal, CallStateBusy
		e.ThisDN, e.ThisDNRole = "5002", RoleOrigination
		e.OtherDN, e.OtherDNRole = "5003", RoleDestination
		e.AgentID = "bob"
		return e
	},
	EventAbandoned: func() Event {
		e := call(EventAbandoned, 3, 3500)
		e.CallState = CallStateOk
		e.ThisDN, e.ThisDNRole, e.ThisQueue = "8000", RoleDestination, "8000"
		e.OtherDN = gCaller
		e.UserData = gUserData
		return e
	},
	EventDiverted: func() Event {
		e := call(EventDiverted, 4, 3600)
		e.CallState = CallStateOk
		e.ThisDN, e.ThisDNRole, e.ThisQueue, e.ThirdPartyDN = "8000", RoleDestination, "8000", "5001"
		e.OtherDN, e.OtherDNRole, e.OtherTrunk = gCaller, RoleOrigination, gTrunk
		e.UserData = gUserData
		return e
	},
	EventQueued: func() Event {
		e := call(EventQueued, 2, 3700)
		e.ThisDN, e.ThisDNRole, e.ThisQueue = "8000", RoleDestination, "8000"
		e.OtherDN, e.OtherDNRole, e.OtherTrunk = gCaller, RoleOrigination, gTrunk
		e.ANI, e.DNIS = gCaller, gDNIS
		e.UserData = gUserData
		return e
	},
	EventHeld: func() Event {
		e := call(EventHeld, 7, 3800)
		e.ThisDN, e.ThisDNRole, e.OtherDN, e.OtherDNRole = "5001", RoleDestination, gCaller, RoleOrigination
		e.ThisQueue, e.OtherTrunk = "8000", gTrunk
		e.UserData = gUserData
		e.AgentID = "alice"
		e.ReferenceID = 62
		return e
	},
	EventRetrieved: func() Event {
		e := call(EventRetrieved, 18, 3900)
		e.CallState = CallStateOk
		e.ThisDN, e.ThisDNRole, e.OtherDN, e.OtherDNRole = "5001", RoleDestination, gCaller, RoleOrigination
		e.ThisQueue, e.OtherTrunk = "8000", gTrunk
		e.UserData = gUserData
		e.AgentID = "alice"
		e.ReferenceID = 64
		return e
	},
	EventPartyAdded: func() Event {
		e := call(EventPartyAdded, 19, 4000)
		e.CallState = CallStateConferenced
		e.ThisDN, e.ThisDNRole = "5001", RoleConferenceMember
		e.OtherDN, e.OtherDNRole = "5002", RoleNewParty
		e.ThirdPartyDN, e.ThirdPartyDNRole = "5001", RoleAddedBy
		e.UserData = gUserData
		e.AgentID = "alice"
		e.ReferenceID = 64
		return e
	},
	EventPartyChanged: func() Event {
		e := call(EventPartyChanged, 21, 4100)
		e.PreviousConnID = gConn2
		e.CallState = CallStateTransferred
		e.ThisDN, e.OtherDN = "5002", gCaller
		e.ThirdPartyDN, e.ThirdPartyDNRole = "5001", RoleTransferredBy
		e.UserData = gUserData
		e.AgentID = "bob"
		return e
	},
	EventPartyDeleted: func() Event {
		e := call(EventPartyDeleted, 22, 4200)
		e.CallState = CallStateOk
		e.ThisDN = "5001"
		e.OtherDN, e.OtherDNRole = "5002", RoleDeletedParty
		e.ThirdPartyDN, e.ThirdPartyDNRole = "5002", RoleDeletedBy
		e.UserData = gUserData
		e.AgentID = "alice"
		return e
	},
	EventBridged: func() Event {
		e := base(EventBridged, 4, 4300)
		e.CallThreadID = "019ab9f5-2d3f-7b20-84e6-2f1a0b9c8d7e"
		e.ConnID, e.CallID = "019ab9f52d3f0001", 1070
		e.CallType = CallTypeInternal
		e.ThisDN, e.OtherDN = "5010", "5001"
		return e
	},
	EventReleased: func() Event {
		e := call(EventReleased, 20, 4400)
		e.CallState = CallStateTransferred
		e.ThisDN, e.ThisDNRole, e.OtherDN, e.ThirdPartyDN, e.ThisQueue = "5001", RoleDestination, gCaller, "5002", "8000"
		e.UserData = gUserData
		e.AgentID = "alice"
		e.ReferenceID = 65
		return e
	},

	// 4.3 and 4.4: the call waits at routing point 7000 and in queue 8000.
	EventRouteRequest: func() Event {
		e := call(EventRouteRequest, 1, 5000)
		e.ThisDN, e.ThisDNRole, e.ThisQueue = "7000", RoleDestination, "7000"
		e.OtherDN, e.OtherDNRole, e.OtherTrunk = gCaller, RoleOrigination, gTrunk
		e.ANI, e.DNIS = gCaller, gDNIS
		e.UserData = KV{S("CustomerSegment", "Gold"), S("AccountNumber", "4711-0815")}
		return e
	},
	EventRouteUsed: func() Event {
		e := call(EventRouteUsed, 1, 5100)
		e.ThisDN, e.ThisDNRole, e.ThisQueue = "7000", RoleDestination, "7000"
		e.ThirdPartyDN, e.ThirdPartyDNRole = "8000", RoleDestination
		e.OtherDN, e.OtherDNRole, e.OtherTrunk = gCaller, RoleOrigination, gTrunk
		e.UserData = gUserData
		e.Reasons = KV{S("RouteTimeout", "true")}
		return e
	},
	EventTreatmentRequired: func() Event {
		e := call(EventTreatmentRequired, 1, 5200)
		e.ThisDN, e.ThisDNRole, e.ThisQueue = "7000", RoleDestination, "7000"
		e.UserData = gUserData
		return e
	},
	EventTreatmentApplied: func() Event {
		e := call(EventTreatmentApplied, 3, 5300)
		e.ThisDN, e.ThisDNRole, e.ThisQueue = "8000", RoleDestination, "8000"
		e.TreatmentType = TreatmentMusic
		e.TreatmentParms = KV{S("MUSIC_DN", "9001"), I("DURATION", 30)}
		e.UserData = gUserData
		return e
	},
	EventTreatmentEnd: func() Event {
		e := call(EventTreatmentEnd, 2, 5400)
		e.ThisDN, e.ThisDNRole, e.ThisQueue = "7000", RoleDestination, "7000"
		e.TreatmentType = TreatmentCollectDigits
		e.CollectedDigits, e.LastCollectedDigit = "4711#", "#"
		e.Extensions = KV{S("COMPLETION_STATUS", TreatmentCompletedNormal), S("INTERRUPTED", TreatmentNotInterrupted)}
		e.UserData = gUserData
		return e
	},
	EventTreatmentNotApplied: func() Event {
		e := call(EventTreatmentNotApplied, 2, 5500)
		e.ThisDN, e.ThisDNRole, e.ThisQueue = "7000", RoleDestination, "7000"
		e.TreatmentType = TreatmentPlayAnnouncement
		e.TreatmentParms = KV{S("ANNOUNCEMENT_ID", "welcome-fr"), S("LANGUAGE", "fr-CA")}
		e.ErrorCode, e.ErrorMessage = 1161, "no announcement \"welcome-fr\" for language fr-CA"
		e.UserData = gUserData
		return e
	},
}

// ringing is the typical EventRinging of the benchmarks: an inbound ACD call
// delivered to alice, with UserData.
func ringing() Event {
	e := call(EventRinging, 5, 3200)
	e.CallState = CallStateOk
	e.ThisDN, e.ThisDNRole = "5001", RoleDestination
	e.OtherDN, e.OtherDNRole = gCaller, RoleOrigination
	e.ThisQueue, e.OtherTrunk = "8000", gTrunk
	e.ANI, e.DNIS = gCaller, gDNIS
	e.UserData = gUserData
	e.AgentID = "alice"
	return e
}

func goldenPath(n Name) string { return filepath.Join("testdata", "golden", n.String()+".json") }

// TestGolden encodes each golden event and compares the bytes with its file,
// decodes the file and compares with the Go value, and validates it.
func TestGolden(t *testing.T) {
	if len(goldenEvents) != len(Names()) {
		t.Fatalf("%d golden events, want one per event (%d)", len(goldenEvents), len(Names()))
	}
	for _, n := range Names() {
		t.Run(n.String(), func(t *testing.T) {
			mk, ok := goldenEvents[n]
			if !ok {
				t.Fatalf("no golden event for %v", n)
			}
			want := mk()
			if want.ID != n {
				t.Fatalf("golden constructor for %v builds %v", n, want.ID)
			}
			got := Marshal(&want)
			path := goldenPath(n)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			file, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./event -run TestGolden -update to write it)", err)
			}
			if !bytes.Equal(got, file) {
				t.Errorf("Marshal differs from %s:\n got %s\nwant %s", path, got, file)
			}
			var dec Event
			if err := Unmarshal(file, &dec); err != nil {
				t.Fatalf("Unmarshal(%s): %v", path, err)
			}
			if !reflect.DeepEqual(dec, want) {
				t.Errorf("Unmarshal(%s) =\n%+v\nwant\n%+v", path, dec, want)
			}
			if err := dec.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

// TestGoldenFilesComplete checks that testdata/golden holds exactly one file
// per event, so a stale or misnamed file does not go unnoticed.
func TestGoldenFilesComplete(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, n := range Names() {
		want[goldenPath(n)] = true
	}
	for _, f := range files {
		if !want[f] {
			t.Errorf("unexpected file %s", f)
		}
		delete(want, f)
	}
	for f := range want {
		t.Errorf("missing golden file %s", f)
	}
}

// goldenRecords returns the golden events as kcat -J records.
func goldenRecords(t *testing.T) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for i, n := range Names() {
		file, err := os.ReadFile(goldenPath(n))
		if err != nil {
			t.Fatal(err)
		}
		var e Event
		if err := Unmarshal(file, &e); err != nil {
			t.Fatalf("%s: %v", goldenPath(n), err)
		}
		var hs []string
		for _, h := range e.Headers() {
			hs = append(hs, h.Key, h.Value)
		}
		recs = append(recs, map[string]any{
			"topic":     e.Topic(),
			"partition": 0,
			"offset":    i,
			"key":       e.Key(),
			"headers":   hs,
			"payload":   string(file),
		})
	}
	return recs
}

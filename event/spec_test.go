package event

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The tests in this file read EVENTS.md itself: testdata/contract holds a
// copy of spec/EVENTS.md so that a clone without the shared folder can run
// them; when the shared file is there, the copy must equal it.

const sharedSpec = "../../shared/spec/EVENTS.md"

func readSpec(t *testing.T) string {
	t.Helper()
	vendored := filepath.Join("testdata", "contract", "EVENTS.md")
	copyBytes, err := os.ReadFile(vendored)
	if err != nil {
		t.Fatal(err)
	}
	if shared, err := os.ReadFile(sharedSpec); err == nil && !bytes.Equal(shared, copyBytes) {
		t.Fatalf("%s differs from %s: copy the new page into testdata", vendored, sharedSpec)
	}
	return string(copyBytes)
}

// specMandatory parses the M column of the tables of section 4: event name
// -> the fields it must carry. A cell lists fields separated by commas; a
// parenthesis after a field states its values (ignored here); a
// parenthesised "(Set: A, B)" applies A and B only to the row's event whose
// name contains "Set"; "Extensions.ForwardMode" is the field Extensions.
func specMandatory(t *testing.T, page string) map[string][]string {
	t.Helper()
	start := strings.Index(page, "\n## 4. The events")
	end := strings.Index(page, "\n## 5. ")
	if start < 0 || end < start {
		t.Fatal("EVENTS.md: section 4 not found")
	}
	out := map[string][]string{}
	sc := bufio.NewScanner(strings.NewReader(page[start:end]))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "| Event") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 4 {
			t.Fatalf("EVENTS.md: row with %d cells: %s", len(cells), line)
		}
		var names []string
		for _, n := range strings.Split(cells[0], "/") {
			names = append(names, strings.TrimSpace(n))
		}
		for _, item := range splitTop(cells[2]) {
			for _, n := range names {
				fields := []string{item}
				if strings.HasPrefix(item, "(") {
					label, list, ok := strings.Cut(strings.Trim(item, "()"), ":")
					if !ok {
						t.Fatalf("EVENTS.md: %s: cannot read %q", n, item)
					}
					fields = nil
					if strings.Contains(n, strings.TrimSpace(label)) {
						fields = splitTop(list)
					}
				}
				for _, f := range fields {
					f, _, _ = strings.Cut(f, " (") // the values it may take
					f, _, _ = strings.Cut(f, ".")  // Extensions.ForwardMode
					out[n] = append(out[n], strings.TrimSpace(f))
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// splitTop splits s at the commas outside parentheses and trims the parts.
func splitTop(s string) []string {
	var parts []string
	depth, from := 0, 0
	for i, c := range s {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, strings.TrimSpace(s[from:i]))
				from = i + 1
			}
		}
	}
	if p := strings.TrimSpace(s[from:]); p != "" {
		parts = append(parts, p)
	}
	return parts
}

// TestMandatoryMatchesSpec checks Name.Mandatory against the M column of
// EVENTS.md section 4, read from the page.
func TestMandatoryMatchesSpec(t *testing.T) {
	spec := specMandatory(t, readSpec(t))
	if len(spec) != len(Names()) {
		t.Errorf("EVENTS.md section 4 has %d events, this package %d", len(spec), len(Names()))
	}
	for name, fields := range spec {
		n, ok := ParseName(name)
		if !ok {
			t.Errorf("EVENTS.md event %s unknown here", name)
			continue
		}
		if !reflect.DeepEqual(n.Mandatory(), fields) {
			t.Errorf("%s: Mandatory %v, EVENTS.md section 4 %v", name, n.Mandatory(), fields)
		}
	}
	if got := spec["EventForwardCancel"]; !reflect.DeepEqual(got, []string{"ThisDN"}) {
		t.Errorf("parser: EventForwardCancel %v", got) // the "(Set: ...)" group applies to ForwardSet only
	}
}

// TestSchema1Records: records written by schema version 1 (before the
// T-Library spellings) still decode, validate, and pass contract.py; the
// values are those of the T-Library spellings, which is what they re-encode
// to. testdata/schema1/records.jsonl holds kcat -J records written by the
// schema 1 encoder, covering every spelling that changed.
func TestSchema1Records(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "schema1", "records.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	old := map[string]string{ // schema 1 spelling -> T-Library spelling
		"SitInvalidNum": "SitInvalidnum", "SitNoCircuit": "SitNocircuit", "PickedUp": "Pickedup",
		"DroppedNoAnswer": "Droppednoanswer", "OneCall": "MonitorOneCall", "AllCalls": "MonitorAllCalls",
	}
	seen := map[string]bool{}
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
		payload := rec["payload"].(string)
		var e Event
		if err := Unmarshal([]byte(payload), &e); err != nil {
			t.Fatalf("Unmarshal(%s): %v", payload, err)
		}
		if e.SchemaVersion != 1 {
			t.Errorf("%s: SchemaVersion %d, want a schema 1 record", payload, e.SchemaVersion)
		}
		if err := e.Validate(); err != nil {
			t.Errorf("Validate(%s): %v", payload, err)
		}
		var hs []any
		for _, h := range e.Headers() {
			hs = append(hs, h.Key, h.Value)
		}
		if !reflect.DeepEqual(hs, rec["headers"]) || e.Key() != rec["key"] || e.Topic() != rec["topic"] {
			t.Errorf("%s: headers %v, key %s, topic %s; the record has %v, %v, %v",
				payload, hs, e.Key(), e.Topic(), rec["headers"], rec["key"], rec["topic"])
		}
		var raw map[string]any
		if err := json.Unmarshal([]byte(payload), &raw); err != nil {
			t.Fatal(err)
		}
		re := Marshal(&e)
		var back map[string]any
		if err := json.Unmarshal(re, &back); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"CallState", "MonitorNextCallType"} {
			s, _ := raw[f].(string)
			now, changed := old[s]
			if !changed {
				continue
			}
			seen[s] = true
			if back[f] != now {
				t.Errorf("%s: %s %q re-encodes as %v, want %q", payload, f, s, back[f], now)
			}
			switch f {
			case "CallState":
				if v, _ := ParseCallState(now); e.CallState != v {
					t.Errorf("%s: CallState %v, want %v", payload, e.CallState, v)
				}
			default:
				if v, _ := ParseMonitorNextCallType(now); e.MonitorNextCallType != v {
					t.Errorf("%s: MonitorNextCallType %v, want %v", payload, e.MonitorNextCallType, v)
				}
			}
		}
		delete(raw, "CallState")
		delete(raw, "MonitorNextCallType")
		delete(back, "CallState")
		delete(back, "MonitorNextCallType")
		if !reflect.DeepEqual(raw, back) {
			t.Errorf("re-encoding %s changed more than the spellings: %s", payload, re)
		}
	}
	for s := range old {
		if !seen[s] {
			t.Errorf("no schema 1 record spells %s", s)
		}
	}
	keys := make([]string, 0, len(seen))
	for s := range seen {
		keys = append(keys, s)
	}
	slices.Sort(keys)
	t.Logf("schema 1 spellings decoded: %v", keys)

	const script = `
import json, sys, contract
json.dump([contract.validate(r) for r in json.load(sys.stdin)], sys.stdout)
`
	var problems [][]string
	runPython(t, script, recs, &problems)
	for i, p := range problems {
		if len(p) > 0 {
			t.Errorf("record %d: contract.validate: %v", i, p)
		}
	}
}

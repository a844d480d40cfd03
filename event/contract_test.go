package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

// These tests run the golden events through contract.py, the independent
// Python checker of the contract (shared/tools/contract.py in the team's
// checkout). testdata/contract holds a copy so that a clone without the
// shared folder can run them; when the shared file is there, the copy must
// equal it.

const sharedContract = "../../shared/tools/contract.py"

func contractDir(t *testing.T) string {
	t.Helper()
	vendored := filepath.Join("testdata", "contract", "contract.py")
	copyBytes, err := os.ReadFile(vendored)
	if err != nil {
		t.Fatal(err)
	}
	path := os.Getenv("SWITCHBOARD_CONTRACT_PY")
	if path == "" {
		path = sharedContract
	}
	shared, err := os.ReadFile(path)
	switch {
	case err == nil:
		if !bytes.Equal(shared, copyBytes) {
			t.Fatalf("%s differs from %s: copy the new contract into testdata", vendored, path)
		}
	case os.Getenv("SWITCHBOARD_CONTRACT_PY") != "":
		t.Fatal(err)
	}
	abs, err := filepath.Abs(filepath.Dir(vendored))
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// runPython runs script with contract importable, input as JSON on stdin,
// and decodes its JSON output into out.
func runPython(t *testing.T, script string, input, out any) {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is required for the contract tests: %v", err)
	}
	in, err := json.Marshal(input)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "-c", script)
	cmd.Dir = contractDir(t)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	res, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, stderr.Bytes())
	}
	if err := json.Unmarshal(res, out); err != nil {
		t.Fatalf("python3 output %q: %v", res, err)
	}
}

func TestGoldenContract(t *testing.T) {
	recs := goldenRecords(t)
	// One record broken on purpose: the checker must report it (and only it),
	// which proves the records really went through contract.validate.
	broken := map[string]any{}
	for k, v := range recs[0] {
		broken[k] = v
	}
	broken["key"] = "acme:nobody"
	recs = append(recs, broken)

	const script = `
import json, sys, contract
recs = json.load(sys.stdin)
json.dump([contract.validate(r) for r in recs], sys.stdout)
`
	var problems [][]string
	runPython(t, script, recs, &problems)
	if len(problems) != len(recs) {
		t.Fatalf("%d results for %d records", len(problems), len(recs))
	}
	for i, p := range problems[:len(problems)-1] {
		if len(p) > 0 {
			t.Errorf("%s: contract.validate: %v", recs[i]["topic"], p)
		}
	}
	if len(problems[len(problems)-1]) == 0 {
		t.Errorf("contract.validate found nothing wrong with a record with a wrong key")
	}
}

// contractLags lists the mandatory fields EVENTS.md section 4 gives an event
// that contract.py's table M does not have yet: Validate follows the page
// (where the two disagree, the page is the contract), and the tests below
// allow exactly these differences. TestMandatoryMatchesContract fails when
// contract.py catches up, so that the entry is removed then.
var contractLags = map[Name][]string{
	EventTreatmentApplied: {"ThisDNRole"},
}

func lags(n Name, field string) bool { return slices.Contains(contractLags[n], field) }

// TestMandatoryMatchesContract checks Name.Topic and Name.Mandatory against
// contract.py's table M (but for contractLags).
func TestMandatoryMatchesContract(t *testing.T) {
	const script = `
import json, sys, contract
json.dump({"M": contract.M, "COMMON": contract.COMMON}, sys.stdout)
`
	var got struct {
		M      map[string][2]json.RawMessage
		COMMON []string
	}
	runPython(t, script, nil, &got)
	if want := []string{"id", "Server", "time", "CustomerID", "Seq", "SchemaVersion"}; !reflect.DeepEqual(got.COMMON, want) {
		t.Errorf("contract COMMON = %v, Validate checks %v", got.COMMON, want)
	}
	if len(got.M) != len(Names()) {
		t.Errorf("contract has %d events, this package %d", len(got.M), len(Names()))
	}
	for name, tm := range got.M {
		n, ok := ParseName(name)
		if !ok {
			t.Errorf("contract event %s unknown here", name)
			continue
		}
		var topic string
		var fields []string
		if err := json.Unmarshal(tm[0], &topic); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(tm[1], &fields); err != nil {
			t.Fatal(err)
		}
		if n.Topic() != topic {
			t.Errorf("%s: topic %s, contract %s", name, n.Topic(), topic)
		}
		var ours []string
		for _, f := range n.Mandatory() {
			if !lags(n, f) {
				ours = append(ours, f)
			}
		}
		if !reflect.DeepEqual(ours, fields) {
			t.Errorf("%s: mandatory %v (besides %v), contract %v", name, ours, contractLags[n], fields)
		}
		for _, f := range contractLags[n] {
			if slices.Contains(fields, f) || !slices.Contains(n.Mandatory(), f) {
				t.Errorf("%s: contractLags lists %s, but contract.py and Mandatory agree on it now: remove it", name, f)
			}
		}
	}
}

// TestValidateAgreesWithContract mutates the golden events (dropping each
// present field in turn, and breaking a few formats) and runs each mutant
// through both Validate and contract.validate. Whatever the contract
// refuses, Validate must refuse; Validate may refuse more only where it
// checks a rule of EVENTS.md that contract.py does not (PreviousConnID of a
// Consult call, the field values section 4 fixes, and contractLags).
func TestValidateAgreesWithContract(t *testing.T) {
	type mutant struct {
		desc  string
		event Event
	}
	var ms []mutant
	for _, n := range Names() {
		g := goldenEvents[n]()
		v := reflect.ValueOf(&g).Elem()
		for i := range v.NumField() {
			if v.Field(i).IsZero() {
				continue
			}
			e := g
			reflect.ValueOf(&e).Elem().Field(i).SetZero()
			ms = append(ms, mutant{n.String() + " without " + v.Type().Field(i).Name, e})
		}
		for desc, change := range map[string]func(*Event){
			"upper-case ConnID":    func(e *Event) { e.ConnID = "019AB9F26A4C0001" },
			"CallType 98":          func(e *Event) { e.CallType = 99 },
			"ThisDNRole 98":        func(e *Event) { e.ThisDNRole = 99 },
			"AgentWorkMode 98":     func(e *Event) { e.AgentWorkMode = 99 },
			"SchemaVersion 3":      func(e *Event) { e.SchemaVersion = 3 },
			"useconds 1000000":     func(e *Event) { e.Time.USeconds = 1_000_000 },
			"TransferConnID ABC":   func(e *Event) { e.TransferConnID = "ABC" },
			"valid optional Cause": func(e *Event) { e.Cause = CallStateNoAnswer },
		} {
			e := g
			change(&e)
			ms = append(ms, mutant{n.String() + " with " + desc, e})
		}
	}

	recs := make([]map[string]any, len(ms))
	for i, m := range ms {
		var hs []string
		for _, h := range m.event.Headers() {
			hs = append(hs, h.Key, h.Value)
		}
		recs[i] = map[string]any{"topic": m.event.Topic(), "partition": 0, "offset": i,
			"key": m.event.Key(), "headers": hs, "payload": string(Marshal(&m.event))}
	}
	const script = `
import json, sys, contract
json.dump([contract.validate(r) for r in json.load(sys.stdin)], sys.stdout)
`
	var problems [][]string
	runPython(t, script, recs, &problems)
	if len(problems) != len(ms) {
		t.Fatalf("%d results for %d records", len(problems), len(ms))
	}
	refused := 0
	for i, m := range ms {
		err := m.event.Validate()
		switch {
		case len(problems[i]) > 0 && err == nil:
			t.Errorf("%s: contract refuses it (%v), Validate accepts it", m.desc, problems[i])
		case len(problems[i]) == 0 && err != nil:
			var ve *ValidationError
			errors.As(err, &ve)
			for _, p := range ve.Problems {
				allowed := p.Field == "PreviousConnID" && m.event.CallType == CallTypeConsult ||
					p.Err == ErrMissingField && lags(m.event.ID, p.Field) ||
					p.Err == ErrBadValue && (p.Field == "CallState" || p.Field == "CallType" ||
						p.Field == "AgentWorkMode" || p.Field == "ThisDNRole" && m.event.ID == EventRinging)
				if !allowed {
					t.Errorf("%s: Validate refuses it (%v), the contract accepts it", m.desc, err)
				}
			}
		}
		if err != nil {
			refused++
		}
	}
	t.Logf("%d mutants, %d refused", len(ms), refused)
	if refused < len(ms)/2 {
		t.Errorf("only %d of %d mutants refused: the mutations are not biting", refused, len(ms))
	}
}

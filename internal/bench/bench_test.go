package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/kafkatest"
)

// TestSmoke runs the suite with a tiny duration and checks the table has
// every row (not the timings), the JSON output and --baseline ratios.
func TestSmoke(t *testing.T) {
	args := []string{"--duration", "200ms", "--rate", "50", "--workers", "2", "--json"}
	if k := kafkatest.RealKafka(t); k != nil {
		args = append(args, "--kafka-brokers", strings.Join(k.Brokers, ","))
	}
	var out, errb bytes.Buffer
	if code := Main(context.Background(), args, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var res Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out.String())
	}
	if len(res.Rows) != len(RowNames) {
		t.Fatalf("%d rows, want %d", len(res.Rows), len(RowNames))
	}
	for i, r := range res.Rows {
		if r.Name != RowNames[i] {
			t.Errorf("row %d is %q, want %q", i, r.Name, RowNames[i])
		}
		if !r.Skip && r.Value <= 0 {
			t.Errorf("row %q measured %v", r.Name, r.Value)
		}
		if r.Skip && r.Note == "" {
			t.Errorf("row %q skipped without a note", r.Name)
		}
	}
	base := filepath.Join(t.TempDir(), "base.json")
	if err := os.WriteFile(base, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	res.WriteTable(&table, &res)
	for _, name := range RowNames {
		if !strings.Contains(table.String(), name) {
			t.Errorf("table lacks %q:\n%s", name, table.String())
		}
	}
	if !strings.Contains(table.String(), "1.00x") {
		t.Errorf("ratios against itself are not 1.00x:\n%s", table.String())
	}
	_ = time.Second
}

func TestHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main(context.Background(), []string{"--help"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "--baseline") {
		t.Fatalf("exit %d:\n%s%s", code, out.String(), errb.String())
	}
	if code := Main(context.Background(), []string{"--duration", "-1s"}, &out, &errb); code != 2 {
		t.Fatalf("bad duration: exit %d", code)
	}
}

package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestREADMEFlags holds the README to the flags the code defines: for
// every command of the usage text, each flag its --help lists (what its
// FlagSet's PrintDefaults writes) has a row in the README table that
// follows the line naming "`switchboard CMD` flags", with the environment
// variable it reads, if any, and its default: the one the flag package
// prints, or for a zero default the number the usage says 0 stands for
// ("COUNT; 0: 10000"; other zero defaults, such as "none: the embedded
// broker", are described in words and not compared); and every row names
// a flag that exists.
func TestREADMEFlags(t *testing.T) {
	// The defaults of some flags come from the environment: print them as
	// the code has them.
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "SWITCHBOARD_") {
			t.Setenv(k, "")
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	cmds := commands(usage)
	if len(cmds) < 8 {
		t.Fatalf("found only the commands %v in the usage text", cmds)
	}
	for _, cmd := range cmds {
		var out bytes.Buffer
		run(context.Background(), []string{cmd, "--help"}, &out, &out)
		flags := helpFlags(out.String())
		if len(flags) == 0 {
			continue // version: no flags
		}
		t.Run(cmd, func(t *testing.T) {
			rows, ok := flagTable(string(readme), cmd)
			if !ok {
				t.Fatalf("the README has no table after a line naming \"`switchboard %s` flags\"; its flags: %v", cmd, names(flags))
			}
			compared := 0
			for _, f := range flags {
				if f.def != "" || f.zero != "" {
					compared++
				}
				row, ok := rows[f.name]
				if !ok {
					t.Errorf("--%s is not in the README's table of `switchboard %s` flags (--help: %q)", f.name, cmd, f.usage)
					continue
				}
				if row.twice {
					t.Errorf("--%s has two rows in the README's table of `switchboard %s` flags", f.name, cmd)
				}
				if f.env != "" && !strings.Contains(row.text, f.env) {
					t.Errorf("--%s: the README's row does not name its environment variable %s", f.name, f.env)
				}
				if f.def != "" && !sameDefault(f.def, row.def) {
					t.Errorf("--%s: the README gives the default %q, the code %q", f.name, row.def, f.def)
				}
				if f.zero != "" && !sameDefault(f.zero, row.def) {
					t.Errorf("--%s: the README gives the default %q, the code 0, which stands for %s", f.name, row.def, f.zero)
				}
			}
			t.Logf("%d flags, %d with a default compared", len(flags), compared)
			for name := range rows {
				if !hasFlag(flags, name) {
					t.Errorf("the README's table of `switchboard %s` flags has --%s, which the command does not define", cmd, name)
				}
			}
		})
	}
}

// commands are the command names of the usage text ("  switchboard NAME").
func commands(usage string) []string {
	var out []string
	for _, line := range strings.Split(usage, "\n") {
		if rest, ok := strings.CutPrefix(line, "  switchboard "); ok {
			out = append(out, strings.Fields(rest)[0])
		}
	}
	return out
}

type helpFlag struct {
	name, usage string
	env         string // the "(env NAME)" of the usage
	def         string // the "(default X)" the flag package appends; "" for a zero default
	// zero is the number the usage says a zero value stands for ("COUNT;
	// 0: 10000"): the default in effect, which the README gives.
	zero string
}

var (
	envRe  = regexp.MustCompile(`\(env ([A-Z0-9_]+)\)`)
	zeroRe = regexp.MustCompile(`\b0: ([0-9][0-9.]*(?:KiB|MiB|GiB)?)[);,]`)
)

// printedDefault is the value of the " (default X)" that ends usage, as
// the flag package writes it (X quoted for a string flag), or "" when the
// usage does not end so ("(default 30s) (env ...)" is the usage's own
// text, not the flag's default).
func printedDefault(usage string) string {
	i := strings.LastIndex(usage, " (default ")
	if i < 0 || !strings.HasSuffix(usage, ")") {
		return ""
	}
	v := usage[i+len(" (default ") : len(usage)-1]
	if q, err := strconv.Unquote(v); err == nil {
		return q
	}
	if strings.ContainsAny(v, "()") {
		return ""
	}
	return v
}

// helpFlags parses flag.PrintDefaults's output: "  -name TYPE" and the
// usage on the lines indented by four spaces and a tab, ending with
// " (default X)" unless the default is the zero value.
func helpFlags(help string) []helpFlag {
	var out []helpFlag
	for _, line := range strings.Split(help, "\n") {
		switch {
		case strings.HasPrefix(line, "  -"):
			name, _, _ := strings.Cut(strings.TrimPrefix(line, "  -"), " ")
			out = append(out, helpFlag{name: strings.TrimSpace(name)})
		case strings.HasPrefix(line, "    \t") && len(out) > 0:
			f := &out[len(out)-1]
			f.usage = strings.TrimSpace(f.usage + " " + strings.TrimSpace(line))
		}
	}
	for i := range out {
		f := &out[i]
		if m := envRe.FindStringSubmatch(f.usage); m != nil {
			f.env = m[1]
		}
		f.def = printedDefault(f.usage)
		if m := zeroRe.FindStringSubmatch(f.usage); m != nil && f.def == "" {
			f.zero = m[1]
		}
	}
	return out
}

func names(flags []helpFlag) []string {
	var out []string
	for _, f := range flags {
		out = append(out, "--"+f.name)
	}
	return out
}

func hasFlag(flags []helpFlag, name string) bool {
	for _, f := range flags {
		if f.name == name {
			return true
		}
	}
	return false
}

type docRow struct {
	text  string // the whole row
	def   string // the default column: its first code span, else its text
	twice bool   // a row of the same flag came before
}

// flagTable reads the README table after the line naming
// "`switchboard cmd` flags": its rows by flag name (the first code span
// of the first column, "--name ARG" or "--name=value").
func flagTable(readme, cmd string) (map[string]docRow, bool) {
	marker := "`switchboard " + cmd + "` flags"
	lines := strings.Split(readme, "\n")
	start := -1
	for i, l := range lines {
		if strings.Contains(l, marker) {
			start = i + 1
			break
		}
	}
	if start < 0 {
		return nil, false
	}
	for start < len(lines) && !strings.HasPrefix(lines[start], "|") {
		start++
	}
	if start+1 >= len(lines) {
		return nil, false
	}
	header := cells(lines[start])
	defCol := -1
	for i, h := range header {
		if h == "default" {
			defCol = i
		}
	}
	rows := map[string]docRow{}
	for _, l := range lines[start+2:] {
		if !strings.HasPrefix(l, "|") {
			break
		}
		c := cells(l)
		name := strings.TrimPrefix(codeSpan(c[0]), "--")
		name, _, _ = strings.Cut(name, " ")
		name, _, _ = strings.Cut(name, "=")
		r := docRow{text: l, twice: rows[name].text != ""}
		if defCol >= 0 && defCol < len(c) {
			r.def = codeSpan(c[defCol])
		}
		rows[name] = r
	}
	return rows, true
}

// cells splits a table row at its unescaped "|".
func cells(row string) []string {
	row = strings.Trim(strings.TrimSpace(row), "|")
	var out []string
	var cur strings.Builder
	for i := 0; i < len(row); i++ {
		switch {
		case row[i] == '\\' && i+1 < len(row) && row[i+1] == '|':
			cur.WriteByte('|')
			i++
		case row[i] == '|':
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(row[i])
		}
	}
	return append(out, strings.TrimSpace(cur.String()))
}

// codeSpan is the first `code span` of s, else s.
func codeSpan(s string) string {
	if _, rest, ok := strings.Cut(s, "`"); ok {
		if span, _, ok := strings.Cut(rest, "`"); ok {
			return span
		}
	}
	return s
}

// sameDefault reports whether the README's default doc says what the
// code's default code does: the same text, or the same duration, size
// (suffixes KiB, MiB, GiB) or number written another way (168h for
// 168h0m0s, 4GiB for 4294967296).
func sameDefault(code, doc string) bool {
	if code == doc {
		return true
	}
	if a, err := time.ParseDuration(code); err == nil {
		b, err := time.ParseDuration(doc)
		return err == nil && a == b
	}
	if a, ok := size(code); ok {
		b, ok := size(doc)
		return ok && a == b
	}
	return false
}

func size(s string) (float64, bool) {
	mult := 1.0
	for suffix, m := range map[string]float64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if v, ok := strings.CutSuffix(s, suffix); ok {
			s, mult = v, m
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	return f * mult, err == nil
}

package tail

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchboard-cc/switchboard/event"
)

// TimeLayout is the layout of the time column, in the local time zone.
const TimeLayout = "2006-01-02 15:04:05.000"

// callKeyWidth is the width of a call thread key of a four-letter tenant
// ("demo:" and a 36-character UUID).
const callKeyWidth = 41

// ANSI colours of the text format.
const (
	ansiReset  = "\x1b[0m"
	ansiDim    = "\x1b[2m"
	ansiBold   = "\x1b[1m"
	ansiCyan   = "\x1b[36m"
	ansiYellow = "\x1b[33m"
	ansiGreen  = "\x1b[32m"
)

// printer writes one line per record. Column widths grow to the widest value
// seen, so lines stay aligned as long keys arrive.
type printer struct {
	w      *bufio.Writer
	errw   io.Writer
	color  bool
	json   bool
	short  map[string]string // full topic name -> agentstate / callthread
	filter *filter

	keyW int
	buf  []byte
}

// print decodes (when needed), filters and prints one record; it reports
// whether the record was printed.
func (p *printer) print(r *kgo.Record) bool {
	var ev event.Event
	if !p.json || p.filter.active() {
		if err := event.Unmarshal(r.Value, &ev); err != nil {
			fmt.Fprintf(p.errw, "tail: %s[%d]@%d: undecodable value: %v\n", r.Topic, r.Partition, r.Offset, err)
			return false
		}
		if !p.filter.match(&ev) {
			return false
		}
	}
	if p.json {
		p.writeJSON(r.Value)
	} else {
		p.buf = p.appendLine(p.buf[:0], p.short[r.Topic], string(r.Key), &ev)
		p.w.Write(p.buf)
	}
	return true
}

// writeJSON writes a record value on one line.
func (p *printer) writeJSON(v []byte) {
	if bytes.ContainsAny(v, "\r\n") {
		var c bytes.Buffer
		if json.Compact(&c, v) == nil {
			v = c.Bytes()
		}
	}
	p.w.Write(v)
	p.w.WriteByte('\n')
}

// appendLine appends the text line of one event:
//
//	TIME  TOPIC  KEY  SEQ  NAME  Field=value ...
func (p *printer) appendLine(b []byte, topic, key string, ev *event.Event) []byte {
	if len(key) > p.keyW {
		p.keyW = len(key)
	}
	t := time.Unix(ev.Time.Seconds, int64(ev.Time.USeconds)*1000).Format(TimeLayout)
	b = p.paint(b, ansiDim, t)
	b = append(b, "  "...)
	topicColor := ansiGreen
	if topic == "agentstate" {
		topicColor = ansiYellow
	}
	b = p.paint(b, topicColor, pad(topic, 10))
	b = append(b, "  "...)
	b = append(b, pad(key, p.keyW)...)
	b = append(b, "  "...)
	seq := strconv.FormatInt(ev.Seq, 10)
	b = append(b, strings.Repeat(" ", max(0, 6-len(seq)))...)
	b = append(b, seq...)
	b = append(b, "  "...)
	b = p.paint(b, ansiBold+topicColor, pad(ev.ID.String(), 24))
	b = append(b, ' ')
	for _, f := range fields(ev) {
		b = append(b, ' ')
		b = p.paint(b, ansiCyan, f.name)
		b = append(b, '=')
		b = append(b, f.value...)
	}
	b = bytes.TrimRight(b, " ")
	return append(b, '\n')
}

func (p *printer) paint(b []byte, color, s string) []byte {
	if !p.color {
		return append(b, s...)
	}
	b = append(b, color...)
	b = append(b, s...)
	return append(b, ansiReset...)
}

func pad(s string, w int) string {
	if len(s) >= w {
		return s
	}
	return s + strings.Repeat(" ", w-len(s))
}

type field struct{ name, value string }

// fields lists the main fields of an event that are present, in a fixed
// order: parties first, then the call, the agent, and what the event is about.
func fields(ev *event.Event) []field {
	var out []field
	str := func(name, v string) {
		if v != "" {
			out = append(out, field{name, quote(v)})
		}
	}
	num := func(name string, v int64) {
		if v != 0 {
			out = append(out, field{name, strconv.FormatInt(v, 10)})
		}
	}
	kv := func(name string, v event.KV) {
		if len(v) > 0 {
			out = append(out, field{name, formatKV(v)})
		}
	}
	str("ThisDN", ev.ThisDN)
	str("ThisDNRole", ev.ThisDNRole.String())
	str("OtherDN", ev.OtherDN)
	str("OtherDNRole", ev.OtherDNRole.String())
	str("ThirdPartyDN", ev.ThirdPartyDN)
	str("ThirdPartyDNRole", ev.ThirdPartyDNRole.String())
	str("AgentID", ev.AgentID)
	str("ConnID", ev.ConnID)
	str("PreviousConnID", ev.PreviousConnID)
	str("CallType", ev.CallType.String())
	str("CallState", ev.CallState.String())
	str("AgentWorkMode", ev.AgentWorkMode.String())
	str("ThisQueue", ev.ThisQueue)
	str("OtherTrunk", ev.OtherTrunk)
	str("ANI", ev.ANI)
	str("DNIS", ev.DNIS)
	str("MonitorNextCallType", ev.MonitorNextCallType.String())
	str("TreatmentType", ev.TreatmentType.String())
	str("CollectedDigits", ev.CollectedDigits)
	num("ErrorCode", ev.ErrorCode)
	str("ErrorMessage", ev.ErrorMessage)
	kv("Reasons", ev.Reasons)
	kv("Extensions", ev.Extensions)
	num("ReferenceID", ev.ReferenceID)
	return out
}

// quote leaves plain values alone and Go-quotes those with spaces, quotes or
// control characters, so a line splits cleanly on spaces.
func quote(s string) string {
	for _, r := range s {
		if r <= ' ' || r == '"' || r == '\\' || r == 0x7f || r == '=' {
			return strconv.Quote(s)
		}
	}
	return s
}

// formatKV writes a KV as {k:v,k:v}, nested lists in braces.
func formatKV(kv event.KV) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, p := range kv {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(quote(p.Key))
		b.WriteByte(':')
		switch p.Kind {
		case event.KindInt:
			b.WriteString(strconv.FormatInt(p.Int, 10))
		case event.KindList:
			b.WriteString(formatKV(p.List))
		default:
			b.WriteString(quote(p.Str))
		}
	}
	b.WriteByte('}')
	return b.String()
}

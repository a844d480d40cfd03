package media

import "testing"

// pkt is one telephone-event packet as the decoder sees it.
type pkt struct {
	ts    uint32
	digit byte
	end   bool
	dur   uint16
}

// press is the packets a well-behaved sender sends for one digit starting
// at ts: a first packet with duration 0 (SIPp's pcaps do this), updates
// every 20 ms, then the end packet three times.
func press(ts uint32, d byte, frames int) []pkt {
	var p []pkt
	for i := 0; i < frames; i++ {
		p = append(p, pkt{ts, d, false, uint16(i * 160)})
	}
	for range 3 {
		p = append(p, pkt{ts, d, true, uint16(frames * 160)})
	}
	return p
}

func cat(ps ...[]pkt) []pkt {
	var out []pkt
	for _, p := range ps {
		out = append(out, p...)
	}
	return out
}

func dropEnds(p []pkt) []pkt {
	var out []pkt
	for _, x := range p {
		if !x.end {
			out = append(out, x)
		}
	}
	return out
}

func TestDigitDecoderTable(t *testing.T) {
	long := []pkt{{1000, '5', false, 0}, {1000, '5', false, 65000}, {1000 + 65000, '5', false, 160}, {1000 + 65000, '5', true, 4000}}
	cases := []struct {
		name string
		in   []pkt
		want string
	}{
		{"clean 2 4 #", cat(press(1000, '2', 5), press(3000, '4', 5), press(5000, '#', 5)), "24#"},
		{"first packet duration 0 only", []pkt{{1000, '7', false, 0}}, "7"},
		{"lost end packets", cat(dropEnds(press(1000, '1', 5)), dropEnds(press(3000, '2', 5))), "12"},
		{"only end packets arrive", []pkt{{1000, '9', true, 800}, {1000, '9', true, 800}, {1000, '9', true, 800}}, "9"},
		{"repeated ends ignored", cat(press(1000, '3', 2), []pkt{{1000, '3', true, 320}, {1000, '3', true, 320}}), "3"},
		{"same digit twice", cat(press(1000, '8', 4), press(2600, '8', 4)), "88"},
		{"same digit twice, ends lost", cat(dropEnds(press(1000, '8', 4)), dropEnds(press(4000, '8', 4))), "88"},
		{"late packet of older event", cat(press(1000, '1', 3), press(2000, '2', 3), []pkt{{1000, '1', true, 480}}), "12"},
		{"timestamp wraps", cat(press(0xffffff00, '4', 3), press(0x00000200, '6', 3)), "46"},
		{"long event segments are one digit", long, "5"},
		{"star and letters", cat(press(100, '*', 2), press(900, 'A', 2), press(1700, 'D', 2)), "*AD"},
		{"digit 0", []pkt{{100, 0, false, 0}}, "0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var d DigitDecoder
			got := ""
			for _, p := range c.in {
				if ch, ok := d.Feed(p.ts, DigitEvent(p.digit, p.end, 10, p.dur)); ok {
					got += string(ch)
				}
			}
			if got != c.want {
				t.Fatalf("digits %q, want %q", got, c.want)
			}
		})
	}
}

func TestDigitDecoderFlashAndShort(t *testing.T) {
	var d DigitDecoder
	if _, ok := d.Feed(100, []byte{16, 0, 0, 0}); ok {
		t.Fatal("event 16 (flash) reported as a digit")
	}
	if _, ok := d.Feed(200, []byte{1, 0}); ok {
		t.Fatal("a 2-byte payload reported as a digit")
	}
	if ch, ok := d.Feed(300, []byte{1, 0x8a, 0, 160}); !ok || ch != '1' {
		t.Fatalf("got %q %v, want '1'", ch, ok)
	}
}

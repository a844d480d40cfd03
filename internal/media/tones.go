package media

import (
	"fmt"
	"math"
)

// TonePlan names a country's call-progress tones.
type TonePlan string

// The tone plans: ETSI/CEPT (ETSI TR 101 041, 425 Hz) and North American
// (ANSI T1.401 precise tones).
const (
	TonesEU TonePlan = "eu"
	TonesUS TonePlan = "us"
)

// tone is one cadenced tone: the sum of freqs for on, then silence for off.
type tone struct {
	freqs   []float64
	on, off int // milliseconds, multiples of 20
}

var plans = map[TonePlan]map[string]tone{
	TonesEU: {
		"RingBack": {freqs: []float64{425}, on: 1000, off: 4000},
		"Busy":     {freqs: []float64{425}, on: 500, off: 500},
	},
	TonesUS: {
		"RingBack": {freqs: []float64{440, 480}, on: 2000, off: 4000},
		"Busy":     {freqs: []float64{480, 620}, on: 500, off: 500},
	},
}

// Tones are one plan's tones, each one cadence period long, to be looped.
type Tones struct {
	RingBack, Busy *Clip
}

// toneLevel is each frequency's peak amplitude: -13 dBm0 per component is
// the usual call-progress level, about 4,000 of 32,767 in linear PCM.
const toneLevel = 4000

// NewTones generates the plan's tones.
func NewTones(plan TonePlan) (*Tones, error) {
	p, ok := plans[plan]
	if !ok {
		return nil, fmt.Errorf("unknown tone plan %q (want eu or us)", plan)
	}
	return &Tones{RingBack: genTone(string(plan)+" ringback", p["RingBack"]), Busy: genTone(string(plan)+" busy", p["Busy"])}, nil
}

func genTone(name string, t tone) *Clip {
	on := t.on * SampleRate / 1000
	pcm := make([]int16, (t.on+t.off)*SampleRate/1000)
	for i := 0; i < on; i++ {
		var v float64
		for _, f := range t.freqs {
			v += toneLevel * math.Sin(2*math.Pi*f*float64(i)/SampleRate)
		}
		pcm[i] = int16(math.Round(v))
	}
	return NewClip(name, pcm)
}

// NewComfortNoise is a loop of low-level white noise (about -70 dBov)
// encoded in the call's own codec. It stands for RFC 3389 comfort noise:
// every G.711 phone plays it without negotiating payload type 13, and it
// keeps NAT bindings open like any audio. The generator is seeded, so the
// clip is the same every run.
func NewComfortNoise() *Clip {
	pcm := make([]int16, SampleRate) // one second, looped
	x := uint32(2463534242)
	for i := range pcm {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		pcm[i] = int16(int32(x%21) - 10)
	}
	return NewClip("comfort noise", pcm)
}

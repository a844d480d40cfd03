package media

import "math"

// DemoMusic is switchboard's own hold music, synthesised: a slow
// arpeggio over four chords (C, A minor, F, G), 8 seconds, looped
// seamlessly. The demo tenant plays it to callers waiting in its queues.
func DemoMusic() *Clip {
	chords := [][]float64{
		{261.63, 329.63, 392.00, 523.25}, // C
		{220.00, 261.63, 329.63, 440.00}, // A minor
		{174.61, 220.00, 261.63, 349.23}, // F
		{196.00, 246.94, 293.66, 392.00}, // G
	}
	const note = SampleRate / 4 // quarter-second notes, 8 per chord
	var pcm []int16
	for _, ch := range chords {
		for i := 0; i < 8; i++ {
			f := ch[[]int{0, 1, 2, 3, 2, 1, 2, 3}[i]]
			pcm = append(pcm, tone2(f, note, 0.22)...)
		}
	}
	return NewClip("demo music", pcm)
}

// DemoAnnouncement is a three-note chime (about 2 seconds) that stands for
// "please hold, your call is important to us".
func DemoAnnouncement() *Clip {
	var pcm []int16
	for _, f := range []float64{659.25, 523.25, 392.00} {
		pcm = append(pcm, tone2(f, SampleRate/2, 0.3)...)
	}
	pcm = append(pcm, make([]int16, SampleRate/2)...)
	return NewClip("demo announcement", pcm)
}

// tone2 is n samples of frequency f with its octave, at level (of full
// scale), with a short attack and an exponential decay.
func tone2(f float64, n int, level float64) []int16 {
	out := make([]int16, n)
	for i := range out {
		t := float64(i) / SampleRate
		env := math.Min(1, t/0.01) * math.Exp(-3*t)
		v := math.Sin(2*math.Pi*f*t) + 0.3*math.Sin(4*math.Pi*f*t)
		out[i] = int16(level * 32767 * env * v / 1.3)
	}
	return out
}

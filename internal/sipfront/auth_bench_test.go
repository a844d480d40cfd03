package sipfront

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkSIPGuessing runs a password guesser (REGISTER, challenge, a
// wrong answer, like svcrack) from 127.0.0.2 until the server stops
// answering it, with the default limits, and reports the guesses it got
// answered, their rate, and a phone's registrations per second from
// 127.0.0.1 during the attack as a ratio to the same phone alone before
// (and alone again after it, phone-ratio-after).
// The per-address quota of unauthenticated answers is lifted: the phone
// registers as fast as it can (a real one does so every few minutes), to
// measure what the server has left for it.
func BenchmarkSIPGuessing(b *testing.B) {
	f := newFixture(b, func(c *Config) { c.UnauthRate, c.UnauthBurst = 1e6, 1<<20 })
	phone := func(p *udpPhone, stop *atomic.Bool, d time.Duration) float64 {
		n, start := 0, time.Now()
		for time.Since(start) < d && (stop == nil || !stop.Load()) {
			chal := p.first(p.send("REGISTER", "sip:demo", "1003", "demo", "1003", "Expires: 60\r\n"))
			if chal == nil {
				b.Fatal("the phone got no challenge")
			}
			res := p.first(p.send("REGISTER", "sip:demo", "1003", "demo", "1003", "Expires: 60\r\n", answer(b, "REGISTER", "sip:demo", chal, "1003", testPassword, 1)))
			if res == nil || res.StatusCode != 200 {
				b.Fatalf("the phone's registration: %v", res)
			}
			n++
		}
		return float64(n) / time.Since(start).Seconds()
	}
	good := newUDPPhoneTB(b, f.sip.Addr(), "127.0.0.1:0")
	alone := phone(good, nil, 2*time.Second)

	var stop atomic.Bool
	during := make(chan float64, 1)
	go func() { during <- phone(good, &stop, time.Hour) }()
	bad := newUDPPhoneTB(b, f.sip.Addr(), "127.0.0.2:0")
	guesses, start := 0, time.Now()
	for {
		chal := bad.first(bad.send("REGISTER", "sip:demo", "1004", "demo", "1004"))
		if chal == nil {
			break
		}
		res := bad.first(bad.send("REGISTER", "sip:demo", "1004", "demo", "1004", answer(b, "REGISTER", "sip:demo", chal, "1004", fmt.Sprint("guess", guesses), 1)))
		if res == nil {
			break
		}
		guesses++
	}
	el := time.Since(start) - 5*time.Second // the last wait for an answer that never came
	stop.Store(true)
	b.ReportMetric(float64(guesses), "guesses-before-block")
	b.ReportMetric(float64(guesses)/el.Seconds(), "guesses/s")
	b.ReportMetric(alone, "phone-reg/s")
	b.ReportMetric(<-during/alone, "phone-ratio")
	// The same phone alone again, the guesser blocked and gone: what the
	// phone's own 100,000s of registrations cost by now (the used nonces
	// it leaves behind), apart from the attack.
	b.ReportMetric(phone(good, nil, 2*time.Second)/alone, "phone-ratio-after")
}

package sipfront_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/app"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/switchboard-cc/switchboard/internal/sipfront"
)

// serve's --sip-unauth-rate/--sip-unauth-burst reach the SIP front end:
// with a burst of 2 and a negligible rate, a third unauthenticated
// REGISTER from one address in a row goes unanswered, where the default
// (burst 200) answers all three.
func TestServeSIPUnauthQuotaFlags(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		answered int
	}{{nil, 3}, {[]string{"--sip-unauth-rate", "0.001", "--sip-unauth-burst", "2"}, 2}} {
		sipAddr := "127.0.0.1:" + strconv.Itoa(sipfront.FreeUDPPort(t))
		cfg, err := app.ParseFlags(append([]string{"--data", t.TempDir(), "--http", "127.0.0.1:0", "--kafka-listen", "127.0.0.1:0",
			"--sip", sipAddr, "--stats=false"}, tc.args...), func(string) string { return "" }, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		ready := make(chan app.Addrs, 1)
		m := app.Main{Config: cfg, Stdout: io.Discard, Logger: kafkatest.Logger(t, slog.LevelWarn),
			Getenv: func(string) string { return "" }, OnReady: func(a app.Addrs) { ready <- a }}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- m.Run(ctx) }()
		select {
		case <-ready:
		case err := <-done:
			t.Fatalf("Main.Run: %v", err)
		case <-time.After(60 * time.Second):
			t.Fatal("not ready")
		}
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		to, _ := net.ResolveUDPAddr("udp", sipAddr)
		answered := 0
		for i := 1; i <= 3; i++ {
			msg := fmt.Sprintf("REGISTER sip:demo SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-q%d\r\nFrom: <sip:1001@demo>;tag=q%d\r\nTo: <sip:1001@demo>\r\nCall-ID: quota-%d@test\r\nCSeq: 1 REGISTER\r\nContact: <sip:1001@%s>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
				c.LocalAddr(), i, i, i, c.LocalAddr())
			c.WriteToUDP([]byte(msg), to)
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, _, err := c.ReadFromUDP(make([]byte, 65535)); err == nil {
				answered++
			}
		}
		c.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Main.Run: %v", err)
		}
		if answered != tc.answered {
			t.Errorf("%v: %d of 3 REGISTERs answered, want %d", tc.args, answered, tc.answered)
		}
	}
}

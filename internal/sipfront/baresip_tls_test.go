package sipfront_test

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/app"
	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/sipfront"
	"github.com/switchboard-cc/switchboard/internal/testenv"
)

// TestServeBaresipTLSTwoDevices: the whole server (demo tenant, embedded
// Kafka, --sip-tls with a certificate made here, --sip-digest MD5: this
// baresip's libre gives up on a SHA-256 challenge). Two baresip
// processes register 1002 over TLS, a desk phone answering at once and a
// softphone left ringing; 1001 (sipp over UDP) calls 1002. Both devices
// must get the INVITE over their TLS connection, the desk phone answers,
// the softphone gets CANCEL with the completed-elsewhere Reason; 1001
// hangs up, and both baresips un-register as they quit. Kafka holds
// exactly the golden flow and check-events accepts it.
func TestServeBaresipTLSTwoDevices(t *testing.T) {
	bin := testenv.LookPath(t, "Debian package baresip", "baresip")
	const modules = "/usr/lib/baresip/modules"
	if _, err := os.Stat(filepath.Join(modules, "g711.so")); err != nil {
		testenv.Missing(t, "baresip's modules are not in %s: %v", modules, err)
	}
	dir := t.TempDir()
	sipfront.WriteCert(t, dir, "switchboard")
	cfg := e2eConfig(t, 3)
	cfg.SIPTLS = app.SIPTLS{Listen: "127.0.0.1:" + strconv.Itoa(freeTCPPort(t)),
		Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem")}
	cfg.SIPDigest = "MD5"
	addrs, stop := serveData(t, cfg)
	defer stop()

	desk := startBaresip(t, bin, dir, cfg.SIPTLS.Listen, "1002", "auto")
	soft := startBaresip(t, bin, dir, cfg.SIPTLS.Listen, "1002", "manual")
	pa := sipfront.FreeUDPPort(t)
	sipfront.RegisterAt(t, cfg.SIP, "1001", pa, 3600)
	sipfront.StartSippAt(t, cfg.SIP, "uac.xml", pa, "-key", "user", "1001", "-s", "1002")()
	deskOut, softOut := desk.quit(), soft.quit()

	for name, out := range map[string]string{"desk": deskOut, "soft": softOut} {
		if !regexp.MustCompile(`TLS \S+ -> \S+\n\s*INVITE sip:`).MatchString(out) {
			t.Errorf("%s phone got no INVITE over TLS; its output:\n%s", name, out)
		}
	}
	if !strings.Contains(deskOut, "Call established") {
		t.Errorf("the desk phone did not answer; its output:\n%s", deskOut)
	}
	if !strings.Contains(softOut, "CANCEL sip:") || !strings.Contains(softOut, `Reason: SIP;cause=200;text="Call completed elsewhere"`) {
		t.Errorf("the softphone got no CANCEL with the completed-elsewhere Reason; its output:\n%s", softOut)
	}

	tenant := &config.Demo("token", sipfront.TestPassword).Tenants[0]
	want := sipfront.Expected(t, tenant,
		engine.SetService{DN: "1002", InService: true},
		engine.SetService{DN: "1001", InService: true},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.Answer{ConnID: "$1", DN: "1002"},
		engine.Release{ConnID: "$1", DN: "1001"},
		engine.SetService{DN: "1002", InService: false},
	)
	sameKafkaFlow(t, addrs.Kafka, want)
}

// baresip is a running baresip and its output so far.
type baresip struct {
	t    testing.TB
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

// startBaresip runs baresip (SIP trace on) registering user over TLS to
// server with the demo password, answering calls at once (answermode
// "auto") or letting them ring ("manual"), and waits for its 200 to the
// REGISTER. baresip listens on a UDP and TCP port and TLS on the next
// one: when one is taken, it tries other ports.
func startBaresip(t testing.TB, bin, certDir, server, user, answermode string) *baresip {
	t.Helper()
	for attempt := 1; ; attempt++ {
		dir := t.TempDir()
		port := sipfront.FreeUDPPort(t)
		config := strings.Join([]string{
			"poll_method epoll",
			"sip_listen 127.0.0.1:" + strconv.Itoa(port),
			"sip_cafile " + filepath.Join(certDir, "cert.pem"),
			"audio_player alsa,null",
			"audio_source alsa,null",
			"audio_alert alsa,null",
			"rtp_timeout 0",
			"module_path /usr/lib/baresip/modules",
			"module g711.so",
			"module alsa.so",
			"module_app account.so",
			"",
		}, "\n")
		account := "<sip:" + user + "@demo;transport=tls>;auth_user=" + user + ";auth_pass=" + sipfront.TestPassword +
			";regint=3600;answermode=" + answermode + ";audio_codecs=PCMU;outbound=\"sip:" + server + ";transport=tls\"\n"
		for name, body := range map[string]string{"config": config, "accounts": account} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		b := &baresip{t: t, cmd: exec.Command(bin, "-f", dir, "-s"), done: make(chan struct{})}
		pipe, err := b.cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		b.cmd.Stderr = b.cmd.Stdout
		if err := b.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		registered := make(chan bool, 1)
		go b.read(pipe, registered)
		t.Cleanup(func() { b.cmd.Process.Kill(); <-b.done })
		select {
		case ok := <-registered:
			if ok {
				return b
			}
		case <-time.After(15 * time.Second):
		}
		b.cmd.Process.Kill()
		<-b.done
		if out := b.output(); strings.Contains(out, "Address already in use") && attempt < 6 {
			t.Logf("baresip's ports were taken; again:\n%s", out)
			continue
		} else {
			t.Fatalf("baresip %s (%s) did not register over TLS; its output:\n%s", user, answermode, out)
		}
	}
}

// read copies baresip's output, and says on registered whether its
// registration succeeded ("{0/TLS/v4} 200 OK") before it ended.
func (b *baresip) read(r io.Reader, registered chan<- bool) {
	defer close(b.done)
	sc := bufio.NewScanner(r)
	said := false
	for sc.Scan() {
		b.mu.Lock()
		b.out.WriteString(sc.Text() + "\n")
		b.mu.Unlock()
		if !said && strings.Contains(sc.Text(), "/TLS/") && strings.Contains(sc.Text(), " 200 OK") {
			registered <- true
			said = true
		}
	}
	if !said {
		registered <- false
	}
}

func (b *baresip) output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.String()
}

// quit stops baresip with SIGTERM (it un-registers first) and returns
// its output.
func (b *baresip) quit() string {
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		b.t.Errorf("baresip did not quit after SIGTERM")
		b.cmd.Process.Kill()
		<-b.done
	}
	b.cmd.Wait()
	return b.output()
}

package relay_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/relay"
	"github.com/switchboard-cc/switchboard/internal/testenv"
)

// broker is an Apache Kafka broker of the test's own, run by scripts/kafka
// under an instance name unique to the test.
type broker struct {
	t      *testing.T
	script string
	env    []string
	state  string
	addr   string
}

// realBroker starts an Apache Kafka broker of the test's own with
// scripts/kafka (stopped and its dir removed at the end). Outside CI a
// machine without java skips; in CI (CI=true) that, like any failure to
// fetch or start the broker, fails the test.
func realBroker(t *testing.T) *broker {
	t.Helper()
	testenv.LookPath(t, "a Java runtime, e.g. Debian package default-jre-headless", "java")
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		if dir = filepath.Dir(dir); dir == "/" {
			t.Fatal("no go.mod above the test")
		}
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	inst := "relay-outage-" + hex.EncodeToString(rnd[:])
	b := &broker{t: t, script: filepath.Join(dir, "scripts", "kafka"),
		env:   append(os.Environ(), "KAFKA_INSTANCE="+inst, "KAFKA_KEEP="),
		state: filepath.Join(dir, ".cache", "kafka", "run-"+inst+".env")}
	t.Cleanup(func() {
		if out, err := b.run("stop"); err != nil {
			t.Errorf("scripts/kafka stop: %v\n%s", err, out)
		}
	})
	b.addr = b.start()
	return b
}

// run runs scripts/kafka with args and returns its stdout (its stderr too
// when it fails).
func (b *broker) run(args ...string) (string, error) {
	cmd := exec.Command(b.script, args...)
	cmd.Env = b.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out) + stderr.String(), err
	}
	return strings.TrimSpace(string(out)), nil
}

// start starts the broker (again, on its kept dir and port after stopKeep)
// and returns its address.
func (b *broker) start() string {
	b.t.Helper()
	out, err := b.run("start")
	if err != nil {
		b.t.Fatalf("scripts/kafka start: %v\n%s", err, out)
	}
	return out
}

// stopKeep stops the broker's JVM and keeps its data, config and ports.
func (b *broker) stopKeep() {
	b.t.Helper()
	if out, err := b.run("stop", "--keep"); err != nil {
		b.t.Fatalf("scripts/kafka stop --keep: %v\n%s", err, out)
	}
}

// pid returns the JVM's pid from the broker's state file (0 when stopped).
func (b *broker) pid() int {
	b.t.Helper()
	f, err := os.Open(b.state)
	if err != nil {
		b.t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "KAFKA_PID="); ok {
			pid, _ := strconv.Atoi(v)
			return pid
		}
	}
	return 0
}

// gone reports whether process pid no longer runs (absent, or a zombie
// nobody has reaped yet).
func gone(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' || stat[i+2] == 'X'
}

// TestRealKafkaStopped: a real Apache Kafka broker of the test's own is
// taken away while requests continue; they are answered all along (the
// journal holds the events), and once the broker is back every event is in
// Kafka exactly once and in order.
//   - frozen: the JVM is SIGSTOPped for three seconds (connections hang,
//     every request times out), then SIGCONTed.
//   - down: the broker is really stopped (its process exits, its port
//     refuses connections) for three seconds, then started again on the
//     same data and the same address.
//   - refusing: the broker runs and answers, but refuses every write for
//     three seconds (the topics' max.message.bytes set below any batch:
//     MESSAGE_TOO_LARGE, which a producer does not retry, like the
//     UNKNOWN_SERVER_ERROR of a broker whose disk is full); publishing
//     pauses and resumes by itself once the setting is removed.
func TestRealKafkaStopped(t *testing.T) {
	b := realBroker(t)
	brokers := []string{b.addr}
	t.Run("frozen", func(t *testing.T) {
		pid := b.pid()
		outage(t, brokers, "frozen.", func() func() {
			if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			stopped := true
			t.Cleanup(func() {
				if stopped {
					syscall.Kill(pid, syscall.SIGCONT)
				}
			})
			return func() {
				syscall.Kill(pid, syscall.SIGCONT)
				stopped = false
			}
		})
	})
	t.Run("down", func(t *testing.T) {
		outage(t, brokers, "down.", func() func() {
			pid := b.pid()
			t0 := time.Now()
			b.stopKeep()
			if !gone(pid) {
				t.Fatalf("broker pid %d still runs after scripts/kafka stop --keep", pid)
			}
			c, err := net.DialTimeout("tcp", b.addr, time.Second)
			if err == nil {
				c.Close()
				t.Fatalf("%s still accepts connections with the broker stopped", b.addr)
			}
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("dial %s with the broker stopped: %v, want connection refused", b.addr, err)
			}
			t.Logf("broker pid %d stopped in %v; %s refuses connections", pid, time.Since(t0).Round(time.Millisecond), b.addr)
			return func() {
				t0 := time.Now()
				if addr := b.start(); addr != b.addr {
					t.Fatalf("broker restarted at %s, want its old address %s", addr, b.addr)
				}
				t.Logf("broker back at %s (pid %d) in %v", b.addr, b.pid(), time.Since(t0).Round(time.Millisecond))
			}
		})
	})
	t.Run("refusing", func(t *testing.T) {
		const prefix = "refusing."
		topics := []string{prefix + event.AgentStateTopic, prefix + event.CallThreadTopic}
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		adm := kadm.NewClient(cl)
		alter := func(op kadm.IncrementalOp, value *string) {
			t.Helper()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: op, Name: "max.message.bytes", Value: value}}, topics...)
			if err == nil {
				for _, r := range rs {
					err = errors.Join(err, r.Err)
				}
			}
			if err != nil {
				t.Fatalf("alter max.message.bytes of %v: %v", topics, err)
			}
		}
		st, end := outage(t, brokers, prefix, func() func() {
			alter(kadm.SetConfig, kadm.StringPtr("16"))
			return func() { alter(kadm.DeleteConfig, nil) }
		})
		// Paused is cleared while each retry is in flight, so the sample
		// taken at the end of the outage may fall between two pauses: the
		// count says the relay paused (and did not stop for good).
		if st.Pauses == 0 || st.Err != "" || end.Paused != "" || end.Err != "" {
			t.Fatalf("the broker refusing writes: relay %+v while it refused, %+v after; want paused, then publishing again", st, end)
		}
		t.Logf("while refused: %d pauses (%q)", st.Pauses, st.Paused)
	})
}

// outage runs a node on brokers under load, calls down to take Kafka away
// and, three seconds later, the function it returned to bring Kafka back;
// it checks requests were answered and events lagged meanwhile, and that
// afterwards Kafka holds every answered request's events exactly once.
// It returns the relay's Stats at the end of the outage and at the end.
func outage(t *testing.T, brokers []string, prefix string, down func() (up func())) (during, end relay.Stats) {
	n := startNode(t, brokers, t.TempDir(), prefix)
	stop := make(chan struct{})
	done := make(chan struct{})
	var evs, reqs int64
	go func() { evs, reqs = load(t, n.tn, 8, stop); close(done) }()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
			<-done
			n.crash()
		}
	}()
	time.Sleep(500 * time.Millisecond)
	up := down()
	d0 := n.jr.DurableLSN()
	time.Sleep(3 * time.Second)
	st := n.rl.Stats()
	answered := st.DurableLSN - d0
	up()
	if answered < 100 {
		t.Fatalf("only %d steps journaled while Kafka was away", answered)
	}
	if st.LagRecords == 0 {
		t.Fatalf("Kafka away but nothing lags: %+v", st)
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	<-done
	n.close()
	end = n.rl.Stats()
	t.Logf("%d requests answered (%d steps while Kafka was away), %d events; at the end of the outage: %+v", reqs, answered, evs, st)
	checkKafka(t, brokers, prefix, evs)
	return st, end
}

package relay_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// realBroker starts an Apache Kafka broker of the test's own with
// scripts/kafka (instance name unique to the test, stopped at the end) and
// returns its address and JVM pid.
func realBroker(t *testing.T) (addr string, pid int) {
	t.Helper()
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
	script := filepath.Join(dir, "scripts", "kafka")
	env := append(os.Environ(), "KAFKA_INSTANCE="+inst)
	start := exec.Command(script, "start")
	start.Env = env
	var stderr bytes.Buffer
	start.Stderr = &stderr
	out, err := start.Output()
	if err != nil {
		t.Fatalf("scripts/kafka start: %v\n%s", err, stderr.String())
	}
	t.Cleanup(func() {
		stop := exec.Command(script, "stop")
		stop.Env = env
		if out, err := stop.CombinedOutput(); err != nil {
			t.Errorf("scripts/kafka stop: %v\n%s", err, out)
		}
	})
	addr = strings.TrimSpace(string(out))
	f, err := os.Open(filepath.Join(dir, ".cache", "kafka", "run-"+inst+".env"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "KAFKA_PID="); ok {
			pid, _ = strconv.Atoi(v)
		}
	}
	if pid == 0 {
		t.Fatal("no KAFKA_PID in the broker's state file")
	}
	return addr, pid
}

// TestRealKafkaStopped: a real Apache Kafka broker is stopped (SIGSTOP:
// the JVM freezes, connections hang, every request times out) for three
// seconds while requests continue; they are answered all along (the
// journal holds the events), and once the broker continues (SIGCONT) every
// event is in Kafka exactly once and in order.
func TestRealKafkaStopped(t *testing.T) {
	addr, pid := realBroker(t)
	brokers := []string{addr}
	prefix := "outage."
	n := startNode(t, brokers, t.TempDir(), prefix)
	stop := make(chan struct{})
	done := make(chan struct{})
	var evs, reqs int64
	go func() { evs, reqs = load(t, n.tn, 8, stop); close(done) }()
	time.Sleep(500 * time.Millisecond)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			syscall.Kill(pid, syscall.SIGCONT)
		}
	}()
	d0 := n.jr.DurableLSN()
	time.Sleep(3 * time.Second)
	st := n.rl.Stats()
	answered := st.DurableLSN - d0
	syscall.Kill(pid, syscall.SIGCONT)
	stopped = false
	if answered < 100 {
		t.Fatalf("only %d steps journaled while Kafka was stopped", answered)
	}
	if st.LagRecords == 0 {
		t.Fatalf("Kafka stopped but nothing lags: %+v", st)
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	<-done
	n.close()
	t.Logf("%d requests answered (%d steps while Kafka was stopped), %d events; at the end of the stop: %+v", reqs, answered, evs, st)
	checkKafka(t, brokers, prefix, evs)
}

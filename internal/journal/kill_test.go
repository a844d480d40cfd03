//go:build unix

package journal

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const killHelperEnv = "JOURNAL_KILL_HELPER_DIR"

// TestKillHelper is the child process of TestKill9: it appends from several
// goroutines with AppendAsync and prints each LSN once it is durable, until
// it is killed. Run directly (without the environment variable) it does
// nothing.
func TestKillHelper(t *testing.T) {
	dir := os.Getenv(killHelperEnv)
	if dir == "" {
		return
	}
	o := Options{SegmentSize: 64 << 10, MaxSize: 1 << 30}
	j, err := Open(dir, o)
	if err != nil {
		fmt.Printf("open-error %v\n", err)
		os.Exit(1)
	}
	run := os.Getenv("JOURNAL_KILL_HELPER_RUN")
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	fmt.Fprintf(out, "recovered %d\n", j.Recovery().LastLSN)
	out.Flush()
	for w := range 4 {
		go func() {
			for i := 0; ; i++ {
				p := killPayload(run, w, i)
				_, err := j.AppendAsync(p, func(lsn uint64, err error) {
					if err != nil {
						return
					}
					mu.Lock()
					fmt.Fprintf(out, "%d\n", lsn)
					out.Flush()
					mu.Unlock()
				})
				if err != nil {
					return
				}
				if i%64 == 0 {
					time.Sleep(100 * time.Microsecond)
				}
			}
		}()
	}
	select {} // until killed
}

// killPayload is self-describing: run, writer, sequence and a filler whose
// length depends on them.
func killPayload(run string, w, i int) []byte {
	head := fmt.Sprintf("%s/%d/%d/", run, w, i)
	return append([]byte(head), bytes.Repeat([]byte{'x'}, (i*31+w*7)%180)...)
}

// TestKill9 kills a process appending under load with SIGKILL at random
// moments, 12 times, reopening the journal each time: every LSN the child
// reported durable is recovered, each writer's records form a gapless
// prefix of what it appended in each run, and numbering never restarts.
func TestKill9(t *testing.T) {
	dir := t.TempDir()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	var lastRecovered uint64
	for run := range 12 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), killHelperEnv+"="+dir, "JOURNAL_KILL_HELPER_RUN=r"+strconv.Itoa(run))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		var acked uint64
		killAfter := 1 + rng.IntN(20000) // acknowledged records before the kill
		n := 0
		for sc.Scan() {
			line := sc.Text()
			if rest, ok := strings.CutPrefix(line, "recovered "); ok {
				got, _ := strconv.ParseUint(rest, 10, 64)
				if got < lastRecovered {
					t.Fatalf("run %d: child recovered up to %d, less than %d before", run, got, lastRecovered)
				}
				continue
			}
			lsn, err := strconv.ParseUint(line, 10, 64)
			if err != nil {
				t.Fatalf("run %d: child said %q", run, line)
			}
			acked = max(acked, lsn)
			if n++; n == killAfter {
				break
			}
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()

		j := mustOpen(t, dir, Options{SegmentSize: 64 << 10, MaxSize: 1 << 30})
		rec := j.Recovery()
		if rec.LastLSN < acked {
			t.Fatalf("run %d: recovered up to lsn %d, but %d was acknowledged durable", run, rec.LastLSN, acked)
		}
		checkKillLog(t, j, run)
		lastRecovered = rec.LastLSN
		t.Logf("run %d: %d acknowledged, recovered %d, cut %d bytes", run, acked, rec.LastLSN, rec.BytesCut)
		mustClose(t, j)
	}
}

// checkKillLog reads the whole journal: every payload is one the children
// wrote, and each (run, writer) sequence is 0, 1, 2, ... without gaps.
func checkKillLog(t *testing.T, j *Journal, run int) {
	t.Helper()
	next := map[string]int{}
	for _, r := range readAll(t, j, 0) {
		parts := strings.SplitN(string(r.Payload), "/", 4)
		if len(parts) != 4 {
			t.Fatalf("lsn %d: payload %q", r.LSN, r.Payload)
		}
		w, _ := strconv.Atoi(parts[1])
		i, _ := strconv.Atoi(parts[2])
		if !bytes.Equal(r.Payload, killPayload(parts[0], w, i)) {
			t.Fatalf("lsn %d: payload %q is not what was written", r.LSN, r.Payload)
		}
		key := parts[0] + "/" + parts[1]
		if i != next[key] {
			t.Fatalf("lsn %d: %s record %d, want %d", r.LSN, key, i, next[key])
		}
		next[key]++
	}
	if len(next) == 0 {
		t.Fatalf("after run %d: no records", run)
	}
}

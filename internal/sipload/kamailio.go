package sipload

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// KamailioConfig is the Kamailio proxy's configuration file (kamailio/kamailio.cfg):
// a stateful proxy with a registrar, bindings in memory.
//
//go:embed kamailio/kamailio.cfg
var KamailioConfig []byte

// KamailioInstall says where Kamailio comes from, for a missing binary.
const KamailioInstall = "Debian package kamailio"

// Kamailio is a Kamailio proxy started by StartKamailio: the peer of a
// load, for figures side by side with switchboard's.
type Kamailio struct {
	addr string
	dir  string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

// LookKamailio finds the kamailio binary on PATH or in /usr/sbin (where
// Debian installs it, not on a user's PATH).
func LookKamailio() (string, error) {
	if p, err := exec.LookPath("kamailio"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/kamailio"); err == nil {
		return "/usr/sbin/kamailio", nil
	}
	return "", fmt.Errorf("%w: kamailio not found (%s)", ErrLoad, KamailioInstall)
}

// StartKamailio starts bin (LookKamailio when empty) with KamailioConfig on
// a free loopback UDP port, workers UDP worker processes, REGISTER checked
// against password, and waits until it answers.
func StartKamailio(bin string, workers int, password string) (*Kamailio, error) {
	if bin == "" {
		var err error
		if bin, err = LookKamailio(); err != nil {
			return nil, err
		}
	}
	if strings.ContainsAny(password, `"\`) {
		return nil, fmt.Errorf("%w: Kamailio password with a quote or backslash", ErrLoad)
	}
	dir, err := os.MkdirTemp("", "switchboard-kamailio-")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrLoad, err)
	}
	cfg := filepath.Join(dir, "kamailio.cfg")
	if err := os.WriteFile(cfg, KamailioConfig, 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%w: %v", ErrLoad, err)
	}
	port, err := freeLoopbackUDP()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	k := &Kamailio{addr: "127.0.0.1:" + strconv.Itoa(port), dir: dir, out: &syncBuffer{}, done: make(chan struct{})}
	// -DD: the main process stays in the foreground (its workers are its
	// children, see CPU); -E: log to stderr.
	k.cmd = exec.Command(bin, "-f", cfg, "-DD", "-E", "-n", strconv.Itoa(max(1, workers)),
		"-l", "udp:"+k.addr, "-Y", dir, "-w", dir, "-m", "256", "-M", "16",
		"-A", `SIP_PASSWORD="`+password+`"`)
	k.cmd.Stdout, k.cmd.Stderr = k.out, k.out
	if err := k.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%w: kamailio: %v", ErrLoad, err)
	}
	go func() { k.cmd.Wait(); close(k.done) }()
	if err := k.waitReady(10 * time.Second); err != nil {
		k.Close()
		return nil, err
	}
	return k, nil
}

// waitReady sends OPTIONS until Kamailio answers (405 by its script).
func (k *Kamailio) waitReady(d time.Duration) error {
	c, err := net.Dial("udp", k.addr)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrLoad, err)
	}
	defer c.Close()
	local := c.LocalAddr().String()
	deadline := time.Now().Add(d)
	buf := make([]byte, 4096)
	for i := 0; time.Now().Before(deadline); i++ {
		select {
		case <-k.done:
			return fmt.Errorf("%w: kamailio exited: %s", ErrLoad, tailString(k.out.String(), 1500))
		default:
		}
		msg := fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-ready-%d\r\n"+
			"From: <sip:ready@%s>;tag=r%d\r\nTo: <sip:%s>\r\nCall-ID: ready-%d@%s\r\nCSeq: 1 OPTIONS\r\n"+
			"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n", k.addr, local, i, local, i, k.addr, i, local)
		if _, err := c.Write([]byte(msg)); err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if n, err := c.Read(buf); err == nil && bytes.HasPrefix(buf[:n], []byte("SIP/2.0 ")) {
			return nil
		}
	}
	return fmt.Errorf("%w: kamailio did not answer on %s within %v: %s", ErrLoad, k.addr, d, tailString(k.out.String(), 1500))
}

// Addr is Kamailio's SIP address, host:port.
func (k *Kamailio) Addr() string { return k.addr }

// PID is Kamailio's main process.
func (k *Kamailio) PID() int { return k.cmd.Process.Pid }

// CPU is the CPU time used so far by Kamailio's main process and its
// workers (its children).
func (k *Kamailio) CPU() (time.Duration, error) { return TreeCPU(k.PID()) }

// Close stops Kamailio and removes its directory.
func (k *Kamailio) Close() error {
	k.cmd.Process.Signal(os.Interrupt)
	select {
	case <-k.done:
	case <-time.After(5 * time.Second):
		k.cmd.Process.Kill()
		<-k.done
	}
	return os.RemoveAll(k.dir)
}

// clockTick is USER_HZ, the unit of /proc/PID/stat's times (100 on every
// Linux the project runs on).
const clockTick = 100

// ProcessCPU is process pid's user and system CPU time (/proc/PID/stat).
func ProcessCPU(pid int) (time.Duration, error) {
	_, cpu, err := procStat(pid)
	return cpu, err
}

// TreeCPU is the CPU time of process pid and of its children
// (/proc/PID/stat of every process whose parent is pid).
func TreeCPU(pid int) (time.Duration, error) {
	total, err := ProcessCPU(pid)
	if err != nil {
		return 0, err
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil || p == pid {
			continue
		}
		if ppid, cpu, err := procStat(p); err == nil && ppid == pid {
			total += cpu
		}
	}
	return total, nil
}

var errProcStat = errors.New("sipload: unreadable /proc/PID/stat")

// procStat reads a process's parent and utime+stime.
func procStat(pid int) (ppid int, cpu time.Duration, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, errProcStat
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return 0, 0, errProcStat
	}
	ppid, err1 := strconv.Atoi(f[1])
	ut, err2 := strconv.ParseInt(f[11], 10, 64)
	st, err3 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, 0, errProcStat
	}
	return ppid, time.Duration(ut+st) * time.Second / clockTick, nil
}

// syncBuffer is a bytes.Buffer safe for a process's output and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 1<<20 {
		s.b.Reset()
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

package harness

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	t.Parallel()
	line := "4242 (orders-worker) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 12 0 100 2251272 11000 18446744073709551615"
	comm, ticks, start, ok := parseProcStat(line)
	if !ok || comm != "orders-worker" || ticks != 325 || start != 100 {
		t.Errorf("parsed %q %d %d %v, want orders-worker 325 100", comm, ticks, start, ok)
	}
	comm, ticks, start, ok = parseProcStat("7 (a (weird) name) R 1 1 1 0 -1 0 0 0 0 0 10 5 0 0 20 0 1 0 77 0 0")
	if !ok || comm != "a (weird) name" || ticks != 15 || start != 77 {
		t.Errorf("parsed %q %d %d %v", comm, ticks, start, ok)
	}
	if ppid := parsePPID(line); ppid != 1 {
		t.Errorf("parent %d, want 1", ppid)
	}
	if _, _, _, ok := parseProcStat("garbage"); ok {
		t.Error("garbage parsed")
	}
}

func TestParseCPULine(t *testing.T) {
	t.Parallel()
	busy, total := parseCPULine("cpu  100 5 50 800 20 0 25 0 0 0")
	if total != 1000 || busy != 180 {
		t.Errorf("busy %d total %d, want 180 of 1000", busy, total)
	}
	if b, tt := parseCPULine("intr 1 2 3"); b != 0 || tt != 0 {
		t.Error("a non-cpu line parsed")
	}
}

func TestCPUUse(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(0, 0)
	a := cpuSnap{at: t0, busy: 1000, total: 2000, procs: map[int]procSample{
		1: {"orders", 5, 100}, 2: {"PostgreSQL", 5, 50}, 3: {"PostgreSQL", 5, 9999}, 4: {"RabbitMQ", 5, 70}}}
	b := cpuSnap{at: t0.Add(10 * time.Second), busy: 2800, total: 4000, procs: map[int]procSample{
		1: {"orders", 5, 300},       // +200
		2: {"PostgreSQL", 5, 350},   // +300
		5: {"PostgreSQL", 900, 100}, // a backend started in between: +100
		6: {"gateway", 900, 100},    // +100
		4: {"RabbitMQ", 6, 20},      // pid reused by a new process: +20
		// pid 3 exited: not counted, and no negative share
	}}
	u := a.until(b, 1000)
	// 200 ticks = 2 s over 1000 ops = 2 ms each; PostgreSQL 4 ms; gateway 1 ms.
	if u.Busy != 0.9 || u.PerOp["orders"] != 2 || u.PerOp["PostgreSQL"] != 4 || u.PerOp["gateway"] != 1 || u.PerOp["RabbitMQ"] != 0.2 {
		t.Errorf("use %+v", u)
	}
	// Others: 1800 busy ticks, of which the watched processes used 720.
	if u.Other != 0.54 || !u.Noisy() {
		t.Errorf("others' share %v, noisy %v; want 0.54, true", u.Other, u.Noisy())
	}
	if s := u.String(); !strings.HasPrefix(s, "machine 90% busy (others 54%); CPU ms per op 7.2: PostgreSQL 4.00, orders 2.00, gateway 1.00, RabbitMQ 0.20") {
		t.Errorf("string %q", s)
	}
	// The load generator and pgbench are the bench's, not the system's.
	u.PerOp[groupLoad], u.PerOp["pgbench"], u.PerOp[groupSandbox] = 5, 5, 5
	if u.Total() != 7.2 {
		t.Errorf("total %v counts the bench's own processes or the sandbox", u.Total())
	}
}

func TestCPUSnapSeesThisProcess(t *testing.T) {
	t.Parallel()
	s := cpuWatch{}.snap()
	if s.total == 0 {
		t.Skip("/proc/stat not readable")
	}
	if p, ok := s.procs[os.Getpid()]; !ok || p.group != "load generator" {
		t.Errorf("this process was not sampled: %v", s.procs)
	}
}

// A process that exits while tracked keeps its last sample: its CPU is the
// bench's, not lost (and not counted as other users' work).
func TestTrackKeepsExitedProcesses(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done")
	if err := cmd.Start(); err != nil {
		t.Skip("no sh:", err)
	}
	pid := cmd.Process.Pid
	w := cpuWatch{pids: func() map[string]int { return map[string]int{"busy child": pid} }}
	a := w.snap()
	stop := w.track(20 * time.Millisecond)
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	b := stop()
	if _, ok := w.snap().procs[pid]; ok {
		t.Skip("pid reused already")
	}
	p, ok := b.procs[pid]
	if !ok || p.group != "busy child" {
		t.Fatalf("the exited child is not in the final snapshot: %v", b.procs[pid])
	}
	if u := a.until(b, 1); u.PerOp["busy child"] <= 0 {
		t.Errorf("the exited child's CPU was lost: %+v", u.PerOp)
	}
}

package harness

import (
	"strings"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	t.Parallel()
	line := "4242 (orders-worker) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 12 0 100 2251272 11000 18446744073709551615"
	comm, ticks, ok := parseProcStat(line)
	if !ok || comm != "orders-worker" || ticks != 325 {
		t.Errorf("parsed %q %d %v, want orders-worker 325", comm, ticks, ok)
	}
	comm, ticks, ok = parseProcStat("7 (a (weird) name) R 1 1 1 0 -1 0 0 0 0 0 10 5 0 0")
	if !ok || comm != "a (weird) name" || ticks != 15 {
		t.Errorf("parsed %q %d %v", comm, ticks, ok)
	}
	if _, _, ok := parseProcStat("garbage"); ok {
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
	a := cpuSnap{at: t0, busy: 1000, total: 2000, groups: map[string]uint64{"orders": 100, "PostgreSQL": 50}}
	b := cpuSnap{at: t0.Add(10 * time.Second), busy: 2800, total: 4000, groups: map[string]uint64{"orders": 300, "PostgreSQL": 450, "gateway": 100}}
	u := a.until(b, 1000)
	// 200 ticks = 2 s over 1000 ops = 2 ms each; PostgreSQL 4 ms; gateway 1 ms.
	if u.Busy != 0.9 || u.PerOp["orders"] != 2 || u.PerOp["PostgreSQL"] != 4 || u.PerOp["gateway"] != 1 {
		t.Errorf("use %+v", u)
	}
	if s := u.String(); !strings.HasPrefix(s, "machine 90% busy; CPU ms per op 7.0: PostgreSQL 4.00, orders 2.00, gateway 1.00") {
		t.Errorf("string %q", s)
	}
}

func TestCPUSnapSeesThisProcess(t *testing.T) {
	t.Parallel()
	s := cpuWatch{}.snap()
	if s.total == 0 {
		t.Skip("/proc/stat not readable")
	}
	if _, ok := s.groups["load generator"]; !ok {
		t.Errorf("this process was not sampled: %v", s.groups)
	}
}

package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc's CPU times: 100 on every Linux
// this runs on (reading it properly needs sysconf).
const clockTicks = 100

// cpuSnap is the machine's CPU time and each watched process's.
type cpuSnap struct {
	at          time.Time
	busy, total uint64 // /proc/stat jiffies, all CPUs
	procs       map[int]procSample
}

// procSample is one process's group, start time (to tell a reused pid) and
// CPU ticks so far.
type procSample struct {
	group        string
	start, ticks uint64
}

// cpuWatch names the groups to sample: the fleet's processes by pid, and
// the shared servers (PostgreSQL, RabbitMQ, Redis) and this process by name.
type cpuWatch struct {
	pids func() map[string]int // fleet process -> pid
}

var sharedServers = map[string]string{"postgres": "PostgreSQL", "beam.smp": "RabbitMQ", "redis-server": "Redis", "versitygw": "S3"}

func (w cpuWatch) snap() cpuSnap {
	s := cpuSnap{at: time.Now(), procs: map[int]procSample{}}
	s.busy, s.total = machineTicks()
	fleetPids := map[int]string{}
	if w.pids != nil {
		for name, pid := range w.pids() {
			if pid > 0 {
				fleetPids[pid] = name
			}
		}
	}
	self := os.Getpid()
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		comm, ticks, start, ok := procTicks(d)
		if !ok {
			continue
		}
		group := ""
		switch {
		case pid == self:
			group = "load generator"
		case fleetPids[pid] != "":
			group = fleetPids[pid]
		case sharedServers[comm] != "":
			group = sharedServers[comm]
		default:
			continue
		}
		s.procs[pid] = procSample{group: group, start: start, ticks: ticks}
	}
	return s
}

// procTicks reads a process's name, utime+stime and start time.
func procTicks(dir string) (string, uint64, uint64, bool) {
	b, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return "", 0, 0, false
	}
	return parseProcStat(string(b))
}

// parseProcStat reads comm, utime+stime (fields 14 and 15) and starttime
// (field 22) from a /proc/<pid>/stat line; comm is in parentheses and may
// hold spaces and parentheses.
func parseProcStat(line string) (comm string, ticks, start uint64, ok bool) {
	open, close := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
	if open < 0 || close < open {
		return "", 0, 0, false
	}
	comm = line[open+1 : close]
	f := strings.Fields(line[close+1:])
	// f[0] is field 3 (state): field n is f[n-3].
	if len(f) < 20 {
		return "", 0, 0, false
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	start, err3 := strconv.ParseUint(f[19], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return "", 0, 0, false
	}
	return comm, u + st, start, true
}

// machineTicks is the busy and total jiffies of /proc/stat's cpu line.
func machineTicks() (busy, total uint64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return parseCPULine(line)
}

func parseCPULine(line string) (busy, total uint64) {
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0
	}
	for i, s := range f[1:] {
		v, _ := strconv.ParseUint(s, 10, 64)
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}

// cpuUse is the CPU spent between two snapshots.
type cpuUse struct {
	Elapsed time.Duration
	// Busy is the share of the whole machine that was busy (everyone's
	// work, other users' included).
	Busy float64
	// PerOp is CPU milliseconds per successful operation by group.
	PerOp map[string]float64
}

func (a cpuSnap) until(b cpuSnap, ops int64) cpuUse {
	u := cpuUse{Elapsed: b.at.Sub(a.at), PerOp: map[string]float64{}}
	if dt := b.total - a.total; dt > 0 {
		u.Busy = float64(b.busy-a.busy) / float64(dt)
	}
	if ops > 0 {
		// Per process: a process that started in between counts whole; one
		// that exited in between is lost (its last ticks are unknown).
		for pid, pb := range b.procs {
			d := pb.ticks
			if pa, ok := a.procs[pid]; ok && pa.start == pb.start {
				d = pb.ticks - pa.ticks
			}
			if d > 0 {
				u.PerOp[pb.group] += float64(d) * 1000 / clockTicks / float64(ops)
			}
		}
	}
	return u
}

// String lists the groups, largest first: "machine 97% busy; CPU ms per
// op: PostgreSQL 3.1, orders 2.0, …".
func (u cpuUse) String() string {
	groups := make([]string, 0, len(u.PerOp))
	for g := range u.PerOp {
		groups = append(groups, g)
	}
	slices.SortFunc(groups, func(x, y string) int {
		switch {
		case u.PerOp[x] > u.PerOp[y]:
			return -1
		case u.PerOp[x] < u.PerOp[y]:
			return 1
		}
		return strings.Compare(x, y)
	})
	var sum float64
	parts := make([]string, len(groups))
	for i, g := range groups {
		parts[i] = fmt.Sprintf("%s %.2f", g, u.PerOp[g])
		sum += u.PerOp[g]
	}
	return fmt.Sprintf("machine %.0f%% busy; CPU ms per op %.1f: %s", 100*u.Busy, sum, strings.Join(parts, ", "))
}

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

// sharedServers are the datastores by process name (RabbitMQ's helper
// processes count as RabbitMQ).
var sharedServers = map[string]string{"postgres": "PostgreSQL", "beam.smp": "RabbitMQ", "erl_child_setup": "RabbitMQ",
	"inet_gethost": "RabbitMQ", "epmd": "RabbitMQ", "redis-server": "Redis", "versitygw": "S3"}

// benchTools are the bench's own helper processes by name: their CPU is the
// bench's, not other users' work, but not the fleet's either.
var benchTools = map[string]string{"pgbench": "pgbench", "vips": "vips CLI"}

// Groups that are not the system under test: left out of the per-order
// totals that budgets hold. The sandbox stands in for the payment provider
// and the marketplaces, which are other companies' machines.
const (
	groupLoad    = "load generator"
	groupSandbox = "sandbox"
)

func notMeasured(group string) bool {
	return group == groupLoad || group == groupSandbox || group == "pgbench" || group == "vips CLI"
}

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
		comm, ppid, ticks, start, ok := procTicks(d)
		if !ok {
			continue
		}
		group := ""
		switch {
		case pid == self:
			group = groupLoad
		case fleetPids[pid] != "":
			group = fleetPids[pid]
		case sharedServers[comm] != "":
			group = sharedServers[comm]
		case benchTools[comm] != "" && ppid == self: // another user's pgbench is not ours
			group = benchTools[comm]
		default:
			continue
		}
		s.procs[pid] = procSample{group: group, start: start, ticks: ticks}
	}
	return s
}

// procTicks reads a process's name, parent, utime+stime and start time.
func procTicks(dir string) (string, int, uint64, uint64, bool) {
	b, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return "", 0, 0, 0, false
	}
	comm, ticks, start, ok := parseProcStat(string(b))
	return comm, parsePPID(string(b)), ticks, start, ok
}

// parsePPID reads the parent pid (field 4) of a /proc/<pid>/stat line.
func parsePPID(line string) int {
	close := strings.LastIndexByte(line, ')')
	if close < 0 {
		return 0
	}
	f := strings.Fields(line[close+1:])
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
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
	// Other is the share of the machine busy with work outside the bench:
	// everything but the load generator, the bench's tools, the fleet and
	// the datastores (which other users of the machine may share).
	Other float64
	// PerOp is CPU milliseconds per successful operation by group.
	PerOp map[string]float64
}

// noisyShare is the share of the machine that others may use before a
// phase is marked noisy (and run once more).
const noisyShare = 0.15

// Noisy reports whether others used more than noisyShare of the machine.
func (u cpuUse) Noisy() bool { return u.Other > noisyShare }

// Total is the CPU ms per operation of the system under test: every group
// but the load generator, the bench's tools and the sandbox.
func (u cpuUse) Total() float64 {
	var sum float64
	for g, v := range u.PerOp {
		if !notMeasured(g) {
			sum += v
		}
	}
	return sum
}

func (a cpuSnap) until(b cpuSnap, ops int64) cpuUse {
	u := cpuUse{Elapsed: b.at.Sub(a.at), PerOp: map[string]float64{}}
	// Per process: a process that started in between counts whole; one
	// that exited in between is lost (its last ticks are unknown).
	var ours uint64
	for pid, pb := range b.procs {
		d := pb.ticks
		if pa, ok := a.procs[pid]; ok && pa.start == pb.start {
			d = pb.ticks - pa.ticks
		}
		if pb.ticks < d || d == 0 {
			continue
		}
		ours += d
		if ops > 0 {
			u.PerOp[pb.group] += float64(d) * 1000 / clockTicks / float64(ops)
		}
	}
	if dt := b.total - a.total; dt > 0 {
		busy := b.busy - a.busy
		u.Busy = float64(busy) / float64(dt)
		if busy > ours {
			u.Other = float64(busy-ours) / float64(dt)
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
	parts := make([]string, len(groups))
	for i, g := range groups {
		parts[i] = fmt.Sprintf("%s %.2f", g, u.PerOp[g])
	}
	return fmt.Sprintf("machine %.0f%% busy (others %.0f%%); CPU ms per op %.1f: %s", 100*u.Busy, 100*u.Other, u.Total(), strings.Join(parts, ", "))
}

// track samples the watched processes every interval until the returned
// function is called, which returns a final snapshot that also holds the
// last sample of every process that exited meanwhile (pgbench and its
// server backends exit before a phase's last snapshot; without this their
// CPU would be lost, and counted as other users' work).
func (w cpuWatch) track(every time.Duration) func() cpuSnap {
	done, out := make(chan struct{}), make(chan cpuSnap)
	go func() {
		seen := map[int]procSample{}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				s := w.snap()
				for pid, p := range seen {
					if _, ok := s.procs[pid]; !ok {
						s.procs[pid] = p
					}
				}
				out <- s
				return
			case <-t.C:
				for pid, p := range w.snap().procs {
					seen[pid] = p
				}
			}
		}
	}()
	return func() cpuSnap {
		close(done)
		return <-out
	}
}

// Package faultinfra runs private datastore instances — Redis, a RabbitMQ
// node and a PostgreSQL cluster — as child processes of a test, on free ports
// and in temporary directories, so that a fault test can kill and restart
// them by pid without touching the servers other tests and fleets share.
//
// Each instance has the same small API: Start (again, on the same port and
// data), Kill (SIGKILL, and wait until it is gone), Restart (Kill then
// Start), Stop (graceful) and Pid. The constructors register a t.Cleanup
// that stops the instance and removes its files.
package faultinfra

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is one run of a server process, in its own process group.
type child struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// spawn starts cmd in a new process group, its output appended to logPath.
func spawn(cmd *exec.Cmd, logPath string) (*child, error) {
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = lf, lf
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		lf.Close()
		close(c.done)
	}()
	return c, nil
}

func (c *child) alive() bool {
	if c == nil {
		return false
	}
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

func (c *child) pid() int {
	if !c.alive() {
		return 0
	}
	return c.cmd.Process.Pid
}

// signalGroup sends sig to the child's whole process group and waits up to
// wait for the child to exit; it SIGKILLs the group when the wait runs out.
func (c *child) signalGroup(sig syscall.Signal, wait time.Duration) error {
	if !c.alive() {
		return nil
	}
	pgid := c.cmd.Process.Pid
	_ = syscall.Kill(-pgid, sig)
	select {
	case <-c.done:
	case <-time.After(wait):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-c.done
		return fmt.Errorf("pid %d did not exit within %v of %v; killed", pgid, wait, sig)
	}
	return waitGroupGone(pgid, 15*time.Second)
}

// waitGroupGone waits until no live (non-zombie) process is left in the
// process group pgid, SIGKILLing stragglers after timeout.
func waitGroupGone(pgid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		left := groupMembers(pgid)
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			time.Sleep(200 * time.Millisecond)
			if left = groupMembers(pgid); len(left) == 0 {
				return nil
			}
			return fmt.Errorf("process group %d still has %v", pgid, left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// groupMembers lists the live processes of process group pgid (from /proc).
func groupMembers(pgid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may contain spaces.
		s := string(raw)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g == pgid {
			out = append(out, pid)
		}
	}
	return out
}

var portMu sync.Mutex

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on, such that
// port+plus (when plus > 0) is free too; it picks from 21000–29999 so that
// port+plus stays a valid port for plus up to 35000.
func FreePort(plus int) (int, error) {
	portMu.Lock()
	defer portMu.Unlock()
	for range 500 {
		p := 21000 + rand.IntN(9000)
		if !portFree(p) || (plus > 0 && !portFree(p+plus)) {
			continue
		}
		return p, nil
	}
	return 0, errors.New("faultinfra: no free port found")
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// waitFor polls check every 100 ms until it succeeds, c exits, or ctx ends.
func waitFor(ctx context.Context, c *child, timeout time.Duration, what string, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if c != nil && !c.alive() {
			return fmt.Errorf("%s exited while starting: %v", what, c.err)
		}
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		last = check(cctx)
		ccancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %v: %v", what, timeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// dialCheck succeeds when something accepts TCP connections on addr.
func dialCheck(addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// discard SIGKILLs the whole group: the cleanup deletes the data right after,
// so there is nothing to shut down gracefully.
func (c *child) discard() { _ = c.signalGroup(syscall.SIGKILL, 5*time.Second) }

// server is the restartable child process every instance wraps; mu guards c
// across Start, Kill, Stop and Pid.
type server struct {
	mu sync.Mutex
	c  *child
}

// Pid is the server's pid, 0 when it is not running.
func (s *server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c.pid()
}

// killGroup SIGKILLs the server's whole process group and waits until it is
// gone; what names the instance in the error when it is not running.
func (s *server) killGroup(what string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.c.alive() {
		return fmt.Errorf("%s is not running", what)
	}
	return s.c.signalGroup(syscall.SIGKILL, 10*time.Second)
}

// stopGroup terminates the process group: SIGTERM, SIGKILL after grace.
func (s *server) stopGroup(grace time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.c.signalGroup(syscall.SIGTERM, grace)
}

// discard kills whatever is left of the server, for test cleanup.
func (s *server) discard() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.c.discard()
}

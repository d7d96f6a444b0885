package faultinfra

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Redis is a private redis-server without persistence: a restart comes back
// empty, like a cache node that was replaced.
type Redis struct {
	Port int
	Dir  string

	server
}

// StartRedis starts a private Redis on a free port and stops it when the test
// ends.
func StartRedis(ctx context.Context, t testing.TB) (*Redis, error) {
	t.Helper()
	port, err := FreePort(0)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pf-faults-redis-")
	if err != nil {
		return nil, err
	}
	r := &Redis{Port: port, Dir: dir}
	t.Cleanup(func() {
		r.discard()
		_ = os.RemoveAll(dir)
	})
	return r, r.Start(ctx)
}

// Addr is host:port.
func (r *Redis) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.Port)) }

// LogPath is the server's log.
func (r *Redis) LogPath() string { return filepath.Join(r.Dir, "redis.log") }

// Start starts the server (again) on its port and waits until it answers PING.
func (r *Redis) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.c.alive() {
		return fmt.Errorf("redis :%d already running", r.Port)
	}
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", r.Dir)
	c, err := spawn(cmd, r.LogPath())
	if err != nil {
		return err
	}
	r.c = c
	if err := waitFor(ctx, c, 20*time.Second, "redis", r.ping); err != nil {
		return fmt.Errorf("%w\n%s", err, tail(r.LogPath(), 10))
	}
	return nil
}

func (r *Redis) ping(ctx context.Context) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", r.Addr())
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// Kill SIGKILLs the server and waits until it is gone.
func (r *Redis) Kill() error { return r.killGroup(fmt.Sprintf("redis :%d", r.Port)) }

// Restart kills the server and starts it again on the same port.
func (r *Redis) Restart(ctx context.Context) error {
	if err := r.Kill(); err != nil {
		return err
	}
	return r.Start(ctx)
}

// Stop terminates the server (SIGTERM, then SIGKILL after 10 s).
func (r *Redis) Stop() { r.stopGroup(10 * time.Second) }

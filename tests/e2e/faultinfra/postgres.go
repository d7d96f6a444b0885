package faultinfra

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PGBin is where PostgreSQL 15's server binaries live on Debian.
var PGBin = "/usr/lib/postgresql/15/bin"

// Postgres is a private PostgreSQL cluster (trust auth, user postgres) whose
// postmaster is a child of the test, run as the postgres OS user. Kill
// SIGKILLs the postmaster alone, as a crash would; Start brings the cluster
// back on the same data directory through crash recovery.
type Postgres struct {
	Port int
	Dir  string // holds data/, the socket and the log
	// MaxConnections is max_connections (default 300).
	MaxConnections int

	uid, gid uint32
	server
}

// StartPostgres creates a cluster with initdb and starts it; the cluster is
// stopped and removed when the test ends.
func StartPostgres(ctx context.Context, t testing.TB) (*Postgres, error) {
	t.Helper()
	port, err := FreePort(0)
	if err != nil {
		return nil, err
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("faultinfra: the postgres OS user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir, err := os.MkdirTemp("", "pf-faults-pg-")
	if err != nil {
		return nil, err
	}
	p := &Postgres{Port: port, Dir: dir, MaxConnections: 300, uid: uint32(uid), gid: uint32(gid)}
	t.Cleanup(func() {
		p.discard()
		_ = os.RemoveAll(dir)
	})
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	initdb := exec.CommandContext(ctx, filepath.Join(PGBin, "initdb"), "-D", p.DataDir(),
		"--auth=trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = p.asPostgres()
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	return p, p.Start(ctx)
}

func (p *Postgres) asPostgres() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: p.uid, Gid: p.gid}}
}

// DataDir is the cluster's data directory.
func (p *Postgres) DataDir() string { return filepath.Join(p.Dir, "data") }

// LogPath is the server's log.
func (p *Postgres) LogPath() string { return filepath.Join(p.Dir, "postgres.log") }

// URL is the connection string of database db.
func (p *Postgres) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port)), db)
}

// Start starts the postmaster on the cluster's data and waits until it
// accepts queries. After a Kill the previous backends may still be exiting:
// a start refused for that is retried for up to 30 s.
func (p *Postgres) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.c.alive() {
		return fmt.Errorf("postgres :%d already running", p.Port)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		cmd := exec.Command(filepath.Join(PGBin, "postgres"), "-D", p.DataDir(),
			"-c", "listen_addresses=127.0.0.1",
			"-c", "port="+strconv.Itoa(p.Port),
			"-c", "unix_socket_directories="+p.Dir,
			"-c", "max_connections="+strconv.Itoa(p.MaxConnections),
			// A process kill keeps what the kernel already has: fsync only
			// matters for a machine crash, and skipping it spares the
			// shared disk. Commits stay synchronous, so an acknowledged
			// commit is in the WAL the restart replays.
			"-c", "fsync=off",
			"-c", "log_min_messages=warning",
		)
		cmd.Dir = p.Dir
		cmd.SysProcAttr = p.asPostgres()
		c, err := spawn(cmd, p.LogPath())
		if err != nil {
			return err
		}
		p.c = c
		err = waitFor(ctx, c, 60*time.Second, "postgres", p.check)
		if err == nil {
			return nil
		}
		if c.alive() || time.Now().After(deadline) || ctx.Err() != nil {
			_ = c.signalGroup(syscall.SIGKILL, 5*time.Second)
			return fmt.Errorf("%w\n%s", err, tail(p.LogPath(), 15))
		}
		time.Sleep(300 * time.Millisecond) // it exited: e.g. old backends still attached
	}
}

func (p *Postgres) check(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, p.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var one int
	return conn.QueryRow(ctx, "SELECT 1").Scan(&one)
}

// Kill SIGKILLs the postmaster only and waits until it and its backends,
// which notice the postmaster's death, are gone.
func (p *Postgres) Kill() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.c.alive() {
		return fmt.Errorf("postgres :%d is not running", p.Port)
	}
	pid := p.c.cmd.Process.Pid
	_ = syscall.Kill(pid, syscall.SIGKILL)
	<-p.c.done
	return waitGroupGone(pid, 20*time.Second)
}

// Restart kills the postmaster and starts the cluster again.
func (p *Postgres) Restart(ctx context.Context) error {
	if err := p.Kill(); err != nil {
		return err
	}
	return p.Start(ctx)
}

// Stop shuts the cluster down fast (SIGINT), SIGKILL after 15 s.
func (p *Postgres) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.c.alive() {
		return
	}
	pid := p.c.cmd.Process.Pid
	_ = syscall.Kill(pid, syscall.SIGINT)
	select {
	case <-p.c.done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-p.c.done
	}
	_ = waitGroupGone(pid, 10*time.Second)
}

// Exec runs one statement against database db.
func (p *Postgres) Exec(ctx context.Context, db, sql string, args ...any) error {
	conn, err := pgx.Connect(ctx, p.URL(db))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

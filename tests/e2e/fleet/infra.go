package fleet

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Databases are the services that own a PostgreSQL database (scripts/infra.sh
// creates the same list for `make run`).
var Databases = []string{"orders", "catalog", "pricing", "webhooks", "ops"}

// EnsureDatabases creates the layout's service databases that are missing.
// With reset, existing ones are dropped first (a fresh fleet for tests).
func (l Layout) EnsureDatabases(ctx context.Context, reset bool) error {
	admin := fmt.Sprintf("postgres://%s@%s:%d/postgres?sslmode=disable", l.PGUser, l.PGHost, l.PGPort)
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return fmt.Errorf("postgres %s:%d: %w", l.PGHost, l.PGPort, err)
	}
	defer conn.Close(ctx)
	for _, svc := range Databases {
		name := pgx.Identifier{l.DBName(svc)}.Sanitize()
		if reset {
			if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
				return fmt.Errorf("drop %s: %w", name, err)
			}
		}
		var exists bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, l.DBName(svc)).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
				return fmt.Errorf("create %s: %w", name, err)
			}
		}
	}
	return nil
}

// EnsureVhost creates the layout's RabbitMQ vhost (rabbitmqctl, local broker)
// and, with reset, deletes it first so no queue of an earlier run remains.
func (l Layout) EnsureVhost(ctx context.Context, reset bool) error {
	ctl := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, "rabbitmqctl", append([]string{"-q"}, args...)...).CombinedOutput()
		return string(out), err
	}
	if reset {
		if out, err := ctl("delete_vhost", l.Vhost); err != nil && !strings.Contains(out, "does not exist") && !strings.Contains(out, "no_such_vhost") {
			return fmt.Errorf("rabbitmqctl delete_vhost %s: %v: %s", l.Vhost, err, out)
		}
	}
	if out, err := ctl("add_vhost", l.Vhost); err != nil && !strings.Contains(out, "already exists") && !strings.Contains(out, "vhost_already_exists") {
		return fmt.Errorf("rabbitmqctl add_vhost %s: %v: %s", l.Vhost, err, out)
	}
	if out, err := ctl("set_permissions", "-p", l.Vhost, "guest", ".*", ".*", ".*"); err != nil {
		return fmt.Errorf("rabbitmqctl set_permissions %s: %v: %s", l.Vhost, err, out)
	}
	if l.BrokerUsers {
		return l.EnsureBrokerUsers(ctx)
	}
	return nil
}

// ResetRedis empties the layout's Redis database (the suites own theirs), so
// no projection, cache entry or rate-limit state of an earlier run remains.
func (l Layout) ResetRedis(ctx context.Context) error {
	host, port, err := net.SplitHostPort(l.RedisAddr)
	if err != nil {
		return fmt.Errorf("redis address %q: %w", l.RedisAddr, err)
	}
	out, err := exec.CommandContext(ctx, "redis-cli", "-h", host, "-p", port, "-n", strconv.Itoa(l.RedisDB), "FLUSHDB").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK") {
		return fmt.Errorf("redis-cli flushdb %d: %v: %s", l.RedisDB, err, out)
	}
	return nil
}

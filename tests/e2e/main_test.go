// Package e2e drives the whole fleet over REST, the way a client would: the
// fleet is built and started as separate processes (as `make run` does) on
// its own ports, databases, vhost and Redis database, so it never touches a
// fleet a developer is running.
package e2e

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/printfleet/printfleet/tests/e2e/fleet"
)

type environment struct {
	layout fleet.Layout
	fleet  *fleet.Fleet
	bin    string
	logs   string
	api    *client
}

var env *environment

// e2eDraftTTL is how long a draft lives unconfirmed in the suite's fleet.
const e2eDraftTTL = 30 * time.Second

// e2eLayout keeps the suite away from the default ports and data.
func e2eLayout() fleet.Layout {
	l := fleet.Local()
	l.Offset = 1000
	l.DBPrefix = "e2e_"
	l.Vhost = "printfleet_e2e"
	l.RedisDB = 1
	l.RateLimit = "100000/1m" // the suite polls; TestRateLimit runs its own strict gateway
	l.InternalSecret = "e2e-internal-secret-0123456789abcdef"
	l.JWTSecret = "e2e-jwt-secret-0123456789abcdef-0123456789"
	l.TraceDir, _ = filepath.Abs("../../.run/e2e/logs") // span files next to the logs (trace_test.go)
	// Webhook retries, timeouts and disabling in seconds instead of hours.
	l.WebhooksRetrySchedule = "1s,2s,4s,8s,16s"
	l.WebhooksTimeout = "3s"
	l.WebhooksLease = "6s"
	l.WebhooksDisableAfter = "2m"
	// Drafts expire in seconds, so that a test sees the worker expire one.
	l.DraftTTL = e2eDraftTTL
	return l
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	flag.Parse()
	if testing.Short() || os.Getenv("PRINTFLEET_E2E") == "off" {
		return m.Run() // every test skips without env
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// One suite at a time per checkout: concurrent runs would share the
	// layout's ports, databases and vhost. A second run waits here.
	unlock, err := lockSuite(filepath.Join(root, ".run", "e2e.lock"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer unlock()
	l := e2eLayout()
	e := &environment{
		layout: l,
		bin:    filepath.Join(root, ".run", "e2e", "bin"),
		logs:   filepath.Join(root, ".run", "e2e", "logs"),
		api:    &client{base: l.GatewayURL(), http: &http.Client{Timeout: 30 * time.Second}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := start(ctx, root, e); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: start the fleet:", err)
		if e.fleet != nil {
			_ = e.fleet.Stop(10 * time.Second)
		}
		return 1
	}
	env = e
	code := m.Run()
	if err := e.fleet.Stop(20 * time.Second); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: the fleet did not stop cleanly:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

func start(ctx context.Context, root string, e *environment) error {
	_ = os.RemoveAll(e.logs)
	if err := fleet.Build(ctx, root, e.bin, e.layout.Packages()...); err != nil {
		return err
	}
	if err := e.layout.EnsureDatabases(ctx, true); err != nil {
		return err
	}
	if err := e.layout.EnsureVhost(ctx, true); err != nil {
		return err
	}
	if err := e.layout.ResetRedis(ctx); err != nil {
		return err
	}
	f, err := fleet.New(e.bin, e.logs, e.layout.Common())
	if err != nil {
		return err
	}
	e.fleet = f
	return f.StartSeeded(ctx, 90*time.Second, e.layout.Procs(), e.layout.Seeds())
}

// need skips a test when the fleet is not running (-short).
func need(t *testing.T) *environment {
	t.Helper()
	if env == nil {
		t.Skip("end-to-end suite needs the fleet (skipped with -short)")
	}
	return env
}

// lockSuite takes an exclusive lock on path, waiting for another run to end.
func lockSuite(path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

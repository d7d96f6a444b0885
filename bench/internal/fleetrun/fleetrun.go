// Package fleetrun starts the whole fleet for the benchmark the way `make
// run` starts it (tests/e2e/fleet), on the benchmark's own layout — ports
// offset by 2000, databases bench_*, vhost printfleet_bench, Redis database
// 2 — so that it never touches a fleet a developer is running, and resets
// that layout first so every run starts from the same state.
package fleetrun

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/printfleet/printfleet/tests/e2e/fleet"
)

// Layout is the benchmark's layout: Local() moved aside.
func Layout() fleet.Layout {
	l := fleet.Local()
	l.Offset = 2000
	l.DBPrefix = "bench_"
	l.Vhost = "printfleet_bench"
	l.RedisDB = 2
	return l
}

// RateLimitOverride lifts the gateway's per-principal limit (100/min by
// default) far above anything the benchmark sends: the limiter still runs
// its Redis check on every request, it just never says no. Without it the
// benchmark would measure 429s.
var RateLimitOverride = map[string]string{
	"PRINTFLEET_RATELIMIT_DEFAULT": "100000000/1m",
	"PRINTFLEET_RATELIMIT_WRITE":   "100000000/1m",
}

// Fleet is a running benchmark fleet.
type Fleet struct {
	*fleet.Fleet
	Layout fleet.Layout
	// Skipped lists processes not started because their package has no
	// main yet.
	Skipped []string
}

// Build compiles the fleet's binaries into binDir. Packages whose
// directory holds no Go files yet are left out and returned.
func Build(ctx context.Context, root, binDir string, l fleet.Layout) (missing []string, err error) {
	var pkgs []string
	for _, p := range l.Packages() {
		if hasGo(filepath.Join(root, p)) {
			pkgs = append(pkgs, p)
		} else {
			missing = append(missing, filepath.Base(p))
		}
	}
	return missing, fleet.Build(ctx, root, binDir, pkgs...)
}

func hasGo(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	return len(m) > 0
}

// Start resets the layout's databases, vhost and Redis database, starts
// every built process in make-run order, loads the demo catalog and price
// lists, and waits for each process to be ready. On error the processes
// already started are stopped.
func Start(ctx context.Context, l fleet.Layout, binDir, logDir string) (*Fleet, error) {
	if err := l.EnsureDatabases(ctx, true); err != nil {
		return nil, err
	}
	if err := l.EnsureVhost(ctx, true); err != nil {
		return nil, err
	}
	rdb := goredis.NewClient(&goredis.Options{Addr: l.RedisAddr, DB: l.RedisDB})
	err := rdb.FlushDB(ctx).Err()
	rdb.Close()
	if err != nil {
		return nil, fmt.Errorf("flush redis db %d: %w", l.RedisDB, err)
	}
	_ = os.RemoveAll(logDir)
	f, err := fleet.New(binDir, logDir, l.Common())
	if err != nil {
		return nil, err
	}
	out := &Fleet{Fleet: f, Layout: l}
	var procs []fleet.Proc
	for _, p := range l.Procs() {
		if _, err := os.Stat(filepath.Join(binDir, p.Name)); err != nil {
			out.Skipped = append(out.Skipped, p.Name)
			continue
		}
		if p.Name == "gateway" {
			env := map[string]string{}
			for k, v := range p.Env {
				env[k] = v
			}
			for k, v := range RateLimitOverride {
				env[k] = v
			}
			p.Env = env
		}
		procs = append(procs, p)
	}
	// Seeds run once catalog is up, as `make run` does.
	if err := f.StartSeeded(ctx, 90*time.Second, procs, l.Seeds()); err != nil {
		_ = f.Stop(20 * time.Second)
		if strings.Contains(err.Error(), fleet.SeededBy) && len(out.Skipped) > 0 {
			return nil, fmt.Errorf("%w (not built: %s)", err, strings.Join(out.Skipped, ", "))
		}
		return nil, err
	}
	return out, nil
}

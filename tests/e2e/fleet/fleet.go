// Package fleet builds and runs the whole printfleet fleet as separate
// processes on this machine — the way `make run` does and the way the
// end-to-end tests, fault tests and benchmarks need it: each process gets its
// environment, its log file and a readiness wait on its admin /readyz, and
// can be killed and restarted by pid.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc describes one process of the fleet.
type Proc struct {
	// Name is the process name, also its binary under BinDir and its log.
	Name string
	// Binary names the built binary when several processes share one.
	Binary string
	// Args are passed to the binary.
	Args []string
	// Env is added to the fleet's common environment.
	Env map[string]string
	// Admin is the admin listener (host:port) polled for /readyz; empty for
	// processes without one.
	Admin string
	// Ready, when set, replaces the admin readiness check.
	Ready func(ctx context.Context) error
}

func (p Proc) binary() string {
	if p.Binary != "" {
		return p.Binary
	}
	return p.Name
}

// Fleet is a set of running processes.
type Fleet struct {
	BinDir string
	LogDir string
	Common map[string]string

	mu    sync.Mutex
	procs map[string]*running
	order []string
}

type running struct {
	spec Proc
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

// Build compiles the main packages (import paths or ./relative dirs from
// root) into binDir with one go build.
func Build(ctx context.Context, root, binDir string, pkgs ...string) error {
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return err
	}
	args := append([]string{"build", "-o", binDir + string(os.PathSeparator)}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = os.Environ()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	return nil
}

// New returns an empty fleet.
func New(binDir, logDir string, common map[string]string) (*Fleet, error) {
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	return &Fleet{BinDir: binDir, LogDir: logDir, Common: common, procs: map[string]*running{}}, nil
}

// Start starts p and waits until it is ready.
func (f *Fleet) Start(ctx context.Context, p Proc, timeout time.Duration) error {
	r, err := f.spawn(p)
	if err != nil {
		return err
	}
	if err := f.waitReady(ctx, r, timeout); err != nil {
		return fmt.Errorf("%s not ready: %w (log: %s)\n%s", p.Name, err, r.log.Name(), tail(r.log.Name(), 20))
	}
	return nil
}

// StartAll starts ps in order, each ready before the next.
func (f *Fleet) StartAll(ctx context.Context, timeout time.Duration, ps ...Proc) error {
	for _, p := range ps {
		if err := f.Start(ctx, p, timeout); err != nil {
			return err
		}
	}
	return nil
}

// SeededBy is the last process the seeds need running: catalog's API (with
// catalog-worker before it, which binds the queues the seeds' events go to).
const SeededBy = "catalog"

// StartSeeded starts procs in order up to and including SeededBy, runs the
// seeds one after another, then starts the rest: the order `make run`, the
// suites and the bench share.
func (f *Fleet) StartSeeded(ctx context.Context, timeout time.Duration, procs, seeds []Proc) error {
	split := -1
	for i, p := range procs {
		if p.Name == SeededBy {
			split = i + 1
		}
	}
	if split < 0 {
		return fmt.Errorf("start: no %s process to seed through", SeededBy)
	}
	if err := f.StartAll(ctx, timeout, procs[:split]...); err != nil {
		return err
	}
	for _, s := range seeds {
		if err := f.Run(ctx, s); err != nil {
			return err
		}
	}
	return f.StartAll(ctx, timeout, procs[split:]...)
}

// Run runs p to completion (a one-shot command such as a seed) and returns
// its error with the tail of its log.
func (f *Fleet) Run(ctx context.Context, p Proc) error {
	logPath := filepath.Join(f.LogDir, p.Name+".log")
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer lf.Close()
	cmd := exec.CommandContext(ctx, filepath.Join(f.BinDir, p.binary()), p.Args...)
	cmd.Env = f.env(p)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w\n%s", p.Name, err, tail(logPath, 20))
	}
	return nil
}

func (f *Fleet) env(p Proc) []string {
	m := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	for _, k := range Withheld {
		delete(m, k)
	}
	for k, v := range f.Common {
		m[k] = v
	}
	for k, v := range p.Env {
		m[k] = v
	}
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func (f *Fleet) spawn(p Proc) (*running, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r, ok := f.procs[p.Name]; ok && r.alive() {
		return nil, fmt.Errorf("%s already running", p.Name)
	}
	lf, err := os.OpenFile(filepath.Join(f.LogDir, p.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(f.BinDir, p.binary()), p.Args...)
	cmd.Env = f.env(p)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start %s: %w", p.Name, err)
	}
	r := &running{spec: p, cmd: cmd, done: make(chan struct{}), log: lf}
	go func() { _ = cmd.Wait(); close(r.done) }()
	if _, seen := f.procs[p.Name]; !seen {
		f.order = append(f.order, p.Name)
	}
	f.procs[p.Name] = r
	return r, nil
}

func (r *running) alive() bool {
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}

func (f *Fleet) waitReady(ctx context.Context, r *running, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	check := r.spec.Ready
	if check == nil {
		if r.spec.Admin == "" {
			return nil
		}
		check = HTTPReady("http://" + r.spec.Admin + "/readyz")
	}
	var last error
	for {
		if !r.alive() {
			return fmt.Errorf("exited: %v", r.cmd.ProcessState)
		}
		if last = check(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// HTTPReady is a readiness check: GET url answers 200.
func HTTPReady(url string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return nil
	}
}

// Pid returns the pid of a running process, or 0.
func (f *Fleet) Pid(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r, ok := f.procs[name]; ok && r.alive() {
		return r.cmd.Process.Pid
	}
	return 0
}

// Kill sends sig to the named process and waits for it to exit.
func (f *Fleet) Kill(name string, sig syscall.Signal, wait time.Duration) error {
	f.mu.Lock()
	r, ok := f.procs[name]
	f.mu.Unlock()
	if !ok || !r.alive() {
		return fmt.Errorf("%s is not running", name)
	}
	_ = syscall.Kill(-r.cmd.Process.Pid, sig)
	select {
	case <-r.done:
		return nil
	case <-time.After(wait):
		_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		<-r.done
		return fmt.Errorf("%s did not exit within %v of %v; killed", name, wait, sig)
	}
}

// Restart starts the named process again with its last spec.
func (f *Fleet) Restart(ctx context.Context, name string, timeout time.Duration) error {
	f.mu.Lock()
	r, ok := f.procs[name]
	f.mu.Unlock()
	if !ok {
		return fmt.Errorf("%s was never started", name)
	}
	return f.Start(ctx, r.spec, timeout)
}

// ExitCode is the exit code of a stopped process (-1 while running).
func (f *Fleet) ExitCode(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.procs[name]
	if !ok || r.alive() {
		return -1
	}
	return r.cmd.ProcessState.ExitCode()
}

// Stop sends SIGTERM to every process, newest first, and waits up to grace
// for each; it reports processes that had to be killed or exited non-zero.
func (f *Fleet) Stop(grace time.Duration) error {
	f.mu.Lock()
	names := append([]string(nil), f.order...)
	f.mu.Unlock()
	var errs []error
	for i := len(names) - 1; i >= 0; i-- {
		name := names[i]
		if f.Pid(name) == 0 {
			continue
		}
		if err := f.Kill(name, syscall.SIGTERM, grace); err != nil {
			errs = append(errs, err)
		} else if code := f.ExitCode(name); code != 0 {
			errs = append(errs, fmt.Errorf("%s exited %d after SIGTERM", name, code))
		}
	}
	f.mu.Lock()
	for _, r := range f.procs {
		r.log.Close()
	}
	f.mu.Unlock()
	return errors.Join(errs...)
}

// LogPath is the log file of the named process.
func (f *Fleet) LogPath(name string) string { return filepath.Join(f.LogDir, name+".log") }

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

// Package admin is the process's private HTTP listener: Prometheus /metrics,
// /healthz (alive), /readyz (every registered dependency check passes) and
// pprof. It is never the public listener. A new server is starting: /readyz
// fails until Serving is called, whatever checks are registered, because
// a process registers its checks only once it has connected, and opens its
// listeners after that.
package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check reports whether a dependency is usable.
type Check func(ctx context.Context) error

// Server holds the admin mux and the readiness checks.
type Server struct {
	mu       sync.RWMutex
	checks   map[string]Check
	starting bool
	draining bool
	gatherer prometheus.Gatherer
	timeout  time.Duration
}

// New returns an admin server that serves metrics from g.
func New(g prometheus.Gatherer) *Server {
	return &Server{checks: map[string]Check{}, starting: true, gatherer: g, timeout: 2 * time.Second}
}

// Serving ends the starting state: the process has registered its checks
// and opened its listeners (or started its consumers). Calling it again
// does nothing.
func (s *Server) Serving() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.starting = false
}

// AddCheck registers a readiness check under name.
func (s *Server) AddCheck(name string, c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks[name] = c
}

// Drain makes /readyz fail from now on, so load balancers stop sending
// traffic while the process shuts down.
func (s *Server) Drain() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.draining = true
}

// Handler is the admin mux.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{EnableOpenMetrics: false}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// Ready runs every check concurrently and returns the failures by name.
func (s *Server) Ready(ctx context.Context) map[string]string {
	s.mu.RLock()
	checks := make(map[string]Check, len(s.checks))
	for k, v := range s.checks {
		checks[k] = v
	}
	starting, draining := s.starting, s.draining
	s.mu.RUnlock()
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var mu sync.Mutex
	failed := map[string]string{}
	switch {
	case draining:
		failed["process"] = "shutting down"
	case starting:
		failed["process"] = "starting"
	}
	var wg sync.WaitGroup
	for name, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c(ctx); err != nil {
				mu.Lock()
				failed[name] = err.Error()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return failed
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	failed := s.Ready(r.Context())
	s.mu.RLock()
	names := make([]string, 0, len(s.checks))
	for k := range s.checks {
		names = append(names, k)
	}
	s.mu.RUnlock()
	sort.Strings(names)
	body := map[string]any{"checks": names}
	if len(failed) > 0 {
		body["status"] = "unavailable"
		body["failed"] = failed
		writeJSON(w, http.StatusServiceUnavailable, body)
		return
	}
	body["status"] = "ok"
	writeJSON(w, http.StatusOK, body)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

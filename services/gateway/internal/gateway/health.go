package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

func (g *Gateway) healthz(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
}

// readyCacheFor is how long one readiness answer is served: /readyz is
// public and each fresh answer costs a call to every upstream, so a flood of
// probes costs one fan-out per second, not one per request.
const readyCacheFor = time.Second

// readyAnswer is one readiness outcome, shared by the callers of a second.
type readyAnswer struct {
	code int
	body map[string]any
	at   time.Time
}

// readyz answers the readiness of the upstreams. Failures are named, never
// explained (the admin port's /readyz has the errors).
func (g *Gateway) readyz(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
	a := g.readiness()
	writeJSON(w, a.code, a.body)
}

// readiness returns the answer of the last second, or runs the checks once
// for every caller waiting on it (singleflight). The checks run detached
// from any one caller, so a client that goes away does not fail the others'
// answer.
func (g *Gateway) readiness() *readyAnswer {
	if a := g.ready.Load(); a != nil && time.Since(a.at) < readyCacheFor {
		return a
	}
	v, _, _ := g.readyFlight.Do("readyz", func() (any, error) {
		if a := g.ready.Load(); a != nil && time.Since(a.at) < readyCacheFor {
			return a, nil
		}
		a := g.runChecks()
		g.ready.Store(a)
		return a, nil
	})
	return v.(*readyAnswer)
}

// runChecks runs every check; a failing blocking check makes the answer 503.
func (g *Gateway) runChecks() *readyAnswer {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	results := make(map[string]string, len(g.checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	ready := true
	var degraded []string
	for _, c := range g.checks {
		wg.Go(func() {
			err := c.fn(ctx)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				results[c.name] = "ok"
			case c.blocking:
				results[c.name] = "unavailable"
				ready = false
			default:
				results[c.name] = "unavailable"
				degraded = append(degraded, c.name)
			}
		})
	}
	wg.Wait()
	body := map[string]any{"status": "ok", "checks": results}
	code := http.StatusOK
	if len(degraded) > 0 {
		body["status"] = "degraded"
	}
	if !ready {
		body["status"] = "unavailable"
		code = http.StatusServiceUnavailable
	}
	return &readyAnswer{code: code, body: body, at: time.Now()}
}

func (g *Gateway) serveOpenAPI(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(g.openapi)
}

func (g *Gateway) serveDocs(w http.ResponseWriter, r *http.Request, _ map[string]string) {
	g.docs.Handler.ServeHTTP(w, r)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

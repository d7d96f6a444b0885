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

// readyz runs every check; a failing blocking check makes it 503. Failures
// are named, never explained (the admin port's /readyz has the errors).
func (g *Gateway) readyz(w http.ResponseWriter, r *http.Request, _ map[string]string) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
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
	writeJSON(w, code, body)
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

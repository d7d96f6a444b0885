package admin_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/printfleet/printfleet/platform/admin"
)

func TestReadyzFollowsChecks(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector())
	s := admin.New(reg)
	var down atomic.Bool
	s.AddCheck("postgres", func(context.Context) error {
		if down.Load() {
			return errors.New("connection refused")
		}
		return nil
	})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// Starting: not ready, though every check passes.
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, `"process":"starting"`) {
		t.Fatalf("starting: %d %s", code, body)
	}
	s.Serving()
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("ready: %d", code)
	}
	down.Store(true)
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "postgres") {
		t.Fatalf("dependency down: %d %s", code, body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("healthz must stay 200 while a dependency is down: %d", code)
	}
	down.Store(false)
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("recovered: %d", code)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("metrics: %d", code)
	}
	if code, _ := get("/debug/pprof/"); code != 200 {
		t.Fatalf("pprof: %d", code)
	}
	s.Drain()
	if code, _ := get("/readyz"); code != 503 {
		t.Fatalf("draining must be not-ready: %d", code)
	}
}

package edge

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func chain(h http.Handler, logs *bytes.Buffer) http.Handler {
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	return RequestID(Observe(logger, NewHTTPMetrics(prometheus.NewRegistry()))(Recover(logger)(h)))
}

func TestRecover(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	h := chain(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("kaboom: secret detail") }), &logs)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/x", nil)
	req.Header.Set("X-Request-Id", "panic-1")
	h.ServeHTTP(rec, req)
	if rec.Code != 500 {
		t.Fatalf("status %d", rec.Code)
	}
	var body ErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Error.Code != "INTERNAL" || body.Error.Message != "internal error" || body.RequestID != "panic-1" || body.Error.Details == nil {
		t.Fatalf("body %s", rec.Body.Bytes())
	}
	if strings.Contains(rec.Body.String(), "kaboom") {
		t.Fatal("panic value leaked to the client")
	}
	if !strings.Contains(logs.String(), "kaboom") || !strings.Contains(logs.String(), `"status":500`) {
		t.Fatalf("logs: %s", logs.String())
	}
}

func TestRecoverAfterWrite(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	h := chain(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		panic("late")
	}), &logs)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
	if rec.Code != http.StatusAccepted || rec.Body.Len() != 0 {
		t.Fatalf("status %d body %q", rec.Code, rec.Body.String())
	}
}

func TestParseTimeouts(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{"2S": 2 * time.Second, "1500m": 1500 * time.Millisecond, "1M": time.Minute,
		"99999999H": 24 * time.Hour, "10u": 10 * time.Microsecond} {
		if got, err := parseGRPCTimeout(in); err != nil || got != want {
			t.Errorf("grpc %q = %s, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "S", "2", "2s", "-1S", "0S", "123456789S", "1.5S"} {
		if _, err := parseGRPCTimeout(bad); err == nil {
			t.Errorf("grpc %q accepted", bad)
		}
	}
	for in, want := range map[string]time.Duration{"2s": 2 * time.Second, "1500ms": 1500 * time.Millisecond, "2.5": 2500 * time.Millisecond, " 3 ": 3 * time.Second} {
		if got, err := parseRequestTimeout(in); err != nil || got != want {
			t.Errorf("request %q = %s, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "soon", "-1s", "0", "1e9", "NaN"} {
		if _, err := parseRequestTimeout(bad); err == nil {
			t.Errorf("request %q accepted", bad)
		}
	}
}

func TestSaneRequestID(t *testing.T) {
	t.Parallel()
	for id, ok := range map[string]bool{"abc": true, "A-b_c.9": true, strings.Repeat("x", 64): true, strings.Repeat("x", 65): false,
		"": false, "a b": false, "a/b": false, "é": false, "a\nb": false} {
		if SaneRequestID(id) != ok {
			t.Errorf("SaneRequestID(%q) != %v", id, ok)
		}
	}
}

func TestMethodLabel(t *testing.T) {
	t.Parallel()
	if MethodLabel("GET") != "GET" || MethodLabel("BREW") != "OTHER" || MethodLabel("get") != "OTHER" {
		t.Fatal("method labels")
	}
}

package gateway_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/printfleet/printfleet/platform/config"
	platformlog "github.com/printfleet/printfleet/platform/log"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/services/gateway/internal/auth"
	"github.com/printfleet/printfleet/services/gateway/internal/gateway"
	"github.com/printfleet/printfleet/services/gateway/internal/policy"
	"github.com/printfleet/printfleet/services/gateway/internal/ratelimit"
)

const (
	jwtSecret      = "gateway-test-jwt-secret-0123456789abcdef"
	internalSecret = "gateway-test-internal-secret-0123456789"
)

func TestMain(m *testing.M) {
	// Spans are recorded (not exported) so that trace ids exist and travel.
	otel.SetTracerProvider(sdktrace.NewTracerProvider())
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	// go-redis reports dial failures through its own logger; the tests with
	// Redis down would fill the output with them.
	goredis.SetLogger(nopRedisLogger{})
	os.Exit(m.Run())
}

type nopRedisLogger struct{}

func (nopRedisLogger) Printf(context.Context, string, ...any) {}

func discardLogger() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testSigner(t testing.TB) *principal.Signer {
	t.Helper()
	s, err := principal.NewSigner(internalSecret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func devVerifier(t testing.TB) *auth.Verifier {
	t.Helper()
	v, err := auth.NewVerifier(context.Background(), auth.Config{
		Secret: jwtSecretCfg, Issuer: "printfleet-dev", Audience: "printfleet", Leeway: 30 * time.Second,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

var jwtSecretCfg = config.Secret(jwtSecret)

// generous rules: tests that are not about rate limiting never hit them.
var generous = map[string]ratelimit.Rule{
	policy.ClassDefault: {Limit: 1_000_000, Period: time.Minute, Burst: 1_000_000},
	policy.ClassWrite:   {Limit: 1_000_000, Period: time.Minute, Burst: 1_000_000},
	policy.ClassWebhook: {Limit: 1_000_000, Period: time.Minute, Burst: 1_000_000},
}

type env struct {
	t    testing.TB
	gw   *gateway.Gateway
	srv  *httptest.Server
	f    *fakes
	logs *syncBuffer
	reg  *prometheus.Registry
}

type envOption func(*envSetup)

type envSetup struct {
	fakes    *fakes
	verifier *auth.Verifier
	limiter  func(*gateway.Metrics, *slog.Logger) *ratelimit.Limiter
	opts     func(*gateway.Options)
	quiet    bool
	level    string
}

func withFakes(f *fakes) envOption            { return func(s *envSetup) { s.fakes = f } }
func withVerifier(v *auth.Verifier) envOption { return func(s *envSetup) { s.verifier = v } }
func withLimiter(l func(*gateway.Metrics, *slog.Logger) *ratelimit.Limiter) envOption {
	return func(s *envSetup) { s.limiter = l }
}
func withOptions(o func(*gateway.Options)) envOption { return func(s *envSetup) { s.opts = o } }

// withQuietLogs discards the gateway's logs (long fuzz runs).
func withQuietLogs() envOption { return func(s *envSetup) { s.quiet = true } }

// newEnv starts a gateway (behind a real HTTP listener) in front of fakes.
func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	var s envSetup
	for _, o := range opts {
		o(&s)
	}
	signer := testSigner(t)
	if s.fakes == nil {
		s.fakes = startFakes(t, signer)
	}
	if s.verifier == nil {
		s.verifier = devVerifier(t)
	}
	logs := &syncBuffer{}
	var sink io.Writer = logs
	if s.quiet {
		sink = io.Discard
	}
	level := "debug"
	if s.level != "" {
		level = s.level
	}
	logger := platformlog.New(sink, "gateway", level)
	reg := prometheus.NewRegistry()
	metrics := gateway.NewMetrics(reg)
	var limiter *ratelimit.Limiter
	if s.limiter != nil {
		limiter = s.limiter(metrics, logger)
	} else {
		var err error
		limiter, err = ratelimit.New(ratelimit.Options{Rules: generous, Log: logger, OnDecision: metrics.RateDecision})
		if err != nil {
			t.Fatal(err)
		}
	}
	conns, err := gateway.Dial(s.fakes.upstreams, signer, metrics)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conns.Close() })
	o := gateway.Options{
		Log: logger, Signer: signer, Verifier: s.verifier, Limiter: limiter, Conns: conns, Metrics: metrics,
		DefaultTimeout: 10 * time.Second, MaxTimeout: 30 * time.Second, MaxBodyBytes: 1 << 20,
		CORSOrigins: []string{"https://shop.example"},
	}
	if s.opts != nil {
		s.opts(&o)
	}
	gw, err := gateway.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(srv.Close)
	return &env{t: t, gw: gw, srv: srv, f: s.fakes, logs: logs, reg: reg}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object (%v): %q", err, r.body)
	}
	return m
}

// errorCode returns error.code of a gateway error body.
func (r response) errorCode(t testing.TB) string {
	t.Helper()
	e, _ := r.json(t)["error"].(map[string]any)
	if e == nil {
		t.Fatalf("no error member in %s", r.body)
	}
	c, _ := e["code"].(string)
	return c
}

var client = &http.Client{Timeout: 30 * time.Second}

func (e *env) do(method, path, body string, hdr map[string]string) response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// mint returns a dev token; mutate adjusts the options first.
func mint(t testing.TB, sub string, roles []string, mutate ...func(*auth.MintOptions)) string {
	t.Helper()
	o := auth.MintOptions{Subject: sub, Roles: roles, TTL: time.Hour, Issuer: "printfleet-dev", Audience: "printfleet"}
	for _, m := range mutate {
		m(&o)
	}
	tok, err := auth.Mint([]byte(jwtSecret), o)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// unsignedToken is a token with alg "none".
func unsignedToken(sub string, roles []string) string {
	enc := base64.RawURLEncoding.EncodeToString
	h, _ := json.Marshal(map[string]any{"alg": "none", "typ": "JWT"})
	c, _ := json.Marshal(map[string]any{"sub": sub, "roles": roles, "iss": "printfleet-dev", "aud": "printfleet",
		"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()})
	return enc(h) + "." + enc(c) + "."
}

// mintRaw signs claims the token command would refuse (unknown roles).
func mintRaw(t testing.TB, sub string, roles []string) string {
	t.Helper()
	now := time.Now()
	c := auth.Claims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: "printfleet-dev", Subject: sub, Audience: jwt.ClaimStrings{"printfleet"},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
	}, Roles: roles}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(jwtSecret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

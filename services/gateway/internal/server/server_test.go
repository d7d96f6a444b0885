package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/grpcserver"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/platform/run/runtest"
	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	pricingv1 "github.com/printfleet/printfleet/proto/printfleet/pricing/v1"
	webhooksv1 "github.com/printfleet/printfleet/proto/printfleet/webhooks/v1"
)

func TestConfig(t *testing.T) {
	var cfg Config
	err := config.LoadFrom(context.Background(), &cfg, envconfig.MapLookuper(map[string]string{
		"PRINTFLEET_INTERNAL_SECRET":     "internal-secret-0123456789",
		"PRINTFLEET_JWT_SECRET":          "jwt-secret-0123456789abcdef0123456789",
		"PRINTFLEET_ORDERS_ADDR":         "orders:9101",
		"PRINTFLEET_REDIS_ADDRS":         "r1:6379,r2:6379",
		"PRINTFLEET_RATELIMIT_DEFAULT":   "200/1m",
		"PRINTFLEET_RATELIMIT_WRITE":     "20/10s,burst=5",
		"PRINTFLEET_RATELIMIT_WEBHOOK":   "1200/1m,burst=300",
		"PRINTFLEET_GATEWAY_REPLICAS":    "4",
		"PRINTFLEET_CORS_ORIGINS":        "https://a.example,https://b.example",
		"PRINTFLEET_JWKS_URL":            "https://idp.example/jwks.json",
		"PRINTFLEET_MAX_TIMEOUT":         "20s",
		"PRINTFLEET_READY_REQUIRE_REDIS": "true",
	}))
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string][2]any{
		"http addr":      {cfg.HTTPAddr, "127.0.0.1:8080"},
		"orders":         {cfg.Upstreams.Orders, "orders:9101"},
		"catalog":        {cfg.Upstreams.Catalog, "127.0.0.1:9102"},
		"pricing":        {cfg.Upstreams.Pricing, "127.0.0.1:9103"},
		"webhooks":       {cfg.Upstreams.Webhooks, "127.0.0.1:9104"},
		"internal":       {cfg.Principal.InternalSecret.Reveal(), "internal-secret-0123456789"},
		"jwks":           {cfg.Auth.JWKSURL, "https://idp.example/jwks.json"},
		"issuer":         {cfg.Auth.Issuer, "printfleet-dev"},
		"leeway":         {cfg.Auth.Leeway, 30 * time.Second},
		"redis":          {cfg.Redis.Addrs, "r1:6379,r2:6379"},
		"replicas":       {cfg.Replicas, 4},
		"cors":           {strings.Join(cfg.CORSOrigins, " "), "https://a.example https://b.example"},
		"default":        {cfg.DefaultTimeout, 10 * time.Second},
		"max":            {cfg.MaxTimeout, 20 * time.Second},
		"body":           {cfg.MaxBodyBytes, int64(1 << 20)},
		"require redis":  {cfg.ReadyRequireRedis, true},
		"ratelimit pfx":  {cfg.RateLimit.Prefix, "printfleet:ratelimit:"},
		"ratelimit tout": {cfg.RateLimit.RedisTimeout, 50 * time.Millisecond},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %v, want %v", name, c[0], c[1])
		}
	}
	rules, err := cfg.RateLimit.Rules()
	if err != nil {
		t.Fatal(err)
	}
	if r := rules["default"]; r.Limit != 200 || r.Period != time.Minute || r.Burst != 200 {
		t.Errorf("default rule %v", r)
	}
	if r := rules["write"]; r.Limit != 20 || r.Period != 10*time.Second || r.Burst != 5 {
		t.Errorf("write rule %v", r)
	}
	if strings.Contains(config.Masked(cfg), "jwt-secret") || strings.Contains(config.Masked(cfg), "internal-secret") {
		t.Error("secrets in the masked config")
	}
	if r := rules["webhook"]; r.Limit != 1200 || r.Period != time.Minute || r.Burst != 300 {
		t.Errorf("webhook rule %v", r)
	}
	var defaults Config
	if err := config.LoadFrom(context.Background(), &defaults, envconfig.MapLookuper(map[string]string{
		"PRINTFLEET_INTERNAL_SECRET": "internal-secret-0123456789",
		"PRINTFLEET_JWT_SECRET":      "jwt-secret-0123456789abcdef0123456789",
	})); err != nil {
		t.Fatal(err)
	}
	if rules, err := defaults.RateLimit.Rules(); err != nil || rules["webhook"].Limit != 600 || rules["webhook"].Period != time.Minute {
		t.Errorf("default webhook rule %v (%v)", rules["webhook"], err)
	}
	cfg.RateLimit.Webhook = "many"
	if _, err := cfg.RateLimit.Rules(); err == nil || !strings.Contains(err.Error(), "PRINTFLEET_RATELIMIT_WEBHOOK") {
		t.Errorf("bad webhook rule error %v", err)
	}
	cfg.RateLimit.Webhook = "600/1m"
	cfg.RateLimit.Write = "lots"
	if _, err := cfg.RateLimit.Rules(); err == nil || !strings.Contains(err.Error(), "PRINTFLEET_RATELIMIT_WRITE") {
		t.Errorf("bad rule error %v", err)
	}
}

// TestServe runs the process as main does, in front of upstreams that only
// answer health, and checks both listeners, then a clean stop.
func TestServe(t *testing.T) {
	const internal = "server-test-internal-secret-0123"
	signer, err := principal.NewSigner(internal)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	up := func(register func(*grpcserver.Server)) string {
		srv, err := grpcserver.New(grpcserver.Options{Signer: signer, Grace: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		register(srv)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { _ = srv.ServeOn(ctx, ln) })
		return ln.Addr().String()
	}
	httpAddr, adminAddr := runtest.FreeAddr(t), runtest.FreeAddr(t)
	for k, v := range map[string]string{
		"PRINTFLEET_HTTP_ADDR":       httpAddr,
		"PRINTFLEET_ADMIN_ADDR":      adminAddr,
		"PRINTFLEET_INTERNAL_SECRET": internal,
		"PRINTFLEET_JWT_SECRET":      "server-test-jwt-secret-0123456789abcdef",
		"PRINTFLEET_LOG_LEVEL":       "error",
		"PRINTFLEET_ORDERS_ADDR": up(func(s *grpcserver.Server) {
			ordersv1.RegisterOrderServiceServer(s, ordersv1.UnimplementedOrderServiceServer{})
		}),
		"PRINTFLEET_CATALOG_ADDR": up(func(s *grpcserver.Server) {
			catalogv1.RegisterCatalogServiceServer(s, catalogv1.UnimplementedCatalogServiceServer{})
		}),
		"PRINTFLEET_PRICING_ADDR": up(func(s *grpcserver.Server) {
			pricingv1.RegisterPricingServiceServer(s, pricingv1.UnimplementedPricingServiceServer{})
		}),
		"PRINTFLEET_WEBHOOKS_ADDR": up(func(s *grpcserver.Server) {
			webhooksv1.RegisterWebhookServiceServer(s, webhooksv1.UnimplementedWebhookServiceServer{})
		}),
		"PRINTFLEET_REDIS_ADDRS": runtest.FreeAddr(t), // nothing listens: the gateway must still serve
	} {
		t.Setenv(k, v)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run.Run(runCtx, "gateway", Serve) }()
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, body := get("http://" + httpAddr + "/readyz")
		if code == 200 {
			if !strings.Contains(body, `"redis":"unavailable"`) || !strings.Contains(body, `"degraded"`) {
				t.Fatalf("public readyz %s", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("public readyz %d %s", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, body := get("http://" + adminAddr + "/readyz"); code != 200 || !strings.Contains(body, "orders") {
		t.Fatalf("admin readyz %d %s", code, body)
	}
	if code, body := get("http://" + httpAddr + "/v1/products"); code != http.StatusNotImplemented {
		t.Fatalf("products %d %s", code, body)
	}
	if code, body := get("http://" + adminAddr + "/metrics"); code != 200 ||
		!strings.Contains(body, `printfleet_gateway_http_requests_total{code="5xx",method="GET",route="/v1/products"}`) ||
		!strings.Contains(body, `printfleet_gateway_ratelimit_decisions_total{class="default",decision="allowed",source="local"}`) {
		t.Fatalf("metrics %d:\n%s", code, grep(body, "printfleet_gateway"))
	}
	// The console is served, and ops (not dialled here: nothing listens on
	// its default address) is no readiness check.
	if code, body := get("http://" + httpAddr + "/console/login"); code != 200 || !strings.Contains(body, `name="token"`) {
		t.Fatalf("console sign-in %d %s", code, body)
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no clean stop")
	}
}

// TestServeConsoleKeyWithReplicas: several replicas need the console key
// they share (each would otherwise sign CSRF tokens with a key of its own).
func TestServeConsoleKeyWithReplicas(t *testing.T) {
	for k, v := range map[string]string{
		"PRINTFLEET_HTTP_ADDR":        runtest.FreeAddr(t),
		"PRINTFLEET_ADMIN_ADDR":       runtest.FreeAddr(t),
		"PRINTFLEET_INTERNAL_SECRET":  "server-test-internal-secret-0123",
		"PRINTFLEET_JWT_SECRET":       "server-test-jwt-secret-0123456789abcdef",
		"PRINTFLEET_LOG_LEVEL":        "error",
		"PRINTFLEET_GATEWAY_REPLICAS": "2",
		"PRINTFLEET_REDIS_ADDRS":      runtest.FreeAddr(t),
	} {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := run.Run(ctx, "gateway", Serve)
	if err == nil || !strings.Contains(err.Error(), "PRINTFLEET_GATEWAY_CONSOLE_KEY") {
		t.Fatalf("two replicas without a console key: %v", err)
	}
	t.Setenv("PRINTFLEET_GATEWAY_CONSOLE_KEY", "server-test-console-key-0123456789abcdef")
	ctx2, cancel2 := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run.Run(ctx2, "gateway", Serve) }()
	// With the key it serves: the console's sign-in page answers.
	for served := false; !served; {
		select {
		case err := <-done:
			cancel2()
			t.Fatalf("with a console key the gateway stopped: %v", err)
		case <-ctx.Done():
			cancel2()
			t.Fatal("the gateway did not serve within 20s")
		default:
		}
		if resp, err := http.Get("http://" + os.Getenv("PRINTFLEET_HTTP_ADDR") + "/console/login"); err == nil {
			resp.Body.Close()
			served = resp.StatusCode == http.StatusOK
		}
		if !served {
			time.Sleep(50 * time.Millisecond)
		}
	}
	cancel2()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

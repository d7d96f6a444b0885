package gateway_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/protobuf/proto"

	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	"github.com/printfleet/printfleet/services/catalog/projfmt"
	"github.com/printfleet/printfleet/services/gateway/internal/gateway"
	"github.com/printfleet/printfleet/services/gateway/internal/ratelimit"
	"github.com/printfleet/printfleet/services/orders/cachefmt"
)

// benchEnv is a gateway with the shared limiter on the local Redis (as
// deployed: every request is rate limited) in front of the fakes, with
// production log level. The handler is called in-process, so the figures are
// the gateway's own work plus the gRPC round trip to a fake upstream.
func benchEnv(b *testing.B, opts ...envOption) *env {
	b.Helper()
	rdb := newRedis("127.0.0.1:6379", time.Second)
	b.Cleanup(func() { _ = rdb.Close() })
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		b.Skipf("redis: %v", err)
	}
	buf := make([]byte, 6)
	_, _ = rand.Read(buf)
	prefix := "test:gateway:bench:" + hex.EncodeToString(buf) + ":"
	rule := ratelimit.Rule{Limit: 100_000_000, Period: time.Minute, Burst: 100_000_000}
	// As deployed without an exporter (platform/telemetry): trace context
	// without recorded spans.
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample())))
	b.Cleanup(func() { otel.SetTracerProvider(sdktrace.NewTracerProvider()) })
	return newEnv(b, append([]envOption{withQuietLogs(), func(s *envSetup) { s.level = "info" }, withLimiter(limiterFor(rdb, prefix, rule, time.Second))}, opts...)...)
}

func benchRequest(b *testing.B, e *env, method, path, body string, hdr map[string]string, want int) {
	b.Helper()
	h := e.gw.Handler()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			var req *http.Request
			if body != "" {
				req = httptest.NewRequest(method, path, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
			} else {
				req = httptest.NewRequest(method, path, nil)
			}
			for k, v := range hdr {
				req.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != want {
				b.Errorf("%s %s: %d %s", method, path, w.Code, w.Body)
				return
			}
		}
	})
}

func BenchmarkGetOrder(b *testing.B) {
	e := benchEnv(b)
	benchRequest(b, e, "GET", "/v1/orders/"+aliceOrder, "", bearer(mint(b, "alice", []string{"user"})), http.StatusOK)
}

// BenchmarkGetOrderCached is the owner's read answered from the orders cache
// (no call to orders).
func BenchmarkGetOrderCached(b *testing.B) {
	rdb := newRedis("127.0.0.1:6379", time.Second)
	b.Cleanup(func() { _ = rdb.Close() })
	buf := make([]byte, 6)
	_, _ = rand.Read(buf)
	prefix := "test:gateway:bench:orders:" + hex.EncodeToString(buf) + ":"
	f := startFakes(b, testSigner(b))
	wire, err := proto.Marshal(f.orders.order(aliceOrder, "alice", ordersv1.OrderStatus_ORDER_STATUS_PAID))
	if err != nil {
		b.Fatal(err)
	}
	if err := rdb.Set(context.Background(), cachefmt.Key(prefix, aliceOrder), "3:o:"+cachefmt.Encode([]byte("{}"), wire), time.Minute).Err(); err != nil {
		b.Skipf("redis: %v", err)
	}
	e := benchEnv(b, withFakes(f), withOptions(func(o *gateway.Options) {
		o.OrderCache = &gateway.OrderCache{Redis: rdb, Prefix: prefix}
	}))
	calls := f.orders.count()
	benchRequest(b, e, "GET", "/v1/orders/"+aliceOrder, "", bearer(mint(b, "alice", []string{"user"})), http.StatusOK)
	if f.orders.count() != calls {
		b.Fatalf("orders was called %d times", f.orders.count()-calls)
	}
}

func BenchmarkGetProduct(b *testing.B) {
	e := benchEnv(b)
	benchRequest(b, e, "GET", "/v1/products/"+productID, "", nil, http.StatusOK)
}

// BenchmarkGetProductProjected is the public product read answered from the
// catalog's projection (no call to the catalog).
func BenchmarkGetProductProjected(b *testing.B) {
	rdb := newRedis("127.0.0.1:6379", time.Second)
	b.Cleanup(func() { _ = rdb.Close() })
	buf := make([]byte, 6)
	_, _ = rand.Read(buf)
	prefix := "test:gateway:bench:products:" + hex.EncodeToString(buf)
	wire, err := proto.Marshal(product())
	if err != nil {
		b.Fatal(err)
	}
	key := projfmt.Key(prefix, productID)
	if err := rdb.HSet(context.Background(), key, projfmt.FieldVersion, "1", projfmt.FieldAPI, wire).Err(); err != nil {
		b.Skipf("redis: %v", err)
	}
	b.Cleanup(func() { _ = rdb.Del(context.Background(), key).Err() })
	f := startFakes(b, testSigner(b))
	e := benchEnv(b, withFakes(f), withOptions(func(o *gateway.Options) {
		o.ProductProjection = &gateway.ProductProjection{Redis: rdb, Prefix: prefix}
	}))
	calls := f.catalog.count()
	benchRequest(b, e, "GET", "/v1/products/"+productID, "", nil, http.StatusOK)
	if f.catalog.count() != calls {
		b.Fatalf("the catalog was called %d times", f.catalog.count()-calls)
	}
}

func BenchmarkQuote(b *testing.B) {
	e := benchEnv(b)
	benchRequest(b, e, "POST", "/v1/quotes",
		`{"items":[{"variant_id":"`+variantID+`","quantity":1}],"country_code":"US","currency":"USD"}`, nil, http.StatusOK)
}

// BenchmarkBareRedisGet is the yardstick of the budget: a bare net/http
// handler answering one Redis GET, called the same way.
func BenchmarkBareRedisGet(b *testing.B) {
	rdb := newRedis("127.0.0.1:6379", time.Second)
	b.Cleanup(func() { _ = rdb.Close() })
	key := "test:gateway:bench:bare:" + aliceOrder
	if err := rdb.Set(context.Background(), key, `{"id":"`+aliceOrder+`"}`, time.Minute).Err(); err != nil {
		b.Skipf("redis: %v", err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := rdb.Get(r.Context(), key).Bytes()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(v)
	})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", "/v1/orders/"+aliceOrder, nil))
			if w.Code != http.StatusOK {
				b.Errorf("%d", w.Code)
				return
			}
		}
	})
}

// Package gateway is the REST edge: a grpc-gateway mux over the orders,
// catalog, pricing and webhooks services, with authentication, authorization by route,
// the shared rate limit, request ids, deadlines, body limits, CORS, security
// headers, access logs, metrics, the API description and health endpoints.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	goredis "github.com/redis/go-redis/v9"
	"github.com/rs/cors"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"golang.org/x/sync/singleflight"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/printfleet/printfleet/platform/grpcclient"
	"github.com/printfleet/printfleet/platform/grpctls"
	"github.com/printfleet/printfleet/platform/principal"
	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	pricingv1 "github.com/printfleet/printfleet/proto/printfleet/pricing/v1"
	webhooksv1 "github.com/printfleet/printfleet/proto/printfleet/webhooks/v1"
	"github.com/printfleet/printfleet/services/gateway/internal/apidocs"
	"github.com/printfleet/printfleet/services/gateway/internal/auth"
	"github.com/printfleet/printfleet/services/gateway/internal/console"
	"github.com/printfleet/printfleet/services/gateway/internal/edge"
	"github.com/printfleet/printfleet/services/gateway/internal/policy"
	"github.com/printfleet/printfleet/services/gateway/internal/ratelimit"
)

// Upstreams are the gRPC targets of the services behind the gateway.
type Upstreams struct {
	Orders  string `env:"ORDERS_ADDR, default=127.0.0.1:9101"`
	Catalog string `env:"CATALOG_ADDR, default=127.0.0.1:9102"`
	Pricing string `env:"PRICING_ADDR, default=127.0.0.1:9103"`
	// Webhooks serves the sellers' outbound webhook subscriptions.
	Webhooks string `env:"WEBHOOKS_ADDR, default=127.0.0.1:9104"`
	// Ops serves the dead letters and the audit log to the operator
	// console (empty: not dialled; the console shows it unavailable). Not
	// a readiness check: the REST API does not need it.
	Ops string `env:"OPS_ADDR, default=127.0.0.1:9105"`
	// TLS secures the calls to the upstreams (mTLS with a certificate).
	TLS grpctls.Config `env:""`
}

// Conns are the client connections to the upstreams.
type Conns struct {
	Orders, Catalog, Pricing, Webhooks *grpc.ClientConn
	// Ops is nil when Upstreams.Ops is empty.
	Ops *grpc.ClientConn
}

// Close closes every connection.
func (c *Conns) Close() error {
	err := errors.Join(c.Orders.Close(), c.Catalog.Close(), c.Pricing.Close(), c.Webhooks.Close())
	if c.Ops != nil {
		err = errors.Join(err, c.Ops.Close())
	}
	return err
}

// Dial connects to the upstreams through platform/grpcclient; calls carry
// the principal signed by signer and count failures in m.
func Dial(u Upstreams, signer *principal.Signer, m *Metrics) (*Conns, error) {
	dial := func(service, target string) (*grpc.ClientConn, error) {
		return grpcclient.Dial(target, grpcclient.Options{Signer: signer, DefaultTimeout: 10 * time.Second, TLS: u.TLS},
			grpc.WithChainUnaryInterceptor(m.upstreamInterceptor(service)))
	}
	var c Conns
	var err error
	if c.Orders, err = dial("orders", u.Orders); err != nil {
		return nil, err
	}
	if c.Catalog, err = dial("catalog", u.Catalog); err != nil {
		_ = c.Orders.Close()
		return nil, err
	}
	if c.Pricing, err = dial("pricing", u.Pricing); err != nil {
		_ = c.Orders.Close()
		_ = c.Catalog.Close()
		return nil, err
	}
	if c.Webhooks, err = dial("webhooks", u.Webhooks); err != nil {
		_ = c.Orders.Close()
		_ = c.Catalog.Close()
		_ = c.Pricing.Close()
		return nil, err
	}
	if u.Ops != "" {
		if c.Ops, err = dial("ops", u.Ops); err != nil {
			_ = c.Orders.Close()
			_ = c.Catalog.Close()
			_ = c.Pricing.Close()
			_ = c.Webhooks.Close()
			return nil, err
		}
	}
	return &c, nil
}

// Options configure the gateway.
type Options struct {
	Log      *slog.Logger
	Signer   *principal.Signer
	Verifier *auth.Verifier
	Limiter  *ratelimit.Limiter
	Conns    *Conns
	Metrics  *Metrics
	// Redis is checked by /readyz (nil: not checked).
	Redis goredis.UniversalClient
	// RequireRedis makes Redis a blocking readiness check. Off by default:
	// the limiter falls back to in-process limits, so a Redis outage should
	// not take every gateway replica out of the load balancer.
	RequireRedis   bool
	DefaultTimeout time.Duration
	MaxTimeout     time.Duration
	MaxBodyBytes   int64
	CORSOrigins    []string
	// TrustedProxies are the peers whose X-Forwarded-For is believed when
	// finding the client address of an anonymous caller.
	TrustedProxies []netip.Prefix
	// OrderCache, when set, answers an owner's cached order without a call
	// to orders.
	OrderCache *OrderCache
	// ProductProjection, when set, answers public product reads from the
	// catalog's projection without a call to the catalog.
	ProductProjection *ProductProjection
	// CarrierSecret verifies the carriers' signed tracking updates (POST
	// /v1/carrier-updates); empty: the route answers 404.
	CarrierSecret string
	// Console, when set, serves /console and everything under it (the
	// operator console, with its own authorization and security headers);
	// it is outside the REST policy table and the rate limit.
	Console http.Handler
}

// useStrictQuery installs strictQuery as grpc-gateway's query parser.
var useStrictQuery sync.Once

// Gateway is the REST edge.
type Gateway struct {
	o       Options
	mux     *runtime.ServeMux
	catalog catalogv1.CatalogServiceClient
	orders  ordersv1.OrderServiceClient
	handler http.Handler
	openapi []byte
	docs    *apidocs.Docs
	checks  []check

	ready       atomic.Pointer[readyAnswer]
	readyFlight singleflight.Group
	// warnNoProxies logs once that the gateway looks to be behind a proxy it
	// does not trust.
	warnNoProxies sync.Once
}

type check struct {
	name     string
	blocking bool
	fn       func(context.Context) error
}

// New builds the gateway and registers the generated handlers.
func New(ctx context.Context, o Options) (*Gateway, error) {
	switch {
	case o.Signer == nil, o.Verifier == nil, o.Limiter == nil, o.Conns == nil, o.Metrics == nil:
		return nil, errors.New("gateway: signer, verifier, limiter, conns and metrics are required")
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.DefaultTimeout <= 0 {
		o.DefaultTimeout = 10 * time.Second
	}
	if o.MaxTimeout < o.DefaultTimeout {
		o.MaxTimeout = max(30*time.Second, o.DefaultTimeout)
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.OrderCache != nil {
		o.OrderCache.defaults()
	}
	if o.ProductProjection != nil {
		o.ProductProjection.defaults()
	}
	doc, err := apidocs.Document(policy.Routes)
	if err != nil {
		return nil, err
	}
	docs, err := apidocs.NewDocs("/docs", "/openapi.json")
	if err != nil {
		return nil, err
	}
	g := &Gateway{o: o, openapi: doc, docs: docs, catalog: catalogv1.NewCatalogServiceClient(o.Conns.Catalog),
		orders: ordersv1.NewOrderServiceClient(o.Conns.Orders)}
	g.checks = []check{
		{name: "orders", blocking: true, fn: serving(o.Conns.Orders, ordersv1.OrderService_ServiceDesc.ServiceName)},
		{name: "catalog", blocking: true, fn: serving(o.Conns.Catalog, catalogv1.CatalogService_ServiceDesc.ServiceName)},
		{name: "pricing", blocking: true, fn: serving(o.Conns.Pricing, pricingv1.PricingService_ServiceDesc.ServiceName)},
		// Reported, not blocking: without the webhooks service only the
		// /v1/webhooks routes fail (503); orders keep flowing, and the
		// notices wait in their queue.
		{name: "webhooks", blocking: false, fn: serving(o.Conns.Webhooks, webhooksv1.WebhookService_ServiceDesc.ServiceName)},
	}
	if o.Redis != nil {
		rdb := o.Redis
		g.checks = append(g.checks, check{name: "redis", blocking: o.RequireRedis, fn: func(ctx context.Context) error {
			return rdb.Ping(ctx).Err()
		}})
	}

	useStrictQuery.Do(func() {
		// grpc-gateway keeps the query parser in a package variable that
		// the option sets; set it once, before any mux of ours serves.
		runtime.NewServeMux(runtime.SetQueryParameterParser(&strictQuery{}))
	})
	g.mux = runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, moneyJSON{&runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitDefaultValues: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}}),
		runtime.WithIncomingHeaderMatcher(incomingHeader),
		runtime.WithOutgoingHeaderMatcher(dropHeader),
		runtime.WithOutgoingTrailerMatcher(dropHeader),
		runtime.WithMetadata(g.annotate),
		runtime.WithErrorHandler(g.handleError),
		runtime.WithRoutingErrorHandler(g.routingError),
		runtime.WithForwardResponseOption(created),
		runtime.WithMiddlewares(g.route),
		runtime.WithDisablePathLengthFallback(),
		runtime.WithDisableHTTPMethodOverride(),
	)
	if err := ordersv1.RegisterOrderServiceHandler(ctx, g.mux, o.Conns.Orders); err != nil {
		return nil, fmt.Errorf("register orders: %w", err)
	}
	if err := catalogv1.RegisterCatalogServiceHandler(ctx, g.mux, o.Conns.Catalog); err != nil {
		return nil, fmt.Errorf("register catalog: %w", err)
	}
	if err := pricingv1.RegisterPricingServiceHandler(ctx, g.mux, o.Conns.Pricing); err != nil {
		return nil, fmt.Errorf("register pricing: %w", err)
	}
	if err := webhooksv1.RegisterWebhookServiceHandler(ctx, g.mux, o.Conns.Webhooks); err != nil {
		return nil, fmt.Errorf("register webhooks: %w", err)
	}
	for _, p := range []struct {
		path string
		h    runtime.HandlerFunc
	}{
		{"/healthz", g.healthz},
		{"/readyz", g.readyz},
		{"/openapi.json", g.serveOpenAPI},
		{"/docs", g.serveDocs},
		{"/docs/{path=**}", g.serveDocs},
	} {
		if err := g.mux.HandlePath(http.MethodGet, p.path, p.h); err != nil {
			return nil, fmt.Errorf("register %s: %w", p.path, err)
		}
	}
	// The marketplaces' webhooks are plain handlers too: no gRPC method has
	// their shape (a raw body and the marketplace's headers).
	if err := g.mux.HandlePath(http.MethodPost, policy.ShopifyWebhook, g.shopifyWebhook); err != nil {
		return nil, fmt.Errorf("register %s: %w", policy.ShopifyWebhook, err)
	}
	if err := g.mux.HandlePath(http.MethodPost, policy.CarrierUpdates, g.carrierUpdate); err != nil {
		return nil, fmt.Errorf("register %s: %w", policy.CarrierUpdates, err)
	}
	g.handler = g.chain(g.mux)
	return g, nil
}

// Handler is the gateway's HTTP handler.
func (g *Gateway) Handler() http.Handler { return g.handler }

// OpenAPI is the served API description.
func (g *Gateway) OpenAPI() []byte { return g.openapi }

// Checks are the readiness checks that gate traffic, for the admin port.
func (g *Gateway) Checks() map[string]func(context.Context) error {
	m := map[string]func(context.Context) error{}
	for _, c := range g.checks {
		if c.blocking {
			m[c.name] = c.fn
		}
	}
	return m
}

// consoleMaxBody bounds a console request's body (its forms are small).
const consoleMaxBody = 64 << 10

// chain wraps the mux in the edge middlewares, outermost last. The console
// shares the outer ones (request id, security headers, which it completes
// with its own policy, access log and metrics, recovery) and has its own
// deadline and body limit, and no CORS.
func (g *Gateway) chain(h http.Handler) http.Handler {
	h = stripInternalHeaders(h)
	h = edge.Deadlines(g.o.DefaultTimeout, g.o.MaxTimeout)(h)
	h = edge.BodyLimit(g.o.MaxBodyBytes)(h)
	if len(g.o.CORSOrigins) > 0 {
		h = cors.New(cors.Options{
			AllowedOrigins:   g.o.CORSOrigins,
			AllowedMethods:   []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete},
			AllowedHeaders:   []string{"Authorization", "Content-Type", "Idempotency-Key", "X-Request-Id", "X-Request-Timeout", "Grpc-Timeout"},
			ExposedHeaders:   []string{"X-Request-Id", "Location", "Retry-After", "RateLimit", "RateLimit-Policy"},
			AllowCredentials: false,
			MaxAge:           600,
		}).Handler(h)
	}
	if g.o.Console != nil {
		api := h
		con := stripInternalHeaders(g.o.Console)
		con = edge.Deadlines(g.o.DefaultTimeout, g.o.MaxTimeout)(con)
		con = edge.BodyLimit(consoleMaxBody)(con)
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if console.Handles(r.URL.Path) {
				con.ServeHTTP(w, r)
				return
			}
			api.ServeHTTP(w, r)
		})
	}
	h = edge.Recover(g.o.Log)(h)
	h = edge.Observe(g.o.Log, g.o.Metrics.HTTP)(h)
	h = edge.SecurityHeaders(g.docs.CSP)(h)
	h = edge.RequestID(h)
	return otelhttp.NewHandler(h, "gateway",
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()), // RED metrics are ours, by route template
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return "HTTP " + edge.MethodLabel(r.Method) }),
	)
}

// stripInternalHeaders drops headers a client must never set: the signed
// principal travels as x-printfleet-* metadata, and Grpc-Metadata-* would be
// forwarded by grpc-gateway's default matcher.
func stripInternalHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k := range r.Header {
			lk := strings.ToLower(k)
			if strings.HasPrefix(lk, "x-printfleet-") || strings.HasPrefix(lk, "grpc-metadata-") {
				r.Header.Del(k)
			}
		}
		next.ServeHTTP(w, r)
	})
}

// incomingHeader forwards only Idempotency-Key as metadata; the principal,
// request id and trace context are added by the gateway itself.
func incomingHeader(key string) (string, bool) {
	if strings.EqualFold(key, "Idempotency-Key") {
		return principal.MDIdempotencyKey, true
	}
	return "", false
}

// dropHeader keeps upstream metadata away from clients.
func dropHeader(string) (string, bool) { return "", false }

func serving(cc *grpc.ClientConn, service string) func(context.Context) error {
	client := healthpb.NewHealthClient(cc)
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			return fmt.Errorf("health %s: %w", service, err)
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			return fmt.Errorf("health %s: %s", service, resp.GetStatus())
		}
		return nil
	}
}

// Package console is the operator console the gateway serves at /console:
// server-rendered pages (html/template, embedded) for the admin and support
// roles over the services' gRPC APIs — orders and their whole way, stuck
// and held work, dead letters with their actions, stores' health, the audit
// log and live figures. Every upstream call carries the operator's
// principal, so the services enforce the roles too; the console never
// touches a database or Redis.
//
// Security: a strict Content-Security-Policy (no inline script or style, no
// third-party origin but the configured image origins), an HttpOnly,
// SameSite=Strict session cookie holding the operator's bearer token
// (expiring with it), a CSRF token bound to that session on every form
// (HMAC of the session under the console key), cross-origin POSTs refused,
// and a fresh action id in every action form so a double submit does
// nothing twice.
package console

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/principal"
	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	opsv1 "github.com/printfleet/printfleet/proto/printfleet/ops/v1"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	webhooksv1 "github.com/printfleet/printfleet/proto/printfleet/webhooks/v1"
	"github.com/printfleet/printfleet/services/gateway/internal/edge"
)

// Config is the console's part of the gateway's environment.
type Config struct {
	// Key signs the console's CSRF tokens. Required outside development;
	// in development an empty key is replaced by a random one per process,
	// which only works with one gateway replica.
	Key config.Secret `env:"GATEWAY_CONSOLE_KEY"`
	// TraceURL links an order to its trace: "{trace_id}" is replaced by the
	// order's trace id (e.g. http://jaeger:16686/trace/{trace_id}). Empty:
	// the console shows the id.
	TraceURL string `env:"GATEWAY_CONSOLE_TRACE_URL"`
	// Metrics are the admin /metrics URLs the live figures scrape, as
	// name=url pairs (orders=http://127.0.0.1:9201/metrics,...).
	Metrics []string `env:"GATEWAY_CONSOLE_METRICS"`
	// ImageOrigins are the origins the presigned S3 links (thumbnails,
	// previews, print files, mockups) point to; the Content-Security-Policy
	// allows images from them and nothing else outside the gateway.
	ImageOrigins []string `env:"GATEWAY_CONSOLE_IMAGE_ORIGINS"`
	// SampleEvery is the live figures' background sampling period while
	// someone looks; SampleFloor the least time between two on-demand
	// samples.
	SampleEvery time.Duration `env:"GATEWAY_CONSOLE_SAMPLE_EVERY, default=10s"`
	SampleFloor time.Duration `env:"GATEWAY_CONSOLE_SAMPLE_FLOOR, default=2s"`
}

// MinKeyLen is the shortest console key accepted.
const MinKeyLen = 32

// CheckEnv requires a console key of its own outside development.
func (c Config) CheckEnv(env string) error {
	if !config.Deployed(env) {
		return nil
	}
	if len(c.Key.Reveal()) < MinKeyLen {
		return fmt.Errorf("PRINTFLEET_GATEWAY_CONSOLE_KEY is required outside development (at least %d bytes)", MinKeyLen)
	}
	return nil
}

// Validate checks the parts CheckEnv does not: the trace URL, the image
// origins and the metrics targets.
func (c Config) Validate() error {
	if c.TraceURL != "" {
		u, err := url.Parse(c.TraceURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || !strings.Contains(c.TraceURL, "{trace_id}") {
			return errors.New("PRINTFLEET_GATEWAY_CONSOLE_TRACE_URL must be an http(s) URL containing {trace_id}")
		}
	}
	for _, o := range c.ImageOrigins {
		if _, err := imageOrigin(o); err != nil {
			return fmt.Errorf("PRINTFLEET_GATEWAY_CONSOLE_IMAGE_ORIGINS: %w", err)
		}
	}
	if _, err := ParseTargets(c.Metrics); err != nil {
		return fmt.Errorf("PRINTFLEET_GATEWAY_CONSOLE_METRICS: %w", err)
	}
	return nil
}

// imageOrigin normalises an origin ("scheme://host[:port]").
func imageOrigin(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return "", fmt.Errorf("%q is not an origin (scheme://host[:port])", s)
	}
	return u.Scheme + "://" + u.Host, nil
}

// The upstream calls the console makes; the generated clients satisfy them.

// Orders is what the console asks of the orders service.
type Orders interface {
	GetOrder(ctx context.Context, in *ordersv1.GetOrderRequest, opts ...grpc.CallOption) (*ordersv1.Order, error)
	ListOrders(ctx context.Context, in *ordersv1.ListOrdersRequest, opts ...grpc.CallOption) (*ordersv1.ListOrdersResponse, error)
	ListOrderEvents(ctx context.Context, in *ordersv1.ListOrderEventsRequest, opts ...grpc.CallOption) (*ordersv1.ListOrderEventsResponse, error)
	ListStuckOrders(ctx context.Context, in *ordersv1.ListStuckOrdersRequest, opts ...grpc.CallOption) (*ordersv1.ListStuckOrdersResponse, error)
	ListStoreActivity(ctx context.Context, in *ordersv1.ListStoreActivityRequest, opts ...grpc.CallOption) (*ordersv1.ListStoreActivityResponse, error)
}

// Catalog is what the console asks of the catalog.
type Catalog interface {
	ListStores(ctx context.Context, in *catalogv1.ListStoresRequest, opts ...grpc.CallOption) (*catalogv1.ListStoresResponse, error)
	GetDesign(ctx context.Context, in *catalogv1.GetDesignRequest, opts ...grpc.CallOption) (*catalogv1.Design, error)
	SignRenderLinks(ctx context.Context, in *catalogv1.SignRenderLinksRequest, opts ...grpc.CallOption) (*catalogv1.SignRenderLinksResponse, error)
}

// Webhooks is what the console asks of the webhooks service.
type Webhooks interface {
	ListOrderDeliveries(ctx context.Context, in *webhooksv1.ListOrderDeliveriesRequest, opts ...grpc.CallOption) (*webhooksv1.ListDeliveriesResponse, error)
}

// Ops is what the console asks of the ops service.
type Ops interface {
	ListQueues(ctx context.Context, in *opsv1.ListQueuesRequest, opts ...grpc.CallOption) (*opsv1.ListQueuesResponse, error)
	ListDeadLetters(ctx context.Context, in *opsv1.ListDeadLettersRequest, opts ...grpc.CallOption) (*opsv1.ListDeadLettersResponse, error)
	GetDeadLetter(ctx context.Context, in *opsv1.GetDeadLetterRequest, opts ...grpc.CallOption) (*opsv1.DeadLetter, error)
	ReplayDeadLetter(ctx context.Context, in *opsv1.ReplayDeadLetterRequest, opts ...grpc.CallOption) (*opsv1.ActionResult, error)
	ReplayQueue(ctx context.Context, in *opsv1.ReplayQueueRequest, opts ...grpc.CallOption) (*opsv1.ActionResult, error)
	DiscardDeadLetter(ctx context.Context, in *opsv1.DiscardDeadLetterRequest, opts ...grpc.CallOption) (*opsv1.ActionResult, error)
	ListAudit(ctx context.Context, in *opsv1.ListAuditRequest, opts ...grpc.CallOption) (*opsv1.ListAuditResponse, error)
}

// Verifier checks an operator's bearer token (the gateway's auth.Verifier).
type Verifier interface {
	Verify(ctx context.Context, raw string) (principal.Principal, error)
}

// Options configure the console.
type Options struct {
	Config   Config
	Log      *slog.Logger
	Verifier Verifier
	Orders   Orders
	Catalog  Catalog
	Webhooks Webhooks
	Ops      Ops
	// Gateway gathers the gateway's own metrics (the create p99).
	Gateway Gatherer
	// TrustedProxies are the peers whose X-Forwarded-Proto is believed.
	TrustedProxies []netip.Prefix
	// HTTPClient scrapes the metrics targets (nil: a 2s-timeout client).
	HTTPClient *http.Client
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Console is the operator console's HTTP handler.
type Console struct {
	o       Options
	key     []byte
	csp     string
	pages   *pages
	figures *Figures
	handler http.Handler
}

// Prefix is where the gateway mounts the console.
const Prefix = "/console"

// New builds the console. ctx ends the figures' background sampling.
func New(ctx context.Context, o Options) (*Console, error) {
	if o.Verifier == nil || o.Orders == nil || o.Catalog == nil || o.Webhooks == nil || o.Ops == nil {
		return nil, errors.New("console: verifier, orders, catalog, webhooks and ops are required")
	}
	if err := o.Config.Validate(); err != nil {
		return nil, err
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	key := []byte(o.Config.Key.Reveal())
	if len(key) == 0 {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("console key: %w", err)
		}
	}
	targets, _ := ParseTargets(o.Config.Metrics)
	pg, err := parsePages()
	if err != nil {
		return nil, err
	}
	c := &Console{o: o, key: key, csp: CSP(o.Config.ImageOrigins), pages: pg}
	c.figures = NewFigures(ctx, FiguresOptions{
		Targets: targets, Gateway: o.Gateway, Client: o.HTTPClient, Log: o.Log, Now: o.Now,
		Every: o.Config.SampleEvery, Floor: o.Config.SampleFloor,
	})
	c.handler = c.routes()
	return c, nil
}

// CSP is the console's Content-Security-Policy: scripts and styles from the
// gateway only (no inline ones), images from the gateway and the S3
// origins, forms posting to the gateway only, never framed.
func CSP(imageOrigins []string) string {
	img := "'self'"
	for _, o := range imageOrigins {
		if n, err := imageOrigin(o); err == nil {
			img += " " + n
		}
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src " + img +
		"; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}

// ServeHTTP serves /console and everything under it.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.handler.ServeHTTP(w, r) }

// Handles reports whether path belongs to the console.
func Handles(path string) bool { return path == Prefix || strings.HasPrefix(path, Prefix+"/") }

// routes builds the console's mux: reads for admin and support, actions for
// admin, every POST behind the CSRF check and the cross-origin check.
func (c *Console) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h http.HandlerFunc) {
		route := pattern[strings.Index(pattern, " ")+1:]
		mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			edge.InfoFrom(r.Context()).Route = route
			h(w, r)
		}))
	}
	handle("GET /console/static/{file}", c.static)
	handle("GET /console/login", c.loginPage)
	handle("POST /console/login", c.login)
	handle("POST /console/logout", c.logout)

	handle("GET /console", c.read(c.overview))
	handle("GET /console/{$}", c.read(c.overview))
	handle("GET /console/orders", c.read(c.searchOrders))
	handle("GET /console/orders/{order_id}", c.read(c.orderPage))
	handle("GET /console/stuck", c.read(c.stuckPage))
	handle("GET /console/dead-letters", c.read(c.deadLettersPage))
	handle("GET /console/dead-letters/{id}", c.read(c.deadLetterPage))
	handle("GET /console/stores", c.read(c.storesPage))
	handle("GET /console/audit", c.read(c.auditPage))

	handle("POST /console/dead-letters/{id}/replay", c.act(c.replay))
	handle("POST /console/dead-letters/{id}/discard", c.act(c.discard))
	handle("POST /console/queues/{queue}/replay", c.act(c.replayQueue))

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.renderStatus(w, r, http.StatusForbidden, "Refused", "Cross-origin requests are refused.")
	}))
	inner := cop.Handler(mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", c.csp)
		h.Set("Cache-Control", "no-store")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		inner.ServeHTTP(w, r)
	})
}

// Unavailable is the Ops of a gateway without an ops address: every call
// answers UNAVAILABLE, so the console's dead-letter pages say so.
type Unavailable struct{}

var errOpsUnavailable = status.Error(codes.Unavailable, "ops service not configured")

func (Unavailable) ListQueues(context.Context, *opsv1.ListQueuesRequest, ...grpc.CallOption) (*opsv1.ListQueuesResponse, error) {
	return nil, errOpsUnavailable
}

func (Unavailable) ListDeadLetters(context.Context, *opsv1.ListDeadLettersRequest, ...grpc.CallOption) (*opsv1.ListDeadLettersResponse, error) {
	return nil, errOpsUnavailable
}

func (Unavailable) GetDeadLetter(context.Context, *opsv1.GetDeadLetterRequest, ...grpc.CallOption) (*opsv1.DeadLetter, error) {
	return nil, errOpsUnavailable
}

func (Unavailable) ReplayDeadLetter(context.Context, *opsv1.ReplayDeadLetterRequest, ...grpc.CallOption) (*opsv1.ActionResult, error) {
	return nil, errOpsUnavailable
}

func (Unavailable) ReplayQueue(context.Context, *opsv1.ReplayQueueRequest, ...grpc.CallOption) (*opsv1.ActionResult, error) {
	return nil, errOpsUnavailable
}

func (Unavailable) DiscardDeadLetter(context.Context, *opsv1.DiscardDeadLetterRequest, ...grpc.CallOption) (*opsv1.ActionResult, error) {
	return nil, errOpsUnavailable
}

func (Unavailable) ListAudit(context.Context, *opsv1.ListAuditRequest, ...grpc.CallOption) (*opsv1.ListAuditResponse, error) {
	return nil, errOpsUnavailable
}

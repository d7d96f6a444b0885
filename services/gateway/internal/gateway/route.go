package gateway

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/principal"
	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	pricingv1 "github.com/printfleet/printfleet/proto/printfleet/pricing/v1"
	webhooksv1 "github.com/printfleet/printfleet/proto/printfleet/webhooks/v1"
	"github.com/printfleet/printfleet/services/gateway/internal/auth"
	"github.com/printfleet/printfleet/services/gateway/internal/edge"
	"github.com/printfleet/printfleet/services/gateway/internal/policy"
)

// route runs once grpc-gateway has matched a route: it names the route for
// logs, metrics and the span, authenticates (except on routes that take no
// token, whose caller is anonymous whatever it sends), rate-limits and
// authorizes by the policy table, then hands the request (with the principal
// in its context and without the Authorization header) to the generated
// handler.
func (g *Gateway) route(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		ctx := r.Context()
		info := edge.InfoFrom(ctx)
		pat, _ := runtime.HTTPPattern(ctx)
		tmpl := policy.Template(pat.String())
		info.Route = tmpl
		span := trace.SpanFromContext(ctx)
		span.SetName(r.Method + " " + tmpl)
		span.SetAttributes(attribute.String("http.route", tmpl))

		rt, ok := policy.Lookup(r.Method, tmpl)
		if !ok {
			// A registered route the table does not know: refuse rather
			// than guess who may call it.
			g.o.Log.ErrorContext(ctx, "route missing from the policy table", "method", r.Method, "route", tmpl)
			edge.WriteError(w, r, http.StatusInternalServerError, "INTERNAL", "internal error", nil)
			return
		}
		p, authErr := principal.Anonymous, error(nil)
		if !rt.NoToken {
			p, authErr = g.authenticate(ctx, r)
		}
		if rt.Class != "" {
			if d, ok := g.o.Limiter.Allow(ctx, rt.Class, g.limitKey(p, authErr, r)); ok {
				d.SetHeaders(w.Header())
				if !d.Allowed {
					edge.WriteError(w, r, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED",
						fmt.Sprintf("rate limit exceeded for %q requests; retry after %s seconds", rt.Class, w.Header().Get("Retry-After")), nil)
					return
				}
			}
		}
		if authErr != nil {
			unauthorized(w, r, authErr)
			return
		}
		if !rt.Allows(p) {
			if !p.Authenticated() {
				unauthorized(w, r, nil)
				return
			}
			edge.WriteError(w, r, http.StatusForbidden, "PERMISSION_DENIED",
				"this operation needs the role "+strings.Join(rt.Roles, " or "), nil)
			return
		}
		if v := r.Header.Values("Idempotency-Key"); len(v) > 1 || (len(v) == 1 && !saneIdempotencyKey(v[0])) {
			edge.WriteError(w, r, http.StatusBadRequest, "INVALID_ARGUMENT",
				"Idempotency-Key must be one value of 1 to 255 printable ASCII characters", nil)
			return
		}
		r.Header.Del("Authorization")
		info.Subject = p.Subject
		if r.Method == http.MethodGet {
			switch {
			case tmpl == orderRoute && g.serveCachedOrder(w, r, p, params["order_id"]),
				tmpl == productRoute && g.serveProjectedProduct(w, r, p, params["product_id"]):
				return
			}
		}
		next(w, r.WithContext(principal.With(ctx, p)), params)
	}
}

func saneIdempotencyKey(k string) bool {
	if k == "" || len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// authenticate returns the caller: Anonymous without a token, an error for a
// token that does not verify.
func (g *Gateway) authenticate(ctx context.Context, r *http.Request) (principal.Principal, error) {
	tok, err := auth.BearerToken(r)
	if errors.Is(err, auth.ErrNoToken) {
		return principal.Anonymous, nil
	}
	if err != nil {
		return principal.Anonymous, err
	}
	p, err := g.o.Verifier.Verify(ctx, tok)
	if err != nil {
		g.o.Log.DebugContext(ctx, "token rejected", "err", err.Error())
		return principal.Anonymous, err
	}
	return p, nil
}

// unauthorized answers 401 with an RFC 6750 challenge.
func unauthorized(w http.ResponseWriter, r *http.Request, err error) {
	challenge := `Bearer realm="printfleet"`
	msg := "a bearer token is required"
	var ae *auth.Error
	if errors.As(err, &ae) {
		challenge += fmt.Sprintf(`, error="invalid_token", error_description=%q`, ae.Description)
		msg = ae.Description
	}
	w.Header().Set("WWW-Authenticate", challenge)
	edge.WriteError(w, r, http.StatusUnauthorized, "UNAUTHENTICATED", msg, nil)
}

// limitKey is the caller's rate-limit identity: the subject, or the client
// address (an IPv6 client by its /64) when anonymous or not authenticated.
func (g *Gateway) limitKey(p principal.Principal, authErr error, r *http.Request) string {
	if authErr == nil && p.Authenticated() {
		return "sub:" + p.Subject
	}
	ip := g.clientIP(r)
	if ip.Is6() && !ip.Is4In6() {
		pfx, _ := ip.Prefix(64)
		return "ip6:" + pfx.String()
	}
	return "ip:" + ip.Unmap().String()
}

// clientIP is the peer address, or, when the peer is a trusted proxy, the
// right-most X-Forwarded-For address that is not a trusted proxy.
func (g *Gateway) clientIP(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.IPv4Unspecified()
	}
	if !g.trusted(ip) {
		if len(g.o.TrustedProxies) == 0 && r.Header.Get("X-Forwarded-For") != "" {
			g.warnNoProxies.Do(func() {
				g.o.Log.Warn("requests carry X-Forwarded-For but PRINTFLEET_TRUSTED_PROXIES is empty: behind an ingress or load balancer every client shares its address for rate limiting and logs; set PRINTFLEET_TRUSTED_PROXIES to its addresses",
					"peer", ip.String())
			})
		}
		return ip
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if !g.trusted(hop) {
			return hop
		}
		ip = hop
	}
	return ip
}

func (g *Gateway) trusted(ip netip.Addr) bool {
	for _, p := range g.o.TrustedProxies {
		if p.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

// annotate adds the principal, signed for the upstream method only, and the
// request id to the upstream call's metadata (the trace context is added by
// the client's otelgrpc handler, the Idempotency-Key by the header matcher).
func (g *Gateway) annotate(ctx context.Context, _ *http.Request) metadata.MD {
	method, _ := runtime.RPCMethod(ctx)
	signed := g.o.Signer.Outgoing(context.Background(), method, principal.From(ctx), edge.InfoFrom(ctx).RequestID)
	md, _ := metadata.FromOutgoingContext(signed)
	return md
}

// createdMethods answer 201 Created with a Location naming the created
// resource, built from the response (so that an idempotent replay, which
// answers the stored response, names the same resource).
var createdMethods = map[string]func(proto.Message) string{
	"/printfleet.orders.v1.OrderService/CreateOrder": func(m proto.Message) string {
		return resource("/v1/orders", as[*ordersv1.Order](m).GetId())
	},
	// A shipment is read through its order's shipments.
	"/printfleet.orders.v1.OrderService/CreateShipment": func(m proto.Message) string {
		if id := as[*ordersv1.Shipment](m).GetOrderId(); id != "" {
			return resource("/v1/orders", id) + "/shipments"
		}
		return ""
	},
	"/printfleet.catalog.v1.CatalogService/CreateProduct": func(m proto.Message) string {
		return resource("/v1/products", as[*catalogv1.Product](m).GetId())
	},
	"/printfleet.catalog.v1.CatalogService/CreateDesign": func(m proto.Message) string {
		return resource("/v1/designs", as[*catalogv1.CreateDesignResponse](m).GetDesign().GetId())
	},
	"/printfleet.catalog.v1.CatalogService/CreateStore": func(m proto.Message) string {
		return resource("/v1/stores", as[*catalogv1.Store](m).GetId())
	},
	"/printfleet.catalog.v1.CatalogService/CreateListing": func(m proto.Message) string {
		l := as[*catalogv1.Listing](m)
		if l.GetStoreId() == "" {
			return ""
		}
		return resource(resource("/v1/stores", l.GetStoreId())+"/listings", l.GetId())
	},
	"/printfleet.webhooks.v1.WebhookService/CreateWebhook": func(m proto.Message) string {
		return resource("/v1/webhooks", as[*webhooksv1.Webhook](m).GetId())
	},
	"/printfleet.pricing.v1.PricingService/CreateCoupon": func(m proto.Message) string {
		return resource("/v1/coupons", as[*pricingv1.Coupon](m).GetCode())
	},
}

// resource is collection/id with id escaped, or "" without an id.
func resource(collection, id string) string {
	if id == "" {
		return ""
	}
	return collection + "/" + url.PathEscape(id)
}

func created(ctx context.Context, w http.ResponseWriter, resp proto.Message) error {
	m, ok := runtime.RPCMethod(ctx)
	if !ok {
		return nil
	}
	loc, ok := createdMethods[m]
	if !ok {
		return nil
	}
	if l := loc(resp); l != "" {
		w.Header().Set("Location", l)
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

// CreatedMethods are the gRPC methods (full names) whose REST routes answer
// 201 Created with a Location header; the OpenAPI document says so.
func CreatedMethods() []string {
	return slices.Sorted(maps.Keys(createdMethods))
}

// as is m as a T, or T's nil (whose getters answer zero values) when m is
// not a T.
func as[T proto.Message](m proto.Message) T {
	t, _ := m.(T)
	return t
}

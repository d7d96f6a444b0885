// Package policy is the gateway's route table: for every REST route (method
// and path template, as grpc-gateway reports it) who may call it and which
// rate-limit class it counts against. It is the one place where edge
// authorization is decided; ownership ("anyone else gets 404") is checked by
// the services, which answer NOT_FOUND for objects that are not the caller's.
package policy

import (
	"slices"
	"strings"

	"github.com/printfleet/printfleet/platform/principal"
)

// Rate-limit classes. A route with an empty class is not rate limited.
const (
	ClassDefault = "default"
	ClassWrite   = "write"
	// ClassWebhook counts the marketplaces' webhook deliveries, by client
	// address: a marketplace sends them in bursts, so the class has a
	// higher limit of its own.
	ClassWebhook = "webhook"
)

// ShopifyWebhook is the template of the public route Shopify delivers a
// store's webhooks to.
const ShopifyWebhook = "/v1/marketplaces/shopify/stores/{store_id}/webhooks"

// CarrierUpdates is the template of the public route carriers post their
// signed tracking updates to.
const CarrierUpdates = "/v1/carrier-updates"

// Route is one entry of the table.
type Route struct {
	Method   string
	Template string
	// Public routes need no token. A token that is presented anyway must be
	// valid.
	Public bool
	// Roles lists the roles of which the caller needs at least one.
	Roles []string
	// Owner marks routes on objects that belong to a user: the service hides
	// other users' objects behind NOT_FOUND (404).
	Owner bool
	// Class is the rate-limit class ("" = not limited).
	Class string
	// Edge marks routes the gateway serves itself (health, API docs, the
	// marketplaces' webhooks), not a gRPC method.
	Edge bool
	// NoToken marks public routes that take no bearer token at all: an
	// Authorization header is ignored, neither verified nor forwarded. The
	// marketplaces' webhooks are authenticated by their own signature.
	NoToken bool
}

// Allows reports whether p may call r (ignoring ownership).
func (r Route) Allows(p principal.Principal) bool {
	if r.Public {
		return true
	}
	if !p.Authenticated() {
		return false
	}
	return slices.ContainsFunc(r.Roles, p.Has)
}

var (
	userOrAdmin        = []string{principal.RoleUser, principal.RoleAdmin}
	admin              = []string{principal.RoleAdmin}
	fulfillmentOrAdmin = []string{principal.RoleFulfillment, principal.RoleAdmin}
	// userOrFulfillmentOrAdmin: the owner reads (Owner applies to users),
	// and so do the people who pack and ship.
	userOrFulfillmentOrAdmin = []string{principal.RoleUser, principal.RoleFulfillment, principal.RoleAdmin}
)

// Routes is the REST surface of DESIGN.md "Public REST surface (v1)".
var Routes = []Route{
	{Method: "POST", Template: "/v1/orders", Roles: userOrAdmin, Class: ClassWrite},
	{Method: "GET", Template: "/v1/orders/{order_id}", Roles: userOrAdmin, Owner: true, Class: ClassDefault},
	{Method: "GET", Template: "/v1/orders", Roles: userOrAdmin, Class: ClassDefault},
	{Method: "POST", Template: "/v1/orders/{order_id}:cancel", Roles: userOrAdmin, Owner: true, Class: ClassWrite},
	{Method: "GET", Template: "/v1/orders/{order_id}/events", Roles: userOrAdmin, Owner: true, Class: ClassDefault},
	{Method: "PATCH", Template: "/v1/orders/{order_id}", Roles: userOrAdmin, Owner: true, Class: ClassWrite},
	{Method: "POST", Template: "/v1/orders/{order_id}:confirm", Roles: userOrAdmin, Owner: true, Class: ClassWrite},
	{Method: "POST", Template: "/v1/orders/{order_id}/shipments", Roles: fulfillmentOrAdmin, Class: ClassWrite},
	{Method: "GET", Template: "/v1/orders/{order_id}/shipments", Roles: userOrFulfillmentOrAdmin, Owner: true, Class: ClassDefault},
	{Method: "POST", Template: "/v1/orders/{order_id}/shipments/{shipment_id}:deliver", Roles: fulfillmentOrAdmin, Class: ClassWrite},
	{Method: "POST", Template: "/v1/orders/{order_id}:retry-import", Roles: userOrAdmin, Owner: true, Class: ClassWrite},
	{Method: "GET", Template: "/v1/products", Public: true, Class: ClassDefault},
	{Method: "GET", Template: "/v1/products/{product_id}", Public: true, Class: ClassDefault},
	{Method: "POST", Template: "/v1/products", Roles: admin, Class: ClassWrite},
	{Method: "PATCH", Template: "/v1/products/{product_id}", Roles: admin, Class: ClassWrite},
	{Method: "POST", Template: "/v1/designs", Roles: userOrAdmin, Class: ClassWrite},
	{Method: "POST", Template: "/v1/designs/{design_id}:process", Roles: userOrAdmin, Owner: true, Class: ClassWrite},
	{Method: "GET", Template: "/v1/designs/{design_id}", Roles: userOrAdmin, Owner: true, Class: ClassDefault},
	{Method: "POST", Template: "/v1/quotes", Public: true, Class: ClassWrite},
	{Method: "GET", Template: "/v1/price-lists", Roles: admin, Class: ClassDefault},
	{Method: "GET", Template: "/v1/price-lists/{variant_id}", Roles: admin, Class: ClassDefault},
	{Method: "PUT", Template: "/v1/price-lists", Roles: admin, Class: ClassWrite},
	{Method: "POST", Template: "/v1/price-lists", Roles: admin, Class: ClassWrite},
	{Method: "DELETE", Template: "/v1/price-lists/{variant_id}", Roles: admin, Class: ClassWrite},
	{Method: "POST", Template: "/v1/coupons", Roles: admin, Class: ClassWrite},
	{Method: "GET", Template: "/v1/coupons", Roles: admin, Class: ClassDefault},
	{Method: "GET", Template: "/v1/coupons/{code}", Roles: admin, Class: ClassDefault},
	{Method: "DELETE", Template: "/v1/coupons/{code}", Roles: admin, Class: ClassWrite},
	{Method: "GET", Template: "/v1/fx-rates", Roles: admin, Class: ClassDefault},
	{Method: "PUT", Template: "/v1/fx-rates", Roles: admin, Class: ClassWrite},
	{Method: "POST", Template: "/v1/fx-rates", Roles: admin, Class: ClassWrite},
	{Method: "GET", Template: "/v1/shipping-rates", Public: true, Class: ClassDefault},
	{Method: "PUT", Template: "/v1/shipping-rates", Roles: admin, Class: ClassWrite},
	{Method: "POST", Template: "/v1/shipping-rates", Roles: admin, Class: ClassWrite},
	{Method: "DELETE", Template: "/v1/shipping-rates/{method}", Roles: admin, Class: ClassWrite},
	{Method: "GET", Template: "/v1/tax-rates", Public: true, Class: ClassDefault},
	{Method: "PUT", Template: "/v1/tax-rates", Roles: admin, Class: ClassWrite},
	{Method: "POST", Template: "/v1/tax-rates", Roles: admin, Class: ClassWrite},
	{Method: "DELETE", Template: "/v1/tax-rates/{country_code}", Roles: admin, Class: ClassWrite},
	{Method: "POST", Template: "/v1/stores", Roles: userOrAdmin, Class: ClassWrite},
	{Method: "GET", Template: "/v1/stores", Roles: userOrAdmin, Class: ClassDefault},
	{Method: "POST", Template: "/v1/stores/{store_id}/listings", Roles: userOrAdmin, Owner: true, Class: ClassWrite},
	{Method: "GET", Template: "/v1/stores/{store_id}/listings", Roles: userOrAdmin, Owner: true, Class: ClassDefault},
	{Method: "GET", Template: "/v1/stores/{store_id}/listings/{listing_id}", Roles: userOrAdmin, Owner: true, Class: ClassDefault},
	{Method: "PUT", Template: "/v1/stores/{store_id}/listings/{listing_id}", Roles: userOrAdmin, Owner: true, Class: ClassWrite},
	{Method: "DELETE", Template: "/v1/stores/{store_id}/listings/{listing_id}", Roles: userOrAdmin, Owner: true, Class: ClassWrite},

	// Outbound webhook subscriptions: a seller's own (another user's are
	// NOT_FOUND); an admin may read any. Every route needs a token.
	{Method: "POST", Template: "/v1/webhooks", Roles: userOrAdmin, Class: ClassWrite},
	{Method: "GET", Template: "/v1/webhooks", Roles: userOrAdmin, Class: ClassDefault},
	{Method: "GET", Template: "/v1/webhooks/{webhook_id}", Roles: userOrAdmin, Owner: true, Class: ClassDefault},
	{Method: "DELETE", Template: "/v1/webhooks/{webhook_id}", Roles: userOrAdmin, Owner: true, Class: ClassWrite},
	{Method: "POST", Template: "/v1/webhooks/{webhook_id}:rotate-secret", Roles: userOrAdmin, Owner: true, Class: ClassWrite},
	{Method: "POST", Template: "/v1/webhooks/{webhook_id}:enable", Roles: userOrAdmin, Owner: true, Class: ClassWrite},
	{Method: "GET", Template: "/v1/webhooks/{webhook_id}/deliveries", Roles: userOrAdmin, Owner: true, Class: ClassDefault},
	{Method: "POST", Template: "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}:redeliver", Roles: userOrAdmin, Owner: true, Class: ClassWrite},

	// Served by the gateway itself. /healthz costs nothing and is not rate
	// limited; /readyz calls every upstream (its answer is cached for a
	// second) and is limited like any read, as is the API description.
	// Kubernetes probes the admin port, which has no limit.
	{Method: "GET", Template: "/healthz", Public: true, Edge: true},
	{Method: "GET", Template: "/readyz", Public: true, Edge: true, Class: ClassDefault},
	{Method: "GET", Template: "/openapi.json", Public: true, Edge: true, Class: ClassDefault},
	{Method: "GET", Template: "/docs", Public: true, Edge: true, Class: ClassDefault},
	{Method: "GET", Template: "/docs/{path=**}", Public: true, Edge: true, Class: ClassDefault},

	// Shopify's webhook deliveries: no token (the catalog verifies the
	// delivery's HMAC signature), limited by client address in a class of
	// their own.
	{Method: "POST", Template: ShopifyWebhook, Public: true, Edge: true, NoToken: true, Class: ClassWebhook},
	// Carriers' tracking updates: no token (the gateway verifies the
	// update's HMAC signature with the carrier secret), limited like the
	// marketplaces' webhooks.
	{Method: "POST", Template: CarrierUpdates, Public: true, Edge: true, NoToken: true, Class: ClassWebhook},
}

var byKey = func() map[string]Route {
	m := make(map[string]Route, len(Routes))
	for _, r := range Routes {
		m[r.Method+" "+r.Template] = r
	}
	return m
}()

// Lookup returns the route for method and template.
func Lookup(method, template string) (Route, bool) {
	r, ok := byKey[method+" "+template]
	return r, ok
}

// Template turns a grpc-gateway pattern string ("/v1/orders/{order_id=*}")
// into the template the table uses ("/v1/orders/{order_id}").
func Template(pattern string) string {
	return strings.ReplaceAll(pattern, "=*}", "}")
}

// MethodsFor lists the methods the table has for template (for Allow headers).
func MethodsFor(template string) []string {
	var ms []string
	for _, r := range Routes {
		if r.Template == template {
			ms = append(ms, r.Method)
		}
	}
	return ms
}

// AllowedMethods lists the methods the table has for a concrete request path
// (for the Allow header of a 405).
func AllowedMethods(path string) []string {
	var ms []string
	for _, r := range Routes {
		if matches(r.Template, path) && !slices.Contains(ms, r.Method) {
			ms = append(ms, r.Method)
		}
	}
	return ms
}

// matches reports whether path fits template: "{x}" is one segment,
// "{x=**}" the rest of the path, ":verb" a suffix of the last segment.
func matches(template, path string) bool {
	tsegs := strings.Split(strings.TrimPrefix(template, "/"), "/")
	psegs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	tverb, pverb := "", ""
	last := tsegs[len(tsegs)-1]
	if i := strings.LastIndex(last, ":"); i >= 0 && !strings.Contains(last[i:], "}") {
		tsegs[len(tsegs)-1], tverb = last[:i], last[i+1:]
		plast := psegs[len(psegs)-1]
		if j := strings.LastIndex(plast, ":"); j > 0 {
			psegs[len(psegs)-1], pverb = plast[:j], plast[j+1:]
		}
		if tverb != pverb {
			return false
		}
	}
	for i, t := range tsegs {
		if strings.HasSuffix(t, "=**}") {
			return true
		}
		if i >= len(psegs) {
			return false
		}
		if strings.HasPrefix(t, "{") {
			if psegs[i] == "" {
				return false
			}
			continue
		}
		if t != psegs[i] {
			return false
		}
	}
	return len(psegs) == len(tsegs)
}

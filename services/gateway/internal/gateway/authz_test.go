package gateway_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/services/gateway/internal/auth"
	"github.com/printfleet/printfleet/services/gateway/internal/auth/authtest"
	"github.com/printfleet/printfleet/services/gateway/internal/policy"
)

// fixture is a request that reaches the route's handler when authorized.
type fixture struct {
	path string
	body string
	hdr  map[string]string
}

const createOrderBody = `{"items":[{"variant_id":"` + variantID + `","quantity":1}],"shipping_address":{"name":"Alice","line1":"1 Main St","city":"Springfield","postal_code":"12345","country_code":"US"},"currency":"USD","payment_method":"PAYMENT_METHOD_CARD"}`

// fixtures has one entry per API route of the policy table; the matrix test
// fails if a route has none.
var fixtures = map[string]fixture{
	"POST /v1/orders":                                                   {"/v1/orders", createOrderBody, map[string]string{"Idempotency-Key": "order-key-1"}},
	"GET /v1/orders/{order_id}":                                         {"/v1/orders/" + aliceOrder, "", nil},
	"GET /v1/orders":                                                    {"/v1/orders?page_size=10", "", nil},
	"POST /v1/orders/{order_id}:cancel":                                 {"/v1/orders/" + aliceOrder + ":cancel", `{"reason":"changed my mind"}`, nil},
	"GET /v1/orders/{order_id}/events":                                  {"/v1/orders/" + aliceOrder + "/events", "", nil},
	"POST /v1/orders/{order_id}/shipments":                              {"/v1/orders/" + aliceOrder + "/shipments", `{"carrier":"UPS","tracking_number":"1Z999AA10123456784"}`, nil},
	"POST /v1/orders/{order_id}:retry-import":                           {"/v1/orders/" + aliceOrder + ":retry-import", `{}`, nil},
	"PATCH /v1/orders/{order_id}":                                       {"/v1/orders/" + aliceOrder, `{"shipping_method":"express"}`, nil},
	"POST /v1/orders/{order_id}:confirm":                                {"/v1/orders/" + aliceOrder + ":confirm", `{}`, nil},
	"GET /v1/orders/{order_id}/shipments":                               {"/v1/orders/" + aliceOrder + "/shipments", "", nil},
	"POST /v1/orders/{order_id}/shipments/{shipment_id}:deliver":        {"/v1/orders/" + aliceOrder + "/shipments/" + newID + ":deliver", `{}`, nil},
	"GET /v1/shipping-rates":                                            {"/v1/shipping-rates?country_code=US", "", nil},
	"PUT /v1/shipping-rates":                                            {"/v1/shipping-rates", `{"rates":[{"method":"standard","country_code":"*","first_item":{"currency":"USD","amount_minor":499},"additional_item":{"currency":"USD","amount_minor":199},"min_days":3,"max_days":7}]}`, nil},
	"POST /v1/shipping-rates":                                           {"/v1/shipping-rates", `{"rates":[{"method":"express","country_code":"US","first_item":{"currency":"USD","amount_minor":1499},"additional_item":{"currency":"USD","amount_minor":299},"min_days":1,"max_days":2}]}`, nil},
	"DELETE /v1/shipping-rates/{method}":                                {"/v1/shipping-rates/express?country_code=US", "", nil},
	"GET /v1/tax-rates":                                                 {"/v1/tax-rates", "", nil},
	"PUT /v1/tax-rates":                                                 {"/v1/tax-rates", `{"rates":[{"country_code":"US","region":"CA","rate_bp":725}]}`, nil},
	"POST /v1/tax-rates":                                                {"/v1/tax-rates", `{"rates":[{"country_code":"DE","rate_bp":1900,"prices_include_tax":true}]}`, nil},
	"DELETE /v1/tax-rates/{country_code}":                               {"/v1/tax-rates/US?region=CA", "", nil},
	"GET /v1/products":                                                  {"/v1/products", "", nil},
	"GET /v1/products/{product_id}":                                     {"/v1/products/" + productID, "", nil},
	"POST /v1/products":                                                 {"/v1/products", `{"title":"Tee","variants":[{"sku":"TEE-M","title":"M","price":{"currency":"USD","amount_minor":1999}}]}`, nil},
	"PATCH /v1/products/{product_id}":                                   {"/v1/products/" + productID, `{"title":"Tee v2"}`, nil},
	"POST /v1/designs":                                                  {"/v1/designs", `{"filename":"cat.png","content_type":"image/png","size_bytes":1000}`, nil},
	"POST /v1/designs/{design_id}:process":                              {"/v1/designs/" + aliceDesign + ":process", `{}`, nil},
	"GET /v1/designs/{design_id}":                                       {"/v1/designs/" + aliceDesign, "", nil},
	"POST /v1/quotes":                                                   {"/v1/quotes", `{"items":[{"variant_id":"` + variantID + `","quantity":2}],"country_code":"US","currency":"USD"}`, nil},
	"GET /v1/price-lists":                                               {"/v1/price-lists", "", nil},
	"GET /v1/price-lists/{variant_id}":                                  {"/v1/price-lists/" + variantID, "", nil},
	"PUT /v1/price-lists":                                               {"/v1/price-lists", `{"prices":[{"variant_id":"` + variantID + `","region":"*","price":{"currency":"USD","amount_minor":1999}}]}`, nil},
	"POST /v1/price-lists":                                              {"/v1/price-lists", `{"prices":[{"variant_id":"` + variantID + `","region":"US","price":{"currency":"USD","amount_minor":1999}}]}`, nil},
	"DELETE /v1/price-lists/{variant_id}":                               {"/v1/price-lists/" + variantID + "?region=US", "", nil},
	"POST /v1/coupons":                                                  {"/v1/coupons", `{"code":"SPRING","kind":"COUPON_KIND_PERCENT","percent_bp":1000,"valid_from":"2026-01-01T00:00:00Z","valid_until":"2027-01-01T00:00:00Z"}`, nil},
	"GET /v1/coupons":                                                   {"/v1/coupons", "", nil},
	"GET /v1/coupons/{code}":                                            {"/v1/coupons/SPRING", "", nil},
	"DELETE /v1/coupons/{code}":                                         {"/v1/coupons/SPRING", "", nil},
	"GET /v1/fx-rates":                                                  {"/v1/fx-rates", "", nil},
	"PUT /v1/fx-rates":                                                  {"/v1/fx-rates", `{"rates":[{"base":"USD","quote":"EUR","rate":"0.92"}]}`, nil},
	"POST /v1/fx-rates":                                                 {"/v1/fx-rates", `{"rates":[{"base":"USD","quote":"GBP","rate":"0.79"}]}`, nil},
	"POST /v1/stores":                                                   {"/v1/stores", `{"marketplace":"MARKETPLACE_SHOPIFY","shop_id":"alice-shop","name":"Alice's shop","credentials":{"access_token":"shpat_x"}}`, nil},
	"GET /v1/stores":                                                    {"/v1/stores", "", nil},
	"POST /v1/stores/{store_id}/listings":                               {"/v1/stores/" + aliceStore + "/listings", `{"sku":"TEE-M","variant_id":"` + variantID + `"}`, nil},
	"GET /v1/stores/{store_id}/listings":                                {"/v1/stores/" + aliceStore + "/listings", "", nil},
	"GET /v1/stores/{store_id}/listings/{listing_id}":                   {"/v1/stores/" + aliceStore + "/listings/" + aliceListing, "", nil},
	"PUT /v1/stores/{store_id}/listings/{listing_id}":                   {"/v1/stores/" + aliceStore + "/listings/" + aliceListing, `{"sku":"TEE-M","variant_id":"` + variantID + `"}`, nil},
	"DELETE /v1/stores/{store_id}/listings/{listing_id}":                {"/v1/stores/" + aliceStore + "/listings/" + aliceListing, "", nil},
	"POST /v1/webhooks":                                                 {"/v1/webhooks", `{"url":"https://alice.example/hooks","event_types":["order.shipped"]}`, nil},
	"GET /v1/webhooks":                                                  {"/v1/webhooks", "", nil},
	"GET /v1/webhooks/{webhook_id}":                                     {"/v1/webhooks/" + aliceWebhook, "", nil},
	"DELETE /v1/webhooks/{webhook_id}":                                  {"/v1/webhooks/" + aliceWebhook, "", nil},
	"POST /v1/webhooks/{webhook_id}:rotate-secret":                      {"/v1/webhooks/" + aliceWebhook + ":rotate-secret", `{}`, nil},
	"POST /v1/webhooks/{webhook_id}:enable":                             {"/v1/webhooks/" + aliceWebhook + ":enable", `{}`, nil},
	"GET /v1/webhooks/{webhook_id}/deliveries":                          {"/v1/webhooks/" + aliceWebhook + "/deliveries", "", nil},
	"POST /v1/webhooks/{webhook_id}/deliveries/{delivery_id}:redeliver": {"/v1/webhooks/" + aliceWebhook + "/deliveries/" + aliceDelivery + ":redeliver", `{}`, nil},
}

func apiRoutes() []policy.Route {
	var rs []policy.Route
	for _, r := range policy.Routes {
		if !r.Edge {
			rs = append(rs, r)
		}
	}
	return rs
}

func successStatus(r policy.Route) int {
	// Quotes and the price-list and FX-rate upserts create nothing.
	upsert := r.Template == "/v1/price-lists" || r.Template == "/v1/fx-rates" || r.Template == "/v1/shipping-rates" || r.Template == "/v1/tax-rates"
	if r.Method == http.MethodPost && !strings.Contains(r.Template, ":") && r.Template != "/v1/quotes" && !upsert {
		return http.StatusCreated
	}
	return http.StatusOK
}

// allowedCaller is a principal the route admits (alice owns the fixtures'
// objects; shipments are posted by a fulfillment partner).
func allowedCaller(r policy.Route) (string, []string) {
	if r.Public || slices.Contains(r.Roles, principal.RoleUser) {
		return "alice", []string{principal.RoleUser}
	}
	if slices.Contains(r.Roles, principal.RoleFulfillment) {
		return "fred", []string{principal.RoleFulfillment}
	}
	return "root", []string{principal.RoleAdmin}
}

// wrongRole is a role the route does not admit ("" when every role is).
func wrongRole(r policy.Route) string {
	for _, role := range []string{principal.RoleUser, principal.RoleFulfillment, principal.RoleAdmin} {
		if !slices.Contains(r.Roles, role) {
			return role
		}
	}
	return ""
}

type matrixCase struct {
	name   string
	hdr    map[string]string
	want   int
	wantWA bool // WWW-Authenticate expected
}

// TestRouteMatrix runs, for every route of the REST table, the cases the
// policy implies: anonymous, expired, wrong audience, wrong issuer, alg=none,
// bad signature, wrong role, another user's object, the admitted caller and
// an admin.
func TestRouteMatrix(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, r := range apiRoutes() {
		key := r.Method + " " + r.Template
		fx, ok := fixtures[key]
		if !ok {
			t.Fatalf("no fixture for route %s: add one", key)
		}
		sub, roles := allowedCaller(r)
		ok2xx := successStatus(r)
		good := mint(t, sub, roles)
		cases := []matrixCase{
			{"admitted caller", bearer(good), ok2xx, false},
			{"admin", bearer(mint(t, "root", []string{principal.RoleAdmin})), ok2xx, false},
			{"expired token", bearer(mint(t, sub, roles, func(o *auth.MintOptions) { o.Now = time.Now().Add(-2 * time.Hour) })), 401, true},
			{"wrong audience", bearer(mint(t, sub, roles, func(o *auth.MintOptions) { o.Audience = "another-api" })), 401, true},
			{"wrong issuer", bearer(mint(t, sub, roles, func(o *auth.MintOptions) { o.Issuer = "evil-issuer" })), 401, true},
			{"alg none", bearer(unsignedToken(sub, roles)), 401, true},
			{"bad signature", bearer(good[:len(good)-6] + "AAAAAA"), 401, true},
			{"not a bearer token", map[string]string{"Authorization": "Basic YWxpY2U6cHc="}, 401, true},
		}
		if r.Public {
			cases = append(cases, matrixCase{"anonymous", nil, ok2xx, false})
		} else {
			cases = append(cases, matrixCase{"anonymous", nil, 401, true})
			if role := wrongRole(r); role != "" {
				cases = append(cases, matrixCase{"wrong role " + role, bearer(mint(t, sub, []string{role})), 403, false})
			}
			cases = append(cases, matrixCase{"unknown role only", bearer(mint(t, sub, nil)), 403, false})
		}
		if r.Owner {
			cases = append(cases, matrixCase{"another user's object", bearer(mint(t, "bob", []string{principal.RoleUser})), 404, false})
		}
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/%s", key, c.name), func(t *testing.T) {
				before := e.f.calls()
				resp := e.do(r.Method, fx.path, fx.body, merge(fx.hdr, c.hdr))
				if resp.status != c.want {
					t.Fatalf("status %d, want %d: %s", resp.status, c.want, resp.body)
				}
				if got := resp.header.Get("WWW-Authenticate"); c.wantWA != (got != "") || (c.wantWA && !strings.HasPrefix(got, "Bearer ")) {
					t.Fatalf("WWW-Authenticate %q (want one: %v)", got, c.wantWA)
				}
				if resp.header.Get("X-Request-Id") == "" {
					t.Fatal("no X-Request-Id")
				}
				after := e.f.calls()
				switch c.want {
				case 401, 403:
					if after != before {
						t.Fatal("a refused request reached the upstream")
					}
					if code := resp.errorCode(t); code != map[int]string{401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED"}[c.want] {
						t.Fatalf("error code %q", code)
					}
				case 404:
					if code := resp.errorCode(t); code != "NOT_FOUND" {
						t.Fatalf("error code %q", code)
					}
				}
			})
		}
	}
}

// TestUnknownRolesAreDropped: a token cannot grant the internal "service"
// role or any role the gateway does not know.
func TestUnknownRolesAreDropped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := mintRaw(t, "mallory", []string{"service", "superuser", principal.RoleUser})
	resp := e.do("GET", "/v1/orders", "", bearer(tok))
	if resp.status != 200 {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	got := e.f.orders.last(t).Principal
	if got.Subject != "mallory" || !slices.Equal(got.Roles, []string{principal.RoleUser}) {
		t.Fatalf("upstream principal %+v", got)
	}
}

// TestRouteMatrixJWKS runs every route against a gateway in production mode
// (JWKS, RS256/ES256): HS256 tokens — with the dev secret, or keyed with the
// RSA public key (algorithm confusion) — are 401; RS256 and ES256 tokens from
// the key set pass.
func TestRouteMatrixJWKS(t *testing.T) {
	t.Parallel()
	j := authtest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v, err := auth.NewVerifier(ctx, auth.Config{JWKSURL: j.URL, Issuer: "printfleet-dev", Audience: "printfleet", Leeway: 30 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, withVerifier(v))
	pub, err := x509.MarshalPKIXPublicKey(&j.RSA.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	for _, r := range apiRoutes() {
		key := r.Method + " " + r.Template
		fx := fixtures[key]
		sub, roles := allowedCaller(r)
		claims := authtest.Claims(sub, roles...)
		for _, c := range []matrixCase{
			{"RS256 from the key set", bearer(authtest.Sign(t, jwt.SigningMethodRS256, j.RSA, "rsa-1", claims)), successStatus(r), false},
			{"ES256 from the key set", bearer(authtest.Sign(t, jwt.SigningMethodES256, j.EC, "ec-1", claims)), successStatus(r), false},
			{"HS256 with the dev secret", bearer(mint(t, sub, roles)), 401, true},
			{"HS256 keyed with the public key", bearer(authtest.Sign(t, jwt.SigningMethodHS256, pubPEM, "rsa-1", claims)), 401, true},
			{"alg none", bearer(unsignedToken(sub, roles)), 401, true},
		} {
			t.Run(key+"/"+c.name, func(t *testing.T) {
				resp := e.do(r.Method, fx.path, fx.body, merge(fx.hdr, c.hdr))
				if resp.status != c.want {
					t.Fatalf("status %d, want %d: %s", resp.status, c.want, resp.body)
				}
				if got := resp.header.Get("WWW-Authenticate"); c.wantWA != (got != "") {
					t.Fatalf("WWW-Authenticate %q", got)
				}
			})
		}
	}
}

// Package apidocs serves the API description: /openapi.json is the merged
// document generated from the protos, edited at start to add what the protos
// cannot say (bearer security per route, the Idempotency-Key header, the
// gateway's error body, the edge routes, the marketplaces' webhook routes),
// and /docs renders it with Swagger UI
// served from the assets embedded in github.com/swaggest/swgui.
package apidocs

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"

	"github.com/swaggest/swgui"
	"github.com/swaggest/swgui/v5emb"

	"github.com/printfleet/printfleet/proto/openapi"
	"github.com/printfleet/printfleet/services/gateway/internal/policy"
)

// SecurityName is the name of the bearer security definition.
const SecurityName = "bearer"

// Document returns the merged OpenAPI (v2) document with the gateway's
// additions: what /openapi.json publishes.
func Document(routes []policy.Route) ([]byte, error) {
	return Render(openapi.JSON, routes)
}

// Render is Document of the generated document raw (`make generate`
// renders the published document from the one it has just generated, to
// generate the API client from it).
func Render(raw []byte, routes []policy.Route) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("parse generated openapi: %w", err)
	}
	doc["info"] = map[string]any{
		"title":   "printfleet API",
		"version": "v1",
		"description": "Print-on-demand orders, catalog, pricing and outbound webhooks. Authenticate with `Authorization: Bearer <JWT>`. " +
			"Numbers: every integer, 64-bit ones included (amount_minor, version, stock_available, size_bytes), is a JSON number, " +
			"in responses and webhook deliveries alike; requests may also send 64-bit integers as strings. " +
			"Creates answer 201 Created with a Location header naming the new resource.",
	}
	doc["securityDefinitions"] = map[string]any{
		SecurityName: map[string]any{
			"type":        "apiKey",
			"in":          "header",
			"name":        "Authorization",
			"description": "JWT bearer token: `Bearer <token>`.",
		},
	}
	defs, _ := doc["definitions"].(map[string]any)
	if defs == nil {
		defs = map[string]any{}
		doc["definitions"] = defs
	}
	defs["gatewayError"] = errorSchema()
	paths, _ := doc["paths"].(map[string]any)
	if paths == nil {
		paths = map[string]any{}
		doc["paths"] = paths
	}
	for _, r := range routes {
		if r.Edge {
			if r.Template == "/docs/{path=**}" {
				continue
			}
			switch r.Template {
			case policy.ShopifyWebhook:
				addShopifyWebhook(paths, r)
			case policy.CarrierUpdates:
				addCarrierUpdates(paths, r)
			default:
				addEdgeOperation(paths, r)
			}
		}
		item, _ := paths[r.Template].(map[string]any)
		op, _ := item[strings.ToLower(r.Method)].(map[string]any)
		if op == nil {
			return nil, fmt.Errorf("openapi: no operation for %s %s", r.Method, r.Template)
		}
		decorate(op, r)
	}
	return json.MarshalIndent(doc, "", "  ")
}

func errorSchema() map[string]any {
	return map[string]any{
		"type": "object",
		"properties": map[string]any{
			"error": map[string]any{
				"type": "object",
				"properties": map[string]any{
					"code":    map[string]any{"type": "string", "example": "INVALID_ARGUMENT"},
					"message": map[string]any{"type": "string"},
					"details": map[string]any{"type": "array", "items": map[string]any{"$ref": "#/definitions/protobufAny"}},
				},
			},
			"request_id": map[string]any{"type": "string"},
		},
	}
}

func errRef(desc string) map[string]any {
	return map[string]any{"description": desc, "schema": map[string]any{"$ref": "#/definitions/gatewayError"}}
}

func decorate(op map[string]any, r policy.Route) {
	responses, _ := op["responses"].(map[string]any)
	if responses == nil {
		responses = map[string]any{}
		op["responses"] = responses
	}
	responses["default"] = errRef("An error (the HTTP status follows the gRPC code).")
	if r.Class != "" {
		responses["429"] = map[string]any{
			"description": "Rate limited; see Retry-After, RateLimit-Policy and RateLimit.",
			"schema":      map[string]any{"$ref": "#/definitions/gatewayError"},
			"headers": map[string]any{
				"Retry-After":      map[string]any{"type": "integer"},
				"RateLimit-Policy": map[string]any{"type": "string"},
				"RateLimit":        map[string]any{"type": "string"},
			},
		}
	}
	if r.Public {
		op["security"] = []any{}
	} else {
		op["security"] = []any{map[string]any{SecurityName: []any{}}}
		responses["401"] = errRef("Missing, invalid or expired bearer token.")
		responses["403"] = errRef("The token lacks a role this operation needs (" + strings.Join(r.Roles, " or ") + ").")
		if r.Owner {
			responses["404"] = errRef("No such object, or not the caller's.")
		}
	}
	if r.Method == http.MethodPost && r.Template == "/v1/orders/{order_id}:retry-import" {
		responses["400"] = errRef("FAILED_PRECONDITION: the order is not on hold, or a line still cannot be mapped (the message gives the reason); the order stays on hold.")
	}
	if r.Method == http.MethodPost && r.Template == "/v1/orders" {
		params, _ := op["parameters"].([]any)
		op["parameters"] = append(params, map[string]any{
			"name":        "Idempotency-Key",
			"in":          "header",
			"required":    true,
			"type":        "string",
			"maxLength":   255,
			"description": "Client-chosen key: a retry with the same key and body replays the first response; the same key with another body is 422; 409 while the first request is in flight.",
		})
		responses["409"] = errRef("A request with this Idempotency-Key is still in flight, or the coupon has reached its usage limit or its limit per customer (the message names the coupon).")
		responses["422"] = errRef("This Idempotency-Key was used with another request body.")
	}
}

func addEdgeOperation(paths map[string]any, r policy.Route) {
	desc := map[string]string{
		"/healthz":      "Liveness of the gateway process.",
		"/readyz":       "Readiness: the upstream services answer SERVING (Redis is reported; the limiter falls back without it).",
		"/openapi.json": "This API description.",
		"/docs":         "Interactive API documentation (HTML).",
	}[r.Template]
	produces := []any{"application/json"}
	if r.Template == "/docs" {
		produces = []any{"text/html"}
	}
	paths[r.Template] = map[string]any{
		strings.ToLower(r.Method): map[string]any{
			"summary":     desc,
			"operationId": "Gateway_" + strings.Trim(strings.NewReplacer("/", "", ".", "_").Replace(r.Template), "_"),
			"tags":        []any{"Gateway"},
			"produces":    produces,
			"responses": map[string]any{
				"200": map[string]any{"description": "OK"},
			},
		},
	}
}

// addShopifyWebhook describes the Shopify webhook route, which no gRPC method
// has the shape of: the raw body and Shopify's headers go to the catalog as
// they arrived.
func addShopifyWebhook(paths map[string]any, r policy.Route) {
	header := func(name, desc string, required bool, extra ...string) map[string]any {
		p := map[string]any{"name": name, "in": "header", "type": "string", "required": required, "description": desc}
		if len(extra) > 0 {
			p["format"] = extra[0]
		}
		return p
	}
	paths[r.Template] = map[string]any{
		strings.ToLower(r.Method): map[string]any{
			"summary": "Receive a Shopify webhook delivery for a store.",
			"description": "Where a store's Shopify webhooks are registered (orders/create, orders/updated, orders/cancelled, app/uninstalled). " +
				"No bearer token: an Authorization header is ignored. The delivery is authenticated by `X-Shopify-Hmac-Sha256`, " +
				"the base64 HMAC-SHA256 of the raw body under the store's webhook secret, verified by the catalog before anything is parsed or stored. " +
				"A delivery is taken once per `X-Shopify-Webhook-Id`: a repeat answers 200 too. Bodies are never logged.",
			"operationId": "Gateway_ShopifyWebhook",
			"tags":        []any{"Marketplace webhooks"},
			"consumes":    []any{"application/json"},
			"produces":    []any{"application/json"},
			"parameters": []any{
				map[string]any{"name": "store_id", "in": "path", "required": true, "type": "string", "format": "uuid",
					"description": "The printfleet store the webhook is registered for."},
				header("X-Shopify-Hmac-Sha256", "Base64 HMAC-SHA256 of the raw body with the store's webhook secret.", true, "byte"),
				header("X-Shopify-Webhook-Id", "The delivery's id; repeats of one id are taken once.", true),
				header("X-Shopify-Topic", "The webhook topic, e.g. orders/create.", true),
				header("X-Shopify-Triggered-At", "When Shopify triggered the delivery (RFC 3339).", false, "date-time"),
				map[string]any{"name": "body", "in": "body", "required": true, "description": "The payload exactly as Shopify sends it (at most 1 MiB); it is verified byte for byte.",
					"schema": map[string]any{"type": "object"}},
			},
			"responses": map[string]any{
				"200": map[string]any{"description": "Taken (or taken before): `{}`.", "schema": map[string]any{"type": "object"}},
				"400": errRef("The catalog found the delivery malformed (e.g. a header too long)."),
				"401": errRef("The signature is missing or does not verify, or the store is unknown or not a Shopify store."),
				"404": errRef("The store id is not a UUID."),
				"413": errRef("The body is larger than 1 MiB."),
				"503": errRef("Not taken this time; Shopify delivers it again."),
			},
		},
	}
}

// addCarrierUpdates describes the carriers' signed tracking updates route.
func addCarrierUpdates(paths map[string]any, r policy.Route) {
	str := func(desc string) map[string]any { return map[string]any{"type": "string", "description": desc} }
	paths[r.Template] = map[string]any{
		strings.ToLower(r.Method): map[string]any{
			"summary": "Receive a carrier's tracking update for a package.",
			"description": "No bearer token: an Authorization header is ignored. The update is authenticated by " +
				"`Printfleet-Carrier-Signature: t=<unix>,v1=<hex>`, the HMAC-SHA256 of `<t>.<raw body>` under the carrier secret; " +
				"t must be within 5 minutes of the gateway's clock. An update is applied once per `event_id`: a repeat answers as the first. " +
				"The route answers 404 while no carrier secret is configured.",
			"operationId": "Gateway_CarrierUpdate",
			"tags":        []any{"Carrier updates"},
			"consumes":    []any{"application/json"},
			"produces":    []any{"application/json"},
			"parameters": []any{
				map[string]any{"name": "Printfleet-Carrier-Signature", "in": "header", "type": "string", "required": true,
					"description": "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">"},
				map[string]any{"name": "body", "in": "body", "required": true, "schema": map[string]any{
					"type":     "object",
					"required": []any{"event_id", "carrier", "tracking_number", "status", "occurred_at"},
					"properties": map[string]any{
						"event_id":        str("The carrier's id of this update."),
						"carrier":         str("The carrier, as the package was shipped with (case and surrounding spaces ignored)."),
						"tracking_number": str("The package's tracking number."),
						"status":          map[string]any{"type": "string", "enum": []any{"IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED", "EXCEPTION"}},
						"occurred_at":     map[string]any{"type": "string", "format": "date-time"},
					},
				}},
			},
			"responses": map[string]any{
				"200": map[string]any{"description": "Applied (or applied before): the package and its status.", "schema": map[string]any{
					"type": "object", "properties": map[string]any{
						"order_id": str("The order."), "shipment_id": str("The package."), "status": str("The package's status."),
					}}},
				"400": errRef("The body is malformed."),
				"401": errRef("The signature is missing, does not verify, or is outside the 5-minute window."),
				"404": errRef("No package has this carrier and tracking number, or carrier updates are not enabled."),
				"413": errRef("The body is larger than 64 KiB."),
				"503": errRef("Not applied this time; send it again."),
			},
		},
	}
}

// Docs is the /docs handler and the Content-Security-Policy it needs.
type Docs struct {
	Handler http.Handler
	CSP     string
}

var inlineScript = regexp.MustCompile(`(?s)<script>(.*?)</script>`)

// NewDocs returns Swagger UI under basePath ("/docs") reading specURL. The
// page's inline scripts are allowed by hash, not by 'unsafe-inline'.
func NewDocs(basePath, specURL string) (*Docs, error) {
	h := v5emb.NewHandlerWithConfig(swgui.Config{
		Title:       "printfleet API",
		SwaggerJSON: specURL,
		BasePath:    basePath,
		HideCurl:    false,
		SettingsUI: map[string]string{
			// The docs page may not fetch from other origins.
			"validatorUrl": "null",
		},
	})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, strings.TrimSuffix(basePath, "/")+"/", nil))
	if rec.Code != http.StatusOK {
		return nil, fmt.Errorf("docs: index page answered %d", rec.Code)
	}
	var hashes []string
	for _, m := range inlineScript.FindAllSubmatch(rec.Body.Bytes(), -1) {
		sum := sha256.Sum256(m[1])
		hashes = append(hashes, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
	}
	if len(hashes) == 0 && bytes.Contains(rec.Body.Bytes(), []byte("<script>")) {
		return nil, fmt.Errorf("docs: could not hash the inline scripts")
	}
	csp := strings.Join([]string{
		"default-src 'none'",
		"script-src 'self' " + strings.Join(hashes, " "),
		"style-src 'self' 'unsafe-inline'",
		"img-src 'self' data:",
		"font-src 'self' data:",
		"connect-src 'self'",
		"frame-ancestors 'none'",
		"base-uri 'none'",
		"form-action 'none'",
		"object-src 'none'",
	}, "; ")
	return &Docs{Handler: h, CSP: csp}, nil
}

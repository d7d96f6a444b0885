package gateway_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	pricingv1 "github.com/printfleet/printfleet/proto/printfleet/pricing/v1"
	webhooksv1 "github.com/printfleet/printfleet/proto/printfleet/webhooks/v1"
	"github.com/printfleet/printfleet/services/gateway/internal/policy"
)

// upstreamServices are the services whose generated handlers the gateway
// registers.
var upstreamServices = []protoreflect.FileDescriptor{
	ordersv1.File_printfleet_orders_v1_orders_proto,
	catalogv1.File_printfleet_catalog_v1_catalog_proto,
	pricingv1.File_printfleet_pricing_v1_pricing_proto,
	webhooksv1.File_printfleet_webhooks_v1_webhooks_proto,
}

// mustBeInternal are methods of the marketplace import that only services
// and workers call: none may have a REST route.
var mustBeInternal = []string{
	"printfleet.orders.v1.OrderService.ImportOrder",
	"printfleet.catalog.v1.CatalogService.ReceiveMarketplaceWebhook",
	"printfleet.catalog.v1.CatalogService.ListImportStores",
	"printfleet.catalog.v1.CatalogService.SaveImportCursor",
	"printfleet.catalog.v1.CatalogService.GetStoreCredentials",
	"printfleet.catalog.v1.CatalogService.SaveStoreTokens",
	"printfleet.catalog.v1.CatalogService.MarkStoreNeedsReconnection",
	"printfleet.catalog.v1.CatalogService.ResolveListing",
}

// httpRule returns the method's REST route (method, template), or ok=false
// for a method without one.
func httpRule(m protoreflect.MethodDescriptor) (string, string, bool) {
	rule, _ := proto.GetExtension(m.Options(), annotations.E_Http).(*annotations.HttpRule)
	if rule == nil {
		return "", "", false
	}
	for verb, path := range map[string]string{"GET": rule.GetGet(), "POST": rule.GetPost(), "PUT": rule.GetPut(),
		"PATCH": rule.GetPatch(), "DELETE": rule.GetDelete()} {
		if path != "" {
			return verb, path, true
		}
	}
	return "", "", false
}

// TestInternalMethodsNotExposed: every method with a REST route is in the
// policy table (so a new route in a proto cannot slip through unreviewed),
// and every method without one — the import's internal methods among them —
// has no operation in /openapi.json and cannot be reached over REST, neither
// by its gRPC path nor by a path in the style of its service's routes.
func TestInternalMethodsNotExposed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	doc := e.do("GET", "/openapi.json", "", nil)
	var api struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(doc.body, &api); err != nil {
		t.Fatal(err)
	}
	ops := map[string]bool{}
	for _, item := range api.Paths {
		for _, op := range item {
			ops[op.OperationID] = true
		}
	}

	var internal []protoreflect.MethodDescriptor
	for _, f := range upstreamServices {
		for i := range f.Services().Len() {
			svc := f.Services().Get(i)
			for j := range svc.Methods().Len() {
				m := svc.Methods().Get(j)
				opID := string(svc.Name()) + "_" + string(m.Name())
				verb, path, ok := httpRule(m)
				if !ok {
					internal = append(internal, m)
					if ops[opID] {
						t.Errorf("internal %s is described in /openapi.json", m.FullName())
					}
					continue
				}
				if slices.Contains(mustBeInternal, string(m.FullName())) {
					t.Errorf("%s must be internal but has the REST route %s %s", m.FullName(), verb, path)
				}
				if _, ok := policy.Lookup(verb, path); !ok {
					t.Errorf("%s: its REST route %s %s is missing from the policy table", m.FullName(), verb, path)
				}
				if !ops[opID] {
					t.Errorf("%s: no operation %s in /openapi.json", m.FullName(), opID)
				}
			}
		}
	}
	for _, name := range mustBeInternal {
		if !slices.ContainsFunc(internal, func(m protoreflect.MethodDescriptor) bool { return string(m.FullName()) == name }) {
			t.Errorf("%s is not an internal method of the upstream services", name)
		}
	}

	const id = "0190a000-0000-7000-8000-000000000001"
	for _, m := range internal {
		svc := m.Parent().(protoreflect.ServiceDescriptor)
		resource := map[string]string{"OrderService": "orders", "CatalogService": "stores", "PricingService": "quotes", "WebhookService": "webhooks"}[string(svc.Name())]
		for _, path := range []string{
			"/" + string(svc.FullName()) + "/" + string(m.Name()),
			"/v1/" + kebab(string(m.Name())),
			"/v1/" + resource + ":" + kebab(string(m.Name())),
			"/v1/" + resource + "/" + id + ":" + kebab(string(m.Name())),
		} {
			for _, method := range []string{http.MethodPost, http.MethodGet} {
				before := e.f.calls()
				resp := e.do(method, path, `{}`, aliceUser(t))
				after := e.f.calls()
				if after != before {
					t.Errorf("%s %s reached an upstream (%s)", method, path, m.FullName())
				}
				if resp.status/100 == 2 {
					t.Errorf("%s %s answered %d", method, path, resp.status)
				}
			}
		}
	}
	// The webhook route calls ReceiveMarketplaceWebhook itself: the method
	// is not reachable with a body of the caller's choosing.
	resp := e.do(http.MethodPost, webhookPath(webhookStore), `{"store_id":"x","marketplace":"MARKETPLACE_ETSY"}`, nil)
	if resp.status != http.StatusUnauthorized || e.f.catalog.count() != 0 {
		t.Fatalf("unsigned webhook: %d, %d catalog calls", resp.status, e.f.catalog.count())
	}
}

var upperRun = regexp.MustCompile(`([a-z0-9])([A-Z])`)

// kebab turns "ImportOrder" into "import-order".
func kebab(s string) string { return strings.ToLower(upperRun.ReplaceAllString(s, "$1-$2")) }

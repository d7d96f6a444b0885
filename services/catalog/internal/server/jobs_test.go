package server

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/printfleet/printfleet/platform/admin"
	"github.com/printfleet/printfleet/platform/amqp/amqptest"
	"github.com/printfleet/printfleet/platform/run"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	"github.com/printfleet/printfleet/services/catalog/internal/demo"
)

// Not parallel: the jobs read their configuration from the environment.
func TestSeedDemoIsIdempotentAndRebuildProjectsIt(t *testing.T) {
	e := newEnv(t)
	t.Setenv("PRINTFLEET_PG_URL", e.pgURL)
	t.Setenv("PRINTFLEET_CATALOG_REDIS_PREFIX", e.prefix)
	// The seed publishes its events: to this test's exchange.
	t.Setenv("PRINTFLEET_AMQP_URL", amqptest.URL())
	t.Setenv("PRINTFLEET_AMQP_EXCHANGE", e.broker.Config.Exchange)
	t.Setenv("PRINTFLEET_AMQP_DEAD_LETTER_EXCHANGE", e.broker.Config.DeadLetterExchange)
	ctx := context.Background()
	p := &run.Process{Name: "catalog-seed-demo", Log: e.log, Admin: admin.New(prometheus.NewRegistry())}
	var out bytes.Buffer
	for range 2 {
		out.Reset()
		if err := seedDemo(ctx, p, &out); err != nil {
			t.Fatal(err)
		}
	}
	want := demo.Products()
	nv := 0
	for _, p := range want {
		nv += len(p.Variants)
	}
	if n := e.count(`SELECT count(*) FROM products`); n != len(want) || n < 20 {
		t.Fatalf("products = %d, want %d (20+)", n, len(want))
	}
	if n := e.count(`SELECT count(*) FROM variants`); n != nv {
		t.Fatalf("variants = %d, want %d", n, nv)
	}
	if n := e.events(eventsv1.KeyProductChanged); n != len(want) {
		t.Fatalf("ProductChanged events = %d, want one per product (%d): a second seed must write nothing", n, len(want))
	}
	// The ids are the documented ones.
	tee := demo.VariantID("TEE-UNI-BLK-M")
	if n := e.count(`SELECT count(*) FROM variants WHERE id = $1 AND sku = 'TEE-UNI-BLK-M' AND price_minor = 1299 AND product_id = $2`,
		tee, demo.ProductID("tee-unisex")); n != 1 {
		t.Fatal("demo variant TEE-UNI-BLK-M not stored under its documented id and price")
	}
	// The seed prints the demo variants, under their documented ids.
	var printed struct {
		Namespace string              `json:"namespace"`
		Variants  []demo.VariantPrice `json:"variants"`
	}
	if err := json.Unmarshal(out.Bytes(), &printed); err != nil {
		t.Fatalf("seed output is not the demo variants as JSON: %v\n%s", err, out.String())
	}
	if printed.Namespace != demo.Namespace.String() || len(printed.Variants) != nv {
		t.Fatalf("printed namespace %s and %d variants, want %s and %d", printed.Namespace, len(printed.Variants), demo.Namespace, nv)
	}
	found := false
	for _, v := range printed.Variants {
		if v.SKU == "TEE-UNI-BLK-M" {
			found = v.VariantID == tee && v.ProductID == demo.ProductID("tee-unisex") && v.AmountMinor == 1299 && v.Currency == "USD"
		}
	}
	if !found {
		t.Fatal("printed demo variants lack TEE-UNI-BLK-M under its documented id and price")
	}
	p.Name = "catalog-rebuild-projections"
	if err := ServeRebuildProjections(ctx, p); err != nil {
		t.Fatal(err)
	}
	if ok, why := e.converged(); !ok {
		t.Fatalf("after rebuild-projections: %s", why)
	}
	v, err := e.app.Catalog.ProductView(ctx, demo.ProductID("water-bottle"))
	if err != nil || len(v.Variants) != 1 || !v.Variants[0].InStock {
		t.Fatalf("water bottle view = %+v, %v", v, err)
	}
}

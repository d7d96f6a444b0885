package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/amqp/amqptest"
	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/platform/run/runtest"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	"github.com/printfleet/printfleet/sandbox/marketplace"

	"github.com/printfleet/printfleet/workers/marketplace/internal/testenv"
)

// The process as main runs it, configured only by environment: it becomes
// ready (catalog, S3, RabbitMQ), pushes a shipment within the order's trace,
// and stops cleanly on cancellation.
func TestServeFromEnvironment(t *testing.T) {
	// Not parallel: t.Setenv.
	s3env := testenv.NewS3(t)
	env := amqptest.New(t)
	sb := marketplace.New(marketplace.Options{Seed: 9})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	fc := testenv.NewCatalog()
	fc.Marketplaces = sb
	catalogAddr := serveCatalog(t, fc)
	s := testenv.AddAmazon(fc)
	occ, _ := testenv.StartOrders(t, testenv.NewOrders(), testenv.Secret)

	queue := env.Queue(eventsv1.QueueMarketplacePush)
	admin := runtest.FreeAddr(t)
	for k, v := range map[string]string{
		"PRINTFLEET_ADMIN_ADDR":                     admin,
		"PRINTFLEET_LOG_LEVEL":                      "error",
		"PRINTFLEET_SHUTDOWN_GRACE":                 "10s",
		"PRINTFLEET_INTERNAL_SECRET":                testenv.Secret,
		"PRINTFLEET_CATALOG_ADDR":                   catalogAddr,
		"PRINTFLEET_ORDERS_ADDR":                    occ.Target(),
		"PRINTFLEET_MARKETPLACE_IMPORT_QUEUE":       env.Queue(eventsv1.QueueMarketplaceImports),
		"PRINTFLEET_MARKETPLACE_IMPORT_POLL_EVERY":  "100ms",
		"PRINTFLEET_AMQP_URL":                       env.Config.URL,
		"PRINTFLEET_AMQP_EXCHANGE":                  env.Config.Exchange,
		"PRINTFLEET_AMQP_DEAD_LETTER_EXCHANGE":      env.Config.DeadLetterExchange,
		"PRINTFLEET_AMQP_DELIVERY_LIMIT":            fmt.Sprint(env.Config.DeliveryLimit),
		"PRINTFLEET_S3_BUCKET_RECEIPTS":             s3env.Bucket,
		"PRINTFLEET_MARKETPLACE_QUEUE":              queue,
		"PRINTFLEET_MARKETPLACE_SHOPIFY_URL":        srv.URL + "/shopify",
		"PRINTFLEET_MARKETPLACE_ETSY_URL":           srv.URL + "/etsy",
		"PRINTFLEET_MARKETPLACE_AMAZON_URL":         srv.URL + "/amazon",
		"PRINTFLEET_MARKETPLACE_RETRY_BASE_DELAY":   "20ms",
		"PRINTFLEET_MARKETPLACE_CATALOG_TIMEOUT":    "2s",
		"PRINTFLEET_MARKETPLACE_DRAIN_TIMEOUT":      "5s",
		"PRINTFLEET_MARKETPLACE_RETRY_MAX_ATTEMPTS": "3",
	} {
		t.Setenv(k, v)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run.Run(ctx, "marketplace", Serve) }()
	stopped := false
	t.Cleanup(func() {
		if stopped {
			return
		}
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("Serve did not stop")
		}
	})

	testenv.WaitFor(t, 20*time.Second, func() bool {
		resp, err := http.Get("http://" + admin + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	conn, err := amqp.Dial(dctx, env.Config, testenv.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	obs := env.Queue("observer")
	got := make(chan amqp.Delivery, 1)
	octx, ocancel := context.WithCancel(context.Background())
	defer ocancel()
	if err := conn.DeclareQueue(dctx, obs, eventsv1.KeyMarketplacePushed); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = amqp.Consume(octx, conn, amqp.ConsumerConfig{Queue: obs, RoutingKeys: []string{eventsv1.KeyMarketplacePushed},
			Handler: func(_ context.Context, d amqp.Delivery) error { got <- d; return nil }})
	}()
	// The worker declares and binds its queue as it starts consuming; declare
	// it the same way so the publish cannot race that.
	if err := conn.DeclareQueue(dctx, queue, eventsv1.KeyOrderShipped, eventsv1.KeyOrderStatusChanged); err != nil {
		t.Fatal(err)
	}

	ev := testenv.Shipped(s, 1)
	body, _ := proto.Marshal(ev)
	pctx, span := otel.Tracer("test").Start(dctx, "POST /v1/orders/{id}/shipments")
	if err := amqp.NewPublisher(conn).Publish(pctx, amqp.Message{Type: eventsv1.KeyOrderShipped, Body: body}); err != nil {
		t.Fatal(err)
	}
	span.End()
	traceID := span.SpanContext().TraceID().String()

	select {
	case d := <-got:
		var out eventsv1.MarketplacePushed
		if err := proto.Unmarshal(d.Body, &out); err != nil {
			t.Fatal(err)
		}
		if out.GetOutcome() != eventsv1.PushOutcome_PUSH_OUTCOME_SUCCEEDED || out.GetShipmentId() != ev.GetShipmentId() {
			t.Fatalf("event: %v", &out)
		}
		if tp, _ := d.Headers["traceparent"].(string); !strings.Contains(tp, traceID) {
			t.Errorf("MarketplacePushed traceparent %q is not in the order's trace %s", tp, traceID)
		}
		r, raw := s3env.Receipt(t, out.GetReceiptKey())
		if r.Outcome != "SUCCEEDED" {
			t.Fatalf("receipt: %s", raw)
		}
		testenv.AssertNoSecrets(t, "receipt", raw, s)
	case <-time.After(20 * time.Second):
		t.Fatal("no MarketplacePushed")
	}

	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = fmt.Fprint(&b, readAll(t, resp))
	for _, m := range []string{`printfleet_marketplace_pushes_total{marketplace="amazon",outcome="succeeded"}`,
		"printfleet_marketplace_push_duration_seconds_bucket", `printfleet_marketplace_requests_total{code="2xx",kind="api",marketplace="amazon"}`,
		// The poll loop runs beside the consumers and keeps the lag of the
		// marketplace's stores.
		`printfleet_marketplace_import_polls_total{marketplace="amazon"`,
		`printfleet_marketplace_import_lag_seconds{marketplace="amazon"}`} {
		if !strings.Contains(b.String(), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}

	cancel()
	select {
	case err := <-done:
		stopped = true
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not stop on cancellation")
	}
}

// serveCatalog serves fc on a loopback port for a process that dials it by
// address.
func serveCatalog(t *testing.T, fc *testenv.Catalog) string {
	t.Helper()
	cc, _ := testenv.StartCatalog(t, fc, testenv.Secret)
	return cc.Target()
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}

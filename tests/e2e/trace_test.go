package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
)

// orderJourney is one marketplace order driven over REST from creation to
// the marketplace push, shared by the tests that inspect what the fleet
// recorded about it (traces, logs, metrics). It runs once per suite.
type orderJourney struct {
	OrderID string
	// User is the customer's subject.
	User string
	// CreateRequestID and ShipRequestID are the X-Request-Id the client sent
	// with the create and the shipment.
	CreateRequestID, ShipRequestID string
	Tracking                       string
}

var (
	journeyOnce sync.Once
	journey     *orderJourney
)

// tracedJourney returns the shared journey, running it on first use.
func tracedJourney(t *testing.T) *orderJourney {
	t.Helper()
	e := need(t)
	journeyOnce.Do(func() { journey = runOrderJourney(t, e) })
	if journey == nil {
		t.Fatal("the shared order journey failed in an earlier test")
	}
	return journey
}

func runOrderJourney(t *testing.T, e *environment) *orderJourney {
	t.Helper()
	subject := "tracy-" + uuid.NewString()[:8]
	user := token(t, subject, "user", time.Hour)
	partner := token(t, "print-partner", "fulfillment", time.Hour)
	mug, wrap := demoItem(t, e, "Ceramic Mug 11oz", "White", "wrap")
	design := readyDesign(t, e, user, designPNG(t, 2550, 1050))
	shop := connectShopOff(t, e, user, "shopify")
	externalOrder, items := marketOrder(t, e, shop, 1)
	j := &orderJourney{
		User:            subject,
		CreateRequestID: "e2e-trace-create-" + uuid.NewString()[:8],
		ShipRequestID:   "e2e-trace-ship-" + uuid.NewString()[:8],
	}
	order := e.api.must(t, http.StatusCreated, http.MethodPost, "/v1/orders", user, map[string]any{
		"items": []any{map[string]any{"variant_id": mug, "quantity": 1, "design_id": design, "placement_id": wrap,
			"external_item_id": items[0]}},
		"shipping_address": address(), "currency": "GBP", "payment_method": "PAYMENT_METHOD_CARD",
		"store_id": shop.storeID, "external_order_id": externalOrder,
	}, "Idempotency-Key", uuid.NewString(), "X-Request-Id", j.CreateRequestID)
	j.OrderID = str(order, "id")
	waitStatus(t, e, user, j.OrderID, "ORDER_STATUS_PAID", 60*time.Second)
	waitStatus(t, e, user, j.OrderID, "ORDER_STATUS_IN_PRODUCTION", 90*time.Second)
	j.Tracking = "1Z" + strings.ToUpper(strings.ReplaceAll(uuid.NewString(), "-", ""))[:16]
	e.api.must(t, http.StatusCreated, http.MethodPost, "/v1/orders/"+j.OrderID+"/shipments", partner, map[string]any{
		"carrier": "UPS", "tracking_number": j.Tracking,
	}, "X-Request-Id", j.ShipRequestID)
	eventually(t, 60*time.Second, "the push result on the timeline", func() (bool, string) {
		evs := e.api.must(t, http.StatusOK, http.MethodGet, "/v1/orders/"+j.OrderID+"/events", user, nil)
		var types []string
		for _, ev := range dig(evs, "events").([]any) {
			types = append(types, str(ev, "type"))
		}
		joined := strings.Join(types, " ")
		return strings.Contains(joined, "marketplace"), joined
	})
	return j
}

// span is one line of a process's trace file (the stdouttrace JSON).
type span struct {
	Name        string
	SpanContext struct{ TraceID, SpanID string }
	Parent      struct {
		TraceID, SpanID string
		Remote          bool
	}
	SpanKind   int
	Attributes []struct {
		Key   string
		Value struct{ Value any }
	}
	Links []struct {
		SpanContext struct{ TraceID, SpanID string }
	}

	proc string // the trace file it came from
}

// OTel span kinds as stdouttrace writes them.
const (
	kindServer   = 2
	kindClient   = 3
	kindProducer = 4
	kindConsumer = 5
)

func (s span) attr(key string) string {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			if v, ok := kv.Value.Value.(string); ok {
				return v
			}
			return fmt.Sprint(kv.Value.Value)
		}
	}
	return ""
}

func (s span) String() string {
	return fmt.Sprintf("%s: %q kind %d %s parent %s", s.proc, s.Name, s.SpanKind, s.SpanContext.SpanID, s.Parent.SpanID)
}

// readSpans reads the spans of one trace from every process's trace file in
// dir. A line is decoded only when it names the trace: the files hold every
// span of the run, and decoding them all on each poll would take most of the
// test's time.
func readSpans(t *testing.T, dir, traceID string) []span {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no trace files in %s (%v)", dir, err)
	}
	id := []byte(traceID)
	var out []span
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		proc := strings.TrimSuffix(filepath.Base(path), ".jsonl")
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			if !bytes.Contains(sc.Bytes(), id) {
				continue
			}
			var s span
			if json.Unmarshal(sc.Bytes(), &s) != nil || s.SpanContext.TraceID != traceID {
				continue // a line still being written, or a span linking to the trace
			}
			s.proc = proc
			out = append(out, s)
		}
		f.Close()
	}
	return out
}

// logLine is one JSON log record.
type logLine map[string]any

func (l logLine) str(k string) string { s, _ := l[k].(string); return s }

// logLines returns the records of a process's log that carry requestID.
func logLines(t *testing.T, e *environment, proc, requestID string) []logLine {
	t.Helper()
	b, err := os.ReadFile(e.fleet.LogPath(proc))
	if err != nil {
		t.Fatal(err)
	}
	var out []logLine
	for _, raw := range strings.Split(string(b), "\n") {
		if !strings.Contains(raw, requestID) {
			continue
		}
		var l logLine
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			t.Errorf("%s log line is not JSON: %s", proc, raw)
			continue
		}
		out = append(out, l)
	}
	return out
}

// requestTrace is the trace id the gateway logged for a request.
func requestTrace(t *testing.T, e *environment, requestID string) string {
	t.Helper()
	for _, l := range logLines(t, e, "gateway", requestID) {
		if l.str("msg") == "http request" && l.str("request_id") == requestID {
			if id := l.str("trace_id"); id != "" {
				return id
			}
		}
	}
	t.Fatalf("the gateway's access log has no line with request_id %s and a trace_id", requestID)
	return ""
}

// The order's way through the fleet is one trace: the gateway's request span
// is its root, and every hop — gRPC to orders, catalog and pricing, the
// outbox relay, RabbitMQ, the catalog's stock consumer, the orders worker
// and its payment call, the images worker, the marketplace push — continues
// it, with AMQP spans named and attributed per the messaging conventions.
func TestTrace(t *testing.T) {
	e := need(t)
	j := tracedJourney(t)
	traceID := requestTrace(t, e, j.CreateRequestID)

	// The spans of the last hops reach the files within a batch interval,
	// each process on its own timer: wait for the last hop and for the
	// parent of every span but the root.
	var spans []span
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		spans = spans[:0]
		done := false
		ids := map[string]bool{}
		for _, s := range readSpans(t, e.layout.TraceDir, traceID) {
			spans = append(spans, s)
			ids[s.SpanContext.SpanID] = true
			done = done || s.proc == "orders-worker" && s.SpanKind == kindConsumer &&
				s.attr("messaging.rabbitmq.destination.routing_key") == eventsv1.KeyMarketplacePushed
		}
		orphans := 0
		for _, s := range spans {
			if !ids[s.Parent.SpanID] {
				orphans++
			}
		}
		if done && orphans <= 1 || time.Now().After(deadline) {
			break
		}
	}
	byID := map[string]span{}
	procs := map[string]int{}
	for _, s := range spans {
		byID[s.SpanContext.SpanID] = s
		procs[s.proc]++
	}
	t.Logf("trace %s: %d spans, per process %v", traceID, len(spans), procs)
	defer func() {
		if t.Failed() || testing.Verbose() {
			dumpTrace(t, spans)
		}
	}()

	// No pricing-worker: pricing.coupons hears only of orders with a coupon
	// (orders.order_placed_coupon.v1) and of orders that end unfulfilled
	// (cancelled, rejected, unpaid); this one is neither.
	for _, p := range []string{"gateway", "orders", "catalog", "catalog-worker", "pricing", "orders-worker", "images", "marketplace"} {
		if procs[p] == 0 {
			t.Errorf("no span of %s in the order's trace", p)
		}
	}

	// One root: the gateway's server span for POST /v1/orders.
	var roots []span
	for _, s := range spans {
		if _, ok := byID[s.Parent.SpanID]; !ok {
			roots = append(roots, s)
		}
	}
	if len(roots) != 1 || roots[0].proc != "gateway" || roots[0].SpanKind != kindServer {
		t.Errorf("the trace should have one root, the gateway's server span; roots: %v", roots)
	}

	// Each hop is there, in the process that does it.
	has := func(proc string, kind int, name string, attrs ...string) {
		t.Helper()
		for _, s := range spans {
			if s.proc != proc || s.SpanKind != kind || (name != "" && s.Name != name) {
				continue
			}
			ok := true
			for i := 0; i+1 < len(attrs); i += 2 {
				if s.attr(attrs[i]) != attrs[i+1] {
					ok = false
				}
			}
			if ok {
				return
			}
		}
		t.Errorf("no %s span of kind %d named %q with %v in the order's trace", proc, kind, name, attrs)
	}
	has("orders", kindServer, "printfleet.orders.v1.OrderService/CreateOrder")
	has("orders", kindClient, "printfleet.catalog.v1.CatalogService/GetVariants")
	has("catalog", kindServer, "printfleet.catalog.v1.CatalogService/GetVariants")
	has("orders", kindClient, "printfleet.pricing.v1.PricingService/CreateQuote")
	has("pricing", kindServer, "printfleet.pricing.v1.PricingService/CreateQuote")
	has("orders-worker", kindClient, "", "http.request.method", "POST") // the payment provider

	// The orders outbox is relayed by both orders processes, whichever
	// locks the rows first.
	const ordersOutbox = "orders|orders-worker"
	// So is the catalog's, by catalog and catalog-worker.
	const catalogOutbox = "catalog|catalog-worker"
	type hop struct{ publisher, routingKey, consumer, queue string }
	for _, h := range []hop{
		{ordersOutbox, eventsv1.KeyOrderPlaced, "catalog-worker", eventsv1.QueueCatalogStock},
		{catalogOutbox, eventsv1.KeyStockReserved, "orders-worker", eventsv1.QueueOrdersWorker},
		{ordersOutbox, eventsv1.KeyOrderPaid, "images", eventsv1.QueueImagesRenders},
		{"images", eventsv1.KeyPrintFilesReady, "orders-worker", eventsv1.QueueOrdersWorker},
		{ordersOutbox, eventsv1.KeyOrderShipped, "marketplace", eventsv1.QueueMarketplacePush},
		{"marketplace", eventsv1.KeyMarketplacePushed, "orders-worker", eventsv1.QueueOrdersWorker},
	} {
		checkHop(t, spans, byID, h.publisher, h.routingKey, h.consumer, h.queue)
	}
	has("marketplace", kindInternal, "marketplace push")
}

const kindInternal = 1

// checkHop asserts a publish span of routingKey in publisher (processes
// separated by |) and a process span of it in consumer's queue, the consumer's parent being that publish
// (the context travelled in the message headers), both attributed per the
// OpenTelemetry messaging conventions.
func checkHop(t *testing.T, spans []span, byID map[string]span, publisher, routingKey, consumer, queue string) {
	t.Helper()
	const exchange = "printfleet.events"
	var pubs, subs []span
	for _, s := range spans {
		if s.attr("messaging.rabbitmq.destination.routing_key") != routingKey {
			continue
		}
		switch {
		case inSet(s.proc, publisher) && s.SpanKind == kindProducer:
			pubs = append(pubs, s)
		case s.proc == consumer && s.SpanKind == kindConsumer && s.attr("messaging.destination.subscription.name") == queue:
			subs = append(subs, s)
		}
	}
	if len(pubs) == 0 || len(subs) == 0 {
		t.Errorf("%s → %s → %s (%s): %d publish and %d process spans in the trace", publisher, routingKey, consumer, queue, len(pubs), len(subs))
		return
	}
	for _, p := range pubs {
		want := map[string]string{
			"messaging.system": "rabbitmq", "messaging.operation.type": "send", "messaging.operation.name": "publish",
			"messaging.destination.name": exchange,
		}
		for k, v := range want {
			if got := p.attr(k); got != v {
				t.Errorf("publish %s in %s: %s = %q, want %q", routingKey, publisher, k, got, v)
			}
		}
		if p.Name != "publish "+exchange {
			t.Errorf("publish span named %q, want %q", p.Name, "publish "+exchange)
		}
		if p.attr("messaging.message.id") == "" {
			t.Errorf("publish %s in %s has no messaging.message.id", routingKey, publisher)
		}
	}
	for _, s := range subs {
		want := map[string]string{
			"messaging.system": "rabbitmq", "messaging.operation.type": "process", "messaging.operation.name": "process",
			"messaging.destination.name": exchange,
		}
		for k, v := range want {
			if got := s.attr(k); got != v {
				t.Errorf("process %s in %s: %s = %q, want %q", routingKey, consumer, k, got, v)
			}
		}
		if s.Name != "process "+exchange {
			t.Errorf("process span named %q, want %q", s.Name, "process "+exchange)
		}
		parent, ok := byID[s.Parent.SpanID]
		switch {
		case !ok:
			t.Errorf("process %s in %s: parent %s is not in the trace", routingKey, consumer, s.Parent.SpanID)
		case !s.Parent.Remote || parent.SpanKind != kindProducer || !inSet(parent.proc, publisher):
			t.Errorf("process %s in %s should continue the publish span of %s; parent is %v", routingKey, consumer, publisher, parent)
		case parent.attr("messaging.message.id") != s.attr("messaging.message.id"):
			t.Errorf("process %s: message id %s, its publish span's %s", routingKey, s.attr("messaging.message.id"), parent.attr("messaging.message.id"))
		}
	}
}

func inSet(proc, set string) bool {
	for _, p := range strings.Split(set, "|") {
		if p == proc {
			return true
		}
	}
	return false
}

// dumpTrace logs the trace as a tree.
func dumpTrace(t *testing.T, spans []span) {
	t.Helper()
	children := map[string][]span{}
	ids := map[string]bool{}
	for _, s := range spans {
		ids[s.SpanContext.SpanID] = true
	}
	var roots []span
	for _, s := range spans {
		if ids[s.Parent.SpanID] {
			children[s.Parent.SpanID] = append(children[s.Parent.SpanID], s)
		} else {
			roots = append(roots, s)
		}
	}
	var b strings.Builder
	var walk func(s span, depth int)
	walk = func(s span, depth int) {
		fmt.Fprintf(&b, "%s%s %q kind=%d", strings.Repeat("  ", depth), s.proc, s.Name, s.SpanKind)
		if rk := s.attr("messaging.rabbitmq.destination.routing_key"); rk != "" {
			fmt.Fprintf(&b, " rk=%s", rk)
		}
		b.WriteString("\n")
		cs := children[s.SpanContext.SpanID]
		sort.SliceStable(cs, func(i, j int) bool { return cs[i].proc < cs[j].proc })
		for _, c := range cs {
			walk(c, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	t.Log("\n" + b.String())
}

// Lines that the gateway and orders log while serving a request carry its
// request id and the trace id of the request's span.
func TestTraceLogs(t *testing.T) {
	e := need(t)
	j := tracedJourney(t)
	for _, id := range []string{j.CreateRequestID, j.ShipRequestID} {
		traceID := requestTrace(t, e, id)
		for _, proc := range []string{"gateway", "orders"} {
			lines := logLines(t, e, proc, id)
			if len(lines) == 0 {
				t.Errorf("%s logged nothing for request %s", proc, id)
			}
			for _, l := range lines {
				if l.str("request_id") != id || l.str("trace_id") != traceID || l.str("span_id") == "" {
					t.Errorf("%s line for request %s: request_id %q trace_id %q (want %s) span_id %q: %v",
						proc, id, l.str("request_id"), l.str("trace_id"), traceID, l.str("span_id"), l)
				}
			}
		}
	}
}

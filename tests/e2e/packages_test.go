package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// newTracking is a fresh UPS-like tracking number.
func newTracking() string {
	return "1Z" + strings.ToUpper(strings.ReplaceAll(uuid.NewString(), "-", ""))[:16]
}

// carrierSent is what the sandbox's carrier answered for one update it
// posted to the gateway.
type carrierSent struct {
	Update struct {
		EventID string `json:"event_id"`
		Status  string `json:"status"`
	} `json:"update"`
	AnswerStatus int             `json:"answer_status"`
	Answer       json.RawMessage `json:"answer"`
	Error        string          `json:"error"`
}

// carrierTrack asks the sandbox's carrier to report status for a tracking
// number (extra fields: event_id, signed_at, bad_signature...).
func carrierTrack(t *testing.T, e *environment, carrier, tracking, status string, extra map[string]any) carrierSent {
	t.Helper()
	body := map[string]any{"carrier": carrier, "tracking_number": tracking, "status": status}
	for k, v := range extra {
		body[k] = v
	}
	b, _ := json.Marshal(body)
	resp, err := http.Post(e.layout.CarrierURL()+"/track", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s carrierSent
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("carrier track: %d %v", resp.StatusCode, err)
	}
	return s
}

// blankOrderInProduction places an order of quantity blank mugs for user
// and waits until it is in production (a blank order needs no render).
func blankOrderInProduction(t *testing.T, e *environment, user string, quantity int) (id, itemID string) {
	t.Helper()
	mug, _ := demoItem(t, e, "Ceramic Mug 11oz", "White", "wrap")
	order := e.api.must(t, http.StatusCreated, http.MethodPost, "/v1/orders", user, map[string]any{
		"items":            []any{map[string]any{"variant_id": mug, "quantity": quantity}},
		"shipping_address": address(), "currency": "GBP", "payment_method": "PAYMENT_METHOD_CARD",
	}, "Idempotency-Key", uuid.NewString())
	id = str(order, "id")
	waitStatus(t, e, user, id, "ORDER_STATUS_IN_PRODUCTION", 60*time.Second)
	return id, str(dig(order, "items").([]any)[0], "id")
}

// An order of one item, quantity 2, ships in two packages: PARTIALLY_SHIPPED
// after the first, SHIPPED after the second; over-shipping is refused. One
// package is delivered by the fulfillment partner, the other by the
// carrier's signed update: the order is DELIVERED, and the timeline tells it.
func TestPackages(t *testing.T) {
	e := need(t)
	alice := token(t, "alice-"+uuid.NewString()[:8], "user", time.Hour)
	partner := token(t, "print-partner", "fulfillment", time.Hour)
	id, item := blankOrderInProduction(t, e, alice, 2)
	shipments := "/v1/orders/" + id + "/shipments"

	first, second := newTracking(), newTracking()
	p1 := e.api.must(t, http.StatusCreated, http.MethodPost, shipments, partner, map[string]any{
		"carrier": "UPS", "tracking_number": first, "items": []any{map[string]any{"item_id": item, "quantity": 1}},
	})
	if str(p1, "status") != "SHIPMENT_STATUS_IN_TRANSIT" || len(dig(p1, "items").([]any)) != 1 ||
		dig(p1, "items").([]any)[0].(map[string]any)["quantity"] != float64(1) {
		t.Fatalf("first package %v", p1)
	}
	order := e.api.must(t, http.StatusOK, http.MethodGet, "/v1/orders/"+id, alice, nil)
	if str(order, "status") != "ORDER_STATUS_PARTIALLY_SHIPPED" || dig(order, "items").([]any)[0].(map[string]any)["shipped_quantity"] != float64(1) {
		t.Fatalf("after the first package: %s, items %v", str(order, "status"), dig(order, "items"))
	}

	// Only one is left: two is over-shipping.
	over := e.api.do(t, http.MethodPost, shipments, partner, map[string]any{
		"carrier": "UPS", "tracking_number": newTracking(), "items": []any{map[string]any{"item_id": item, "quantity": 2}},
	})
	if over.Status != http.StatusBadRequest {
		t.Fatalf("over-shipping: %d %s", over.Status, over.Body)
	}

	// No items: everything left.
	p2 := e.api.must(t, http.StatusCreated, http.MethodPost, shipments, partner, map[string]any{
		"carrier": "ups", "tracking_number": second,
	})
	if status := orderStatus(t, e, alice, id); status != "ORDER_STATUS_SHIPPED" {
		t.Fatalf("after the second package: %s", status)
	}
	list := e.api.must(t, http.StatusOK, http.MethodGet, shipments, alice, nil)
	got := dig(list, "shipments").([]any)
	if len(got) != 2 || str(got[0], "id") != str(p1, "id") || str(got[1], "id") != str(p2, "id") {
		t.Fatalf("shipments %v", got)
	}
	for i, sh := range got {
		its := dig(sh.(map[string]any), "items").([]any)
		if len(its) != 1 || str(its[0], "item_id") != item || its[0].(map[string]any)["quantity"] != float64(1) {
			t.Fatalf("package %d items %v", i, its)
		}
	}

	// The fulfillment partner delivers the first; twice is the same answer.
	deliver := shipments + "/" + str(p1, "id") + ":deliver"
	d1 := e.api.must(t, http.StatusOK, http.MethodPost, deliver, partner, map[string]any{})
	d2 := e.api.must(t, http.StatusOK, http.MethodPost, deliver, partner, map[string]any{})
	if str(d1, "status") != "SHIPMENT_STATUS_DELIVERED" || str(d1, "delivered_at") == "" || str(d2, "delivered_at") != str(d1, "delivered_at") {
		t.Fatalf("delivered %v, again %v", d1, d2)
	}
	if status := orderStatus(t, e, alice, id); status != "ORDER_STATUS_SHIPPED" {
		t.Fatalf("one of two packages delivered: %s", status)
	}

	// The carrier reports the second out for delivery, then delivered (its
	// carrier spelled as it likes), through the gateway's signed route.
	if s := carrierTrack(t, e, "UPS", second, "OUT_FOR_DELIVERY", nil); s.AnswerStatus != http.StatusOK ||
		!strings.Contains(string(s.Answer), `"OUT_FOR_DELIVERY"`) {
		t.Fatalf("out for delivery: %+v", s)
	}
	delivered := carrierTrack(t, e, " Ups ", second, "DELIVERED", nil)
	if delivered.AnswerStatus != http.StatusOK || !strings.Contains(string(delivered.Answer), str(p2, "id")) {
		t.Fatalf("delivered: %+v", delivered)
	}
	// A late in-transit update changes nothing; its answer is DELIVERED.
	late := carrierTrack(t, e, "UPS", second, "IN_TRANSIT", map[string]any{"occurred_at": time.Now().Add(-time.Hour).UTC()})
	if late.AnswerStatus != http.StatusOK || !strings.Contains(string(late.Answer), `"DELIVERED"`) {
		t.Fatalf("late update: %+v", late)
	}
	if status := orderStatus(t, e, alice, id); status != "ORDER_STATUS_DELIVERED" {
		t.Fatalf("every package delivered: %s", status)
	}

	events := e.api.must(t, http.StatusOK, http.MethodGet, "/v1/orders/"+id+"/events?page_size=200", alice, nil)
	var types []string
	for _, ev := range dig(events, "events").([]any) {
		types = append(types, str(ev, "type"))
	}
	joined := " " + strings.Join(types, " ") + " "
	for _, want := range []string{
		"shipment.created order.partially_shipped", "shipment.created order.shipped",
		"shipment.delivered", "shipment.status_changed", "shipment.delivered order.delivered",
	} {
		if !strings.Contains(joined, " "+want+" ") {
			t.Errorf("timeline %v lacks %q", types, want)
		}
	}
	if strings.Count(joined, " shipment.delivered ") != 2 {
		t.Errorf("timeline %v: want two deliveries", types)
	}
}

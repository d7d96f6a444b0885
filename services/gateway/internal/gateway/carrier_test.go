package gateway_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/printfleet/printfleet/platform/webhooksig"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	"github.com/printfleet/printfleet/services/gateway/internal/gateway"
	"github.com/printfleet/printfleet/services/gateway/internal/policy"
)

const carrierSecret = "carrier-secret-for-tests-0123456789"

func carrierEnv(t *testing.T, secret string) *env {
	return newEnv(t, withOptions(func(o *gateway.Options) { o.CarrierSecret = secret }))
}

func carrierBody(eventID, tracking, status string) []byte {
	return fmt.Appendf(nil, `{"event_id":%q,"carrier":"UPS","tracking_number":%q,"status":%q,"occurred_at":"2026-12-03T10:00:00Z"}`,
		eventID, tracking, status)
}

func signed(body []byte, at time.Time, secret string) map[string]string {
	return map[string]string{gateway.HeaderCarrierSignature: webhooksig.Sign(at, body, secret)}
}

// A signed update reaches orders as the gateway's own principal and answers
// the package's status; a token is not needed (nor looked at).
func TestCarrierUpdateSigned(t *testing.T) {
	t.Parallel()
	e := carrierEnv(t, carrierSecret)
	body := carrierBody("evt-1", "1Z999", "OUT_FOR_DELIVERY")
	resp := e.postRaw(policy.CarrierUpdates, body, false, signed(body, time.Now(), carrierSecret))
	if resp.status != 200 {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	got := resp.json(t)
	if got["order_id"] != aliceOrder || got["shipment_id"] != aliceShipment || got["status"] != "OUT_FOR_DELIVERY" {
		t.Fatalf("answer %v", got)
	}
	reqs := e.f.orders.carrierUpdates()
	if len(reqs) != 1 {
		t.Fatalf("%d updates reached orders", len(reqs))
	}
	r := reqs[0]
	if r.GetEventId() != "evt-1" || r.GetCarrier() != "UPS" || r.GetTrackingNumber() != "1Z999" ||
		r.GetStatus() != ordersv1.ShipmentStatus_SHIPMENT_STATUS_OUT_FOR_DELIVERY ||
		!r.GetOccurredAt().AsTime().Equal(time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("orders got %v", r)
	}
	if p := e.f.orders.last(t).Principal; p.Subject != "service:gateway" {
		t.Fatalf("orders was called as %v", p)
	}

	// An unknown tracking number is 404.
	unknown := carrierBody("evt-2", "NOPE1", "IN_TRANSIT")
	if resp := e.postRaw(policy.CarrierUpdates, unknown, false, signed(unknown, time.Now(), carrierSecret)); resp.status != 404 {
		t.Fatalf("unknown tracking number: %d %s", resp.status, resp.body)
	}
}

// A replay of an event id (even re-signed later) is answered as the first:
// orders deduplicates it, the gateway passes its answer on.
func TestCarrierUpdateReplayAnsweredAsFirst(t *testing.T) {
	t.Parallel()
	e := carrierEnv(t, carrierSecret)
	body := carrierBody("evt-replay", "1Z999", "IN_TRANSIT")
	first := e.postRaw(policy.CarrierUpdates, body, false, signed(body, time.Now(), carrierSecret))
	again := e.postRaw(policy.CarrierUpdates, body, false, signed(body, time.Now().Add(time.Second), carrierSecret))
	if first.status != 200 || again.status != 200 || string(first.body) != string(again.body) {
		t.Fatalf("first %d %s, replay %d %s", first.status, first.body, again.status, again.body)
	}
	// The same event id with another status still answers the first.
	other := carrierBody("evt-replay", "1Z999", "DELIVERED")
	third := e.postRaw(policy.CarrierUpdates, other, false, signed(other, time.Now(), carrierSecret))
	if third.status != 200 || string(third.body) != string(first.body) {
		t.Fatalf("replay with another status: %d %s, want %s", third.status, third.body, first.body)
	}
}

// Missing, wrong, foreign-secret and stale signatures are 401, and nothing
// reaches orders; so are malformed bodies (400) and oversized ones (413).
func TestCarrierUpdateRefused(t *testing.T) {
	t.Parallel()
	e := carrierEnv(t, carrierSecret)
	body := carrierBody("evt-bad", "1Z999", "DELIVERED")
	now := time.Now()
	tampered := []byte(strings.Replace(string(body), "DELIVERED", "EXCEPTION", 1))
	for name, c := range map[string]struct {
		body   []byte
		header map[string]string
		want   int
	}{
		"missing signature":   {body, nil, 401},
		"garbage signature":   {body, map[string]string{gateway.HeaderCarrierSignature: "nonsense"}, 401},
		"another secret":      {body, signed(body, now, "not-the-carrier-secret-0123456789"), 401},
		"tampered body":       {tampered, signed(body, now, carrierSecret), 401},
		"stale timestamp":     {body, signed(body, now.Add(-6*time.Minute), carrierSecret), 401},
		"future timestamp":    {body, signed(body, now.Add(6*time.Minute), carrierSecret), 401},
		"v1 only, no t":       {body, map[string]string{gateway.HeaderCarrierSignature: "v1=" + strings.Repeat("0", 64)}, 401},
		"not json":            {[]byte("status=DELIVERED"), signed([]byte("status=DELIVERED"), now, carrierSecret), 400},
		"unknown status":      {carrierBody("evt-x", "1Z999", "LOST"), signed(carrierBody("evt-x", "1Z999", "LOST"), now, carrierSecret), 400},
		"unknown field":       {[]byte(`{"event_id":"e","carrier":"UPS","tracking_number":"1Z999","status":"DELIVERED","occurred_at":"2026-12-03T10:00:00Z","order_id":"x"}`), nil, 400},
		"too large":           {make([]byte, gateway.MaxCarrierBody+1), nil, 413},
		"missing occurred_at": {[]byte(`{"event_id":"e","carrier":"UPS","tracking_number":"1Z999","status":"DELIVERED"}`), nil, 400},
	} {
		h := c.header
		if h == nil && c.want != 401 {
			h = signed(c.body, now, carrierSecret)
		}
		if resp := e.postRaw(policy.CarrierUpdates, c.body, false, h); resp.status != c.want {
			t.Errorf("%s: %d %s, want %d", name, resp.status, resp.body, c.want)
		}
	}
	if n := len(e.f.orders.carrierUpdates()); n != 0 {
		t.Fatalf("%d refused updates reached orders", n)
	}
	if logs := e.logs.String(); strings.Contains(logs, carrierSecret) {
		t.Fatal("the carrier secret was logged")
	}
}

// Without a carrier secret the route is off: 404, and nothing reaches
// orders however the request is signed.
func TestCarrierUpdateDisabledWithoutSecret(t *testing.T) {
	t.Parallel()
	e := carrierEnv(t, "")
	body := carrierBody("evt-off", "1Z999", "DELIVERED")
	if resp := e.postRaw(policy.CarrierUpdates, body, false, signed(body, time.Now(), "")); resp.status != 404 {
		t.Fatalf("status %d %s, want 404", resp.status, resp.body)
	}
	if n := len(e.f.orders.carrierUpdates()); n != 0 {
		t.Fatalf("%d updates reached orders", n)
	}
}

package e2e

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// Shipping and delivering take the fulfillment or admin role; another
// user's packages do not exist; the carrier route takes only updates signed
// with the carrier secret within five minutes, and the refused ones change
// nothing.
func TestSecurityPackages(t *testing.T) {
	e := need(t)
	alice := token(t, "alice-"+uuid.NewString()[:8], "user", time.Hour)
	mallory := token(t, "mallory-"+uuid.NewString()[:8], "user", time.Hour)
	partner := token(t, "print-partner", "fulfillment", time.Hour)
	id, item := blankOrderInProduction(t, e, alice, 1)
	shipments := "/v1/orders/" + id + "/shipments"
	tracking := newTracking()
	ship := map[string]any{"carrier": "UPS", "tracking_number": tracking, "items": []any{map[string]any{"item_id": item, "quantity": 1}}}

	// A user, even the owner, cannot ship.
	for name, tok := range map[string]string{"owner": alice, "another user": mallory} {
		if r := e.api.do(t, http.MethodPost, shipments, tok, ship); r.Status != http.StatusForbidden && r.Status != http.StatusNotFound {
			t.Fatalf("%s ships: %d %s", name, r.Status, r.Body)
		}
	}
	if status := orderStatus(t, e, alice, id); status != "ORDER_STATUS_IN_PRODUCTION" {
		t.Fatalf("after refused shipments: %s", status)
	}
	p := e.api.must(t, http.StatusCreated, http.MethodPost, shipments, partner, ship)
	deliver := shipments + "/" + str(p, "id") + ":deliver"

	// A user cannot deliver; another user cannot even list.
	for name, tok := range map[string]string{"owner": alice, "another user": mallory} {
		if r := e.api.do(t, http.MethodPost, deliver, tok, map[string]any{}); r.Status != http.StatusForbidden && r.Status != http.StatusNotFound {
			t.Fatalf("%s delivers: %d %s", name, r.Status, r.Body)
		}
	}
	if r := e.api.do(t, http.MethodGet, shipments, mallory, nil); r.Status != http.StatusNotFound {
		t.Fatalf("another user lists the packages: %d %s", r.Status, r.Body)
	}
	e.api.must(t, http.StatusOK, http.MethodGet, shipments, alice, nil)
	e.api.must(t, http.StatusOK, http.MethodGet, shipments, partner, nil)

	// Unsigned, badly signed, stale: 401, nothing changes.
	body := []byte(`{"event_id":"evt-` + uuid.NewString() + `","carrier":"UPS","tracking_number":"` + tracking +
		`","status":"DELIVERED","occurred_at":"` + time.Now().UTC().Format(time.RFC3339) + `"}`)
	for name, sig := range map[string]string{
		"unsigned":   "",
		"garbage":    "t=1,v1=deadbeef",
		"wrong hmac": "t=" + strconv.FormatInt(time.Now().Unix(), 10) + ",v1=" + strings.Repeat("ab", 32),
	} {
		req, _ := http.NewRequest(http.MethodPost, e.layout.GatewayURL()+"/v1/carrier-updates", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if sig != "" {
			req.Header.Set("Printfleet-Carrier-Signature", sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s carrier update: %d", name, resp.StatusCode)
		}
	}
	if s := carrierTrack(t, e, "UPS", tracking, "DELIVERED", map[string]any{"bad_signature": true}); s.AnswerStatus != http.StatusUnauthorized {
		t.Fatalf("badly signed: %+v", s)
	}
	stale := time.Now().Add(-10 * time.Minute).UTC()
	if s := carrierTrack(t, e, "UPS", tracking, "DELIVERED", map[string]any{"signed_at": stale}); s.AnswerStatus != http.StatusUnauthorized {
		t.Fatalf("stale: %+v", s)
	}
	list := e.api.must(t, http.StatusOK, http.MethodGet, shipments, alice, nil)
	if got := str(dig(list, "shipments").([]any)[0], "status"); got != "SHIPMENT_STATUS_IN_TRANSIT" {
		t.Fatalf("refused updates changed the package: %s", got)
	}
	if status := orderStatus(t, e, alice, id); status != "ORDER_STATUS_SHIPPED" {
		t.Fatalf("refused updates changed the order: %s", status)
	}
	// A properly signed one is taken.
	if s := carrierTrack(t, e, "UPS", tracking, "DELIVERED", nil); s.AnswerStatus != http.StatusOK {
		t.Fatalf("signed: %+v", s)
	}
	if status := orderStatus(t, e, alice, id); status != "ORDER_STATUS_DELIVERED" {
		t.Fatalf("after the signed update: %s", status)
	}
}

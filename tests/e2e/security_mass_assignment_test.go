package e2e

// Mass assignment.

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestMassAssignment posts server-owned fields with creates: each is refused
// as an unknown field (400) or ignored; no stored object ever carries the
// client's value, and an order's totals are the quote's.
func TestMassAssignment(t *testing.T) {
	e := need(t)
	sub := newSubject("mass")
	tok := secToken(t, sub, "user", time.Hour)
	variant, _ := sticker(t, e)
	fakeID := ghostID()
	money := func(n int) map[string]any { return map[string]any{"currency": "USD", "amount_minor": n} }

	quote := e.api.must(t, http.StatusOK, "POST", "/v1/quotes", "", map[string]any{
		"items": []any{map[string]any{"variant_id": variant, "quantity": 3}}, "country_code": "GB", "currency": "USD",
	})

	// Top-level and item-level server fields, one at a time and all at once.
	extras := []struct {
		name string
		set  func(b map[string]any)
	}{
		{"total", func(b map[string]any) { b["total"] = money(1) }},
		{"subtotal", func(b map[string]any) { b["subtotal"] = money(1) }},
		{"shipping", func(b map[string]any) { b["shipping"] = money(0) }},
		{"discount", func(b map[string]any) { b["discount"] = money(999999) }},
		{"status", func(b map[string]any) { b["status"] = "ORDER_STATUS_SHIPPED" }},
		{"user_id", func(b map[string]any) { b["user_id"] = "mass-victim" }},
		{"id", func(b map[string]any) { b["id"] = fakeID }},
		{"quote_id", func(b map[string]any) { b["quote_id"] = "quote-from-client" }},
		{"payment_id", func(b map[string]any) { b["payment_id"] = "pi_client" }},
		{"version", func(b map[string]any) { b["version"] = 42 }},
		{"failure_reason", func(b map[string]any) { b["failure_reason"] = "client" }},
		{"shipments", func(b map[string]any) {
			b["shipments"] = []any{map[string]any{"carrier": "UPS", "tracking_number": "1ZMASS"}}
		}},
		{"created_at", func(b map[string]any) { b["created_at"] = "2001-01-01T00:00:00Z" }},
		{"items[0].unit_price", func(b map[string]any) { firstItem(b)["unit_price"] = money(1) }},
		{"items[0].line_total", func(b map[string]any) { firstItem(b)["line_total"] = money(1) }},
		{"items[0].sku", func(b map[string]any) { firstItem(b)["sku"] = "CLIENT-SKU" }},
		{"items[0].print_file_key", func(b map[string]any) { firstItem(b)["print_file_key"] = "../../other/print.png" }},
		{"totalCamelCase", func(b map[string]any) { b["Total"] = money(1) }},
		{"all at once", func(b map[string]any) {
			b["total"], b["subtotal"], b["status"], b["user_id"], b["id"] = money(1), money(1), "ORDER_STATUS_SHIPPED", "mass-victim", fakeID
		}},
	}
	for _, x := range extras {
		t.Run("order/"+x.name, func(t *testing.T) {
			body := secBlankOrder(variant, 3)
			x.set(body)
			got := secCreateOrder(t, e, tok, body)
			switch {
			case got.Status == http.StatusBadRequest:
				if msg := checkErrorBody(got, http.StatusBadRequest, "INVALID_ARGUMENT"); msg != "" {
					t.Error(msg)
				}
				t.Logf("refused: %s", secClip(got.Body, 200))
			case got.Status == http.StatusCreated:
				t.Logf("accepted and ignored")
				o := got.JSON(t)
				stored := e.api.must(t, http.StatusOK, "GET", "/v1/orders/"+str(o, "id"), tok, nil)
				assertServerOwned(t, stored, sub, fakeID, quote)
			default:
				t.Errorf("%s: %d %s, want 400 (unknown field) or 201 (ignored)", x.name, got.Status, got.Body)
			}
		})
	}
	// Query parameters cannot set them either.
	t.Run("order/query parameters", func(t *testing.T) {
		got := e.api.do(t, "POST", "/v1/orders?user_id=mass-victim&total.amount_minor=1&status=ORDER_STATUS_SHIPPED&id="+fakeID,
			tok, secBlankOrder(variant, 3), "Idempotency-Key", uuid.NewString())
		switch got.Status {
		case http.StatusCreated:
			stored := e.api.must(t, http.StatusOK, "GET", "/v1/orders/"+str(got.JSON(t), "id"), tok, nil)
			assertServerOwned(t, stored, sub, fakeID, quote)
		case http.StatusBadRequest:
		default:
			t.Errorf("%d %s", got.Status, got.Body)
		}
	})
	// Whatever happened above, every order the user holds is server-made,
	// and a clean create totals exactly the quote.
	clean := secCreateOrder(t, e, tok, secBlankOrder(variant, 3))
	if clean.Status != http.StatusCreated {
		t.Fatalf("clean create: %d %s", clean.Status, clean.Body)
	}
	assertServerOwned(t, clean.JSON(t), sub, fakeID, quote)
	list := e.api.must(t, http.StatusOK, "GET", "/v1/orders?page_size=100", tok, nil)
	for _, o := range dig(list, "orders").([]any) {
		assertServerOwned(t, o.(map[string]any), sub, fakeID, quote)
	}
	if victim := e.api.must(t, http.StatusOK, "GET", "/v1/orders?user_id=mass-victim", secToken(t, "mass-admin", "admin", time.Hour), nil); len(dig(victim, "orders").([]any)) != 0 {
		t.Errorf("orders were stored for the client-named user mass-victim: %s", secClip([]byte(secJSON(victim)), 800))
	}

	// Stores and designs.
	t.Run("store", func(t *testing.T) {
		got := e.api.do(t, "POST", "/v1/stores", tok, map[string]any{
			"marketplace": "MARKETPLACE_SHOPIFY", "shop_id": "mass-" + uuid.NewString()[:8], "name": "Mass",
			"credentials": map[string]any{"api_key": "sec-mass-" + uuid.NewString()},
			"id":          fakeID, "owner_id": "mass-victim", "created_at": "2001-01-01T00:00:00Z",
		})
		switch got.Status {
		case http.StatusBadRequest:
			if msg := checkErrorBody(got, http.StatusBadRequest, "INVALID_ARGUMENT"); msg != "" {
				t.Error(msg)
			}
		case http.StatusCreated:
			s := got.JSON(t)
			if str(s, "id") == fakeID || str(s, "owner_id") != sub || strings.HasPrefix(str(s, "created_at"), "2001") {
				t.Errorf("the store carries client values: %s", got.Body)
			}
		default:
			t.Errorf("%d %s", got.Status, got.Body)
		}
	})
	t.Run("design", func(t *testing.T) {
		got := e.api.do(t, "POST", "/v1/designs", tok, map[string]any{
			"filename": "mass.png", "content_type": "image/png", "size_bytes": 1000,
			"id": fakeID, "owner_id": "mass-victim", "status": "DESIGN_STATUS_READY",
			"object_key": "designs/mass-victim/x.png", "master_key": "x", "report": map[string]any{"format": "png"},
		})
		switch got.Status {
		case http.StatusBadRequest:
			if msg := checkErrorBody(got, http.StatusBadRequest, "INVALID_ARGUMENT"); msg != "" {
				t.Error(msg)
			}
		case http.StatusCreated:
			d := dig(got.JSON(t), "design")
			if str(d, "id") == fakeID || str(d, "owner_id") != sub || str(d, "status") == "DESIGN_STATUS_READY" ||
				strings.Contains(str(d, "object_key"), "mass-victim") {
				t.Errorf("the design carries client values: %s", got.Body)
			}
		default:
			t.Errorf("%d %s", got.Status, got.Body)
		}
	})
}

func firstItem(b map[string]any) map[string]any { return b["items"].([]any)[0].(map[string]any) }

// assertServerOwned checks an order against the quote and the caller.
func assertServerOwned(t *testing.T, o map[string]any, sub, fakeID string, quote map[string]any) {
	t.Helper()
	var bad []string
	if str(o, "user_id") != sub {
		bad = append(bad, fmt.Sprintf("user_id %q, want %q", str(o, "user_id"), sub))
	}
	if str(o, "id") == fakeID {
		bad = append(bad, "id is the client's")
	}
	for _, k := range []string{"total", "subtotal", "shipping", "discount"} {
		if fmt.Sprint(dig(o, k, "amount_minor")) != fmt.Sprint(dig(quote, k, "amount_minor")) ||
			str(o, k, "currency") != str(quote, k, "currency") {
			bad = append(bad, fmt.Sprintf("%s %v, quote says %v", k, dig(o, k), dig(quote, k)))
		}
	}
	if s := str(o, "status"); s == "ORDER_STATUS_SHIPPED" || progress[s] < 0 {
		bad = append(bad, "status "+s)
	}
	for _, k := range []string{"quote_id", "payment_id", "failure_reason"} {
		if v := str(o, k); strings.Contains(v, "client") {
			bad = append(bad, k+" "+v)
		}
	}
	if strings.HasPrefix(str(o, "created_at"), "2001") {
		bad = append(bad, "created_at "+str(o, "created_at"))
	}
	for _, it := range dig(o, "items").([]any) {
		if str(it, "sku") == "CLIENT-SKU" || strings.Contains(str(it, "print_file_key"), "other") ||
			fmt.Sprint(dig(it, "unit_price", "amount_minor")) == "1" {
			bad = append(bad, "item carries client values: "+secJSON(it))
		}
	}
	if len(bad) > 0 {
		t.Errorf("order %s carries client values: %s\n order: %s", str(o, "id"), strings.Join(bad, "; "), secClip([]byte(secJSON(o)), 1200))
	}
}

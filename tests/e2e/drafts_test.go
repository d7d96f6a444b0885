package e2e

// Draft orders over REST: created with confirm: false, edited with PATCH,
// placed with :confirm, expired by the worker.

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// reservationsOf counts the catalog's stock reservations of an order.
func reservationsOf(t *testing.T, e *environment, orderID string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, e.layout.PGURL("catalog"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var n int
	if err := c.QueryRow(ctx, `SELECT count(*) FROM reservations WHERE order_id = $1`, orderID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func draftBody(variant string, n int) map[string]any {
	b := secBlankOrder(variant, n)
	b["confirm"] = false
	return b
}

func orderAmount(o map[string]any, k string) string { return fmt.Sprint(dig(o, k, "amount_minor")) }

func TestDraftOrders(t *testing.T) {
	e := need(t)
	sub := newSubject("drafts")
	alice := token(t, sub, "user", time.Hour)
	mallory := token(t, newSubject("mallory"), "user", time.Hour)
	variant, _ := sticker(t, e)

	// Draft: priced, DRAFT at version 1, expires, holds no stock.
	key := uuid.NewString()
	created := e.api.do(t, http.MethodPost, "/v1/orders", alice, draftBody(variant, 2), "Idempotency-Key", key)
	if created.Status != http.StatusCreated {
		t.Fatalf("create draft: %d %s", created.Status, created.Body)
	}
	d := created.JSON(t)
	id := str(d, "id")
	if str(d, "status") != "ORDER_STATUS_DRAFT" || fmt.Sprint(dig(d, "version")) != "1" || str(d, "expires_at") == "" {
		t.Fatalf("draft: %s", created.Body)
	}
	quote := e.api.must(t, http.StatusOK, http.MethodPost, "/v1/quotes", "", map[string]any{
		"items": []any{map[string]any{"variant_id": variant, "quantity": 2}}, "country_code": "GB", "currency": "USD",
	})
	if orderAmount(d, "total") != orderAmount(quote, "total") {
		t.Fatalf("draft total %s, quote %s", orderAmount(d, "total"), orderAmount(quote, "total"))
	}
	// The same key answers the same draft.
	again := e.api.do(t, http.MethodPost, "/v1/orders", alice, draftBody(variant, 2), "Idempotency-Key", key)
	if again.Status != http.StatusCreated || str(again.JSON(t), "id") != id {
		t.Fatalf("replay: %d %s", again.Status, again.Body)
	}
	time.Sleep(2 * time.Second) // the catalog would have reserved by now, had anything been placed
	if n := reservationsOf(t, e, id); n != 0 {
		t.Fatalf("%d stock reservations for a draft", n)
	}
	if s := orderStatus(t, e, alice, id); s != "ORDER_STATUS_DRAFT" {
		t.Fatalf("draft moved to %s", s)
	}

	// Another user can neither edit nor confirm it.
	e.api.must(t, http.StatusNotFound, http.MethodPatch, "/v1/orders/"+id, mallory, map[string]any{"version": 1, "items": []any{map[string]any{"variant_id": variant, "quantity": 9}}})
	e.api.must(t, http.StatusNotFound, http.MethodPost, "/v1/orders/"+id+":confirm", mallory, map[string]any{})

	// Edit the items and the shipping method: priced again.
	edited := e.api.must(t, http.StatusOK, http.MethodPatch, "/v1/orders/"+id, alice, map[string]any{
		"version": 1, "items": []any{map[string]any{"variant_id": variant, "quantity": 5}}, "shipping_method": "standard",
	})
	if fmt.Sprint(dig(edited, "version")) != "2" || fmt.Sprint(dig(edited, "items", 0, "quantity")) != "5" {
		t.Fatalf("edited: %s", secJSON(edited))
	}
	quote5 := e.api.must(t, http.StatusOK, http.MethodPost, "/v1/quotes", "", map[string]any{
		"items": []any{map[string]any{"variant_id": variant, "quantity": 5}}, "country_code": "GB", "currency": "USD",
	})
	if orderAmount(edited, "subtotal") != orderAmount(quote5, "subtotal") || orderAmount(edited, "total") == orderAmount(d, "total") {
		t.Fatalf("not repriced: subtotal %s (quote %s), total %s (was %s)", orderAmount(edited, "subtotal"), orderAmount(quote5, "subtotal"),
			orderAmount(edited, "total"), orderAmount(d, "total"))
	}
	// A stale version is a conflict.
	stale := e.api.do(t, http.MethodPatch, "/v1/orders/"+id, alice, map[string]any{"version": 1, "items": []any{map[string]any{"variant_id": variant, "quantity": 1}}})
	if stale.Status != http.StatusConflict {
		t.Fatalf("stale edit: %d %s", stale.Status, stale.Body)
	}

	// Confirm: placed like any order, on to payment and production.
	confirmed := e.api.must(t, http.StatusOK, http.MethodPost, "/v1/orders/"+id+":confirm", alice, map[string]any{})
	if s := str(confirmed, "status"); progress[s] < 0 || s == "ORDER_STATUS_DRAFT" || str(confirmed, "expires_at") != "" {
		t.Fatalf("confirmed: %s", secJSON(confirmed))
	}
	paid := waitStatus(t, e, alice, id, "ORDER_STATUS_PAID", 60*time.Second)
	if orderAmount(paid, "total") != orderAmount(edited, "total") {
		t.Fatalf("placed at %s, the draft said %s", orderAmount(paid, "total"), orderAmount(edited, "total"))
	}
	// Confirming again answers the order as it is.
	twice := e.api.must(t, http.StatusOK, http.MethodPost, "/v1/orders/"+id+":confirm", alice, map[string]any{})
	if str(twice, "id") != id || progress[str(twice, "status")] < progress["ORDER_STATUS_PAID"] {
		t.Fatalf("second confirm: %s", secJSON(twice))
	}
	// No longer editable.
	late := e.api.do(t, http.MethodPatch, "/v1/orders/"+id, alice, map[string]any{"shipping_method": "standard"})
	if late.Status != http.StatusBadRequest || !strings.Contains(string(late.Body), "DRAFT") && !strings.Contains(string(late.Body), "cannot edit") {
		t.Fatalf("edit after confirm: %d %s", late.Status, late.Body)
	}
	events := e.api.must(t, http.StatusOK, http.MethodGet, "/v1/orders/"+id+"/events", alice, nil)
	var types []string
	for _, ev := range dig(events, "events").([]any) {
		types = append(types, str(ev, "type"))
	}
	if len(types) < 3 || types[0] != "order.drafted" || types[1] != "order.draft_updated" || types[2] != "order.placed" {
		t.Fatalf("timeline %v", types)
	}
}

// A draft nobody confirms is cancelled by the worker once it expires.
func TestDraftExpiresOverREST(t *testing.T) {
	e := need(t)
	alice := token(t, newSubject("expiry"), "user", time.Hour)
	variant, _ := sticker(t, e)
	r := secCreateOrder(t, e, alice, draftBody(variant, 1))
	if r.Status != http.StatusCreated {
		t.Fatalf("create draft: %d %s", r.Status, r.Body)
	}
	id := str(r.JSON(t), "id")
	var last map[string]any
	eventually(t, e2eDraftTTL+30*time.Second, "draft "+id+" expired", func() (bool, string) {
		last = e.api.must(t, http.StatusOK, http.MethodGet, "/v1/orders/"+id, alice, nil)
		return str(last, "status") == "ORDER_STATUS_CANCELLED", str(last, "status")
	})
	if str(last, "failure_reason") != "draft expired" || str(last, "expires_at") != "" {
		t.Fatalf("expired draft: %s", secJSON(last))
	}
	c := e.api.do(t, http.MethodPost, "/v1/orders/"+id+":confirm", alice, map[string]any{})
	if c.Status != http.StatusBadRequest || !strings.Contains(string(c.Body), "expired") {
		t.Fatalf("confirm an expired draft: %d %s", c.Status, c.Body)
	}
}

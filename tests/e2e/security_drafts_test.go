package e2e

// Draft orders: object-level authorization on PATCH and :confirm, and mass
// assignment of server-owned fields on the draft's create and edit.

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestSecurityDrafts(t *testing.T) {
	e := need(t)
	owner := newSubject("draft-owner")
	tok := secToken(t, owner, "user", time.Hour)
	other := secToken(t, newSubject("draft-other"), "user", time.Hour)
	admin := secToken(t, newSubject("draft-admin"), "admin", time.Hour)
	variant, _ := sticker(t, e)
	money := func(n int) map[string]any { return map[string]any{"currency": "USD", "amount_minor": n} }

	r := secCreateOrder(t, e, tok, draftBody(variant, 1))
	if r.Status != http.StatusCreated {
		t.Fatalf("create draft: %d %s", r.Status, r.Body)
	}
	d := r.JSON(t)
	id := str(d, "id")

	t.Run("BOLA", func(t *testing.T) {
		for _, path := range []string{"/v1/orders/" + id, "/v1/orders/" + ghostID()} {
			got := e.api.do(t, http.MethodPatch, path, other, map[string]any{"items": []any{map[string]any{"variant_id": variant, "quantity": 7}}})
			if msg := checkErrorBody(got, http.StatusNotFound, "NOT_FOUND"); msg != "" {
				t.Errorf("PATCH %s by another user: %s", path, msg)
			}
			got = e.api.do(t, http.MethodPost, path+":confirm", other, map[string]any{})
			if msg := checkErrorBody(got, http.StatusNotFound, "NOT_FOUND"); msg != "" {
				t.Errorf("confirm %s by another user: %s", path, msg)
			}
		}
		// Unauthenticated callers learn nothing either.
		if got := e.api.do(t, http.MethodPatch, "/v1/orders/"+id, "", map[string]any{}); got.Status != http.StatusUnauthorized {
			t.Errorf("anonymous PATCH: %d %s", got.Status, got.Body)
		}
		if got := e.api.do(t, http.MethodPost, "/v1/orders/"+id+":confirm", "", map[string]any{}); got.Status != http.StatusUnauthorized {
			t.Errorf("anonymous confirm: %d %s", got.Status, got.Body)
		}
		o := e.api.must(t, http.StatusOK, http.MethodGet, "/v1/orders/"+id, tok, nil)
		if str(o, "status") != "ORDER_STATUS_DRAFT" || fmt.Sprint(dig(o, "version")) != "1" || fmt.Sprint(dig(o, "items", 0, "quantity")) != "1" {
			t.Fatalf("another user changed the draft: %s", secJSON(o))
		}
		// An admin may edit it.
		a := e.api.must(t, http.StatusOK, http.MethodPatch, "/v1/orders/"+id, admin, map[string]any{"items": []any{map[string]any{"variant_id": variant, "quantity": 2}}})
		if str(a, "user_id") != owner {
			t.Fatalf("admin edit changed the owner: %s", secJSON(a))
		}
	})

	extras := map[string]func(b map[string]any){
		"total":            func(b map[string]any) { b["total"] = money(1) },
		"shipping":         func(b map[string]any) { b["shipping"] = money(0) },
		"tax":              func(b map[string]any) { b["tax"] = money(0) },
		"tax_included":     func(b map[string]any) { b["tax_included"] = true },
		"status":           func(b map[string]any) { b["status"] = "ORDER_STATUS_PAID" },
		"expires_at":       func(b map[string]any) { b["expires_at"] = "2099-01-01T00:00:00Z" },
		"delivery_est":     func(b map[string]any) { b["delivery_estimate"] = map[string]any{"min_days": 0, "max_days": 0} },
		"user_id":          func(b map[string]any) { b["user_id"] = "draft-victim" },
		"items[0].price":   func(b map[string]any) { b["items"].([]any)[0].(map[string]any)["unit_price"] = money(1) },
		"subtotalCamel":    func(b map[string]any) { b["Subtotal"] = money(1) },
		"expiresAtCamel":   func(b map[string]any) { b["expiresAt"] = "2099-01-01T00:00:00Z" },
		"order_id_in_body": func(b map[string]any) { b["id"] = ghostID() },
	}
	for name, set := range extras {
		t.Run("POST/"+name, func(t *testing.T) {
			body := draftBody(variant, 1)
			set(body)
			got := secCreateOrder(t, e, tok, body)
			if msg := checkErrorBody(got, http.StatusBadRequest, "INVALID_ARGUMENT"); msg != "" {
				t.Errorf("create with %s: %s", name, msg)
			}
		})
		t.Run("PATCH/"+name, func(t *testing.T) {
			body := map[string]any{"items": []any{map[string]any{"variant_id": variant, "quantity": 3}}}
			set(body)
			got := e.api.do(t, http.MethodPatch, "/v1/orders/"+id, tok, body)
			if name == "order_id_in_body" && got.Status == http.StatusOK {
				// The path names the order; a body id may be read as the
				// path's and must never redirect the edit.
				if str(got.JSON(t), "id") != id {
					t.Errorf("the body's id redirected the edit: %s", got.Body)
				}
				return
			}
			if msg := checkErrorBody(got, http.StatusBadRequest, "INVALID_ARGUMENT"); msg != "" {
				t.Errorf("edit with %s: %s", name, msg)
			}
		})
	}
	o := e.api.must(t, http.StatusOK, http.MethodGet, "/v1/orders/"+id, tok, nil)
	if str(o, "status") != "ORDER_STATUS_DRAFT" || str(o, "user_id") != owner || orderAmount(o, "total") == "1" ||
		str(o, "expires_at") >= "2099" || fmt.Sprint(dig(o, "tax_included")) == "true" {
		t.Fatalf("the draft carries client values: %s", secJSON(o))
	}
}

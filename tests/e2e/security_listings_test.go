package e2e

// Listing mappings over REST: the owner's CRUD, and broken object level
// authorization on the two ids the routes take (the store's and the
// listing's).

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestBOLAListings: alice maps a listing of her store to a variant, her
// ready design and a placement; bob reaches none of it through alice's
// store id, through his own store with alice's listing id, nor by naming
// alice's design in his own listing, and every refusal reads exactly like a
// missing object. An admin reads but does not write.
func TestBOLAListings(t *testing.T) {
	e := need(t)
	alice := secToken(t, newSubject("listing-alice"), "user", time.Hour)
	bob := secToken(t, newSubject("listing-bob"), "user", time.Hour)
	admin := secToken(t, newSubject("listing-admin"), "admin", time.Hour)
	variant, front := sticker(t, e)
	design := readyDesign(t, e, alice, designPNG(t, 1800, 1800))
	ast, _ := newStore(t, e, alice, "MARKETPLACE_SHOPIFY", "listing-alice-"+uuid.NewString()[:6], "Alice's shop")
	bst, _ := newStore(t, e, bob, "MARKETPLACE_SHOPIFY", "listing-bob-"+uuid.NewString()[:6], "Bob's shop")
	aliceStore, bobStore := str(ast, "id"), str(bst, "id")

	base := "/v1/stores/" + aliceStore + "/listings"
	mapping := map[string]any{"external_product_id": "gid://shopify/Product/1", "external_variant_id": "gid://shopify/ProductVariant/11",
		"sku": "STICKER-FRONT", "variant_id": variant, "design_id": design, "placement_id": front}
	l := e.api.must(t, http.StatusCreated, http.MethodPost, base, alice, mapping)
	listing := str(l, "id")
	if str(l, "store_id") != aliceStore || str(l, "design_id") != design || str(l, "placement_id") != front {
		t.Fatalf("created listing = %v", l)
	}
	one := base + "/" + listing
	e.api.must(t, http.StatusOK, http.MethodGet, one, alice, nil)
	e.api.must(t, http.StatusOK, http.MethodGet, one, admin, nil)
	if list := dig(e.api.must(t, http.StatusOK, http.MethodGet, base, alice, nil), "listings").([]any); len(list) != 1 {
		t.Fatalf("alice's listings = %v", list)
	}
	if r := e.api.do(t, http.MethodPost, base, alice, mapping); r.Status != http.StatusConflict {
		t.Fatalf("the same mapping twice: %d %s", r.Status, r.Body)
	}
	noExternal := map[string]any{"variant_id": variant}
	if msg := checkErrorBody(e.api.do(t, http.MethodPost, base, alice, noExternal), http.StatusBadRequest, "INVALID_ARGUMENT"); msg != "" {
		t.Errorf("a listing naming nothing external: %s", msg)
	}

	other := map[string]any{"sku": "BOB-1", "variant_id": variant}
	cases := []struct {
		name, method, path, ghost string
		body                      any
	}{
		{"GET alice's listing", http.MethodGet, one, base + "/" + ghostID(), nil},
		{"PUT alice's listing", http.MethodPut, one, base + "/" + ghostID(), other},
		{"DELETE alice's listing", http.MethodDelete, one, base + "/" + ghostID(), nil},
		{"GET alice's store's listings", http.MethodGet, base, "/v1/stores/" + ghostID() + "/listings", nil},
		{"POST to alice's store", http.MethodPost, base, "/v1/stores/" + ghostID() + "/listings", other},
		{"GET alice's listing through bob's store", http.MethodGet, "/v1/stores/" + bobStore + "/listings/" + listing,
			"/v1/stores/" + bobStore + "/listings/" + ghostID(), nil},
		{"DELETE alice's listing through bob's store", http.MethodDelete, "/v1/stores/" + bobStore + "/listings/" + listing,
			"/v1/stores/" + bobStore + "/listings/" + ghostID(), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := e.api.do(t, c.method, c.path, bob, c.body)
			if msg := checkErrorBody(got, http.StatusNotFound, "NOT_FOUND"); msg != "" {
				t.Errorf("bob: %s", msg)
			}
			miss := e.api.do(t, c.method, c.ghost, bob, c.body)
			var a, b secErrorBody
			_ = json.Unmarshal(got.Body, &a)
			_ = json.Unmarshal(miss.Body, &b)
			norm := func(s string) string {
				for _, id := range []string{aliceStore, listing, bobStore} {
					s = strings.ReplaceAll(s, id, "<id>")
				}
				for _, p := range strings.Split(c.ghost, "/") {
					if len(p) == 36 {
						s = strings.ReplaceAll(s, p, "<id>")
					}
				}
				return s
			}
			if got.Status != miss.Status || a.Error.Code != b.Error.Code || norm(a.Error.Message) != norm(b.Error.Message) {
				t.Errorf("alice's object is distinguishable from a missing one:\n foreign: %d %s\n missing: %d %s",
					got.Status, got.Body, miss.Status, miss.Body)
			}
		})
	}
	// Alice's design in bob's own listing reads like a missing design.
	withAlicesDesign := map[string]any{"sku": "BOB-2", "variant_id": variant, "design_id": design, "placement_id": front}
	withGhostDesign := map[string]any{"sku": "BOB-3", "variant_id": variant, "design_id": ghostID(), "placement_id": front}
	r1 := e.api.do(t, http.MethodPost, "/v1/stores/"+bobStore+"/listings", bob, withAlicesDesign)
	r2 := e.api.do(t, http.MethodPost, "/v1/stores/"+bobStore+"/listings", bob, withGhostDesign)
	if msg := checkErrorBody(r1, http.StatusBadRequest, "INVALID_ARGUMENT"); msg != "" || r1.Status != r2.Status {
		t.Errorf("bob's listing with alice's design: %s (%d, a missing design %d)", msg, r1.Status, r2.Status)
	}
	if r := e.api.do(t, http.MethodDelete, one, admin, nil); r.Status != http.StatusForbidden {
		t.Errorf("admin deletes alice's listing: %d %s, want 403", r.Status, r.Body)
	}

	// Nothing of alice's changed; then she changes and removes it.
	if got := e.api.must(t, http.StatusOK, http.MethodGet, one, alice, nil); str(got, "sku") != "STICKER-FRONT" || str(got, "design_id") != design {
		t.Fatalf("alice's listing after bob's attempts = %v", got)
	}
	upd := e.api.must(t, http.StatusOK, http.MethodPut, one, alice, map[string]any{"external_variant_id": "gid://shopify/ProductVariant/11",
		"variant_id": variant})
	if str(upd, "sku") != "" || str(upd, "design_id") != "" {
		t.Fatalf("replaced listing = %v", upd)
	}
	e.api.must(t, http.StatusOK, http.MethodDelete, one, alice, nil)
	if r := e.api.do(t, http.MethodGet, one, alice, nil); r.Status != http.StatusNotFound {
		t.Fatalf("read after delete: %d %s", r.Status, r.Body)
	}
	t.Logf("listings BOLA: %d foreign-id cases, each 404 and indistinguishable from a missing id", len(cases))
}

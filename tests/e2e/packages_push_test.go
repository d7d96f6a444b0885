package e2e

// Packages pushed per marketplace over the whole fleet: an order imported
// from each marketplace stand-in, of two lines, ships in two packages
// (POST /v1/orders/{id}/shipments with items), and each package reaches the
// marketplace once, with only its own lines and quantities.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// receivedPush is one push as GET /_sandbox/received records it, with the
// lines it shipped (Shopify line item gids, Amazon orderItemIds; none for
// Etsy, which ships whole receipts).
type receivedPush struct {
	Order          string `json:"order"`
	Ref            string `json:"ref"`
	TrackingNumber string `json:"tracking_number"`
	Lines          []struct {
		Item     string `json:"item"`
		Quantity int    `json:"quantity"`
	} `json:"lines"`
}

func receivedPushes(t testing.TB, e *environment, market string) []receivedPush {
	t.Helper()
	code, raw := sandboxCall(t, e, http.MethodGet, "/_sandbox/received?marketplace="+market, nil)
	var rep struct {
		Pushes []receivedPush `json:"pushes"`
	}
	if code != http.StatusOK || json.Unmarshal(raw, &rep) != nil {
		t.Fatalf("GET /_sandbox/received?marketplace=%s: %d %s", market, code, secClip(raw, 500))
	}
	return rep.Pushes
}

// packageLine is one order line of a package: the marketplace's line id and
// how many of it the package holds.
type packageLine struct {
	external string
	quantity int
}

func TestPackagesPushedPerMarketplace(t *testing.T) {
	e := need(t)
	variant := mustSticker(t, e)
	for _, market := range importMarkets {
		t.Run(market, func(t *testing.T) {
			t.Parallel() // each market has its own shop and record
			shop := connectShop(t, e, newSeller(t, "packages-"+market), market)
			tee, mug := uniqueSKU("PKG-A-"+strings.ToUpper(market)), uniqueSKU("PKG-B-"+strings.ToUpper(market))
			mapSKU(t, e, shop, tee, variant)
			mapSKU(t, e, shop, mug, variant)
			if market == "shopify" {
				registerWebhook(t, e, shop)
			}
			ext, lines := placeSandboxOrder(t, e, shop, sandboxLine(market, tee, "Sticker A", 2), sandboxLine(market, mug, "Sticker B", 1))
			if len(lines) != 2 {
				t.Fatalf("the %s order %s has line ids %v, want 2", market, ext, lines)
			}
			o := waitImported(t, e, shop, ext)
			id := str(o, "id")
			waitStatus(t, e, shop.seller, id, "ORDER_STATUS_PAID", 60*time.Second)
			o = waitStatus(t, e, shop.seller, id, "ORDER_STATUS_IN_PRODUCTION", 90*time.Second)

			// Our item ids of the two marketplace lines.
			ours := map[string]string{}
			for _, it := range asSlice(dig(o, "items")) {
				for _, l := range lines {
					if sameExternalID(str(it, "external_item_id"), l) {
						ours[l] = str(it, "id")
					}
				}
			}
			if len(ours) != 2 {
				t.Fatalf("imported items %s do not name the marketplace lines %v", secJSON(dig(o, "items")), lines)
			}
			a, b := lines[0], lines[1]
			packages := []struct {
				tracking string
				lines    []packageLine
			}{
				{trackingNumber(), []packageLine{{a, 1}}},
				{trackingNumber(), []packageLine{{a, 1}, {b, 1}}},
			}
			partner := token(t, "print-partner", "fulfillment", time.Hour)
			for i, p := range packages {
				var items []any
				for _, l := range p.lines {
					items = append(items, map[string]any{"item_id": ours[l.external], "quantity": l.quantity})
				}
				r := e.api.do(t, http.MethodPost, "/v1/orders/"+id+"/shipments", partner, map[string]any{
					"carrier": "UPS", "tracking_number": p.tracking, "tracking_url": "https://www.ups.com/track?tracknum=" + p.tracking,
					"items": items,
				})
				if r.Status != http.StatusCreated {
					t.Fatalf("CreateShipment of package %d (items %s): status %d, want 201: %s", i+1, secJSON(items), r.Status, secClip(r.Body, 800))
				}
				want := "ORDER_STATUS_PARTIALLY_SHIPPED"
				if i == len(packages)-1 {
					want = "ORDER_STATUS_SHIPPED"
				}
				got := str(e.api.must(t, http.StatusOK, http.MethodGet, "/v1/orders/"+id, shop.seller, nil), "status")
				if got != want {
					t.Fatalf("after CreateShipment of package %d of 2 the order is %s, want %s", i+1, got, want)
				}
			}

			// Both packages reach the marketplace, each once, with its lines.
			var pushes []receivedPush
			waitFor(t, 90*time.Second, fmt.Sprintf("both packages of order %s at %s", ext, market), func() (bool, string) {
				pushes = nil
				for _, p := range receivedPushes(t, e, market) {
					if sameExternalID(p.Order, ext) {
						pushes = append(pushes, p)
					}
				}
				seen := 0
				for _, pkg := range packages {
					for _, p := range pushes {
						if p.TrackingNumber == pkg.tracking {
							seen++
							break
						}
					}
				}
				return seen == len(packages), fmt.Sprintf("pushes of the order: %s", secJSON(pushes))
			}, func() string {
				events := e.api.must(t, http.StatusOK, http.MethodGet, "/v1/orders/"+id+"/events", shop.seller, nil)
				return "\ntimeline: " + secJSON(events) + "\nmarketplace worker:\n" + procLogLines(e, "marketplace", 20, id, ext)
			})
			if len(pushes) != len(packages) {
				t.Errorf("%s recorded %d pushes of order %s, want one per package: %s", market, len(pushes), ext, secJSON(pushes))
			}
			for i, pkg := range packages {
				var got []receivedPush
				for _, p := range pushes {
					if p.TrackingNumber == pkg.tracking {
						got = append(got, p)
					}
				}
				if len(got) != 1 {
					t.Errorf("package %d (tracking %s) arrived %d times at %s: %s", i+1, pkg.tracking, len(got), market, secJSON(got))
					continue
				}
				if market == "etsy" {
					continue // a receipt shipment names no lines
				}
				if !sameLinesAs(got[0], pkg.lines) {
					t.Errorf("package %d reached %s with lines %s, want %v", i+1, market, secJSON(got[0].Lines), pkg.lines)
				}
			}
		})
	}
}

// sameLinesAs reports whether a push shipped exactly the package's lines and
// quantities.
func sameLinesAs(p receivedPush, want []packageLine) bool {
	if len(p.Lines) != len(want) {
		return false
	}
	for _, w := range want {
		n := 0
		for _, l := range p.Lines {
			if sameExternalID(l.Item, w.external) {
				n += l.Quantity
			}
		}
		if n != w.quantity {
			return false
		}
	}
	return true
}

// trackingNumber is a fresh UPS-like tracking number.
func trackingNumber() string {
	return "1Z" + strings.ToUpper(strings.ReplaceAll(uuid.NewString(), "-", ""))[:16]
}

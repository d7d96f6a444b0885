package e2e

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// demoItem finds a product by title and returns its first variant id and the
// id of the named placement.
func demoItem(t *testing.T, e *environment, title, variantTitle, placement string) (variantID, placementID string) {
	t.Helper()
	next := ""
	for page := 0; page < 10; page++ {
		path := "/v1/products?page_size=50"
		if next != "" {
			path += "&page_token=" + next
		}
		body := e.api.must(t, http.StatusOK, http.MethodGet, path, "", nil)
		for _, p := range dig(body, "products").([]any) {
			if str(p, "title") != title {
				continue
			}
			for _, v := range dig(p, "variants").([]any) {
				if variantTitle == "" || str(v, "title") == variantTitle {
					variantID = str(v, "id")
					break
				}
			}
			for _, pl := range dig(p, "placements").([]any) {
				if str(pl, "name") == placement {
					placementID = str(pl, "id")
				}
			}
			return variantID, placementID
		}
		if next = str(body, "next_page_token"); next == "" {
			break
		}
	}
	t.Fatalf("demo product %q not found", title)
	return "", ""
}

// designPNG draws an opaque w×h PNG.
func designPNG(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), 160, 255})
		}
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readyDesign uploads a design through the presigned URL, processes it and
// waits until it is ready.
func readyDesign(t *testing.T, e *environment, user string, data []byte) string {
	t.Helper()
	created := e.api.must(t, http.StatusCreated, http.MethodPost, "/v1/designs", user, map[string]any{
		"filename": "artwork.png", "content_type": "image/png", "size_bytes": len(data),
	})
	id := str(created, "design", "id")
	fields, _ := dig(created, "upload_headers").(map[string]any)
	if code := upload(t, str(created, "upload_method"), str(created, "upload_url"), fields, "image/png", data); code >= 300 {
		t.Fatalf("upload through the presigned URL answered %d", code)
	}
	e.api.must(t, http.StatusOK, http.MethodPost, "/v1/designs/"+id+":process", user, map[string]any{})
	eventually(t, 60*time.Second, "design ready", func() (bool, string) {
		d := e.api.must(t, http.StatusOK, http.MethodGet, "/v1/designs/"+id, user, nil)
		return str(d, "status") == "DESIGN_STATUS_READY", str(d, "status")
	})
	return id
}

func orderStatus(t *testing.T, e *environment, user, id string) string {
	return str(e.api.must(t, http.StatusOK, http.MethodGet, "/v1/orders/"+id, user, nil), "status")
}

// progress ranks the happy path; failures rank below zero.
var progress = map[string]int{
	"ORDER_STATUS_PENDING": 0, "ORDER_STATUS_CONFIRMED": 1, "ORDER_STATUS_PAID": 2,
	"ORDER_STATUS_IN_PRODUCTION": 3, "ORDER_STATUS_SHIPPED": 4, "ORDER_STATUS_DELIVERED": 5,
	"ORDER_STATUS_REJECTED": -1, "ORDER_STATUS_PAYMENT_FAILED": -1, "ORDER_STATUS_CANCELLED": -1,
}

// waitStatus waits until the order reaches want or a later state of the happy
// path (the pipeline may pass through want between two polls); it fails at
// once if the order fails instead.
func waitStatus(t *testing.T, e *environment, user, id, want string, timeout time.Duration) map[string]any {
	t.Helper()
	var last map[string]any
	eventually(t, timeout, "order "+id+" "+want, func() (bool, string) {
		last = e.api.must(t, http.StatusOK, http.MethodGet, "/v1/orders/"+id, user, nil)
		got := str(last, "status")
		if got == want {
			return true, got
		}
		if progress[got] < 0 && progress[want] >= 0 {
			t.Fatalf("order %s ended %s (%s) while waiting for %s", id, got, str(last, "failure_reason"), want)
		}
		return progress[want] >= 0 && progress[got] > progress[want], got
	})
	return last
}

func address() map[string]any {
	return map[string]any{"name": "Ada Lovelace", "line1": "12 Analytical Row", "city": "London",
		"postal_code": "N1 9GU", "country_code": "GB"}
}

func TestJourney(t *testing.T) {
	e := need(t)
	alice := token(t, "alice-"+uuid.NewString()[:8], "user", time.Hour)
	admin := token(t, "ops-admin", "admin", time.Hour)
	partner := token(t, "print-partner", "fulfillment", time.Hour)
	_ = admin

	// 2. List products.
	products := e.api.must(t, http.StatusOK, http.MethodGet, "/v1/products?page_size=50", "", nil)
	if n := len(dig(products, "products").([]any)); n < 20 {
		t.Fatalf("demo catalog lists %d products, want ≥ 20", n)
	}
	mug, wrap := demoItem(t, e, "Ceramic Mug 11oz", "White", "wrap")

	// 3. A design exactly 300 dpi on the mug's 8.5×3.5 in wrap.
	design := readyDesign(t, e, alice, designPNG(t, 2550, 1050))

	// 4. A quote.
	quote := e.api.must(t, http.StatusOK, http.MethodPost, "/v1/quotes", "", map[string]any{
		"items":        []any{map[string]any{"variant_id": mug, "quantity": 2, "placement_ids": []string{wrap}}},
		"country_code": "GB", "currency": "GBP",
	})
	quoted, isNumber := dig(quote, "total", "amount_minor").(float64) // a JSON number, as DESIGN.md promises
	if !isNumber || quoted <= 0 || str(quote, "total", "currency") != "GBP" {
		t.Fatalf("quote without a GBP total: %v", quote)
	}

	// A shop issued by each marketplace's stand-in, connected with order
	// import off (this order is typed in over REST), and an order placed in
	// it: its ids are the REST order's external ids.
	for _, market := range []string{"shopify", "etsy", "amazon"} {
		t.Run(market, func(t *testing.T) {
			shop := connectShopOff(t, e, alice, market)
			// Two units, as the REST order below: the marketplaces refuse to
			// ship more of a line than was ordered.
			externalOrder, items := placeSandboxOrder(t, e, shop,
				sandboxLine(market, fmt.Sprintf("REST-%d", time.Now().UnixNano()), "REST line", 2))
			// 5. Create with an Idempotency-Key and retry it: the same body replays.
			key := uuid.NewString()
			body := map[string]any{
				"items": []any{map[string]any{"variant_id": mug, "quantity": 2, "design_id": design, "placement_id": wrap,
					"external_item_id": items[0]}},
				"shipping_address": address(), "currency": "GBP", "payment_method": "PAYMENT_METHOD_CARD",
				"store_id": shop.storeID, "external_order_id": externalOrder,
			}
			first := e.api.do(t, http.MethodPost, "/v1/orders", alice, body, "Idempotency-Key", key)
			if first.Status != http.StatusCreated {
				t.Fatalf("create order: %d %s", first.Status, first.Body)
			}
			again := e.api.do(t, http.MethodPost, "/v1/orders", alice, body, "Idempotency-Key", key)
			if again.Status != first.Status || !bytes.Equal(again.Body, first.Body) {
				t.Fatalf("retry with the same key must replay the first response:\n%s\n%s", first.Body, again.Body)
			}
			order := first.JSON(t)
			id := str(order, "id")
			if total := dig(order, "total", "amount_minor"); total != quoted {
				t.Errorf("order total %v differs from the quote %v", total, quoted)
			}
			// 6. Paid, then in production with the print files in S3.
			waitStatus(t, e, alice, id, "ORDER_STATUS_PAID", 60*time.Second)
			produced := waitStatus(t, e, alice, id, "ORDER_STATUS_IN_PRODUCTION", 90*time.Second)
			for _, it := range dig(produced, "items").([]any) {
				assertObject(t, e, str(it, "print_file_key"))
			}
			// 7. Ship as the fulfillment partner; the tracking reaches the marketplace.
			tracking := "1Z" + strings.ToUpper(strings.ReplaceAll(uuid.NewString(), "-", ""))[:16]
			e.api.must(t, http.StatusCreated, http.MethodPost, "/v1/orders/"+id+"/shipments", partner, map[string]any{
				"carrier": "UPS", "tracking_number": tracking, "tracking_url": "https://www.ups.com/track?tracknum=" + tracking,
			})
			waitStatus(t, e, alice, id, "ORDER_STATUS_SHIPPED", 10*time.Second)
			eventually(t, 60*time.Second, "tracking at "+market, func() (bool, string) {
				got := sandboxReceived(t, e, market)
				return strings.Contains(got, tracking), fmt.Sprintf("%d bytes recorded", len(got))
			})
			// 8. The timeline tells the whole story, including the push result.
			eventually(t, 30*time.Second, "push result on the timeline", func() (bool, string) {
				events := e.api.must(t, http.StatusOK, http.MethodGet, "/v1/orders/"+id+"/events", alice, nil)
				var types []string
				for _, ev := range dig(events, "events").([]any) {
					types = append(types, str(ev, "type"))
				}
				joined := strings.Join(types, " ")
				return strings.Contains(joined, "marketplace"), joined
			})
		})
	}
}

// sandboxReceived returns what the marketplace stand-in recorded, as text.
func sandboxReceived(t *testing.T, e *environment, marketplace string) string {
	t.Helper()
	resp, err := http.Get(e.layout.MarketplacesURL() + "/_sandbox/received?marketplace=" + marketplace)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return buf.String()
}

func TestCancelReleasesStock(t *testing.T) {
	e := need(t)
	bob := token(t, "bob-"+uuid.NewString()[:8], "user", time.Hour)
	bottle, _ := demoItem(t, e, "Water Bottle 20oz", "", "wrap")
	inStock := func() bool {
		body := e.api.must(t, http.StatusOK, http.MethodGet, "/v1/products?page_size=50", "", nil)
		for _, p := range dig(body, "products").([]any) {
			for _, v := range dig(p, "variants").([]any) {
				if str(v, "id") == bottle {
					b, _ := dig(v, "in_stock").(bool)
					return b
				}
			}
		}
		t.Fatal("bottle variant vanished")
		return false
	}
	if !inStock() {
		t.Fatal("the demo bottle should start in stock")
	}
	// Slow payments keep the order's charge running long enough to cancel
	// it with its stock reserved (the worker records CONFIRMED and the
	// payment's outcome together, after the charge; an order cancelled
	// meanwhile is refunded and its stock handed back).
	sandboxFaults(t, e.layout.PaymentURL(), `{"latency_ms":4000}`)
	defer sandboxFaults(t, e.layout.PaymentURL(), `{"latency_ms":0}`)
	// All three bottles: the reservation empties the stock.
	body := map[string]any{
		"items":            []any{map[string]any{"variant_id": bottle, "quantity": 3}},
		"shipping_address": address(), "currency": "USD", "payment_method": "PAYMENT_METHOD_INVOICE",
	}
	r := e.api.do(t, http.MethodPost, "/v1/orders", bob, body, "Idempotency-Key", uuid.NewString())
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	id := str(r.JSON(t), "id")
	eventually(t, 30*time.Second, "out of stock after the reservation", func() (bool, string) { return !inStock(), "in stock" })
	e.api.must(t, http.StatusOK, http.MethodPost, "/v1/orders/"+id+":cancel", bob, map[string]any{"reason": "changed my mind"})
	if s := orderStatus(t, e, bob, id); s != "ORDER_STATUS_CANCELLED" {
		t.Fatalf("status after cancel = %s", s)
	}
	eventually(t, 30*time.Second, "stock released", func() (bool, string) { return inStock(), "out of stock" })
}

// sandboxFaults patches a sandbox's fault switches.
func sandboxFaults(t *testing.T, base, patch string) {
	t.Helper()
	resp, err := http.Post(base+"/_sandbox/faults", "application/json", strings.NewReader(patch))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("sandbox faults %s: %s", patch, resp.Status)
	}
}

// paymentOutage takes the sandbox's payment provider down until the returned
// heal is called, or until t ends if it never is.
func paymentOutage(t *testing.T, pay string) (heal func()) {
	t.Helper()
	sandboxFaults(t, pay, `{"outage":true}`)
	var once sync.Once
	heal = func() { once.Do(func() { sandboxFaults(t, pay, `{"outage":false}`) }) }
	t.Cleanup(heal)
	return heal
}

// assertObject checks that key exists in the renders bucket.
func assertObject(t *testing.T, e *environment, key string) {
	t.Helper()
	if key == "" {
		t.Fatal("no object key")
	}
	c, err := minio.New(strings.TrimPrefix(e.layout.S3Endpoint, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4("printfleet", "printfleet-dev-secret", ""), Region: "us-east-1", BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.StatObject(context.Background(), "printfleet-renders", key, minio.StatObjectOptions{})
	if err != nil {
		t.Fatalf("print file %s not in S3: %v", key, err)
	}
	if info.Size == 0 {
		t.Fatalf("print file %s is empty", key)
	}
}

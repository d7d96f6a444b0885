package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// createCoupon stores a fixed 1.00 USD coupon straight in pricing's database
// (no REST route creates coupons) and announces it as an admin write does:
// it bumps price_data_version and NOTIFYs, so the pricing API reloads.
func createCoupon(t *testing.T, e *environment, code string, limit, perCustomer int) {
	t.Helper()
	ctx, c, done := pricingDB(t, e)
	defer done()
	now := time.Now()
	if _, err := c.Exec(ctx, `
		INSERT INTO coupons (id, code, kind, amount_off_currency, amount_off_minor, valid_from, valid_until, usage_limit, per_customer_limit)
		VALUES ($1, $2, 'fixed', 'USD', 100, $3, $4, $5, $6)`,
		uuid.New(), code, now.Add(-time.Minute), now.Add(time.Hour), limit, perCustomer); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, `
		WITH v AS (UPDATE price_data_version SET version = version + 1, changed_at = now() RETURNING version)
		SELECT pg_notify('pricing_price_data', v.version::text) FROM v`); err != nil {
		t.Fatal(err)
	}
	body := map[string]any{"items": []any{map[string]any{"variant_id": mustSticker(t, e), "quantity": 1}},
		"country_code": "US", "currency": "USD", "coupon_code": code}
	eventually(t, 10*time.Second, "the coupon in pricing's snapshot", func() (bool, string) {
		r := e.api.do(t, http.MethodPost, "/v1/quotes", "", body)
		return r.Status == http.StatusOK, fmt.Sprintf("%d %s", r.Status, secClip(r.Body, 200))
	})
}

// pricingDB is a connection to pricing's database and a context bounding
// the statements on it, until done is called.
func pricingDB(t *testing.T, e *environment) (ctx context.Context, c *pgx.Conn, done func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	c, err := pgx.Connect(ctx, e.layout.PGURL("pricing"))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	return ctx, c, func() { c.Close(context.Background()); cancel() }
}

func couponUsed(t *testing.T, e *environment, code string) int {
	t.Helper()
	ctx, c, done := pricingDB(t, e)
	defer done()
	var used int
	if err := c.QueryRow(ctx, `SELECT used FROM coupons WHERE code = $1`, code).Scan(&used); err != nil {
		t.Fatal(err)
	}
	return used
}

// couponRefusal checks r is the 409 of an order over a coupon's limit,
// naming the coupon.
func couponRefusal(r response, code, limit string) string {
	if p := checkErrorBody(r, http.StatusConflict, "ABORTED"); p != "" {
		return p
	}
	var eb secErrorBody
	_ = json.Unmarshal(r.Body, &eb)
	if want := fmt.Sprintf("coupon %q has reached its %s", code, limit); !strings.Contains(eb.Error.Message, want) {
		return fmt.Sprintf("message %q does not say %q", eb.Error.Message, want)
	}
	return ""
}

// TestCouponLimitsOverREST places orders with a coupon through the gateway:
// of concurrent orders against a coupon limited to 3 uses, exactly 3 are
// created discounted and the others refused with 409 naming the coupon; a
// retry of a created order (same Idempotency-Key) takes no use; cancelling
// one order gives its use back (through OrderCancelled and the
// pricing-worker), and the next order takes it; a customer at the coupon's
// per-customer limit is refused with 409.
func TestCouponLimitsOverREST(t *testing.T) {
	e := need(t)
	sticker := mustSticker(t, e)
	code := "E2E" + strings.ToUpper(uuid.NewString()[:8])
	createCoupon(t, e, code, 3, 0)
	order := func() map[string]any {
		b := secBlankOrder(sticker, 1)
		b["coupon_code"] = code
		return b
	}
	// Slow charges keep the orders PENDING long enough to cancel one.
	sandboxFaults(t, e.layout.PaymentURL(), `{"latency_ms":4000}`)
	defer sandboxFaults(t, e.layout.PaymentURL(), `{"latency_ms":0}`)

	const orders = 8
	type placed struct {
		user, key string
		r         response
	}
	results := make([]placed, orders)
	var wg sync.WaitGroup
	started := time.Now()
	for i := range orders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user, key := newSubject("coupon"), uuid.NewString()
			tok := token(t, user, "user", time.Hour)
			results[i] = placed{tok, key, e.api.do(t, http.MethodPost, "/v1/orders", tok, order(), "Idempotency-Key", key)}
		}()
	}
	wg.Wait()
	var created []placed
	refused := 0
	for _, p := range results {
		switch {
		case p.r.Status == http.StatusCreated:
			if d := dig(p.r.JSON(t), "discount", "amount_minor"); d != float64(100) {
				t.Fatalf("created order without the discount: %v (%s)", d, secClip(p.r.Body, 300))
			}
			created = append(created, p)
		case couponRefusal(p.r, code, "usage limit of 3") == "":
			refused++
		default:
			t.Fatalf("order: %s", couponRefusal(p.r, code, "usage limit of 3"))
		}
	}
	t.Logf("%d concurrent orders against a limit of 3 in %v: %d created discounted, %d refused with 409, coupon used %d",
		orders, time.Since(started).Round(time.Millisecond), len(created), refused, couponUsed(t, e, code))
	if len(created) != 3 || refused != orders-3 || couponUsed(t, e, code) != 3 {
		t.Fatalf("%d created, %d refused, used %d; want 3, %d, 3", len(created), refused, couponUsed(t, e, code), orders-3)
	}
	// The retry of a created order replays it and takes no use.
	p := created[1]
	if r := e.api.do(t, http.MethodPost, "/v1/orders", p.user, order(), "Idempotency-Key", p.key); r.Status != http.StatusCreated ||
		str(r.JSON(t), "id") != str(p.r.JSON(t), "id") || couponUsed(t, e, code) != 3 {
		t.Fatalf("retry: %d %s, used %d", r.Status, secClip(r.Body, 300), couponUsed(t, e, code))
	}

	// Cancelling an order gives its use back; the next order takes it.
	id := str(created[0].r.JSON(t), "id")
	e.api.must(t, http.StatusOK, http.MethodPost, "/v1/orders/"+id+":cancel", created[0].user, map[string]any{"reason": "changed my mind"})
	cancelled := time.Now()
	eventually(t, 30*time.Second, "the cancelled order's coupon use given back", func() (bool, string) {
		n := couponUsed(t, e, code)
		return n == 2, fmt.Sprintf("used %d", n)
	})
	t.Logf("cancelled one order: coupon used 2 after %v", time.Since(cancelled).Round(time.Millisecond))
	next := token(t, newSubject("coupon"), "user", time.Hour)
	if r := secCreateOrder(t, e, next, order()); r.Status != http.StatusCreated {
		t.Fatalf("order after a cancellation: %d %s", r.Status, secClip(r.Body, 300))
	}
	if r := secCreateOrder(t, e, next, order()); couponRefusal(r, code, "usage limit of 3") != "" {
		t.Fatalf("order over the limit again: %s", couponRefusal(r, code, "usage limit of 3"))
	}

	// One use per customer.
	perCustomer := "E2E" + strings.ToUpper(uuid.NewString()[:8])
	createCoupon(t, e, perCustomer, 0, 1)
	alice := token(t, newSubject("alice"), "user", time.Hour)
	b := secBlankOrder(sticker, 1)
	b["coupon_code"] = perCustomer
	if r := secCreateOrder(t, e, alice, b); r.Status != http.StatusCreated {
		t.Fatalf("alice's first order: %d %s", r.Status, secClip(r.Body, 300))
	}
	r := secCreateOrder(t, e, alice, b)
	if p := couponRefusal(r, perCustomer, "limit of 1 per customer"); p != "" {
		t.Fatalf("alice's second order: %s", p)
	}
	t.Logf("per-customer limit: %d %s", r.Status, secClip(r.Body, 300))
}

package e2e

// The fault suite's clients: orders placed as a careful client places them,
// shipments posted and orders read while faults strike.

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// placed is an order the API acknowledged with 201.
type placed struct {
	ID, User, Variant string
	Qty               int
	Total             int64
	Receipt           string // external order id (Etsy receipt) for store orders
}

// loadStats counts the answers of every create attempt.
type loadStats struct {
	mu       sync.Mutex
	answers  map[int]int // HTTP status; 0 = transport error
	orders   []placed
	rejected []string // requests the API refused for good (4xx other than 409/429)
	gaveUp   int      // requests never acknowledged within the retry budget
}

func (s *loadStats) answer(code int) {
	s.mu.Lock()
	if s.answers == nil {
		s.answers = map[int]int{}
	}
	s.answers[code]++
	s.mu.Unlock()
}

func (s *loadStats) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	codes := make([]int, 0, len(s.answers))
	for c := range s.answers {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var b strings.Builder
	for _, c := range codes {
		name := strconv.Itoa(c)
		if c == 0 {
			name = "transport-error"
		}
		fmt.Fprintf(&b, "%s×%d ", name, s.answers[c])
	}
	return strings.TrimSpace(b.String())
}

func (s *loadStats) snapshot() []placed {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.orders)
}

// orderSpec is the i-th order of a load: a blank item on one of the
// variants; with store, an order from the Etsy store.
func (fx *faultFleet) orderSpec(i int, store bool) (user string, body []byte, p placed) {
	p.Variant = fx.variants[rand.IntN(len(fx.variants))]
	p.Qty = 1
	p.User = fx.users[i%len(fx.users)]
	m := map[string]any{
		"items":            []any{map[string]any{"variant_id": p.Variant, "quantity": p.Qty}},
		"shipping_address": address(), "currency": "USD", "payment_method": "PAYMENT_METHOD_CARD",
	}
	if store {
		p.User = fx.store.User
		receipt, item := fx.placeReceipt()
		p.Receipt = receipt
		m["store_id"] = fx.store.ID
		m["external_order_id"] = p.Receipt
		if item != "" {
			m["items"] = []any{map[string]any{"variant_id": p.Variant, "quantity": p.Qty, "external_item_id": item}}
		}
	}
	body, _ = json.Marshal(m)
	return p.User, body, p
}

// placeReceipt places a one-line receipt in the Etsy shop of the stand-in
// and returns its id and its transaction id. Should the stand-in fail three
// times, it returns a made-up receipt (no transaction): its push is refused
// and the scenario reports it missing.
func (fx *faultFleet) placeReceipt() (string, string) {
	for attempt := 0; attempt < 3; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		receipt, item, err := sandboxPlaceOrder(ctx, fx.httpc, fx.layout.MarketplacesURL(), "etsy", fx.store.Shop)
		cancel()
		if err == nil {
			return receipt, item
		}
		time.Sleep(200 * time.Millisecond)
	}
	return strconv.FormatInt(fx.nextRecpt.Add(1), 10), ""
}

// create places one order as a careful client does: the same Idempotency-Key
// is retried with backoff on transport errors, 409 (in flight), 429 and 5xx,
// for up to budget.
func (fx *faultFleet) create(ctx context.Context, st *loadStats, user string, body []byte, p placed, budget time.Duration) (placed, bool) {
	key := uuid.NewString()
	deadline := time.Now().Add(budget)
	wait := 100 * time.Millisecond
	for {
		code, raw, err := fx.send(ctx, http.MethodPost, "/v1/orders", user, body, "Idempotency-Key", key)
		if err != nil {
			code = 0
		}
		st.answer(code)
		switch {
		case code == http.StatusCreated:
			var o struct {
				ID    string `json:"id"`
				Total struct {
					Amount json.Number `json:"amount_minor"`
				} `json:"total"`
			}
			if err := json.Unmarshal(raw, &o); err != nil || o.ID == "" {
				st.mu.Lock()
				st.rejected = append(st.rejected, fmt.Sprintf("201 without an order: %.200s", raw))
				st.mu.Unlock()
				return p, false
			}
			p.ID = o.ID
			p.Total, _ = o.Total.Amount.Int64()
			st.mu.Lock()
			st.orders = append(st.orders, p)
			st.mu.Unlock()
			return p, true
		case code != 0 && code != http.StatusConflict && code != http.StatusTooManyRequests && code < 500:
			st.mu.Lock()
			st.rejected = append(st.rejected, fmt.Sprintf("%d %.200s", code, raw))
			st.mu.Unlock()
			return p, false
		}
		if time.Now().Add(wait).After(deadline) || ctx.Err() != nil {
			st.mu.Lock()
			st.gaveUp++
			st.mu.Unlock()
			return p, false
		}
		time.Sleep(wait)
		wait = min(wait*2, 2*time.Second)
	}
}

// loadOpts shapes a load.
type loadOpts struct {
	n      int     // orders to place (0: until stop closes)
	conc   int     // requests in flight at most
	stores int     // the first stores orders come from the Etsy store
	rate   float64 // orders started per second (0: each client starts the next when done)
	stop   <-chan struct{}
	// progress counts answered orders; shipped receives the acknowledged
	// store orders.
	progress *atomic.Int64
	shipped  chan<- placed
}

// load places orders as o says and returns when they are all answered. With
// a rate it is an open loop: an order whose client waits out a fault (say an
// idempotency lease after a crash) does not hold back the next ones, as long
// as fewer than conc are in flight.
func (fx *faultFleet) load(ctx context.Context, st *loadStats, o loadOpts) {
	one := func(i int) {
		user, body, p := fx.orderSpec(i, i < o.stores)
		placed, ok := fx.create(ctx, st, user, body, p, 90*time.Second)
		if o.progress != nil {
			o.progress.Add(1)
		}
		if ok && o.shipped != nil && placed.Receipt != "" {
			o.shipped <- placed
		}
	}
	stopped := func() bool {
		select {
		case <-o.stop:
			return true
		case <-ctx.Done():
			return true
		default:
			return false
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	if o.rate <= 0 {
		var next atomic.Int64
		for range o.conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if (o.n > 0 && i >= o.n) || stopped() {
						return
					}
					one(i)
				}
			}()
		}
		return
	}
	slots := make(chan struct{}, o.conc)
	start := time.Now()
	for i := 0; o.n == 0 || i < o.n; i++ {
		due := start.Add(time.Duration(float64(i) / o.rate * float64(time.Second)))
		select {
		case <-o.stop:
			return
		case <-ctx.Done():
			return
		case <-time.After(time.Until(due)):
		}
		select {
		case slots <- struct{}{}:
		case <-o.stop:
			return
		case <-ctx.Done():
			return
		}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			one(i)
		}()
	}
}

// loadUntilStopped places orders in the background at rate, at most 64 in
// flight, until the returned stop is called; stop returns once every order
// started is answered.
func (fx *faultFleet) loadUntilStopped(ctx context.Context, st *loadStats, rate float64) (stop func()) {
	stopc := make(chan struct{})
	done := make(chan struct{})
	go func() {
		fx.load(ctx, st, loadOpts{conc: 64, rate: rate, stop: stopc})
		close(done)
	}()
	return func() {
		close(stopc)
		<-done
	}
}

// shipper posts a shipment for every store order it receives once the order
// is paid, retrying through faults; it returns the orders it shipped.
func (fx *faultFleet) shipper(ctx context.Context, in <-chan placed) (done func() []placed) {
	var mu sync.Mutex
	var out []placed
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var inner sync.WaitGroup
		for o := range in {
			inner.Add(1)
			go func() {
				defer inner.Done()
				body, _ := json.Marshal(map[string]any{"carrier": "UPS", "tracking_number": "1ZFAULT" + o.Receipt,
					"tracking_url": "https://www.ups.com/track?tracknum=1ZFAULT" + o.Receipt})
				deadline := time.Now().Add(3 * time.Minute)
				for time.Now().Before(deadline) && ctx.Err() == nil {
					var st int
					_ = fx.withDB(ctx, "orders", func(c *pgx.Conn) error {
						return c.QueryRow(ctx, `SELECT status FROM orders WHERE id = $1`, o.ID).Scan(&st)
					})
					if st >= stPaid && st <= stInProduction {
						code, _, err := fx.send(ctx, http.MethodPost, "/v1/orders/"+o.ID+"/shipments", fx.fulfilment, body)
						if err == nil && code == http.StatusCreated {
							mu.Lock()
							out = append(out, o)
							mu.Unlock()
							return
						}
					}
					if st >= stShipped {
						mu.Lock()
						out = append(out, o) // an earlier attempt got through
						mu.Unlock()
						return
					}
					time.Sleep(300 * time.Millisecond)
				}
			}()
		}
		inner.Wait()
	}()
	return func() []placed {
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return out
	}
}

// pushesRecorded reports whether Etsy recorded a push for every shipped order.
func (fx *faultFleet) pushesRecorded(ctx context.Context, orders []placed) func() bool {
	return func() bool {
		var receipts []string
		for _, o := range orders {
			if o.Receipt != "" {
				receipts = append(receipts, o.Receipt)
			}
		}
		if len(receipts) == 0 {
			return true
		}
		rep, err := fx.etsy(ctx)
		if err != nil {
			return false
		}
		for _, r := range receipts {
			if rep.PushesByOrder[r] == 0 {
				return false
			}
		}
		return true
	}
}

// readStats counts GET /v1/orders/{id} answers, separately for a fault window.
type readStats struct {
	mu           sync.Mutex
	inWindow     map[int]int
	outside      map[int]int
	window       atomic.Bool
	windowErrors []string
}

func (r *readStats) add(code int, body []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inWindow == nil {
		r.inWindow, r.outside = map[int]int{}, map[int]int{}
	}
	if r.window.Load() {
		r.inWindow[code]++
		if (code == 0 || code >= 500) && len(r.windowErrors) < 5 {
			r.windowErrors = append(r.windowErrors, fmt.Sprintf("%d %.160s", code, body))
		}
	} else {
		r.outside[code]++
	}
}

func countsOf(m map[int]int) (total, fivexx, transport int) {
	for c, n := range m {
		total += n
		if c >= 500 {
			fivexx += n
		}
		if c == 0 {
			transport += n
		}
	}
	return
}

// readers GET random acknowledged orders as their owners until stop closes.
func (fx *faultFleet) readers(ctx context.Context, n int, st *loadStats, rs *readStats, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-ctx.Done():
					return
				default:
				}
				var o placed
				st.mu.Lock()
				if len(st.orders) > 0 {
					o = st.orders[rand.IntN(len(st.orders))]
				}
				st.mu.Unlock()
				if o.ID == "" {
					time.Sleep(50 * time.Millisecond)
					continue
				}
				code, body, err := fx.send(ctx, http.MethodGet, "/v1/orders/"+o.ID, o.User, nil)
				if err != nil {
					code = 0
				}
				rs.add(code, body)
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	return &wg
}

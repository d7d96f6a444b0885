package e2e

// Fault injection ("Proof"): a second fleet runs on private PostgreSQL,
// Redis and RabbitMQ instances that this test starts itself, so it can
// SIGKILL and restart them — and the fleet's own processes — by pid while
// orders flow, without touching the servers other tests share. Every
// scenario prints its pass criteria with the measured figures and asserts
// them.
//
// Skipped with -short (no fleet) or PRINTFLEET_E2E_FAULTS=off.
// PRINTFLEET_E2E_FAULTS_ORDERS sets N for the broker and cache kills.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/printfleet/printfleet/tests/e2e/faultinfra"
	"github.com/printfleet/printfleet/tests/e2e/fleet"
)

// faultFleet is the second fleet and its private datastores.
type faultFleet struct {
	*environment
	pg    *faultinfra.Postgres
	redis *faultinfra.Redis
	mq    *faultinfra.RabbitMQ
	httpc *http.Client

	users      []string // user tokens
	fulfilment string   // fulfillment token
	variants   []string // stock-tracked variants with ample stock
	seedStock  map[string]int64
	store      storeRef // an Etsy store of users[0]
	nextRecpt  atomic.Int64
}

type storeRef struct{ ID, User string }

// Order statuses as stored (the proto enum numbers).
const (
	stPending      = 1
	stConfirmed    = 2
	stPaid         = 3
	stInProduction = 4
	stShipped      = 5
	stDelivered    = 6
	stRejected     = 7
	stPayFailed    = 8
	stCancelled    = 9
)

var statusName = map[int]string{stPending: "PENDING", stConfirmed: "CONFIRMED", stPaid: "PAID",
	stInProduction: "IN_PRODUCTION", stShipped: "SHIPPED", stDelivered: "DELIVERED", stRejected: "REJECTED",
	stPayFailed: "PAYMENT_FAILED", stCancelled: "CANCELLED"}

func TestFaults(t *testing.T) {
	e := need(t)
	if os.Getenv("PRINTFLEET_E2E_FAULTS") == "off" {
		t.Skip("PRINTFLEET_E2E_FAULTS=off")
	}
	began := time.Now()
	fx := startFaultFleet(t, e)
	t.Logf("fault fleet up in %v (postgres :%d, redis :%d, rabbitmq %s :%d)", time.Since(began).Round(time.Millisecond),
		fx.pg.Port, fx.redis.Port, fx.mq.Node, fx.mq.Port)

	for _, sc := range []struct {
		name string
		run  func(*testing.T, *faultFleet)
	}{
		{"BrokerAndCacheKills", testBrokerAndCacheKills},
		{"RelayAndWorkerKills", testRelayAndWorkerKills},
		{"PoisonMessage", testPoisonMessage},
		{"PostgresRestart", testPostgresRestart},
		{"SandboxFaults", testSandboxFaults},
	} {
		start := time.Now()
		t.Run(sc.name, func(t *testing.T) {
			fx.heal(t)
			sc.run(t, fx)
		})
		t.Logf("%s took %v", sc.name, time.Since(start).Round(time.Second))
	}
	t.Logf("faults suite took %v", time.Since(began).Round(time.Second))
}

// startFaultFleet starts the private datastores and the second fleet on them.
func startFaultFleet(t *testing.T, e *environment) *faultFleet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	type started struct {
		err  error
		what string
	}
	fx := &faultFleet{httpc: &http.Client{
		Timeout:   15 * time.Second,
		Transport: &http.Transport{MaxIdleConns: 128, MaxIdleConnsPerHost: 128, IdleConnTimeout: 30 * time.Second},
	}}
	// The three start side by side: RabbitMQ's boot dominates.
	var wg sync.WaitGroup
	errc := make(chan started, 3)
	wg.Add(3)
	go func() {
		defer wg.Done()
		var err error
		fx.pg, err = faultinfra.StartPostgres(ctx, t)
		errc <- started{err, "postgres"}
	}()
	go func() {
		defer wg.Done()
		var err error
		fx.redis, err = faultinfra.StartRedis(ctx, t)
		errc <- started{err, "redis"}
	}()
	go func() {
		defer wg.Done()
		var err error
		fx.mq, err = faultinfra.StartRabbitMQ(ctx, t)
		errc <- started{err, "rabbitmq"}
	}()
	wg.Wait()
	close(errc)
	for s := range errc {
		if s.err != nil {
			t.Fatalf("private %s: %v", s.what, s.err)
		}
	}

	l := e2eLayout() // same secrets, so token() works for this fleet too
	l.Offset = 3000
	l.DBPrefix = "faults_"
	l.Vhost = "%2F" // the private node's default vhost "/"
	l.RedisDB = 0
	l.PGPort = fx.pg.Port
	l.RedisAddr = fx.redis.Addr()
	l.AMQPPort = fx.mq.Port
	l.RateLimit = "100000/1m"
	if l.AMQPURL() != fx.mq.URL() {
		t.Fatalf("layout AMQP URL %s, private node %s", l.AMQPURL(), fx.mq.URL())
	}
	logs := filepath.Join(filepath.Dir(e.logs), "faults", "logs")
	_ = os.RemoveAll(logs)
	fx.environment = &environment{
		layout: l, bin: e.bin, logs: logs,
		api: &client{base: l.GatewayURL(), http: &http.Client{Timeout: 30 * time.Second}},
	}
	if err := l.EnsureDatabases(ctx, true); err != nil {
		t.Fatal(err)
	}
	f, err := fleet.New(e.bin, logs, l.Common())
	if err != nil {
		t.Fatal(err)
	}
	fx.fleet = f
	t.Cleanup(func() {
		if err := f.Stop(20 * time.Second); err != nil {
			t.Errorf("the fault fleet did not stop cleanly: %v (logs: %s)", err, logs)
		}
	})
	procs := l.Procs()
	if err := f.StartAll(ctx, 90*time.Second, procs[:3]...); err != nil {
		t.Fatal(err)
	}
	for _, s := range l.Seeds() {
		if err := f.Run(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.StartAll(ctx, 90*time.Second, procs[3:]...); err != nil {
		t.Fatal(err)
	}

	for i := range 24 {
		fx.users = append(fx.users, token(t, fmt.Sprintf("faults-user-%02d-%s", i, uuid.NewString()[:6]), "user", 2*time.Hour))
	}
	fx.fulfilment = token(t, "faults-print-partner", "fulfillment", 2*time.Hour)

	// Blank items on stock-tracked variants that have room for every
	// scenario's orders: stock is really reserved, and nothing waits on
	// rendering.
	fx.seedStock = map[string]int64{}
	err = fx.withDB(ctx, "catalog", func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT v.id::text, v.available FROM variants v JOIN products p ON p.id = v.product_id
			WHERE v.stock_tracked AND v.active AND p.active AND v.available >= 100 ORDER BY v.id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var n int64
			if err := rows.Scan(&id, &n); err != nil {
				return err
			}
			fx.variants = append(fx.variants, id)
			fx.seedStock[id] = n
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, n := range fx.seedStock {
		total += n
	}
	if len(fx.variants) < 20 {
		t.Fatalf("only %d stock-tracked demo variants with ≥ 100 in stock", len(fx.variants))
	}
	t.Logf("orders use %d stock-tracked variants holding %d units", len(fx.variants), total)

	st := fx.api.must(t, http.StatusCreated, http.MethodPost, "/v1/stores", fx.users[0], map[string]any{
		"marketplace": "MARKETPLACE_ETSY", "shop_id": "424242", "name": "Faults Etsy shop",
		"credentials": map[string]any{"api_key": "key-" + uuid.NewString(), "access_token": "20002." + uuid.NewString(),
			"refresh_token": "refresh-" + uuid.NewString(), "client_id": "client", "client_secret": "secret-" + uuid.NewString()},
	})
	fx.store = storeRef{ID: str(st, "id"), User: fx.users[0]}
	fx.nextRecpt.Store(time.Now().UnixMilli() % 100_000_000 * 10)
	return fx
}

// heal makes sure every process and datastore runs and no sandbox fault is
// left on, so one scenario's failure does not cascade into the next.
func (fx *faultFleet) heal(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if fx.pg.Pid() == 0 {
		if err := fx.pg.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if fx.redis.Pid() == 0 {
		if err := fx.redis.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if fx.mq.Pid() == 0 {
		if err := fx.mq.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range fx.layout.Procs() {
		if fx.fleet.Pid(p.Name) == 0 {
			t.Logf("restarting %s, found stopped", p.Name)
			if err := fx.fleet.Restart(ctx, p.Name, 90*time.Second); err != nil {
				t.Fatal(err)
			}
		}
	}
	sandboxFaults(t, fx.layout.PaymentURL(), `{"latency_ms":0,"error_rate":0,"error_next":0,"decline_rate":0,"outage":false}`)
	sandboxFaults(t, fx.layout.MarketplacesURL(), `{"throttle":false,"throttle_next":0,"error_rate":0,"error_next":0,"latency_ms":0}`)
}

// ---------------------------------------------------------------------------
// HTTP and database helpers usable from any goroutine (no t.Fatal).

func (fx *faultFleet) send(ctx context.Context, method, path, tok string, body []byte, hdr ...string) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, fx.layout.GatewayURL()+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := fx.httpc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

// withDB runs fn on a fresh connection to the private database of service.
func (fx *faultFleet) withDB(ctx context.Context, service string, fn func(*pgx.Conn) error) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, fx.pg.URL(fx.layout.DBName(service)))
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	return fn(c)
}

func getJSON(ctx context.Context, hc *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// consumerQueues are the fleet's consumer queues; each has a .dlq.
var consumerQueues = []string{"catalog.stock", "catalog.projector", "catalog.designs", "orders.worker",
	"images.designs", "images.renders", "marketplace.push", "pricing.coupons"}

// deadLetters takes every message off the consumers' dead-letter queues on
// the private broker and describes them ("queue: type id reason attempt").
// In a fault scenario a dead letter is an event the pipeline gave up on.
func (fx *faultFleet) deadLetters() ([]string, error) {
	conn, err := amqp091.Dial(fx.mq.URL())
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	// basic.get blocks while a queue has no leader: bound the whole survey.
	stop := time.AfterFunc(30*time.Second, func() { _ = conn.Close() })
	defer stop.Stop()
	ch, err := conn.Channel()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, q := range consumerQueues {
		for {
			d, ok, err := ch.Get(q+".dlq", false)
			if err != nil {
				return out, fmt.Errorf("get %s.dlq: %w", q, err)
			}
			if !ok {
				break
			}
			reason := ""
			if deaths, ok := d.Headers["x-death"].([]any); ok && len(deaths) > 0 {
				if death, ok := deaths[0].(amqp091.Table); ok {
					reason, _ = death["reason"].(string)
				}
			}
			out = append(out, fmt.Sprintf("%s: %s %s (%s)", q, d.Type, d.MessageId, reason))
			if err := d.Ack(false); err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

// ---------------------------------------------------------------------------
// Placing orders under faults.

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
		p.Receipt = strconv.FormatInt(fx.nextRecpt.Add(1), 10)
		m["store_id"] = fx.store.ID
		m["external_order_id"] = p.Receipt
	}
	body, _ = json.Marshal(m)
	return p.User, body, p
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

// ---------------------------------------------------------------------------
// Settling and checking effects.

// settled is what the private databases say about a set of orders.
type settled struct {
	status     map[string]int    // order id → status
	reason     map[string]string // failure reasons
	unpubOrd   int               // unpublished outbox rows, orders
	unpubCat   int               // unpublished outbox rows, catalog
	inFlight   int               // orders not yet in an end state
	missing    int               // acknowledged orders not in the database
	byStatus   map[string]int
	queryError error
}

func (s settled) String() string {
	keys := make([]string, 0, len(s.byStatus))
	for k := range s.byStatus {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%d ", k, s.byStatus[k])
	}
	return fmt.Sprintf("%smissing=%d in-flight=%d outbox-unpublished orders=%d catalog=%d",
		b.String(), s.missing, s.inFlight, s.unpubOrd, s.unpubCat)
}

func ids(orders []placed) []string {
	out := make([]string, len(orders))
	for i, o := range orders {
		out[i] = o.ID
	}
	return out
}

// final reports whether status is an end state for a blank order that may
// also have been shipped.
func final(status int) bool {
	return status >= stInProduction
}

func (fx *faultFleet) inspect(ctx context.Context, orders []placed) settled {
	s := settled{status: map[string]int{}, reason: map[string]string{}, byStatus: map[string]int{}}
	err := fx.withDB(ctx, "orders", func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT id::text, status, failure_reason FROM orders WHERE id = ANY($1::uuid[])`, ids(orders))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, reason string
			var st int
			if err := rows.Scan(&id, &st, &reason); err != nil {
				return err
			}
			s.status[id] = st
			if reason != "" {
				s.reason[id] = reason
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		return c.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE published_at IS NULL`).Scan(&s.unpubOrd)
	})
	if err == nil {
		err = fx.withDB(ctx, "catalog", func(c *pgx.Conn) error {
			return c.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE published_at IS NULL`).Scan(&s.unpubCat)
		})
	}
	s.queryError = err
	for _, o := range orders {
		st, ok := s.status[o.ID]
		switch {
		case !ok:
			s.missing++
			s.byStatus["MISSING"]++
		default:
			s.byStatus[statusName[st]]++
			if !final(st) {
				s.inFlight++
			}
		}
	}
	return s
}

// drained reports whether every order reached an end state and both outboxes
// are empty.
func (s settled) drained() bool {
	return s.queryError == nil && s.inFlight == 0 && s.unpubOrd == 0 && s.unpubCat == 0
}

// settle waits up to timeout for drained and returns how long it took.
func (fx *faultFleet) settle(ctx context.Context, orders []placed, timeout time.Duration, extra func() bool) (settled, time.Duration, bool) {
	start := time.Now()
	var s settled
	for {
		s = fx.inspect(ctx, orders)
		if s.drained() && (extra == nil || extra()) {
			return s, time.Since(start), true
		}
		if time.Since(start) > timeout || ctx.Err() != nil {
			return s, time.Since(start), false
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// effects are the side effects of a set of orders, counted where they happen.
type effects struct {
	paid             int // orders at PAID or later
	chargedOnce      int
	notCharged       int // paid orders without a successful charge
	chargedTwice     int // orders with more than one successful charge
	wrongAmount      int
	refunded         int
	chargedUnpaid    int // orders charged but not (yet) paid
	reservedOnce     int // paid orders whose stock is reserved, once, for the right quantity
	badReservations  []string
	dupTransitions   int // timeline transitions recorded more than once
	stockMismatch    []string
	pushedOnce       int
	pushDuplicates   int
	pushMissing      int
	unexpectedFailed []string
	deadLetters      []string
}

func (e effects) String() string {
	return fmt.Sprintf("paid=%d charged-once=%d not-charged=%d charged-twice=%d wrong-amount=%d refunded=%d charged-unpaid=%d "+
		"stock-reserved-once=%d bad-reservations=%d duplicate-timeline-transitions=%d stock-mismatched-variants=%d "+
		"pushed-once=%d duplicate-pushes=%d missing-pushes=%d dead-letters=%d",
		e.paid, e.chargedOnce, e.notCharged, e.chargedTwice, e.wrongAmount, e.refunded, e.chargedUnpaid,
		e.reservedOnce, len(e.badReservations), e.dupTransitions, len(e.stockMismatch),
		e.pushedOnce, e.pushDuplicates, e.pushMissing, len(e.deadLetters))
}

type paymentsLedger struct {
	Orders map[string]struct {
		SuccessfulCharges int   `json:"successful_charges"`
		Declines          int   `json:"declines"`
		AmountCharged     int64 `json:"amount_charged"`
		AmountRefunded    int64 `json:"amount_refunded"`
	} `json:"orders"`
}

type marketplaceReport struct {
	PushesByOrder map[string]int `json:"pushes_by_order"`
	Counters      struct {
		Requests        int `json:"requests"`
		Accepted        int `json:"accepted"`
		Duplicates      int `json:"duplicates"`
		RejectedBudget  int `json:"rejected_budget"`
		OverBudget      int `json:"over_budget"`
		ThrottledForced int `json:"throttled_forced"`
	} `json:"counters"`
}

func (fx *faultFleet) etsy(ctx context.Context) (marketplaceReport, error) {
	var r marketplaceReport
	err := getJSON(ctx, fx.httpc, fx.layout.MarketplacesURL()+"/_sandbox/received?marketplace=etsy", &r)
	return r, err
}

// effectsOf counts the side effects of orders (which must be settled): the
// provider's ledger, catalog reservations and stock, the timelines, and the
// Etsy pushes of the store orders that were shipped.
func (fx *faultFleet) effectsOf(t *testing.T, orders []placed, s settled) effects {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var e effects
	var ledger paymentsLedger
	if err := getJSON(ctx, fx.httpc, fx.layout.PaymentURL()+"/_sandbox/payments", &ledger); err != nil {
		t.Fatal(err)
	}
	for _, o := range orders {
		st, ok := s.status[o.ID]
		if !ok {
			continue
		}
		ch := ledger.Orders[o.ID]
		isPaid := st >= stPaid && st <= stDelivered
		switch {
		case isPaid:
			e.paid++
			switch ch.SuccessfulCharges {
			case 0:
				e.notCharged++
			case 1:
				e.chargedOnce++
			default:
				e.chargedTwice++
			}
			if ch.SuccessfulCharges > 0 && ch.AmountCharged != o.Total {
				e.wrongAmount++
			}
		case ch.SuccessfulCharges > 0:
			e.chargedUnpaid++
		}
		if ch.AmountRefunded != 0 {
			e.refunded++
		}
		if st == stRejected || st == stPayFailed || st == stCancelled {
			e.unexpectedFailed = append(e.unexpectedFailed, fmt.Sprintf("%s %s: %s", o.ID, statusName[st], s.reason[o.ID]))
		}
	}

	// Stock: one reservation per paid order, for its quantity.
	want := map[string]placed{}
	for _, o := range orders {
		want[o.ID] = o
	}
	err := fx.withDB(ctx, "catalog", func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT r.order_id, r.status, count(ri.variant_id), coalesce(sum(ri.quantity), 0), coalesce(min(ri.variant_id::text), '')
			FROM reservations r LEFT JOIN reservation_items ri USING (order_id)
			WHERE r.order_id = ANY($1) GROUP BY r.order_id, r.status`, ids(orders))
		if err != nil {
			return err
		}
		defer rows.Close()
		seen := map[string]bool{}
		for rows.Next() {
			var id, status, variant string
			var lines, qty int64
			if err := rows.Scan(&id, &status, &lines, &qty, &variant); err != nil {
				return err
			}
			seen[id] = true
			o := want[id]
			paid := s.status[id] >= stPaid && s.status[id] <= stDelivered
			if paid && status == "reserved" && lines == 1 && qty == int64(o.Qty) && variant == o.Variant {
				e.reservedOnce++
			} else if paid {
				e.badReservations = append(e.badReservations, fmt.Sprintf("%s: %s %d line(s) qty %d", id, status, lines, qty))
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, o := range orders {
			st := s.status[o.ID]
			if !seen[o.ID] && st >= stPaid && st <= stDelivered {
				e.badReservations = append(e.badReservations, o.ID+": no reservation")
			}
		}
		// Every unit that left a variant's stock is held by exactly one
		// live reservation (all orders of every scenario are settled here).
		rows2, err := c.Query(ctx, `SELECT v.id::text, v.available, coalesce((SELECT sum(ri.quantity) FROM reservation_items ri
			JOIN reservations r USING (order_id) WHERE ri.variant_id = v.id AND r.status = 'reserved'), 0)
			FROM variants v WHERE v.id = ANY($1::uuid[])`, fx.variants)
		if err != nil {
			return err
		}
		defer rows2.Close()
		for rows2.Next() {
			var id string
			var avail, held int64
			if err := rows2.Scan(&id, &avail, &held); err != nil {
				return err
			}
			if fx.seedStock[id]-avail != held {
				e.stockMismatch = append(e.stockMismatch, fmt.Sprintf("%s: seeded %d, available %d, held by reservations %d",
					id, fx.seedStock[id], avail, held))
			}
		}
		return rows2.Err()
	})
	if err != nil {
		t.Fatal(err)
	}

	err = fx.withDB(ctx, "orders", func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT count(*) FROM (SELECT order_id, to_status FROM order_events
			WHERE order_id = ANY($1::uuid[]) AND to_status <> 0 GROUP BY order_id, to_status HAVING count(*) > 1) d`,
			ids(orders)).Scan(&e.dupTransitions)
	})
	if err != nil {
		t.Fatal(err)
	}

	if e.deadLetters, err = fx.deadLetters(); err != nil {
		t.Fatal(err)
	}

	var receipts []string
	for _, o := range orders {
		if o.Receipt != "" && s.status[o.ID] == stShipped {
			receipts = append(receipts, o.Receipt)
		}
	}
	if len(receipts) > 0 {
		rep, err := fx.etsy(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range receipts {
			switch n := rep.PushesByOrder[r]; {
			case n == 1:
				e.pushedOnce++
			case n == 0:
				e.pushMissing++
			default:
				e.pushDuplicates++
			}
		}
	}
	return e
}

// assertNoLossNoDuplicates asserts the figures every scenario shares.
func assertNoLossNoDuplicates(t *testing.T, label string, s settled, e effects) {
	t.Helper()
	if s.missing != 0 {
		t.Errorf("%s: %d acknowledged (201) orders are missing from the database", label, s.missing)
	}
	if s.inFlight != 0 {
		t.Errorf("%s: %d orders never reached an end state: %s", label, s.inFlight, s)
	}
	if len(e.unexpectedFailed) != 0 {
		t.Errorf("%s: %d orders failed without a reason to (stock is ample, payments healthy): %v",
			label, len(e.unexpectedFailed), head(e.unexpectedFailed, 5))
	}
	if e.notCharged != 0 || e.chargedTwice != 0 || e.wrongAmount != 0 || e.refunded != 0 || e.chargedUnpaid != 0 {
		t.Errorf("%s: payments: %s", label, e)
	}
	if e.chargedOnce != e.paid {
		t.Errorf("%s: %d paid orders but %d charged exactly once", label, e.paid, e.chargedOnce)
	}
	if len(e.badReservations) != 0 || e.reservedOnce != e.paid {
		t.Errorf("%s: stock reserved once for %d of %d paid orders; bad: %v", label, e.reservedOnce, e.paid, head(e.badReservations, 5))
	}
	if len(e.stockMismatch) != 0 {
		t.Errorf("%s: stock moved without a matching reservation: %v", label, head(e.stockMismatch, 5))
	}
	if e.dupTransitions != 0 {
		t.Errorf("%s: %d order transitions recorded twice on the timeline", label, e.dupTransitions)
	}
	if e.pushDuplicates != 0 || e.pushMissing != 0 {
		t.Errorf("%s: Etsy pushes: %d once, %d duplicated, %d missing", label, e.pushedOnce, e.pushDuplicates, e.pushMissing)
	}
	if len(e.deadLetters) != 0 {
		byQueue := map[string]int{}
		for _, d := range e.deadLetters {
			q, _, _ := strings.Cut(d, ":")
			byQueue[q]++
		}
		t.Errorf("%s: %d events were dead-lettered (given up) during the scenario %v, e.g. %v",
			label, len(e.deadLetters), byQueue, head(e.deadLetters, 3))
	}
}

func head(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
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

// ---------------------------------------------------------------------------
// Scenarios.

// ---------------------------------------------------------------------------
// Scenarios.

// outage kills one thing, keeps it down, and starts it again.
type outage struct {
	at    float64 // fraction of the load's requests done when it strikes
	name  string
	kill  func() error
	start func(context.Context) error
	down  time.Duration

	progressAt            int64
	killedAt, restartedAt time.Time
	boot                  time.Duration
	late                  bool // the load had finished before it struck
}

func (o *outage) cycle(ctx context.Context) error {
	o.killedAt = time.Now()
	if err := o.kill(); err != nil {
		return fmt.Errorf("kill %s: %w", o.name, err)
	}
	time.Sleep(o.down)
	b := time.Now()
	if err := o.start(ctx); err != nil {
		return fmt.Errorf("restart %s: %w", o.name, err)
	}
	o.restartedAt = time.Now()
	o.boot = o.restartedAt.Sub(b)
	return nil
}

// waitProgress waits until progress reaches target; it reports false when
// the load finished (or ctx ended) first.
func waitProgress(ctx context.Context, progress *atomic.Int64, target int64, done <-chan struct{}) bool {
	for progress.Load() < target {
		select {
		case <-done:
			return false
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return true
}

func testBrokerAndCacheKills(t *testing.T, fx *faultFleet) {
	n := 3000
	if v, err := strconv.Atoi(os.Getenv("PRINTFLEET_E2E_FAULTS_ORDERS")); err == nil && v > 0 {
		n = v
	}
	const conc, stores, readers = 64, 20, 4
	// The orders are paced over span so that the kills strike while they
	// flow; unpaced, this machine places them faster than one broker
	// restart takes.
	const span = 75 * time.Second
	rate := float64(n) / span.Seconds()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()

	st := &loadStats{}
	var progress atomic.Int64
	shipCh := make(chan placed, stores)
	shipped := fx.shipper(ctx, shipCh)
	rs := &readStats{}
	stopReads := make(chan struct{})
	readersWG := fx.readers(ctx, readers, st, rs, stopReads)
	loadDone := make(chan struct{})
	began := time.Now()
	var placedIn time.Duration
	go func() {
		fx.load(ctx, st, loadOpts{n: n, conc: conc, stores: stores, rate: rate, progress: &progress, shipped: shipCh})
		placedIn = time.Since(began)
		close(shipCh)
		close(loadDone)
	}()

	down := 5 * time.Second
	faults := []*outage{
		{at: 0.10, name: "rabbitmq", kill: fx.mq.Kill, start: fx.mq.Start, down: down},
		{at: 0.40, name: "redis", kill: fx.redis.Kill, start: fx.redis.Start, down: down},
		{at: 0.70, name: "rabbitmq", kill: fx.mq.Kill, start: fx.mq.Start, down: down},
	}
	var faultErr error
	for _, f := range faults {
		reached := waitProgress(ctx, &progress, int64(f.at*float64(n)), loadDone)
		select {
		case <-loadDone:
			f.late = true
		default:
			f.late = !reached
		}
		f.progressAt = progress.Load()
		if f.name == "redis" {
			rs.window.Store(true)
		}
		if faultErr = f.cycle(ctx); faultErr != nil {
			break
		}
		if f.name == "redis" {
			time.Sleep(2 * time.Second) // reads right after the restart still count as the outage
			rs.window.Store(false)
		}
	}
	<-loadDone
	close(stopReads)
	readersWG.Wait()
	shippedOrders := shipped()
	if faultErr != nil {
		t.Fatal(faultErr)
	}
	orders := st.snapshot()
	lastRestart := faults[len(faults)-1].restartedAt
	loadEnd := began.Add(placedIn)

	budget := 60*time.Second - time.Since(lastRestart)
	s, _, ok := fx.settle(ctx, orders, max(budget, 0), fx.pushesRecorded(ctx, shippedOrders))
	drainedAfter := time.Since(lastRestart)
	if !ok {
		// Wait a little longer to tell slow from stuck, still failing the budget.
		s, _, _ = fx.settle(ctx, orders, 45*time.Second, fx.pushesRecorded(ctx, shippedOrders))
	}
	e := fx.effectsOf(t, orders, s)

	t.Logf("BROKER AND CACHE KILLS — N=%d orders started at %.0f/s, ≤ %d in flight (%d from an Etsy store, %d of them shipped during the run); placing took %v",
		n, rate, conc, stores, len(shippedOrders), placedIn.Round(time.Millisecond))
	for _, f := range faults {
		note := ""
		if f.late {
			note = " — the load had already finished"
		}
		t.Logf("  SIGKILL %-8s at %4d/%d requests, kept down %v, boot %v, back %v after the kill%s",
			f.name, f.progressAt, n, f.down, f.boot.Round(time.Millisecond), f.restartedAt.Sub(f.killedAt).Round(time.Millisecond), note)
	}
	t.Logf("  create answers: %s; acknowledged %d, refused %d, gave up %d", st, len(orders), len(st.rejected), st.gaveUp)
	t.Logf("  end state: %s", s)
	if ok {
		t.Logf("  drained %v after the last restart (budget 60s; the load ended %v after it)",
			drainedAfter.Round(time.Millisecond), loadEnd.Sub(lastRestart).Round(time.Millisecond))
	} else {
		t.Logf("  NOT drained within 60s of the last restart (the load ended %v after it); state %v later: %s",
			loadEnd.Sub(lastRestart).Round(time.Millisecond), time.Since(lastRestart).Round(time.Second), s)
	}
	t.Logf("  effects: %s", e)
	wTotal, w5xx, wTransport := countsOf(rs.inWindow)
	oTotal, o5xx, oTransport := countsOf(rs.outside)
	t.Logf("  GET /v1/orders/{id} while Redis was down (kill → restart + 2s): %d reads, %d 5xx, %d transport errors; the rest of the run: %d reads, %d 5xx, %d transport errors",
		wTotal, w5xx, wTransport, oTotal, o5xx, oTransport)

	if len(st.rejected) != 0 || st.gaveUp != 0 {
		t.Errorf("creates not acknowledged: %d refused %v, %d gave up after 90 s of retries", len(st.rejected), head(st.rejected, 3), st.gaveUp)
	}
	for _, f := range faults {
		if f.late {
			t.Errorf("%s was killed after the load had finished", f.name)
		}
	}
	assertNoLossNoDuplicates(t, "broker and cache kills", s, e)
	if !ok {
		t.Errorf("not drained within 60 s of the last restart")
	}
	if wTotal == 0 {
		t.Errorf("no order was read while Redis was down: the scenario proved nothing about reads")
	}
	if w5xx != 0 || wTransport != 0 {
		t.Errorf("reads failed while Redis was down: %d 5xx, %d transport errors: %v", w5xx, wTransport, rs.windowErrors)
	}
	if len(shippedOrders) == 0 {
		t.Errorf("no store order was shipped during the run")
	}
}

// backlog counts the unpublished outbox rows of both services.
func (fx *faultFleet) backlog(ctx context.Context) (orders, catalog int) {
	_ = fx.withDB(ctx, "orders", func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE published_at IS NULL`).Scan(&orders)
	})
	_ = fx.withDB(ctx, "catalog", func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE published_at IS NULL`).Scan(&catalog)
	})
	return orders, catalog
}

func testRelayAndWorkerKills(t *testing.T, fx *faultFleet) {
	const relayRate = 80 // orders/s: keeps the relays busy between kills
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	st := &loadStats{}
	stop := make(chan struct{})
	loadDone := make(chan struct{})
	go func() {
		fx.load(ctx, st, loadOpts{conc: 64, rate: relayRate, stop: stop})
		close(loadDone)
	}()
	time.Sleep(2 * time.Second)

	type kill struct {
		name              string
		pid               int
		ordersQ, catalogQ int // unpublished outbox rows when it was killed
		handledBefore     int // orders acknowledged so far
		restart           time.Duration
		midBatch          bool
	}
	var kills []kill
	for round := range 2 {
		for _, name := range []string{"orders", "orders-worker", "catalog"} {
			// Strike while the relay or worker has work: wait (briefly) for a
			// backlog in the outbox it drains.
			var k kill
			for range 40 {
				k.ordersQ, k.catalogQ = fx.backlog(ctx)
				if (name == "catalog" && k.catalogQ > 0) || (name != "catalog" && k.ordersQ > 0) {
					k.midBatch = true
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			k.name, k.pid, k.handledBefore = name, fx.fleet.Pid(name), len(st.snapshot())
			if err := fx.fleet.Kill(name, syscall.SIGKILL, 10*time.Second); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			b := time.Now()
			if err := fx.fleet.Restart(ctx, name, 90*time.Second); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			k.restart = time.Since(b)
			kills = append(kills, k)
			time.Sleep(time.Duration(1000+rand.IntN(1000)) * time.Millisecond)
		}
	}
	close(stop)
	<-loadDone
	orders := st.snapshot()
	s, took, ok := fx.settle(ctx, orders, 90*time.Second, nil)
	e := fx.effectsOf(t, orders, s)

	t.Logf("RELAY AND WORKER KILLS — %d orders acknowledged (started at %d/s, ≤ 64 in flight) while %d processes were SIGKILLed and restarted", len(orders), relayRate, len(kills))
	midBatch := 0
	for _, k := range kills {
		if k.midBatch {
			midBatch++
		}
		t.Logf("  SIGKILL %-13s pid %-7d after %4d orders, outbox backlog orders=%d catalog=%d, ready again in %v",
			k.name, k.pid, k.handledBefore, k.ordersQ, k.catalogQ, k.restart.Round(time.Millisecond))
	}
	t.Logf("  %d of %d kills struck with unpublished rows in the outbox they relay", midBatch, len(kills))
	t.Logf("  create answers: %s; refused %d, gave up %d", st, len(st.rejected), st.gaveUp)
	t.Logf("  end state after %v: %s", took.Round(time.Millisecond), s)
	t.Logf("  effects: %s", e)
	if !ok {
		t.Errorf("not settled within 90 s of the last kill: %s", s)
	}
	if s.unpubOrd != 0 || s.unpubCat != 0 {
		t.Errorf("unpublished outbox rows at the end: orders %d, catalog %d", s.unpubOrd, s.unpubCat)
	}
	if len(st.rejected) != 0 || st.gaveUp != 0 {
		t.Errorf("creates not acknowledged: %d refused %v, %d gave up", len(st.rejected), head(st.rejected, 3), st.gaveUp)
	}
	if midBatch == 0 {
		t.Errorf("no kill struck while the outbox had a backlog: the scenario proved nothing about relays")
	}
	assertNoLossNoDuplicates(t, "relay and worker kills", s, e)
}

// poison is the malformed body: field 1 with wire type 7, which no protobuf
// decoder accepts, followed by bytes that are not UTF-8 either.
var poison = []byte("\x0f\xff\xfe\xfd not a protobuf \xc3\x28")

func testPoisonMessage(t *testing.T, fx *faultFleet) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	targets := []struct{ queue, key string }{
		{"catalog.stock", "orders.order_placed.v1"},
		{"pricing.coupons", "orders.order_placed.v1"},
		{"catalog.projector", "catalog.product_changed.v1"},
		{"catalog.designs", "images.design_processed.v1"},
		{"orders.worker", "catalog.stock_reserved.v1"},
		{"images.designs", "catalog.design_uploaded.v1"},
		{"images.renders", "orders.order_paid.v1"},
		{"marketplace.push", "orders.order_shipped.v1"},
	}
	conn, err := amqp091.Dial(fx.mq.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	returns := ch.NotifyReturn(make(chan amqp091.Return, len(targets)))
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}

	// Dead letters already there were left by the scenarios before (which
	// report them): start from empty queues.
	earlier, err := fx.deadLetters()
	if err != nil {
		t.Fatal(err)
	}

	sent := map[string]string{} // routing key → message id
	publishedAt := time.Now()
	for _, tg := range targets {
		if _, ok := sent[tg.key]; ok {
			continue
		}
		id := uuid.NewString()
		sent[tg.key] = id
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "printfleet.events", tg.key, true, false, amqp091.Publishing{
			MessageId: id, Type: tg.key, Timestamp: time.Now(), DeliveryMode: amqp091.Persistent,
			ContentType: "application/x-protobuf", Body: poison,
		})
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := dc.WaitContext(ctx); !ok || err != nil {
			t.Fatalf("poison for %s not confirmed: %v", tg.key, err)
		}
	}
	select {
	case r := <-returns:
		t.Fatalf("poison for %s was unroutable (no queue bound)", r.RoutingKey)
	default:
	}

	type landed struct {
		after   time.Duration
		reason  string
		count   int64
		headers string
	}
	got := map[string]landed{}
	var stray []string
	deadline := time.Now().Add(60 * time.Second)
	for len(got) < len(targets) && time.Now().Before(deadline) {
		for _, tg := range targets {
			if _, ok := got[tg.queue]; ok {
				continue
			}
			d, ok, err := ch.Get(tg.queue+".dlq", false)
			if err != nil {
				t.Fatalf("get %s.dlq: %v", tg.queue, err)
			}
			if !ok {
				continue
			}
			_ = d.Ack(false)
			if d.MessageId != sent[tg.key] {
				stray = append(stray, fmt.Sprintf("%s.dlq: %s %s", tg.queue, d.Type, d.MessageId))
				continue
			}
			l := landed{after: time.Since(publishedAt)}
			if deaths, ok := d.Headers["x-death"].([]any); ok && len(deaths) > 0 {
				if death, ok := deaths[0].(amqp091.Table); ok {
					l.reason, _ = death["reason"].(string)
					l.count, _ = death["count"].(int64)
				}
			}
			if c, ok := d.Headers["x-delivery-count"]; ok {
				l.headers = fmt.Sprintf("x-delivery-count=%v", c)
			}
			got[tg.queue] = l
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The consumers keep going: an order placed now is paid.
	st := &loadStats{}
	user, body, p := fx.orderSpec(0, false)
	o, ok := fx.create(ctx, st, user, body, p, 30*time.Second)
	if !ok {
		t.Fatalf("order after the poison not acknowledged: %s %v", st, st.rejected)
	}
	placedAt := time.Now()
	waitStatus(t, fx.environment, user, o.ID, "ORDER_STATUS_PAID", 60*time.Second)
	paidIn := time.Since(placedAt)

	t.Logf("POISON MESSAGE — one malformed message (%d bytes) per routing key, %d consumer queues", len(poison), len(targets))
	if len(earlier) > 0 {
		t.Logf("  dead letters left by earlier scenarios, taken off first: %d %v", len(earlier), head(earlier, 3))
	}
	for _, tg := range targets {
		if l, ok := got[tg.queue]; ok {
			t.Logf("  %-18s ← %-28s in %s.dlq after %v (x-death reason %q, count %d %s)",
				tg.queue, tg.key, tg.queue, l.after.Round(time.Millisecond), l.reason, l.count, l.headers)
		} else {
			t.Logf("  %-18s ← %-28s NOT in %s.dlq after 60s", tg.queue, tg.key, tg.queue)
		}
	}
	t.Logf("  an order placed afterwards reached PAID in %v", paidIn.Round(time.Millisecond))
	for _, tg := range targets {
		if _, ok := got[tg.queue]; !ok {
			t.Errorf("the poison message for %s (%s) did not reach %s.dlq within 60 s", tg.queue, tg.key, tg.queue)
		}
	}
	if len(stray) > 0 {
		t.Errorf("other dead letters appeared meanwhile: %v", head(stray, 5))
	}
}

// readyz is the admin readiness answer of a process (0 when unreachable).
func (fx *faultFleet) readyz(ctx context.Context, admin string) int {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/readyz", nil)
	resp, err := fx.httpc.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func testPostgresRestart(t *testing.T, fx *faultFleet) {
	const pgRate = 40 // orders/s
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	st := &loadStats{}
	stop := make(chan struct{})
	loadDone := make(chan struct{})
	go func() {
		fx.load(ctx, st, loadOpts{conc: 64, rate: pgRate, stop: stop})
		close(loadDone)
	}()
	time.Sleep(4 * time.Second)

	var admins []fleet.Proc
	for _, p := range fx.layout.Procs() {
		if p.Admin != "" {
			admins = append(admins, p)
		}
	}
	ackBefore := len(st.snapshot())
	o := &outage{name: "postgres", kill: fx.pg.Kill, start: fx.pg.Start, down: 4 * time.Second}
	downReady := map[string]int{}
	var sampled sync.WaitGroup
	sampled.Add(1)
	go func() { // what readiness says while PostgreSQL is down
		defer sampled.Done()
		time.Sleep(2500 * time.Millisecond)
		for _, p := range admins {
			downReady[p.Name] = fx.readyz(ctx, p.Admin)
		}
	}()
	if err := o.cycle(ctx); err != nil {
		close(stop)
		<-loadDone
		t.Fatal(err)
	}
	sampled.Wait()
	ackDuringOutage := len(st.snapshot()) - ackBefore

	recovered := map[string]time.Duration{}
	deadline := time.Now().Add(60 * time.Second)
	for len(recovered) < len(admins) && time.Now().Before(deadline) {
		for _, p := range admins {
			if _, ok := recovered[p.Name]; !ok && fx.readyz(ctx, p.Admin) == http.StatusOK {
				recovered[p.Name] = time.Since(o.restartedAt)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(5 * time.Second) // orders keep coming after the recovery
	close(stop)
	<-loadDone
	orders := st.snapshot()
	s, took, ok := fx.settle(ctx, orders, 90*time.Second, nil)
	e := fx.effectsOf(t, orders, s)

	t.Logf("POSTGRESQL RESTART — %d orders acknowledged (started at %d/s, ≤ 64 in flight); postmaster SIGKILLed after %d, kept down %v, crash recovery + boot %v",
		len(orders), pgRate, ackBefore, o.down, o.boot.Round(time.Millisecond))
	t.Logf("  acknowledged between the kill and the restart (requests that committed just before it): %d", ackDuringOutage)
	for _, p := range admins {
		if d, ok := recovered[p.Name]; ok {
			t.Logf("  %-13s /readyz %d while down, 200 again %v after PostgreSQL was back", p.Name, downReady[p.Name], d.Round(time.Millisecond))
		} else {
			t.Logf("  %-13s /readyz %d while down, NOT ready 60s after PostgreSQL was back", p.Name, downReady[p.Name])
		}
	}
	t.Logf("  create answers: %s; refused %d, gave up %d", st, len(st.rejected), st.gaveUp)
	t.Logf("  end state after %v: %s", took.Round(time.Millisecond), s)
	t.Logf("  effects: %s", e)
	for _, p := range admins {
		if _, ok := recovered[p.Name]; !ok {
			t.Errorf("%s /readyz did not recover within 60 s", p.Name)
		}
	}
	if !ok {
		t.Errorf("not settled within 90 s: %s", s)
	}
	if len(st.rejected) != 0 || st.gaveUp != 0 {
		t.Errorf("creates not acknowledged: %d refused %v, %d gave up", len(st.rejected), head(st.rejected, 3), st.gaveUp)
	}
	assertNoLossNoDuplicates(t, "postgres restart", s, e)
}

// breakerState reads the orders-worker's payment breaker gauge (-1 unknown).
func (fx *faultFleet) breakerState(ctx context.Context) float64 {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+fx.layout.Admin(9207)+"/metrics", nil)
	resp, err := fx.httpc.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "printfleet_orders_payment_breaker_state "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

func (fx *faultFleet) marketFaults(t *testing.T, marketplace, patch string) {
	t.Helper()
	resp, err := http.Post(fx.layout.MarketplacesURL()+"/_sandbox/faults?marketplace="+marketplace, "application/json", strings.NewReader(patch))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("marketplace faults %s %s: %s", marketplace, patch, resp.Status)
	}
}

func testSandboxFaults(t *testing.T, fx *faultFleet) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	t.Run("PaymentOutage", func(t *testing.T) {
		pay := fx.layout.PaymentURL()
		sandboxFaults(t, pay, `{"outage":true}`)
		healed := false
		defer func() {
			if !healed {
				sandboxFaults(t, pay, `{"outage":false}`)
			}
		}()
		outageAt := time.Now()
		st := &loadStats{}
		fx.load(ctx, st, loadOpts{n: 24, conc: 8})
		orders := st.snapshot()
		if len(orders) != 24 {
			t.Fatalf("creates during the payment outage: %s %v", st, st.rejected)
		}
		var openedAfter time.Duration
		for time.Since(outageAt) < 60*time.Second {
			if fx.breakerState(ctx) == 2 {
				openedAfter = time.Since(outageAt)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(3 * time.Second)
		during := fx.inspect(ctx, orders)
		stateBeforeHeal := fx.breakerState(ctx)
		sandboxFaults(t, pay, `{"outage":false}`)
		healed = true
		healedAt := time.Now()
		s, took, ok := fx.settle(ctx, orders, 60*time.Second, nil)
		var closedAfter time.Duration
		for time.Since(healedAt) < 30*time.Second {
			if fx.breakerState(ctx) == 0 {
				closedAfter = time.Since(healedAt)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		e := fx.effectsOf(t, orders, s)

		t.Logf("PAYMENT OUTAGE — %d orders placed while the provider answered 503", len(orders))
		if openedAfter > 0 {
			t.Logf("  printfleet_orders_payment_breaker_state = 2 (open) %v after the outage began; %v just before healing", openedAfter.Round(time.Millisecond), stateBeforeHeal)
		} else {
			t.Logf("  the breaker never reported open within 60s (last %v)", stateBeforeHeal)
		}
		t.Logf("  during the outage: %s", during)
		t.Logf("  after healing: end state in %v: %s; breaker closed again after %v", took.Round(time.Millisecond), s, closedAfter.Round(time.Millisecond))
		t.Logf("  effects: %s", e)
		if openedAfter == 0 {
			t.Errorf("the payment breaker never opened during the outage")
		}
		if n := during.byStatus["PAID"] + during.byStatus["IN_PRODUCTION"] + during.byStatus["PAYMENT_FAILED"]; n != 0 {
			t.Errorf("%d orders were paid or failed while the provider was down: %s", n, during)
		}
		if !ok {
			t.Errorf("orders not paid within 60 s of healing: %s", s)
		}
		if closedAfter == 0 {
			t.Errorf("the breaker did not close within 30 s of healing")
		}
		assertNoLossNoDuplicates(t, "payment outage", s, e)
	})

	t.Run("MarketplaceThrottleStorm", func(t *testing.T) {
		const n = 12
		st := &loadStats{}
		fx.load(ctx, st, loadOpts{n: n, conc: 4, stores: n})
		orders := st.snapshot()
		if len(orders) != n {
			t.Fatalf("store orders: %s %v", st, st.rejected)
		}
		if s, _, ok := fx.settle(ctx, orders, 60*time.Second, nil); !ok {
			t.Fatalf("store orders not in production: %s", s)
		}
		before, err := fx.etsy(ctx)
		if err != nil {
			t.Fatal(err)
		}
		fx.marketFaults(t, "etsy", `{"throttle":true}`)
		stormAt := time.Now()
		off := false
		defer func() {
			if !off {
				fx.marketFaults(t, "etsy", `{"throttle":false}`)
			}
		}()
		for _, o := range orders {
			body, _ := json.Marshal(map[string]any{"carrier": "UPS", "tracking_number": "1ZSTORM" + o.Receipt})
			code, raw, err := fx.send(ctx, http.MethodPost, "/v1/orders/"+o.ID+"/shipments", fx.fulfilment, body)
			if err != nil || code != http.StatusCreated {
				t.Fatalf("ship %s: %d %v %s", o.ID, code, err, raw)
			}
		}
		time.Sleep(5 * time.Second)
		fx.marketFaults(t, "etsy", `{"throttle":false}`)
		off = true
		stormLasted := time.Since(stormAt)
		s, took, ok := fx.settle(ctx, orders, 90*time.Second, fx.pushesRecorded(ctx, orders))
		after, err := fx.etsy(ctx)
		if err != nil {
			t.Fatal(err)
		}
		e := fx.effectsOf(t, orders, s)
		d := func(a, b int) int { return a - b }
		t.Logf("MARKETPLACE 429 STORM — %d Etsy orders shipped into a %v forced-throttle storm", n, stormLasted.Round(time.Millisecond))
		t.Logf("  Etsy counters during the run: requests +%d, throttled (forced) +%d, rejected for budget +%d, over_budget +%d, accepted +%d, duplicates +%d",
			d(after.Counters.Requests, before.Counters.Requests), d(after.Counters.ThrottledForced, before.Counters.ThrottledForced),
			d(after.Counters.RejectedBudget, before.Counters.RejectedBudget), d(after.Counters.OverBudget, before.Counters.OverBudget),
			d(after.Counters.Accepted, before.Counters.Accepted), d(after.Counters.Duplicates, before.Counters.Duplicates))
		t.Logf("  all pushed %v after the storm ended: %s; effects: %s", took.Round(time.Millisecond), s, e)
		if d(after.Counters.ThrottledForced, before.Counters.ThrottledForced) == 0 {
			t.Errorf("no push met the storm: the scenario proved nothing")
		}
		if after.Counters.OverBudget != 0 {
			t.Errorf("over_budget = %d (was %d): pushes ignored the budget or Retry-After", after.Counters.OverBudget, before.Counters.OverBudget)
		}
		if !ok {
			t.Errorf("not every shipment pushed within 90 s of the storm: %s", s)
		}
		if s.byStatus["SHIPPED"] != n {
			t.Errorf("%d of %d orders SHIPPED", s.byStatus["SHIPPED"], n)
		}
		assertNoLossNoDuplicates(t, "marketplace throttle storm", s, e)
	})
}

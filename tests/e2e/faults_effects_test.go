package e2e

// Settling and checking effects: what the private databases, the payment
// ledger, the broker and the marketplace say happened to a set of orders.

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

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
	PushesByOrder map[string]int      `json:"pushes_by_order"`
	Counters      marketplaceCounters `json:"counters"`
	// OverBudgetEvents say when and how each over-budget request came.
	OverBudgetEvents []map[string]any `json:"over_budget_events"`
}

type marketplaceCounters struct {
	Requests        int `json:"requests"`
	Accepted        int `json:"accepted"`
	Duplicates      int `json:"duplicates"`
	RejectedBudget  int `json:"rejected_budget"`
	OverBudget      int `json:"over_budget"`
	ThrottledForced int `json:"throttled_forced"`
}

// etsyReport reads the Etsy stand-in's record, failing t if it cannot.
func (fx *faultFleet) etsyReport(t *testing.T) marketplaceReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := fx.etsy(ctx)
	if err != nil {
		t.Fatalf("etsy record: %v", err)
	}
	return r
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

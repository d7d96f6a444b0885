package e2e

import (
	"context"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

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
	stopLoad := fx.loadUntilStopped(ctx, st, relayRate)
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
		for _, name := range []string{"orders", "orders-worker", "catalog", "catalog-worker"} {
			// Strike while the relay or worker has work: wait (briefly) for a
			// backlog in the outbox it drains.
			var k kill
			for range 40 {
				k.ordersQ, k.catalogQ = fx.backlog(ctx)
				if cat := strings.HasPrefix(name, "catalog"); (cat && k.catalogQ > 0) || (!cat && k.ordersQ > 0) {
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
	stopLoad()
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

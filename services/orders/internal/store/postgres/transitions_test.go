package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/printfleet/printfleet/services/orders/internal/app"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
	pgstore "github.com/printfleet/printfleet/services/orders/internal/store/postgres"
	"github.com/printfleet/printfleet/services/orders/internal/testenv"
)

// TestATransitionCountsOnce reads the process-wide counter, so it is not
// parallel: parallel tests wait until every sequential test has finished.
func TestATransitionCountsOnce(t *testing.T) {
	_, store := testenv.DB(t)
	count := func(from, to string) float64 {
		return testutil.ToFloat64(pgstore.Transitions.WithLabelValues(from, to))
	}
	created, confirmed := count("NONE", "PENDING"), count("PENDING", "CONFIRMED")
	o := newOrder(t, store)
	if d := count("NONE", "PENDING") - created; d != 1 {
		t.Fatalf("a created order counted %v NONE→PENDING transitions, want 1", d)
	}
	claim := &app.InboxClaim{Consumer: "c", MessageID: uuid.NewString()}
	confirm := func(o *domain.Order) (app.Change, error) { return app.Change{}, o.Confirm(app.Now()) }
	if _, err := store.UpdateOrder(context.Background(), o.ID(), app.UpdateOptions{Inbox: claim}, confirm); err != nil {
		t.Fatal(err)
	}
	// The same message again changes nothing, and neither does an update
	// that leaves the order as it is, nor one that fails.
	if _, err := store.UpdateOrder(context.Background(), o.ID(), app.UpdateOptions{Inbox: claim}, confirm); !errors.Is(err, app.ErrAlreadyProcessed) {
		t.Fatalf("repeated message: %v, want ErrAlreadyProcessed", err)
	}
	if _, err := store.UpdateOrder(context.Background(), o.ID(), app.UpdateOptions{}, func(*domain.Order) (app.Change, error) {
		return app.Change{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.UpdateOrder(context.Background(), o.ID(), app.UpdateOptions{}, confirm); err == nil {
		t.Fatal("confirming a confirmed order succeeded")
	}
	if d := count("PENDING", "CONFIRMED") - confirmed; d != 1 {
		t.Fatalf("one confirmation counted %v PENDING→CONFIRMED transitions, want 1", d)
	}
	if d := count("NONE", "PENDING") - created; d != 1 {
		t.Fatalf("the updates counted %v more creations", d-1)
	}

	// A commit of two steps counts each step its timeline records.
	confirmed, cancelled, skipped := count("PENDING", "CONFIRMED"), count("CONFIRMED", "CANCELLED"), count("PENDING", "CANCELLED")
	o = newOrder(t, store)
	_, err := store.UpdateOrder(context.Background(), o.ID(), app.UpdateOptions{}, func(o *domain.Order) (app.Change, error) {
		var c app.Change
		for _, move := range []func() error{func() error { return o.Confirm(app.Now()) }, func() error { return o.Cancel("test", app.Now()) }} {
			from := o.Status()
			if err := move(); err != nil {
				return app.Change{}, err
			}
			c.Timeline = append(c.Timeline, domain.TimelineEntry{ID: uuid.NewString(), OrderID: o.ID(), Type: "test", From: from, To: o.Status(), CreatedAt: app.Now()})
		}
		return c, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if dc, dx, ds := count("PENDING", "CONFIRMED")-confirmed, count("CONFIRMED", "CANCELLED")-cancelled, count("PENDING", "CANCELLED")-skipped; dc != 1 || dx != 1 || ds != 0 {
		t.Fatalf("confirm and cancel in one commit counted PENDING→CONFIRMED %v, CONFIRMED→CANCELLED %v, PENDING→CANCELLED %v; want 1, 1, 0", dc, dx, ds)
	}
}

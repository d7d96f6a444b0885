package domain_test

import (
	"testing"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
)

func heldOrder(t *testing.T) (*domain.Order, domain.OrderFields) {
	t.Helper()
	f := fields()
	f.StoreID, f.ExternalOrderID = "6f1c0a52-8d7e-4c1b-9a43-2b7f1e0c9d11", "1001"
	h := f
	h.Address.CountryCode = "united kingdom" // kept as the marketplace sent it
	o, err := domain.NewHeldOrder(h, "line 1: unmapped", []byte(`{"lines":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	return o, f
}

func TestHeldOrderLeavesOnlyForPendingOrCancelled(t *testing.T) {
	o, f := heldOrder(t)
	if o.Status() != domain.StatusOnHold || o.HoldReason() != "line 1: unmapped" || len(o.Items()) != 0 ||
		o.Total().Amount() != 0 || o.Status().Terminal() || o.Status().String() != "ON_HOLD" {
		t.Fatalf("held order %+v", o.Fields())
	}
	for name, step := range map[string]func() error{
		"confirm": func() error { return o.Confirm(now) },
		"pay":     func() error { return o.MarkPaid("pi", now) },
		"reject":  func() error { return o.Reject("x", now) },
	} {
		if err := step(); !errs.Is(err, errs.FailedPrecondition) {
			t.Errorf("%s of a held order: %v", name, err)
		}
	}
	if err := o.Hold("line 2: unmapped", now); err != nil || o.HoldReason() != "line 2: unmapped" || o.Status() != domain.StatusOnHold {
		t.Fatalf("hold again: %v", err)
	}
	other := fields()
	if err := o.PlaceFromHold(mustOrder(t, other), now); err == nil {
		t.Fatal("placed a held order with another order's items")
	}
	f.ID, f.UserID = o.ID(), o.UserID()
	if err := o.PlaceFromHold(mustOrder(t, f), now); err != nil {
		t.Fatal(err)
	}
	if o.Status() != domain.StatusPending || o.HoldReason() != "" || len(o.Items()) != 2 || o.Total().Amount() != 2800 {
		t.Fatalf("placed %+v", o.Fields())
	}
	if err := o.PlaceFromHold(mustOrder(t, f), now); !errs.Is(err, errs.FailedPrecondition) {
		t.Fatalf("placed twice: %v", err)
	}
	if err := o.Hold("x", now); !errs.Is(err, errs.FailedPrecondition) {
		t.Fatalf("hold of a pending order: %v", err)
	}

	c, _ := heldOrder(t)
	if !c.Cancellable() || c.Cancel("marketplace cancelled", now) != nil || c.Status() != domain.StatusCancelled {
		t.Fatalf("cancel held: %v", c.Status())
	}
}

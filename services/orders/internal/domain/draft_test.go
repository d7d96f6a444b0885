package domain_test

import (
	"testing"
	"time"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
)

var ttl = 72 * time.Hour

func draft(t *testing.T) *domain.Order {
	t.Helper()
	o, err := domain.NewDraft(fields(), now.Add(ttl))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// stored is an order read back in status s (a draft expiring at now+ttl).
func stored(t *testing.T, s domain.Status, f domain.OrderFields) *domain.Order {
	t.Helper()
	f.Status, f.Version = s, 3
	if s == domain.StatusDraft {
		f.ExpiresAt = now.Add(ttl)
	}
	o, err := domain.UnmarshalOrderFromDatabase(f)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestNewDraft(t *testing.T) {
	o := draft(t)
	if o.Status() != domain.StatusDraft || o.Version() != 1 || !o.ExpiresAt().Equal(now.Add(ttl)) {
		t.Fatalf("draft: %s v%d expires %s", o.Status(), o.Version(), o.ExpiresAt())
	}
	if o.StockReserved() || o.PaymentID() != "" {
		t.Fatal("a draft holds nothing")
	}
	if _, err := domain.NewDraft(fields(), now); err == nil {
		t.Fatal("a draft that expires when it is created was accepted")
	}
	bad := fields()
	bad.Total = usd(1)
	if _, err := domain.NewDraft(bad, now.Add(ttl)); err == nil {
		t.Fatal("a draft whose totals do not add up was accepted")
	}
}

func TestTotalWithTax(t *testing.T) {
	f := fields() // subtotal 2500 + shipping 400 - discount 100 = 2800
	f.Tax, f.Total = usd(224), usd(3024)
	o := mustOrder(t, f)
	if o.Tax() != usd(224) || o.TaxIncluded() {
		t.Fatalf("tax %s included %t", o.Tax(), o.TaxIncluded())
	}
	f.Total = usd(2800)
	if _, err := domain.NewOrder(f); err == nil {
		t.Fatal("a total without the tax was accepted while the tax is not included")
	}
	f.TaxIncluded = true
	if _, err := domain.NewOrder(f); err != nil {
		t.Fatalf("tax included in the prices: %v", err)
	}
	f.Total = usd(3024)
	if _, err := domain.NewOrder(f); err == nil {
		t.Fatal("an included tax was added to the total")
	}
	f = fields()
	f.Tax = domain.MustMoney(1, "EUR")
	f.Total = usd(2801)
	if _, err := domain.NewOrder(f); err == nil {
		t.Fatal("a tax in another currency was accepted")
	}
	f = fields()
	f.ShippingMethod = "Express!"
	if _, err := domain.NewOrder(f); errs.KindOf(err) != errs.Invalid {
		t.Fatalf("bad shipping method: %v", err)
	}
}

// TestDraftTransitionsFromEveryStatus checks each draft move from each
// status: only a DRAFT is placed, edited or expired; cancel is allowed until
// production begins.
func TestDraftTransitionsFromEveryStatus(t *testing.T) {
	type moves struct{ place, update, cancel, expire bool }
	want := map[domain.Status]moves{
		domain.StatusDraft:         {place: true, update: true, cancel: true, expire: true},
		domain.StatusOnHold:        {cancel: true},
		domain.StatusPending:       {cancel: true},
		domain.StatusConfirmed:     {cancel: true},
		domain.StatusPaid:          {cancel: true},
		domain.StatusInProduction:  {},
		domain.StatusShipped:       {},
		domain.StatusDelivered:     {},
		domain.StatusRejected:      {},
		domain.StatusPaymentFailed: {},
		domain.StatusCancelled:     {},
	}
	later := now.Add(ttl + time.Minute) // past the draft's expiry
	soon := now.Add(time.Minute)        // before it
	for s, w := range want {
		t.Run(s.String(), func(t *testing.T) {
			base := fields()
			placed := mustOrder(t, base)
			edited := mustOrder(t, func() domain.OrderFields {
				f := base
				f.Items = f.Items[1:]
				f.Subtotal, f.Total = usd(500), usd(800)
				f.ShippingMethod = "express"
				return f
			}())
			check := func(name string, allowed bool, err error, o *domain.Order, to domain.Status) {
				t.Helper()
				switch {
				case allowed && err != nil:
					t.Errorf("%s from %s: %v", name, s, err)
				case allowed && o.Status() != to:
					t.Errorf("%s from %s: now %s, want %s", name, s, o.Status(), to)
				case !allowed && errs.KindOf(err) != errs.FailedPrecondition:
					t.Errorf("%s from %s: %v, want FAILED_PRECONDITION", name, s, err)
				case !allowed && o.Status() != s:
					t.Errorf("%s from %s refused but moved to %s", name, s, o.Status())
				}
			}
			o := stored(t, s, base)
			check("place", w.place, o.PlaceDraft(placed, soon), o, domain.StatusPending)
			if w.place && (!o.ExpiresAt().IsZero() || o.Total() != placed.Total()) {
				t.Errorf("placed draft: expires %s total %s", o.ExpiresAt(), o.Total())
			}
			o = stored(t, s, base)
			check("update", w.update, o.UpdateDraft(edited, soon.Add(ttl), soon), o, domain.StatusDraft)
			if w.update && (o.ShippingMethod() != "express" || len(o.Items()) != 1 || o.Total() != usd(800) || !o.ExpiresAt().Equal(soon.Add(ttl))) {
				t.Errorf("edited draft: method %q items %d total %s expires %s", o.ShippingMethod(), len(o.Items()), o.Total(), o.ExpiresAt())
			}
			o = stored(t, s, base)
			check("cancel", w.cancel, o.Cancel("changed my mind", soon), o, domain.StatusCancelled)
			o = stored(t, s, base)
			check("expire", w.expire, o.Expire(later), o, domain.StatusCancelled)
			if w.expire && o.Fields().FailureReason != domain.DraftExpiredReason {
				t.Errorf("expired draft: reason %q", o.Fields().FailureReason)
			}
		})
	}
}

func TestDraftExpiry(t *testing.T) {
	o := draft(t)
	if err := o.Expire(now.Add(ttl - time.Second)); errs.KindOf(err) != errs.FailedPrecondition || o.Status() != domain.StatusDraft {
		t.Fatalf("expired early: %v, %s", err, o.Status())
	}
	placed := mustOrder(t, o.Fields())
	if err := o.PlaceDraft(placed, now.Add(ttl)); errs.KindOf(err) != errs.FailedPrecondition || o.Status() != domain.StatusDraft {
		t.Fatalf("placed an expired draft: %v, %s", err, o.Status())
	}
}

func TestDraftRefusesAnotherOrder(t *testing.T) {
	o := draft(t)
	other := mustOrder(t, fields())
	if err := o.PlaceDraft(other, now); err == nil || o.Status() != domain.StatusDraft {
		t.Fatal("placed a draft with another order's content")
	}
	if err := o.UpdateDraft(other, now.Add(ttl), now); err == nil {
		t.Fatal("edited a draft with another order's content")
	}
	if err := o.Reprice(other, now); err == nil {
		t.Fatal("repriced a draft with another order's content")
	}
	again := stored(t, domain.StatusPending, o.Fields())
	if err := again.Reprice(mustOrder(t, o.Fields()), now); errs.KindOf(err) != errs.FailedPrecondition {
		t.Fatalf("repriced a placed order: %v", err)
	}
}

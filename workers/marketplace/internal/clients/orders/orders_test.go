package orders_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/printfleet/printfleet/platform/errs"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"

	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/orders"
	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
	"github.com/printfleet/printfleet/workers/marketplace/internal/testenv"
)

var store = domain.Store{ID: "7f1c4c9e-5b8e-4b59-9a57-2f6d7c1f1e01", Marketplace: domain.Shopify, ShopID: "acme", OwnerID: "u1",
	PaymentMethod: "invoice"}

func externalOrder(id string) domain.ExternalOrder {
	return domain.ExternalOrder{ExternalID: id, Ready: true, Currency: "EUR", UpdatedAt: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
		CancelReason: "",
		Lines: []domain.ExternalLine{{ItemID: "11", ProductID: "p1", VariantID: "v1", SKU: "TEE-M", Title: "Tee", Quantity: 2},
			{ItemID: "12", SKU: "MUG", Quantity: 1}},
		Address: domain.ExternalAddress{Name: "Ada", Line1: "1 Main St", Line2: "Apt 2", City: "Berlin", Region: "BE",
			PostalCode: "10115", CountryCode: "DE"}}
}

func TestRequestMapsTheOrder(t *testing.T) {
	r := orders.Request(store, externalOrder("5001"))
	if r.GetStoreId() != store.ID || r.GetOwnerId() != "u1" || r.GetMarketplace() != "shopify" || r.GetExternalOrderId() != "5001" ||
		r.GetCurrency() != "EUR" || r.GetPaymentMethod() != ordersv1.PaymentMethod_PAYMENT_METHOD_INVOICE || r.GetCancelled() ||
		!r.GetExternalUpdatedAt().AsTime().Equal(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("request %v", r)
	}
	if len(r.GetLines()) != 2 {
		t.Fatalf("lines %v", r.GetLines())
	}
	l := r.GetLines()[0]
	if l.GetExternalItemId() != "11" || l.GetExternalProductId() != "p1" || l.GetExternalVariantId() != "v1" || l.GetSku() != "TEE-M" ||
		l.GetTitle() != "Tee" || l.GetQuantity() != 2 {
		t.Fatalf("line %v", l)
	}
	a := r.GetShippingAddress()
	if a.GetName() != "Ada" || a.GetLine2() != "Apt 2" || a.GetCity() != "Berlin" || a.GetRegion() != "BE" || a.GetPostalCode() != "10115" ||
		a.GetCountryCode() != "DE" {
		t.Fatalf("address %v", a)
	}
	removed := externalOrder("5003")
	removed.Lines = append(removed.Lines, domain.ExternalLine{ItemID: "13", SKU: "GONE", Quantity: 0})
	if n := len(orders.Request(store, removed).GetLines()); n != 2 {
		t.Fatalf("%d lines sent, want the 2 with a quantity", n)
	}
	card := store
	card.PaymentMethod = ""
	if got := orders.Request(card, externalOrder("1")).GetPaymentMethod(); got != ordersv1.PaymentMethod_PAYMENT_METHOD_CARD {
		t.Fatalf("payment method %v, want card by default", got)
	}
	c := externalOrder("1")
	c.Cancelled, c.CancelReason = true, "customer changed their mind"
	if r := orders.Request(store, c); !r.GetCancelled() || r.GetCancelReason() != "customer changed their mind" {
		t.Fatalf("cancel %v", r)
	}
}

func TestImportOrder(t *testing.T) {
	f := testenv.NewOrders()
	cc, _ := testenv.StartOrders(t, f, testenv.Secret)
	c := orders.New(cc, 5*time.Second)
	ctx := context.Background()
	if err := c.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	steps := []struct {
		order domain.ExternalOrder
		want  domain.ImportOutcome
	}{
		{externalOrder("5001"), domain.ImportImported},
		{externalOrder("5001"), domain.ImportDuplicate},
		{func() domain.ExternalOrder { o := externalOrder("5001"); o.Cancelled = true; return o }(), domain.ImportCancelled},
		{func() domain.ExternalOrder { o := externalOrder("5002"); o.Cancelled = true; return o }(), domain.ImportIgnored},
	}
	for i, s := range steps {
		got, err := c.ImportOrder(ctx, store, s.order)
		if err != nil || got != s.want {
			t.Fatalf("step %d: %v, %v; want %v", i, got, err, s.want)
		}
	}
	if r := f.Requests()[0]; r.GetOwnerId() != "u1" || len(r.GetLines()) != 2 {
		t.Fatalf("served %v", r)
	}
}

func TestImportOrderErrors(t *testing.T) {
	tests := []struct {
		name                          string
		err                           error
		retryable, permanent, refused bool
	}{
		{"unavailable", errs.E(errs.Unavailable, "down"), true, false, false},
		{"deadline", errs.E(errs.DeadlineExceeded, "slow"), true, false, false},
		{"exhausted", errs.E(errs.ResourceExhausted, "busy"), true, false, false},
		{"aborted", errs.E(errs.Conflict, "race"), true, false, false},
		{"invalid", errs.E(errs.Invalid, "no lines"), false, true, true},
		{"denied", errs.E(errs.PermissionDenied, "no"), false, true, false},
		{"precondition", errs.E(errs.FailedPrecondition, "no"), false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := testenv.NewOrders()
			cc, _ := testenv.StartOrders(t, f, testenv.Secret)
			c := orders.New(cc, 5*time.Second)
			// Three times: the connection retries UNAVAILABLE itself.
			f.Fail(tt.err, tt.err, tt.err)
			_, err := c.ImportOrder(context.Background(), store, externalOrder("6001"))
			if err == nil {
				t.Fatal("no error")
			}
			if domain.IsRetryable(err) != tt.retryable || domain.IsPermanent(err) != tt.permanent ||
				errors.Is(err, domain.ErrOrderRejected) != tt.refused {
				t.Fatalf("%v: retryable %v permanent %v rejected %v", err, domain.IsRetryable(err), domain.IsPermanent(err),
					errors.Is(err, domain.ErrOrderRejected))
			}
		})
	}
}

func TestImportOrderWithAWrongSecretIsRefused(t *testing.T) {
	f := testenv.NewOrders()
	cc, _ := testenv.StartOrders(t, f, "another-secret-0123456789abcdef")
	_, err := orders.New(cc, 5*time.Second).ImportOrder(context.Background(), store, externalOrder("1"))
	if err == nil || domain.IsRetryable(err) {
		t.Fatalf("err = %v, want a permanent refusal", err)
	}
	if len(f.Requests()) != 0 {
		t.Fatal("the request reached the handler")
	}
}

func TestImportOrderCancelledByTheCallerIsRetryable(t *testing.T) {
	f := testenv.NewOrders()
	cc, _ := testenv.StartOrders(t, f, testenv.Secret)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := orders.New(cc, 5*time.Second).ImportOrder(ctx, store, externalOrder("1"))
	if !domain.IsRetryable(err) {
		t.Fatalf("err = %v, want retryable", err)
	}
}

package app_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/services/orders/internal/app"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
	"github.com/printfleet/printfleet/services/orders/internal/testenv"
)

// Every use case refuses an anonymous caller as UNAUTHENTICATED before it
// reads its input or touches the store (the fake store has no methods for
// these calls: reaching it panics).
func TestAnonymousCallersAreUnauthenticated(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	svc := service(f, &fakeStore{})
	ctx, anon, id := context.Background(), principal.Anonymous, uuid.NewString()
	calls := map[string]func() error{
		"create": func() error {
			_, err := svc.CreateOrder(ctx, anon, "k", []byte("h"), input(f), encode)
			return err
		},
		"get":    func() error { _, err := svc.GetOrder(ctx, anon, id); return err },
		"list":   func() error { _, err := svc.ListOrders(ctx, anon, app.ListInput{}); return err },
		"cancel": func() error { _, err := svc.CancelOrder(ctx, anon, id, ""); return err },
		"events": func() error { _, err := svc.ListOrderEvents(ctx, anon, id, 0, ""); return err },
		"ship": func() error {
			_, _, err := svc.CreateShipment(ctx, anon, "not a uuid", app.ShipmentInput{Carrier: "ups", TrackingNumber: "1Z"})
			return err
		},
		"retry import": func() error { _, err := svc.RetryImport(ctx, anon, id); return err },
		"import": func() error {
			_, err := svc.ImportOrder(ctx, anon, app.ImportRequest{StoreID: id, OwnerID: "alice", ExternalOrderID: "1"}, encode)
			return err
		},
	}
	for name, call := range calls {
		if err := call(); !errs.Is(err, errs.Unauthenticated) {
			t.Errorf("%s as anonymous: %v, want UNAUTHENTICATED", name, err)
		}
	}
	if f.Catalog.Calls.Load()+f.Pricing.Calls.Load() > 0 {
		t.Error("an anonymous call reached a dependency")
	}
}

// shipStore knows one order of alice's.
type shipStore struct {
	app.Store
	order string
}

func (s *shipStore) GetOrder(_ context.Context, id, ownerID string) (*domain.Order, error) {
	if id != s.order || ownerID != "alice" {
		return nil, errs.E(errs.NotFound, "order not found")
	}
	return nil, nil
}

// Shipping needs the fulfillment or admin role. Without it, a malformed id
// is still INVALID_ARGUMENT, someone else's order is NOT_FOUND (nothing is
// learnt about it), and only on their own order is the caller told
// PERMISSION_DENIED; a service account may not place orders either.
func TestRolesAreCheckedWhereTheDataIs(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	st := &shipStore{order: uuid.NewString()}
	svc := service(f, st)
	ctx, in := context.Background(), app.ShipmentInput{Carrier: "ups", TrackingNumber: "1Z"}
	bob := principal.Principal{Subject: "bob", Roles: []string{principal.RoleUser}}
	for name, tc := range map[string]struct {
		caller principal.Principal
		order  string
		want   errs.Kind
	}{
		"malformed id":    {user, "42", errs.Invalid},
		"another's order": {bob, st.order, errs.NotFound},
		"own order":       {user, st.order, errs.PermissionDenied},
	} {
		if _, _, err := svc.CreateShipment(ctx, tc.caller, tc.order, in); !errs.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	svcAccount := principal.Principal{Subject: "svc", Roles: []string{principal.RoleService}}
	if _, err := service(f, &fakeStore{}).CreateOrder(ctx, svcAccount, "k", []byte("h"), input(f), encode); !errs.Is(err, errs.PermissionDenied) {
		t.Errorf("a service account placed an order: %v, want PERMISSION_DENIED", err)
	}
}

package domain_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
)

var now = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func usd(n int64) domain.Money { return domain.MustMoney(n, "USD") }

func fields() domain.OrderFields {
	placement := uuid.NewString()
	return domain.OrderFields{
		ID: uuid.NewString(), UserID: "alice", Currency: "USD", PaymentMethod: domain.PaymentMethodCard,
		Address: domain.AddressFields{Name: "Ada", Line1: "1 Main St", City: "Springfield", PostalCode: "12345", CountryCode: "US"},
		Items: []domain.ItemFields{
			{ID: uuid.NewString(), VariantID: uuid.NewString(), Quantity: 2, UnitPrice: usd(1000), LineTotal: usd(2000),
				DesignID: uuid.NewString(), PlacementID: placement, DesignKey: "d.png",
				Placement: &domain.PlacementSpec{PlacementID: placement, Name: "front", WidthIn: 10, HeightIn: 12}},
			{ID: uuid.NewString(), VariantID: uuid.NewString(), Quantity: 1, UnitPrice: usd(500), LineTotal: usd(500)},
		},
		Subtotal: usd(2500), Shipping: usd(400), Discount: usd(100), Total: usd(2800), CreatedAt: now,
	}
}

func mustOrder(t *testing.T, f domain.OrderFields) *domain.Order {
	t.Helper()
	o, err := domain.NewOrder(f)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// at returns an order in status s, reached through the transitions.
func at(t *testing.T, s domain.Status, designs bool) *domain.Order {
	t.Helper()
	f := fields()
	if !designs {
		f.Items[0].DesignID, f.Items[0].PlacementID, f.Items[0].Placement = "", "", nil
	}
	o := mustOrder(t, f)
	path := map[domain.Status][]func() error{
		domain.StatusPending:       nil,
		domain.StatusConfirmed:     {func() error { return o.Confirm(now) }},
		domain.StatusRejected:      {func() error { return o.Reject("no stock", now) }},
		domain.StatusPaid:          {func() error { return o.Confirm(now) }, func() error { return o.MarkPaid("pi_1", now) }},
		domain.StatusPaymentFailed: {func() error { return o.Confirm(now) }, func() error { return o.FailPayment("declined", now) }},
		domain.StatusInProduction:  {func() error { return o.Confirm(now) }, func() error { return o.MarkPaid("pi_1", now) }, func() error { return o.StartProduction(nil, now) }},
		domain.StatusShipped: {func() error { return o.Confirm(now) }, func() error { return o.MarkPaid("pi_1", now) },
			func() error { return o.StartProduction(nil, now) }, func() error { return o.Ship(shipment(t), now) }},
		domain.StatusDelivered: {func() error { return o.Confirm(now) }, func() error { return o.MarkPaid("pi_1", now) },
			func() error { return o.StartProduction(nil, now) }, func() error { return o.Ship(shipment(t), now) }, func() error { return deliverAll(o) }},
		domain.StatusCancelled: {func() error { return o.Cancel("x", now) }},
	}
	for _, step := range path[s] {
		if err := step(); err != nil {
			t.Fatalf("reach %s: %v", s, err)
		}
	}
	if o.Status() != s {
		t.Fatalf("reached %s, want %s", o.Status(), s)
	}
	return o
}

// deliverAll delivers every package of o.
func deliverAll(o *domain.Order) error {
	for _, s := range o.Shipments() {
		if _, err := o.DeliverShipment(s.ID(), now, now); err != nil {
			return err
		}
	}
	return nil
}

func shipment(t *testing.T) domain.Shipment {
	t.Helper()
	s, err := domain.NewShipment(domain.ShipmentFields{ID: uuid.NewString(), Carrier: "UPS", TrackingNumber: "1Z9", CreatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTransitionsFollowTheStateMachine(t *testing.T) {
	t.Parallel()
	all := []domain.Status{domain.StatusPending, domain.StatusConfirmed, domain.StatusPaid, domain.StatusInProduction,
		domain.StatusShipped, domain.StatusDelivered, domain.StatusRejected, domain.StatusPaymentFailed, domain.StatusCancelled}
	type transition struct {
		name    string
		do      func(o *domain.Order) error
		allowed map[domain.Status]domain.Status // from → to
	}
	transitions := []transition{
		{"confirm", func(o *domain.Order) error { return o.Confirm(now) }, map[domain.Status]domain.Status{domain.StatusPending: domain.StatusConfirmed}},
		{"reject", func(o *domain.Order) error { return o.Reject("r", now) }, map[domain.Status]domain.Status{domain.StatusPending: domain.StatusRejected}},
		{"pay", func(o *domain.Order) error { return o.MarkPaid("pi", now) }, map[domain.Status]domain.Status{domain.StatusConfirmed: domain.StatusPaid}},
		{"fail payment", func(o *domain.Order) error { return o.FailPayment("d", now) }, map[domain.Status]domain.Status{domain.StatusConfirmed: domain.StatusPaymentFailed}},
		{"start production", func(o *domain.Order) error { return o.StartProduction(nil, now) }, map[domain.Status]domain.Status{domain.StatusPaid: domain.StatusInProduction}},
		{"ship", func(o *domain.Order) error { return o.Ship(shipment(t), now) }, map[domain.Status]domain.Status{domain.StatusInProduction: domain.StatusShipped}},
		{"cancel", func(o *domain.Order) error { return o.Cancel("c", now) }, map[domain.Status]domain.Status{
			domain.StatusPending: domain.StatusCancelled, domain.StatusConfirmed: domain.StatusCancelled, domain.StatusPaid: domain.StatusCancelled}},
	}
	for _, tr := range transitions {
		for _, from := range all {
			o := at(t, from, true)
			err := tr.do(o)
			to, ok := tr.allowed[from]
			switch {
			case ok && err != nil:
				t.Errorf("%s from %s: %v, want allowed", tr.name, from, err)
			case ok && o.Status() != to:
				t.Errorf("%s from %s: now %s, want %s", tr.name, from, o.Status(), to)
			case !ok && !errs.Is(err, errs.FailedPrecondition):
				t.Errorf("%s from %s: %v, want FAILED_PRECONDITION", tr.name, from, err)
			case !ok && o.Status() != from:
				t.Errorf("%s from %s changed the status to %s although refused", tr.name, from, o.Status())
			}
		}
	}
}

func TestBlankOnlyOrdersShipStraightFromPaid(t *testing.T) {
	t.Parallel()
	if err := at(t, domain.StatusPaid, false).Ship(shipment(t), now); err != nil {
		t.Fatalf("blank order from PAID: %v", err)
	}
	if err := at(t, domain.StatusPaid, true).Ship(shipment(t), now); !errs.Is(err, errs.FailedPrecondition) {
		t.Fatalf("designed order from PAID: %v, want FAILED_PRECONDITION", err)
	}
}

func TestStartProductionRecordsPrintFiles(t *testing.T) {
	t.Parallel()
	o := at(t, domain.StatusPaid, true)
	item := o.Items()[0].ID()
	if err := o.StartProduction(map[string]domain.PrintFile{uuid.NewString(): {Key: "x"}}, now); !errs.Is(err, errs.Invalid) || o.Status() != domain.StatusPaid {
		t.Fatalf("unknown item: %v", err)
	}
	if err := o.StartProduction(map[string]domain.PrintFile{item: {Key: "renders/1.png", MockupKey: "renders/1-mockup.png"}}, now); err != nil {
		t.Fatal(err)
	}
	if it := o.Fields().Items[0]; it.PrintFileKey != "renders/1.png" || it.MockupKey != "renders/1-mockup.png" {
		t.Fatal("print file not recorded")
	}
}

func TestCancelRecordsWhatToUndo(t *testing.T) {
	t.Parallel()
	paid := at(t, domain.StatusPaid, true)
	if err := paid.Cancel("changed mind", now); err != nil {
		t.Fatal(err)
	}
	if paid.PaymentID() != "pi_1" || !paid.StockReserved() {
		t.Fatal("a cancelled paid order must remember its payment and reservation")
	}
	if err := paid.RecordRefund("re_1", now); err != nil || paid.RefundID() != "re_1" {
		t.Fatalf("refund: %v", err)
	}
	pending := at(t, domain.StatusPending, true)
	if err := pending.RecordRefund("re", now); !errs.Is(err, errs.FailedPrecondition) {
		t.Fatalf("refund of a pending order: %v", err)
	}
}

func TestNewOrderValidates(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		edit  func(f *domain.OrderFields)
		kind  errs.Kind
		field string
	}{
		{"zero quantity", func(f *domain.OrderFields) { f.Items[1].Quantity = 0 }, errs.Invalid, "items[1].quantity"},
		{"negative quantity", func(f *domain.OrderFields) { f.Items[0].Quantity = -1 }, errs.Invalid, "items[0].quantity"},
		{"too many items", func(f *domain.OrderFields) {
			for range 10_000 {
				f.Items = append(f.Items, f.Items[1])
			}
		}, errs.Invalid, "items"},
		{"no items", func(f *domain.OrderFields) { f.Items = nil }, errs.Invalid, "items"},
		{"malformed variant", func(f *domain.OrderFields) { f.Items[0].VariantID = "abc" }, errs.Invalid, "items[0].variant_id"},
		{"oversized address", func(f *domain.OrderFields) { f.Address.Line1 = strings.Repeat("x", 201) }, errs.Invalid, "shipping_address.line1"},
		{"missing city", func(f *domain.OrderFields) { f.Address.City = "" }, errs.Invalid, "shipping_address.city"},
		{"lower-case country", func(f *domain.OrderFields) { f.Address.CountryCode = "us" }, errs.Invalid, "shipping_address.country_code"},
		{"bad currency", func(f *domain.OrderFields) { f.Currency = "dollars" }, errs.Invalid, "currency"},
		{"bad payment method", func(f *domain.OrderFields) { f.PaymentMethod = 7 }, errs.Invalid, "payment_method"},
		{"totals do not add up", func(f *domain.OrderFields) { f.Total = usd(1) }, errs.Internal, ""},
		{"line totals do not add up", func(f *domain.OrderFields) { f.Subtotal = usd(1); f.Total = usd(301) }, errs.Internal, ""},
		{"mixed currency", func(f *domain.OrderFields) { f.Shipping = domain.MustMoney(400, "EUR") }, errs.Internal, ""},
		{"negative discount", func(f *domain.OrderFields) { f.Discount = usd(-100); f.Total = usd(3000) }, errs.Internal, ""},
	}
	for _, tc := range cases {
		f := fields()
		tc.edit(&f)
		_, err := domain.NewOrder(f)
		if err == nil || errs.KindOf(err) != tc.kind || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %v, want %s naming %q", tc.name, err, tc.kind, tc.field)
		}
	}
	o := mustOrder(t, fields())
	if o.Status() != domain.StatusPending || o.Version() != 1 || o.Total().Amount() != 2800 {
		t.Fatalf("new order: %v %v %v", o.Status(), o.Version(), o.Total())
	}
}

func TestUnmarshalRoundTrip(t *testing.T) {
	t.Parallel()
	o := at(t, domain.StatusShipped, true)
	back, err := domain.UnmarshalOrderFromDatabase(o.Fields())
	if err != nil {
		t.Fatal(err)
	}
	if back.Status() != domain.StatusShipped || len(back.Shipments()) != 1 || back.Fields().Items[0].Placement.Name != "front" {
		t.Fatalf("round trip lost data: %+v", back.Fields())
	}
	bad := o.Fields()
	bad.Status = 42
	if _, err := domain.UnmarshalOrderFromDatabase(bad); err == nil {
		t.Fatal("an unknown status was accepted")
	}
}

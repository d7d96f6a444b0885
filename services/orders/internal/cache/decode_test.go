package cache

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/printfleet/printfleet/services/orders/internal/domain"
)

// BenchmarkDecodeEntry is the CPU of one cache hit's decode: a two-item
// order.
func BenchmarkDecodeEntry(b *testing.B) {
	usd := func(n int64) domain.Money { return domain.MustMoney(n, "USD") }
	item := func(id string) domain.ItemFields {
		return domain.ItemFields{ID: id, VariantID: "0190a000-0000-7000-8000-000000000004", Quantity: 1, UnitPrice: usd(100), LineTotal: usd(100)}
	}
	o, err := domain.UnmarshalOrderFromDatabase(domain.OrderFields{
		ID: "0190a000-0000-7000-8000-000000000001", UserID: "alice", Status: domain.StatusPending, Currency: "USD",
		Subtotal: usd(200), Shipping: usd(0), Discount: usd(0), Total: usd(200), PaymentMethod: domain.PaymentMethodCard,
		Items:   []domain.ItemFields{item("0190a000-0000-7000-8000-000000000002"), item("0190a000-0000-7000-8000-000000000003")},
		Version: 3, CreatedAt: time.Unix(1700000000, 0), UpdatedAt: time.Unix(1700000000, 0),
	})
	if err != nil {
		b.Fatal(err)
	}
	j, err := json.Marshal(o.Fields())
	if err != nil {
		b.Fatal(err)
	}
	raw := strconv.FormatInt(o.Version(), 10) + ":o:" + string(j)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := decode(raw); !ok {
			b.Fatal("miss")
		}
	}
}

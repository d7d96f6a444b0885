package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/tests/e2e/apiclient"
)

// TestProductAttributes: the public product reads (the catalog's Redis
// projection) show a variant's real attributes: size, colour, weight,
// whether stock is tracked and how much is available; as orders take the
// stock, stock_available and in_stock follow (a tracked variant with nothing
// available is out of stock).
func TestProductAttributes(t *testing.T) {
	e := need(t)
	ctx := context.Background()
	admin := apiClient(t, e, token(t, "ops-admin", "admin", time.Hour))
	userToken := token(t, "attrs-"+uuid.NewString()[:8], "user", time.Hour)
	user := apiClient(t, e, userToken)

	tr := func(b bool) *bool { return &b }
	s := func(v string) *string { return &v }
	i32 := func(v int32) *int32 { return &v }
	i64 := func(v int64) *int64 { return &v }
	sku := "ATTR-" + strings.ToUpper(uuid.NewString()[:8])
	title := "Attributes tee " + sku
	created, err := admin.CatalogServiceCreateProductWithResponse(ctx, apiclient.V1Product{
		Title: &title, Description: s("a tee whose stock is small"), Active: tr(true),
		Variants: &[]apiclient.V1Variant{{
			Sku: sku, Title: "Large navy", Size: s("L"), Color: s("navy"), WeightGrams: i32(180),
			Price:  &apiclient.V1Money{Currency: "USD", AmountMinor: i64(1500)},
			Active: tr(true), StockTracked: tr(true), StockAvailable: i64(3),
		}},
		Placements: &[]apiclient.V1Placement{{Name: "front", WidthIn: 12, HeightIn: 16, MinDpi: 150, RecommendedDpi: 300, Technique: s("dtg")}},
	})
	if err != nil || created.JSON201 == nil || created.JSON201.Id == nil {
		t.Fatalf("create product: %v %d %s", err, created.StatusCode(), created.Body)
	}
	pid := uuid.MustParse(*created.JSON201.Id)
	vs := *created.JSON201.Variants
	vid := uuid.MustParse(*vs[0].Id)

	// variantOf answers the variant as the public read shows it, once the
	// projection has it.
	variantOf := func() (apiclient.V1Variant, bool) {
		got, err := user.CatalogServiceGetProductWithResponse(ctx, pid)
		if err != nil {
			t.Fatal(err)
		}
		if got.JSON200 == nil || got.JSON200.Variants == nil || len(*got.JSON200.Variants) != 1 {
			return apiclient.V1Variant{}, false
		}
		return (*got.JSON200.Variants)[0], true
	}
	describe := func(v apiclient.V1Variant) string {
		d := func(p any) string {
			switch p := p.(type) {
			case *string:
				if p != nil {
					return *p
				}
			case *int32:
				if p != nil {
					return fmt.Sprint(*p)
				}
			case *int64:
				if p != nil {
					return fmt.Sprint(*p)
				}
			case *bool:
				if p != nil {
					return fmt.Sprint(*p)
				}
			}
			return "-"
		}
		return fmt.Sprintf("size %s color %s weight %s tracked %s available %s in_stock %s",
			d(v.Size), d(v.Color), d(v.WeightGrams), d(v.StockTracked), d(v.StockAvailable), d(v.InStock))
	}
	waitStock := func(available int64, inStock bool) {
		t.Helper()
		want := fmt.Sprintf("size L color navy weight 180 tracked true available %d in_stock %v", available, inStock)
		eventually(t, 30*time.Second, "projection: "+want, func() (bool, string) {
			v, ok := variantOf()
			if !ok {
				return false, "not projected yet"
			}
			return describe(v) == want, describe(v)
		})
	}
	waitStock(3, true)

	// The list shows the same truth.
	var listed *apiclient.V1Variant
	var next *string
	for page := 0; page < 20 && listed == nil; page++ {
		list, err := user.CatalogServiceListProductsWithResponse(ctx, &apiclient.CatalogServiceListProductsParams{PageSize: i32(50), PageToken: next})
		if err != nil || list.JSON200 == nil {
			t.Fatalf("list products: %v %d %s", err, list.StatusCode(), list.Body)
		}
		for _, p := range *list.JSON200.Products {
			if p.Id != nil && *p.Id == pid.String() && p.Variants != nil && len(*p.Variants) == 1 {
				listed = &(*p.Variants)[0]
			}
		}
		if next = list.JSON200.NextPageToken; next == nil || *next == "" {
			break
		}
	}
	if listed == nil {
		t.Fatal("the new product is not listed")
	}
	if got := describe(*listed); got != "size L color navy weight 180 tracked true available 3 in_stock true" {
		t.Errorf("listed variant: %s", got)
	}

	order := func(qty int32) {
		t.Helper()
		r, err := user.OrderServiceCreateOrderWithResponse(ctx, &apiclient.OrderServiceCreateOrderParams{IdempotencyKey: uuid.NewString()},
			apiclient.V1CreateOrderRequest{
				Items:           []apiclient.V1CreateOrderItem{{VariantId: vid, Quantity: qty}},
				ShippingAddress: gbAddress(), Currency: "USD", PaymentMethod: apiclient.PAYMENTMETHODCARD,
			})
		if err != nil || r.JSON201 == nil || r.JSON201.Id == nil {
			t.Fatalf("order %d: %v %d %s", qty, err, r.StatusCode(), r.Body)
		}
		waitStatus(t, e, userToken, *r.JSON201.Id, "ORDER_STATUS_PAID", 60*time.Second)
	}
	order(2)
	waitStock(1, true)
	order(1)
	waitStock(0, false)
}

package server

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	typesv1 "github.com/printfleet/printfleet/proto/printfleet/types/v1"

	"github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/platform/redis"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
	"github.com/printfleet/printfleet/services/catalog/projfmt"
)

func usd(c int64) *typesv1.Money { return &typesv1.Money{Currency: "USD", AmountMinor: c} }

func newProduct(n int, stock int64) *catalogv1.Product {
	sku := fmt.Sprintf("T%d-%d", n, time.Now().UnixNano()%1e9)
	return &catalogv1.Product{
		Title: fmt.Sprintf("Tee %d", n), Description: "cotton", Active: true,
		Variants: []*catalogv1.Variant{
			{Sku: sku + "-S", Title: "S", Price: usd(1299), Active: true, StockTracked: true, StockAvailable: stock},
			{Sku: sku + "-M", Title: "M", Price: usd(1399), Active: true},
		},
		Placements: []*catalogv1.Placement{{Name: "front", WidthIn: 12, HeightIn: 16, MinDpi: 150, RecommendedDpi: 300, Technique: "dtg"}},
	}
}

// fieldOf returns the fields named by an InvalidArgument status.
func fieldsOf(err error) string {
	st := status.Convert(err)
	var fields []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	return strings.Join(fields, ",") + " | " + st.Message()
}

func TestWarmProjectionReadsSendNoQueries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(e.app, partAPI)
	var ids []string
	for i := range 3 {
		p, err := e.client.CreateProduct(e.admin(), &catalogv1.CreateProductRequest{Product: newProduct(i, int64(i))})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.GetId())
	}
	if _, err := e.app.Projector.Rebuild(context.Background()); err != nil {
		t.Fatal(err)
	}

	q0, b0 := e.queries.Count(), e.batches.n.Load()
	anon := context.Background()
	for _, id := range ids {
		p, err := e.client.GetProduct(anon, &catalogv1.GetProductRequest{ProductId: id})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.GetVariants()) != 2 || len(p.GetPlacements()) != 1 || p.GetVariants()[0].GetPrice().GetAmountMinor() != 1299 {
			t.Fatalf("projected product = %v", p)
		}
		// The hash carries exactly this answer for the gateway (projfmt).
		api, err := e.rdb.HGet(context.Background(), projfmt.Key(e.prefix, id), projfmt.FieldAPI).Bytes()
		if err != nil {
			t.Fatalf("no API answer in the projection of %s: %v", id, err)
		}
		var wire catalogv1.Product
		if err := proto.Unmarshal(api, &wire); err != nil || !proto.Equal(&wire, p) {
			t.Fatalf("projection carries %v (%v), GetProduct answered %v", &wire, err, p)
		}
	}
	var listed []string
	token := ""
	for {
		resp, err := e.client.ListProducts(e.as("u1"), &catalogv1.ListProductsRequest{PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range resp.GetProducts() {
			listed = append(listed, p.GetId())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if dq, db := e.queries.Count()-q0, e.batches.n.Load()-b0; dq != 0 || db != 0 {
		t.Fatalf("warm reads sent %d queries and %d batches to PostgreSQL, want 0", dq, db)
	}
	if len(listed) != 3 {
		t.Fatalf("listed %v, want the 3 products over two pages", listed)
	}
	// Stock 0 on the tracked variant of product 0: not in stock; untracked: in stock.
	p0, _ := e.client.GetProduct(anon, &catalogv1.GetProductRequest{ProductId: ids[0]})
	if p0.GetVariants()[0].GetInStock() || !p0.GetVariants()[1].GetInStock() {
		t.Fatalf("in_stock = %v/%v, want false/true", p0.GetVariants()[0].GetInStock(), p0.GetVariants()[1].GetInStock())
	}
	if p0.GetVariants()[0].GetStockAvailable() != 0 || p0.GetCreatedAt() != nil {
		t.Fatal("projection leaks fields beyond what clients show")
	}

	// A lost entry is read from PostgreSQL once and repaired.
	e.rdb.Del(context.Background(), "{"+e.prefix+"}:product:"+ids[1])
	q1 := e.queries.Count()
	if _, err := e.client.GetProduct(anon, &catalogv1.GetProductRequest{ProductId: ids[1]}); err != nil {
		t.Fatal(err)
	}
	if e.queries.Count() == q1 {
		t.Fatal("a projection miss must read PostgreSQL")
	}
	q2 := e.queries.Count()
	if _, err := e.client.GetProduct(anon, &catalogv1.GetProductRequest{ProductId: ids[1]}); err != nil {
		t.Fatal(err)
	}
	if e.queries.Count() != q2 {
		t.Fatal("the miss did not repair the projection")
	}
	if _, err := e.client.GetProduct(anon, &catalogv1.GetProductRequest{ProductId: "0190a000-0000-7000-8000-000000000000"}); status.Code(err) != codes.NotFound {
		t.Fatalf("unknown product: %v, want NOT_FOUND", err)
	}
}

func TestProductWritesNeedAdmin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(e.app, partAPI)
	_, err := e.client.CreateProduct(e.as("u1"), &catalogv1.CreateProductRequest{Product: newProduct(1, 1)})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("user create: %v, want PERMISSION_DENIED", err)
	}
	p, err := e.client.CreateProduct(e.admin(), &catalogv1.CreateProductRequest{Product: newProduct(1, 1)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.client.UpdateProduct(e.as("svc", "service"), &catalogv1.UpdateProductRequest{ProductId: p.GetId(),
		Product: &catalogv1.Product{Title: "x"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}}})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("service update: %v, want PERMISSION_DENIED", err)
	}
	up, err := e.client.UpdateProduct(e.admin(), &catalogv1.UpdateProductRequest{ProductId: p.GetId(),
		Product: &catalogv1.Product{Title: "Renamed", Version: 1}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}}})
	if err != nil || up.GetTitle() != "Renamed" || up.GetVersion() != 2 || len(up.GetVariants()) != 2 {
		t.Fatalf("update = %v, %v", up, err)
	}
	_, err = e.client.UpdateProduct(e.admin(), &catalogv1.UpdateProductRequest{ProductId: p.GetId(),
		Product: &catalogv1.Product{Title: "Stale", Version: 1}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}}})
	if status.Code(err) != codes.Aborted {
		t.Fatalf("stale version: %v, want ABORTED", err)
	}
	if n := e.events(eventsv1.KeyProductChanged); n != 2 {
		t.Fatalf("ProductChanged events = %d, want 2 (create + one update)", n)
	}
}

func TestBadInputIsInvalidArgumentNamingTheFieldAndWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(e.app, partAPI)
	mut := func(f func(p *catalogv1.Product)) *catalogv1.Product { p := newProduct(1, 5); f(p); return p }
	cases := []struct {
		name  string
		call  func() error
		field string
	}{
		{"empty title", func() error {
			_, err := e.client.CreateProduct(e.admin(), &catalogv1.CreateProductRequest{Product: mut(func(p *catalogv1.Product) { p.Title = "" })})
			return err
		}, "product.title"},
		{"blank title", func() error {
			_, err := e.client.CreateProduct(e.admin(), &catalogv1.CreateProductRequest{Product: mut(func(p *catalogv1.Product) { p.Title = "   " })})
			return err
		}, "product.title"},
		{"bad sku", func() error {
			_, err := e.client.CreateProduct(e.admin(), &catalogv1.CreateProductRequest{Product: mut(func(p *catalogv1.Product) { p.Variants[0].Sku = "a b" })})
			return err
		}, "product.variants[0].sku"},
		{"duplicate sku", func() error {
			_, err := e.client.CreateProduct(e.admin(), &catalogv1.CreateProductRequest{Product: mut(func(p *catalogv1.Product) { p.Variants[1].Sku = p.Variants[0].Sku })})
			return err
		}, "product.variants[1].sku"},
		{"price currency", func() error {
			_, err := e.client.CreateProduct(e.admin(), &catalogv1.CreateProductRequest{Product: mut(func(p *catalogv1.Product) { p.Variants[0].Price = &typesv1.Money{Currency: "EUR", AmountMinor: 100} })})
			return err
		}, "product.variants[0].price.currency"},
		{"missing price", func() error {
			_, err := e.client.CreateProduct(e.admin(), &catalogv1.CreateProductRequest{Product: mut(func(p *catalogv1.Product) { p.Variants[1].Price = nil })})
			return err
		}, "product.variants[1].price.currency"},
		{"min dpi above recommended", func() error {
			_, err := e.client.CreateProduct(e.admin(), &catalogv1.CreateProductRequest{Product: mut(func(p *catalogv1.Product) { p.Placements[0].MinDpi = 400 })})
			return err
		}, "product.placements[0].recommended_dpi"},
		{"negative width", func() error {
			_, err := e.client.CreateProduct(e.admin(), &catalogv1.CreateProductRequest{Product: mut(func(p *catalogv1.Product) { p.Placements[0].WidthIn = -1 })})
			return err
		}, "product.placements[0].width_in"},
		{"negative stock", func() error {
			_, err := e.client.CreateProduct(e.admin(), &catalogv1.CreateProductRequest{Product: mut(func(p *catalogv1.Product) { p.Variants[0].StockAvailable = -3 })})
			return err
		}, "product.variants[0].stock_available"},
		{"no product", func() error {
			_, err := e.client.CreateProduct(e.admin(), &catalogv1.CreateProductRequest{})
			return err
		}, "product"},
		{"update unknown mask path", func() error {
			_, err := e.client.UpdateProduct(e.admin(), &catalogv1.UpdateProductRequest{ProductId: "0190a000-0000-7000-8000-000000000000",
				Product: &catalogv1.Product{Title: "x"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"version"}}})
			return err
		}, "update_mask"},
		{"product id not a uuid", func() error {
			_, err := e.client.GetProduct(e.as("u"), &catalogv1.GetProductRequest{ProductId: "42"})
			return err
		}, "product_id"},
		{"page token", func() error {
			_, err := e.client.ListProducts(e.as("u"), &catalogv1.ListProductsRequest{PageToken: "garbage"})
			return err
		}, "page_token"},
		{"page size", func() error {
			_, err := e.client.ListProducts(e.as("u"), &catalogv1.ListProductsRequest{PageSize: 1000})
			return err
		}, "page_size"},
		{"design content type", func() error {
			_, err := e.client.CreateDesign(e.as("u"), &catalogv1.CreateDesignRequest{Filename: "a.gif", ContentType: "image/gif", SizeBytes: 10})
			return err
		}, "content_type"},
		{"design size", func() error {
			_, err := e.client.CreateDesign(e.as("u"), &catalogv1.CreateDesignRequest{Filename: "a.png", ContentType: "image/png", SizeBytes: 200 << 20})
			return err
		}, "size_bytes"},
		{"variant ids", func() error {
			_, err := e.client.GetVariants(e.as("orders", "service"), &catalogv1.GetVariantsRequest{VariantIds: []string{"nope"}})
			return err
		}, "variant_ids"},
		{"store marketplace", func() error {
			_, err := e.client.CreateStore(e.as("u"), &catalogv1.CreateStoreRequest{ShopId: "s1", Name: "n",
				Credentials: &catalogv1.StoreCredentials{ApiKey: "k"}})
			return err
		}, "marketplace"},
		{"store credentials empty", func() error {
			_, err := e.client.CreateStore(e.as("u"), &catalogv1.CreateStoreRequest{Marketplace: catalogv1.Marketplace_MARKETPLACE_ETSY,
				ShopId: "s1", Name: "n", Credentials: &catalogv1.StoreCredentials{}})
			return err
		}, "credentials"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("code = %v (%v), want INVALID_ARGUMENT", status.Code(err), err)
			}
			if got := fieldsOf(err); !strings.Contains(got, c.field) {
				t.Fatalf("error does not name %s: %s", c.field, got)
			}
		})
	}
	for _, table := range []string{"products", "variants", "placements", "outbox", "designs", "stores"} {
		if n := e.count(`SELECT count(*) FROM ` + table); n != 0 {
			t.Errorf("%s has %d rows after rejected requests, want 0", table, n)
		}
	}
}

func TestUpdateVariantsAndPlacementsAndStockProjection(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(e.app, partAPI)
	ctx := e.admin()
	p, err := e.client.CreateProduct(ctx, &catalogv1.CreateProductRequest{Product: newProduct(7, 5)})
	if err != nil {
		t.Fatal(err)
	}
	// Keep S (by id, now out of stock), drop M (deactivated), add L; rename front.
	s := p.GetVariants()[0]
	s.StockAvailable = 0
	l := &catalogv1.Variant{Sku: s.GetSku() + "-L", Title: "L", Price: usd(1499), Active: true,
		Size: "L", Color: "navy", WeightGrams: 210, StockTracked: true, StockAvailable: 4}
	pl := p.GetPlacements()[0]
	pl.Name = "chest"
	up, err := e.client.UpdateProduct(ctx, &catalogv1.UpdateProductRequest{ProductId: p.GetId(),
		Product:    &catalogv1.Product{Title: "unused", Variants: []*catalogv1.Variant{s, l}, Placements: []*catalogv1.Placement{pl}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"variants", "placements"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(up.GetVariants()) != 3 || up.GetVariants()[2].GetActive() || up.GetVariants()[0].GetId() != s.GetId() ||
		up.GetPlacements()[0].GetId() != pl.GetId() || up.GetPlacements()[0].GetName() != "chest" {
		t.Fatalf("update = %v", up)
	}
	v, err := e.app.Catalog.ProductView(context.Background(), p.GetId())
	if err != nil {
		t.Fatal(err)
	}
	// The view carries the variants' attributes and stock: a tracked variant
	// with nothing available is out of stock.
	want := []domain.VariantView{{ID: s.GetId(), SKU: s.GetSku(), Title: "S", Price: domain.Money{Currency: "USD", AmountMinor: 1299},
		StockTracked: true, StockAvailable: 0, InStock: false},
		{ID: up.GetVariants()[1].GetId(), SKU: l.GetSku(), Title: "L", Size: "L", Color: "navy", WeightGrams: 210,
			Price: domain.Money{Currency: "USD", AmountMinor: 1499}, StockTracked: true, StockAvailable: 4, InStock: true}}
	if fmt.Sprint(v.Variants) != fmt.Sprint(want) {
		t.Fatalf("view variants = %v, want %v", v.Variants, want)
	}
	pub, err := e.client.GetProduct(e.as("u"), &catalogv1.GetProductRequest{ProductId: p.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if pv := pub.GetVariants(); len(pv) != 2 || pv[1].GetSize() != "L" || pv[1].GetColor() != "navy" || pv[1].GetWeightGrams() != 210 ||
		!pv[1].GetStockTracked() || pv[1].GetStockAvailable() != 4 || !pv[1].GetInStock() ||
		!pv[0].GetStockTracked() || pv[0].GetStockAvailable() != 0 || pv[0].GetInStock() {
		t.Fatalf("public read of the projection = %v, want the variants' attributes and stock", pv)
	}
	// Deactivating the product hides it from public reads but not from admins.
	// (The proto's title rule applies to updates too, so the title is sent.)
	if _, err := e.client.UpdateProduct(ctx, &catalogv1.UpdateProductRequest{ProductId: p.GetId(), Product: &catalogv1.Product{Title: "unused"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"active"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.app.Projector.Rebuild(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.GetProduct(e.as("u"), &catalogv1.GetProductRequest{ProductId: p.GetId()}); status.Code(err) != codes.NotFound {
		t.Fatalf("inactive product public read: %v, want NOT_FOUND", err)
	}
	if got, err := e.client.GetProduct(ctx, &catalogv1.GetProductRequest{ProductId: p.GetId()}); err != nil || got.GetActive() {
		t.Fatalf("admin read of inactive product = %v, %v", got, err)
	}
	list, err := e.client.ListProducts(e.as("u"), &catalogv1.ListProductsRequest{})
	if err != nil || len(list.GetProducts()) != 0 {
		t.Fatalf("list = %v, %v; want no products", list, err)
	}
}

func TestGetVariantsIsOneRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(e.app, partAPI)
	p, err := e.client.CreateProduct(e.admin(), &catalogv1.CreateProductRequest{Product: newProduct(3, 9)})
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.client.CreateDesign(e.as("alice"), &catalogv1.CreateDesignRequest{Filename: "a.png", ContentType: "image/png", SizeBytes: 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.GetVariants(e.as("alice"), &catalogv1.GetVariantsRequest{VariantIds: []string{p.GetVariants()[0].GetId()}}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("user GetVariants: %v, want PERMISSION_DENIED", err)
	}
	q0, b0 := e.queries.Count(), e.batches.n.Load()
	resp, err := e.client.GetVariants(e.as("orders", "service"), &catalogv1.GetVariantsRequest{
		VariantIds: []string{p.GetVariants()[0].GetId(), p.GetVariants()[1].GetId(), "0190a000-0000-7000-8000-000000000000"},
		DesignIds:  []string{d.GetDesign().GetId()}})
	if err != nil {
		t.Fatal(err)
	}
	if dq, db := e.queries.Count()-q0, e.batches.n.Load()-b0; dq != 0 || db != 1 {
		t.Fatalf("GetVariants used %d single queries and %d batches, want one batch", dq, db)
	}
	if len(resp.GetVariants()) != 2 || len(resp.GetDesigns()) != 1 || len(resp.GetVariants()[0].GetPlacements()) != 1 ||
		resp.GetVariants()[0].GetProductTitle() != p.GetTitle() || !resp.GetVariants()[0].GetProductActive() ||
		resp.GetDesigns()[0].GetOwnerId() != "alice" || resp.GetDesigns()[0].GetStatus() != catalogv1.DesignStatus_DESIGN_STATUS_PENDING_UPLOAD {
		t.Fatalf("GetVariants = %v", resp)
	}
}

func TestRedisDownDegradesToPostgreSQL(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p, err := e.app.Catalog.CreateProduct(context.Background(), adminCaller, domainProduct(4))
	if err != nil {
		t.Fatal(err)
	}
	dead, err := redis.New(redis.Config{Addrs: "127.0.0.1:1", DialTimeout: 50 * time.Millisecond,
		ReadTimeout: 50 * time.Millisecond, WriteTimeout: 50 * time.Millisecond, PoolSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	a, err := Build(Deps{DB: &postgres.DB{Primary: e.pool}, Redis: dead, Signer: e.signer, Log: e.log}, e.cfg.options())
	if err != nil {
		t.Fatal(err)
	}
	v, err := a.Catalog.ProductView(context.Background(), p.ID)
	if err != nil || v.Title != "Mug" || len(v.Variants) != 2 {
		t.Fatalf("get with Redis down = %+v, %v", v, err)
	}
	list, _, err := a.Catalog.ListProducts(context.Background(), 10, "")
	if err != nil || len(list) != 1 || list[0].ID != p.ID {
		t.Fatalf("list with Redis down = %+v, %v", list, err)
	}
}

package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/services/catalog/internal/app"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
	"github.com/printfleet/printfleet/services/catalog/internal/testenv"
)

// sameProduct compares everything but the timestamps.
func sameProduct(t *testing.T, what string, got, want domain.Product) {
	t.Helper()
	got.CreatedAt, got.UpdatedAt, want.CreatedAt, want.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if g, w := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", want); g != w {
		t.Fatalf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func TestProductRoundTripsWithItsVariantsAndPlacementsInOrder(t *testing.T) {
	t.Parallel()
	_, s := testenv.DB(t)
	want := testenv.Product(5)
	p := want
	before := time.Now().Add(-time.Minute)
	insert(t, s, &p)
	if p.CreatedAt.Before(before) || !p.UpdatedAt.Equal(p.CreatedAt) {
		t.Fatalf("insert returned created_at %v, updated_at %v", p.CreatedAt, p.UpdatedAt)
	}
	got, err := s.Product(context.Background(), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameProduct(t, "product read back", got, want)
	if !got.CreatedAt.Equal(p.CreatedAt) {
		t.Fatalf("created_at read %v, inserted %v", got.CreatedAt, p.CreatedAt)
	}
	var locked domain.Product
	inTx(t, s, func(ctx context.Context, tx app.Tx) (err error) { locked, err = tx.LockProduct(ctx, p.ID); return err })
	sameProduct(t, "locked product", locked, want)
}

func TestProductNotFoundAndDuplicates(t *testing.T) {
	t.Parallel()
	pool, s := testenv.DB(t)
	ctx := context.Background()
	for _, id := range []string{"42", testenv.ID()} {
		_, err := s.Product(ctx, id)
		wantKind(t, "product "+id, err, errs.NotFound)
		err = txErr(s, func(ctx context.Context, tx app.Tx) error { _, err := tx.LockProduct(ctx, id); return err })
		wantKind(t, "lock product "+id, err, errs.NotFound)
	}
	p := testenv.Product(1)
	insert(t, s, &p)
	again := testenv.Product(1)
	again.ID = p.ID
	err := txErr(s, func(ctx context.Context, tx app.Tx) error { return tx.InsertProduct(ctx, &again) })
	wantKind(t, "same product id twice", err, errs.AlreadyExists)

	// A SKU is unique across products, whatever its case.
	other := testenv.Product(1)
	other.Variants[1].SKU = strings.ToLower(p.Variants[0].SKU)
	err = txErr(s, func(ctx context.Context, tx app.Tx) error { return tx.InsertProduct(ctx, &other) })
	wantField(t, "a SKU another product uses", err, errs.AlreadyExists, "product.variants[1].sku")
	if n := count(t, pool, `SELECT count(*) FROM products`); n != 1 {
		t.Fatalf("products = %d after the refused inserts, want 1", n)
	}
}

func TestSaveProductRewritesItsChildren(t *testing.T) {
	t.Parallel()
	pool, s := testenv.DB(t)
	p := testenv.Product(3)
	insert(t, s, &p)
	var saved domain.Product
	inTx(t, s, func(ctx context.Context, tx app.Tx) error {
		cur, err := tx.LockProduct(ctx, p.ID)
		if err != nil {
			return err
		}
		next := cur
		next.Title, next.Active, next.Version = "Renamed", false, cur.Version+1
		// Swap the two SKUs and rename front to back's name and back away:
		// the names are freed before the upserts, so neither collides.
		next.Variants = []domain.Variant{cur.Variants[1], cur.Variants[0],
			{ID: testenv.ID(), ProductID: p.ID, SKU: cur.Variants[0].SKU + "-NEW", Title: "new", Price: domain.Money{Currency: "USD", AmountMinor: 5}, Active: true}}
		next.Variants[0].SKU, next.Variants[1].SKU = cur.Variants[0].SKU, cur.Variants[1].SKU
		next.Placements = []domain.Placement{cur.Placements[0]}
		next.Placements[0].Name = "back"
		if err := tx.SaveProduct(ctx, &next); err != nil {
			return err
		}
		saved = next
		return nil
	})
	if !saved.UpdatedAt.After(p.UpdatedAt) {
		t.Fatalf("updated_at %v not after %v", saved.UpdatedAt, p.UpdatedAt)
	}
	got, err := s.Product(context.Background(), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameProduct(t, "saved product", got, saved)
	if n := count(t, pool, `SELECT count(*) FROM placements WHERE id = $1`, p.Placements[1].ID); n != 0 {
		t.Fatal("a placement left out of the save was not deleted")
	}
}

func TestSaveProductRefusesAnotherProductsChildren(t *testing.T) {
	t.Parallel()
	_, s := testenv.DB(t)
	a, b := testenv.Product(1), testenv.Product(1)
	insert(t, s, &a)
	insert(t, s, &b)
	cases := []struct {
		name  string
		edit  func(p *domain.Product)
		kind  errs.Kind
		field string
	}{
		{"variant of another product", func(p *domain.Product) { p.Variants[0].ID = a.Variants[0].ID }, errs.Invalid, "product.variants[0].id"},
		{"placement of another product", func(p *domain.Product) { p.Placements[1].ID = a.Placements[1].ID }, errs.Invalid, "product.placements[1].id"},
		{"placement name twice", func(p *domain.Product) { p.Placements[1].Name = "FRONT" }, errs.Invalid, "product.placements[1].name"},
		{"SKU of another product", func(p *domain.Product) { p.Variants[1].SKU = a.Variants[1].SKU }, errs.AlreadyExists, "product.variants[1].sku"},
	}
	for _, c := range cases {
		next := b
		next.Variants, next.Placements = slices.Clone(b.Variants), slices.Clone(b.Placements)
		c.edit(&next)
		err := txErr(s, func(ctx context.Context, tx app.Tx) error { return tx.SaveProduct(ctx, &next) })
		wantField(t, c.name, err, c.kind, c.field)
	}
	for _, p := range []domain.Product{a, b} {
		got, err := s.Product(context.Background(), p.ID)
		if err != nil {
			t.Fatal(err)
		}
		sameProduct(t, "product after refused saves", got, p)
	}
}

func TestProductsPageByIDAndFilterInactive(t *testing.T) {
	t.Parallel()
	_, s := testenv.DB(t)
	ctx := context.Background()
	var ids, active []string
	for i := range 5 {
		p := testenv.Product(int64(i))
		p.Active = i != 2
		insert(t, s, &p)
		ids = append(ids, p.ID)
		if p.Active {
			active = append(active, p.ID)
		}
	}
	sort.Strings(ids)
	sort.Strings(active)
	page := func(after string, limit int, activeOnly, fromReader bool) []string {
		ps, err := s.Products(ctx, after, limit, activeOnly, fromReader)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]string, len(ps))
		for i, p := range ps {
			out[i] = p.ID
			if len(p.Variants) != 2 || len(p.Placements) != 2 {
				t.Fatalf("product %s listed with %d variants and %d placements", p.ID, len(p.Variants), len(p.Placements))
			}
		}
		return out
	}
	if got := page("", 3, false, false); !slices.Equal(got, ids[:3]) {
		t.Fatalf("first page %v, want %v", got, ids[:3])
	}
	if got := page(ids[2], 3, false, true); !slices.Equal(got, ids[3:]) {
		t.Fatalf("second page (reader) %v, want %v", got, ids[3:])
	}
	if got := page("", 10, true, true); !slices.Equal(got, active) {
		t.Fatalf("active products %v, want %v", got, active)
	}
	byID, err := s.ProductsByID(ctx, []string{ids[4], "junk", testenv.ID(), ids[0]})
	if err != nil {
		t.Fatal(err)
	}
	if len(byID) != 2 || byID[0].ID != ids[0] || byID[1].ID != ids[4] {
		t.Fatalf("products by id = %d products, want %s and %s in id order", len(byID), ids[0], ids[4])
	}
}

func TestBumpVersionsReturnsTheNewVersions(t *testing.T) {
	t.Parallel()
	_, s := testenv.DB(t)
	a, b := testenv.Product(1), testenv.Product(1)
	b.Version = 4
	insert(t, s, &a)
	insert(t, s, &b)
	var got map[string]int64
	inTx(t, s, func(ctx context.Context, tx app.Tx) (err error) {
		got, err = tx.BumpVersions(ctx, []string{a.ID, b.ID, testenv.ID()})
		return err
	})
	if len(got) != 2 || got[a.ID] != 2 || got[b.ID] != 5 {
		t.Fatalf("bumped versions %v, want %s:2 %s:5", got, a.ID, b.ID)
	}
	p, err := s.Product(context.Background(), b.ID)
	if err != nil || p.Version != 5 || !p.UpdatedAt.After(b.UpdatedAt) {
		t.Fatalf("product after bump: version %d, updated_at %v (inserted %v), %v", p.Version, p.UpdatedAt, b.UpdatedAt, err)
	}
}

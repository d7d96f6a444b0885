package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/printfleet/printfleet/services/catalog/internal/app"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
	"github.com/printfleet/printfleet/services/catalog/internal/testenv"
)

func TestResolveReadsVariantsWithTheirProductAndDesigns(t *testing.T) {
	t.Parallel()
	_, s := testenv.DB(t)
	p, other := testenv.Product(4), testenv.Product(0)
	other.Active, other.Title, other.ImageKey = false, "Old mug", ""
	insert(t, s, &p)
	insert(t, s, &other)
	d := design("alice")
	inTx(t, s, func(ctx context.Context, tx app.Tx) error { return tx.InsertDesign(ctx, d) })

	vs, ds, err := s.Resolve(context.Background(),
		[]string{p.Variants[1].ID, "junk", testenv.ID(), other.Variants[0].ID}, []string{d.ID, "junk", testenv.ID()})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 || len(ds) != 1 {
		t.Fatalf("resolved %d variants and %d designs, want 2 and 1", len(vs), len(ds))
	}
	byID := map[string]app.ResolvedVariant{}
	for _, v := range vs {
		byID[v.Variant.ID] = v
	}
	got, ok := byID[p.Variants[1].ID]
	if !ok || fmt.Sprintf("%+v", got.Variant) != fmt.Sprintf("%+v", p.Variants[1]) {
		t.Fatalf("variant = %+v, want %+v", got.Variant, p.Variants[1])
	}
	if got.ProductTitle != "Tee" || !got.ProductActive || got.ProductImageKey != "blanks/tee.png" {
		t.Fatalf("product of the variant: %q active=%v image=%q", got.ProductTitle, got.ProductActive, got.ProductImageKey)
	}
	if fmt.Sprintf("%+v", got.Placements) != fmt.Sprintf("%+v", p.Placements) {
		t.Fatalf("placements = %+v, want %+v in position order", got.Placements, p.Placements)
	}
	old := byID[other.Variants[0].ID]
	if old.ProductActive || old.ProductTitle != "Old mug" || len(old.Placements) != 2 || old.Placements[0].ProductID != other.ID {
		t.Fatalf("variant of the inactive product resolved as %+v", old)
	}
	if ds[0].ID != d.ID || ds[0].OwnerID != "alice" || ds[0].Status != domain.DesignPendingUpload || ds[0].ObjectKey != d.ObjectKey {
		t.Fatalf("design = %+v", ds[0])
	}

	vs, ds, err = s.Resolve(context.Background(), nil, nil)
	if err != nil || len(vs) != 0 || len(ds) != 0 {
		t.Fatalf("resolve of nothing = %v, %v, %v", vs, ds, err)
	}
}

func TestActivePlacementsAreThoseOfActiveProducts(t *testing.T) {
	t.Parallel()
	_, s := testenv.DB(t)
	a, b, off := testenv.Product(1), testenv.Product(1), testenv.Product(1)
	off.Active = false
	for _, p := range []*domain.Product{&a, &b, &off} {
		insert(t, s, p)
	}
	var got []domain.Placement
	inTx(t, s, func(ctx context.Context, tx app.Tx) (err error) { got, err = tx.ActivePlacements(ctx); return err })
	byProduct := map[string][]domain.Placement{}
	for _, pl := range got {
		byProduct[pl.ProductID] = append(byProduct[pl.ProductID], pl)
	}
	if len(byProduct) != 2 {
		t.Fatalf("placements of %d products, want the 2 active ones", len(byProduct))
	}
	for _, p := range []domain.Product{a, b} {
		if g, w := fmt.Sprintf("%+v", byProduct[p.ID]), fmt.Sprintf("%+v", p.Placements); g != w {
			t.Fatalf("placements of %s:\n got %s\nwant %s (in position order)", p.ID, g, w)
		}
	}
}

package catalog_test

import (
	"context"
	"errors"
	"testing"
	"time"

	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"

	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/catalog"
	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
	"github.com/printfleet/printfleet/workers/marketplace/internal/testenv"
)

func TestListImportStoresReadsEveryPage(t *testing.T) {
	f := testenv.NewCatalog()
	cc, _ := testenv.StartCatalog(t, f, testenv.Secret)
	c := catalog.New(cc, 5*time.Second)
	want := map[string]bool{}
	for range 450 { // more than two pages of 200
		want[testenv.AddEtsy(f).ID] = true
	}
	gone := testenv.AddShopify(f).ID
	f.Edit(gone, func(s *catalogv1.Store) { s.NeedsReconnection = true })

	ctx := context.Background()
	got, err := c.ListImportStores(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("listed %d stores, want %d", len(got), len(want))
	}
	for _, s := range got {
		if !want[s.ID] || s.Marketplace != domain.Etsy || s.Cursor != "" || !s.LastImportAt.IsZero() || s.CreatedAt.IsZero() {
			t.Fatalf("listed %+v", s)
		}
	}

	id := got[0].ID
	if err := c.SaveImportCursor(ctx, id, "cursor-1"); err != nil {
		t.Fatal(err)
	}
	got, err = c.ListImportStores(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Cursor != "cursor-1" || got[0].LastImportAt.IsZero() {
		t.Fatalf("after save: %+v", got[0])
	}
}

func TestStoreByIDFillsOwnerRegionAndPayment(t *testing.T) {
	f := testenv.NewCatalog()
	cc, _ := testenv.StartCatalog(t, f, testenv.Secret)
	c := catalog.New(cc, 5*time.Second)
	s := testenv.AddAmazon(f)
	f.Edit(s.ID, func(st *catalogv1.Store) { st.OwnerId, st.Region, st.PaymentMethod = "u9", "eu", "invoice" })
	st, err := c.StoreByID(context.Background(), s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.OwnerID != "u9" || st.Region != "eu" || st.PaymentMethod != "invoice" || st.Marketplace != domain.Amazon ||
		st.Credentials.RefreshToken == "" {
		t.Fatalf("store %+v", st)
	}
	// The push side's lookup fills them too, and still checks the owner.
	if st, err := c.Store(context.Background(), s.ID, "u9"); err != nil || st.Region != "eu" || st.OwnerID != "u9" {
		t.Fatalf("Store: %+v, %v", st, err)
	}
	if _, err := c.Store(context.Background(), s.ID, "u1"); !errors.Is(err, domain.ErrStoreUnusable) {
		t.Fatalf("Store of another owner: %v", err)
	}
	if _, err := c.StoreByID(context.Background(), "6b0b5a43-0d4f-4d55-9a3e-3f43f7d3e0aa"); !errors.Is(err, domain.ErrStoreUnusable) {
		t.Fatalf("unknown store: %v", err)
	}
	if err := c.SaveImportCursor(context.Background(), "6b0b5a43-0d4f-4d55-9a3e-3f43f7d3e0aa", "x"); err == nil {
		t.Fatal("saved a cursor of an unknown store")
	}
}

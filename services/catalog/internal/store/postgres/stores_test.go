package postgres_test

import (
	"bytes"
	"context"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/services/catalog/internal/app"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
	"github.com/printfleet/printfleet/services/catalog/internal/testenv"
)

func shop(owner, shopID string) domain.Store {
	return domain.Store{ID: testenv.ID(), OwnerID: owner, Marketplace: domain.Etsy, ShopID: shopID, Name: "Prints of " + owner,
		RateLimitPerSecond: 2.5, RateLimitBurst: 40, CreatedAt: time.Now().UTC().Truncate(time.Microsecond), PaymentMethod: domain.PaymentCard,
		OrderImport: domain.ImportAuto}
}

func TestStoreRoundTripsWithItsSealedCredentials(t *testing.T) {
	t.Parallel()
	_, s := testenv.DB(t)
	ctx := context.Background()
	st := shop("alice", "shop-1")
	sealed := []byte{1, 0xde, 0xad, 0xbe, 0xef}
	inTx(t, s, func(ctx context.Context, tx app.Tx) error { return tx.InsertStore(ctx, st, sealed) })
	got, gotSealed, err := s.SealedStore(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.CreatedAt.Equal(st.CreatedAt) {
		t.Fatalf("created_at %v, want %v", got.CreatedAt, st.CreatedAt)
	}
	got.CreatedAt = st.CreatedAt
	if got != st || !bytes.Equal(gotSealed, sealed) {
		t.Fatalf("store = %+v %x, want %+v %x", got, gotSealed, st, sealed)
	}
	for _, id := range []string{"junk", testenv.ID()} {
		_, _, err := s.SealedStore(ctx, id)
		wantKind(t, "store "+id, err, errs.NotFound)
	}
}

func TestStoreIsOncePerOwnerMarketplaceAndShop(t *testing.T) {
	t.Parallel()
	pool, s := testenv.DB(t)
	st := shop("alice", "shop-1")
	inTx(t, s, func(ctx context.Context, tx app.Tx) error { return tx.InsertStore(ctx, st, []byte{1}) })
	dup := shop("alice", "shop-1")
	err := txErr(s, func(ctx context.Context, tx app.Tx) error { return tx.InsertStore(ctx, dup, []byte{2}) })
	wantKind(t, "the same shop twice", err, errs.AlreadyExists)
	// Another owner, or another marketplace, may connect the same shop id.
	bob := shop("bob", "shop-1")
	amazon := shop("alice", "shop-1")
	amazon.Marketplace = domain.Amazon
	for _, x := range []domain.Store{bob, amazon} {
		inTx(t, s, func(ctx context.Context, tx app.Tx) error { return tx.InsertStore(ctx, x, []byte{3}) })
	}
	if n := count(t, pool, `SELECT count(*) FROM stores`); n != 3 {
		t.Fatalf("stores = %d, want 3", n)
	}
}

func TestStoresPageAnOwnersStoresByID(t *testing.T) {
	t.Parallel()
	_, s := testenv.DB(t)
	ctx := context.Background()
	var mine []string
	for i := range 5 {
		st := shop("alice", "shop-"+string(rune('a'+i)))
		mine = append(mine, st.ID)
		inTx(t, s, func(ctx context.Context, tx app.Tx) error { return tx.InsertStore(ctx, st, []byte{1}) })
	}
	theirs := shop("bob", "shop-a")
	inTx(t, s, func(ctx context.Context, tx app.Tx) error { return tx.InsertStore(ctx, theirs, []byte{1}) })
	sort.Strings(mine)
	ids := func(after string, limit int) []string {
		list, err := s.Stores(ctx, "alice", after, limit)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, st := range list {
			if st.OwnerID != "alice" {
				t.Fatalf("alice's list holds %s's store", st.OwnerID)
			}
			out = append(out, st.ID)
		}
		return out
	}
	if got := ids("", 3); !slices.Equal(got, mine[:3]) {
		t.Fatalf("first page %v, want %v", got, mine[:3])
	}
	if got := ids(mine[2], 3); !slices.Equal(got, mine[3:]) {
		t.Fatalf("second page %v, want %v", got, mine[3:])
	}
	if list, err := s.Stores(ctx, "carol", "", 10); err != nil || len(list) != 0 {
		t.Fatalf("carol's stores = %v, %v; want none", list, err)
	}
}

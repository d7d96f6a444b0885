package server

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"

	"github.com/printfleet/printfleet/platform/principal"
)

// designRow inserts a design of owner in status straight into the table
// (the upload and the images worker are tested elsewhere).
func (e *env) designRow(owner, status string) string {
	e.t.Helper()
	id := uuid.NewString()
	if _, err := e.pool.Exec(context.Background(), `INSERT INTO designs (id, owner_id, status, filename, content_type, size_bytes, object_key)
		VALUES ($1, $2, $3, 'art.png', 'image/png', 1000, $4)`, id, owner, status, "designs/"+id+"/original"); err != nil {
		e.t.Fatal(err)
	}
	return id
}

func wantCode(t *testing.T, what string, err error, c codes.Code) {
	t.Helper()
	if status.Code(err) != c {
		t.Fatalf("%s: %v, want %s", what, err, c)
	}
}

// A seller maps listings of their own store over the API, validated at the
// edge and against the catalog; anyone else sees no store (NOT_FOUND), an
// admin may read but not write, and only the marketplace worker and orders
// resolve order lines.
func TestListingsOwnerCRUDValidatedAndResolvedByTheWorkerAndOrdersOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(e.app, partAPI)
	alice, bob := e.as("alice"), e.as("bob")
	p, err := e.client.CreateProduct(e.admin(), &catalogv1.CreateProductRequest{Product: newProduct(1, 5)})
	if err != nil {
		t.Fatal(err)
	}
	other, err := e.client.CreateProduct(e.admin(), &catalogv1.CreateProductRequest{Product: newProduct(2, 5)})
	if err != nil {
		t.Fatal(err)
	}
	variant, placement := p.GetVariants()[0].GetId(), p.GetPlacements()[0].GetId()
	st, err := e.client.CreateStore(alice, &catalogv1.CreateStoreRequest{Marketplace: catalogv1.Marketplace_MARKETPLACE_SHOPIFY,
		ShopId: "alice-shop", Name: "Alice", Credentials: &catalogv1.StoreCredentials{AccessToken: "shpat_x"}})
	if err != nil {
		t.Fatal(err)
	}
	ready := e.designRow("alice", "ready")

	mapped := &catalogv1.Listing{ExternalProductId: "gid-prod-1", ExternalVariantId: "gid-var-1", Sku: "TEE-M",
		VariantId: variant, DesignId: ready, PlacementId: placement}
	l, err := e.client.CreateListing(alice, &catalogv1.CreateListingRequest{StoreId: st.GetId(), Listing: mapped})
	if err != nil {
		t.Fatal(err)
	}
	if l.GetId() == "" || l.GetStoreId() != st.GetId() || l.GetDesignId() != ready || l.GetPlacementId() != placement {
		t.Fatalf("created = %v", l)
	}
	_, err = e.client.CreateListing(alice, &catalogv1.CreateListingRequest{StoreId: st.GetId(), Listing: mapped})
	wantCode(t, "the same external variant again", err, codes.AlreadyExists)

	// Refused at the edge (protovalidate) and where the data is (catalog).
	for what, c := range map[string]struct {
		l    *catalogv1.Listing
		code codes.Code
	}{
		"no external id":            {&catalogv1.Listing{VariantId: variant}, codes.InvalidArgument},
		"design without placement":  {&catalogv1.Listing{Sku: "a", VariantId: variant, DesignId: ready}, codes.InvalidArgument},
		"variant not a uuid":        {&catalogv1.Listing{Sku: "a", VariantId: "tee"}, codes.InvalidArgument},
		"unknown variant":           {&catalogv1.Listing{Sku: "a", VariantId: uuid.NewString()}, codes.InvalidArgument},
		"another user's design":     {&catalogv1.Listing{Sku: "a", VariantId: variant, DesignId: e.designRow("bob", "ready"), PlacementId: placement}, codes.InvalidArgument},
		"a design not ready":        {&catalogv1.Listing{Sku: "a", VariantId: variant, DesignId: e.designRow("alice", "processing"), PlacementId: placement}, codes.InvalidArgument},
		"another product's placing": {&catalogv1.Listing{Sku: "a", VariantId: variant, DesignId: ready, PlacementId: other.GetPlacements()[0].GetId()}, codes.InvalidArgument},
	} {
		_, err := e.client.CreateListing(alice, &catalogv1.CreateListingRequest{StoreId: st.GetId(), Listing: c.l})
		wantCode(t, what, err, c.code)
		t.Logf("%s: %s", what, fieldsOf(err))
	}
	if _, err := e.pool.Exec(context.Background(), `UPDATE variants SET active = false WHERE id = $1`, p.GetVariants()[1].GetId()); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.CreateListing(alice, &catalogv1.CreateListingRequest{StoreId: st.GetId(),
		Listing: &catalogv1.Listing{Sku: "a", VariantId: p.GetVariants()[1].GetId()}})
	wantCode(t, "an inactive variant", err, codes.InvalidArgument)

	// BOLA: bob gets NOT_FOUND for alice's store and listing, on every call.
	ref := &catalogv1.GetListingRequest{StoreId: st.GetId(), ListingId: l.GetId()}
	_, err = e.client.GetListing(bob, ref)
	wantCode(t, "bob reads alice's listing", err, codes.NotFound)
	_, err = e.client.ListListings(bob, &catalogv1.ListListingsRequest{StoreId: st.GetId()})
	wantCode(t, "bob lists alice's store", err, codes.NotFound)
	_, err = e.client.CreateListing(bob, &catalogv1.CreateListingRequest{StoreId: st.GetId(), Listing: &catalogv1.Listing{Sku: "b", VariantId: variant}})
	wantCode(t, "bob adds to alice's store", err, codes.NotFound)
	_, err = e.client.UpdateListing(bob, &catalogv1.UpdateListingRequest{StoreId: st.GetId(), ListingId: l.GetId(), Listing: &catalogv1.Listing{Sku: "b", VariantId: variant}})
	wantCode(t, "bob changes alice's listing", err, codes.NotFound)
	_, err = e.client.DeleteListing(bob, &catalogv1.DeleteListingRequest{StoreId: st.GetId(), ListingId: l.GetId()})
	wantCode(t, "bob deletes alice's listing", err, codes.NotFound)
	// Bob's own store does not reach alice's listing either.
	bst, err := e.client.CreateStore(bob, &catalogv1.CreateStoreRequest{Marketplace: catalogv1.Marketplace_MARKETPLACE_ETSY,
		ShopId: "bob-shop", Name: "Bob", Credentials: &catalogv1.StoreCredentials{ApiKey: "k:s"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.client.GetListing(bob, &catalogv1.GetListingRequest{StoreId: bst.GetId(), ListingId: l.GetId()})
	wantCode(t, "alice's listing through bob's store", err, codes.NotFound)
	_, err = e.client.DeleteListing(bob, &catalogv1.DeleteListingRequest{StoreId: bst.GetId(), ListingId: l.GetId()})
	wantCode(t, "delete alice's listing through bob's store", err, codes.NotFound)

	if got, err := e.client.GetListing(e.admin(), ref); err != nil || got.GetId() != l.GetId() {
		t.Fatalf("admin reads = %v, %v", got, err)
	}
	_, err = e.client.DeleteListing(e.admin(), &catalogv1.DeleteListingRequest{StoreId: st.GetId(), ListingId: l.GetId()})
	wantCode(t, "admin deletes", err, codes.PermissionDenied)

	// Paging like the other lists.
	for _, sku := range []string{"s1", "s2"} {
		if _, err := e.client.CreateListing(alice, &catalogv1.CreateListingRequest{StoreId: st.GetId(),
			Listing: &catalogv1.Listing{Sku: sku, VariantId: variant}}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := e.client.ListListings(alice, &catalogv1.ListListingsRequest{StoreId: st.GetId(), PageSize: 2})
	if err != nil || len(page.GetListings()) != 2 || page.GetNextPageToken() == "" {
		t.Fatalf("first page = %v, %v", page, err)
	}
	page, err = e.client.ListListings(alice, &catalogv1.ListListingsRequest{StoreId: st.GetId(), PageSize: 2, PageToken: page.GetNextPageToken()})
	if err != nil || len(page.GetListings()) != 1 || page.GetNextPageToken() != "" {
		t.Fatalf("second page = %v, %v", page, err)
	}

	// The marketplace worker and orders (an imported order held for a
	// retry) alone resolve a line.
	line := &catalogv1.ResolveListingRequest{StoreId: st.GetId(), ExternalProductId: "gid-prod-1", ExternalVariantId: "gid-var-1"}
	for _, who := range []context.Context{alice, e.admin(), e.as("service:pricing", principal.RoleService),
		e.as(principal.SubjectMarketplaceWorker, principal.RoleUser), e.as(principal.SubjectOrders, principal.RoleUser)} {
		_, err := e.client.ResolveListing(who, line)
		wantCode(t, "resolve as another caller", err, codes.PermissionDenied)
	}
	orders := e.as(principal.SubjectOrders, principal.RoleService)
	for _, who := range []context.Context{e.worker(), orders} {
		got, err := e.client.ResolveListing(who, line)
		if err != nil || got.GetId() != l.GetId() || got.GetVariantId() != variant || got.GetDesignId() != ready {
			t.Fatalf("resolve = %v, %v", got, err)
		}
	}
	_, err = e.client.ResolveListing(orders, &catalogv1.ResolveListingRequest{StoreId: st.GetId(), Sku: "unmapped"})
	wantCode(t, "orders resolves an unmapped line", err, codes.NotFound)
	_, err = e.client.ResolveListing(orders, &catalogv1.ResolveListingRequest{StoreId: uuid.NewString(), Sku: "s2"})
	wantCode(t, "orders resolves a line of no store", err, codes.NotFound)
	if got, err := e.client.ResolveListing(e.worker(), &catalogv1.ResolveListingRequest{StoreId: st.GetId(), Sku: "s2"}); err != nil || got.GetSku() != "s2" {
		t.Fatalf("resolve by sku = %v, %v", got, err)
	}
	_, err = e.client.ResolveListing(e.worker(), &catalogv1.ResolveListingRequest{StoreId: st.GetId(), Sku: "unmapped"})
	wantCode(t, "resolve an unmapped line", err, codes.NotFound)
	_, err = e.client.ResolveListing(e.worker(), &catalogv1.ResolveListingRequest{StoreId: st.GetId()})
	wantCode(t, "resolve an empty line", err, codes.InvalidArgument)
	// A mapping that can no longer be printed is reported as such, so the
	// import can hold the order with the reason.
	if _, err := e.pool.Exec(context.Background(), `UPDATE variants SET active = false WHERE id = $1`, variant); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.ResolveListing(e.worker(), line)
	wantCode(t, "resolve a listing whose variant left sale", err, codes.FailedPrecondition)

	// Update and delete by the owner.
	if _, err := e.pool.Exec(context.Background(), `UPDATE variants SET active = true WHERE id = $1`, variant); err != nil {
		t.Fatal(err)
	}
	upd, err := e.client.UpdateListing(alice, &catalogv1.UpdateListingRequest{StoreId: st.GetId(), ListingId: l.GetId(),
		Listing: &catalogv1.Listing{ExternalVariantId: "gid-var-1", VariantId: variant}})
	if err != nil || upd.GetDesignId() != "" || upd.GetSku() != "" || upd.GetId() != l.GetId() {
		t.Fatalf("update = %v, %v", upd, err)
	}
	if _, err := e.client.DeleteListing(alice, &catalogv1.DeleteListingRequest{StoreId: st.GetId(), ListingId: l.GetId()}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.GetListing(alice, ref)
	wantCode(t, "read after delete", err, codes.NotFound)
}

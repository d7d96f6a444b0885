package app

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
)

// Listings is the listing-mapping use cases: a seller links the listings of
// one of their stores to variants, ready designs and placements, and the
// marketplace worker resolves order lines through them.
type Listings struct {
	store Store
}

// NewListings returns the listing use cases.
func NewListings(store Store) *Listings { return &Listings{store: store} }

// storeFor returns the store when caller may see it: its owner, or an
// admin when only reading. Anyone else gets NotFound, as if the store did
// not exist.
func (l *Listings) storeFor(ctx context.Context, caller principal.Principal, storeID string, write bool) (domain.Store, error) {
	if err := caller.Require(principal.RoleUser, principal.RoleAdmin); err != nil {
		return domain.Store{}, err
	}
	st, _, err := l.store.SealedStore(ctx, storeID)
	if err != nil {
		return domain.Store{}, err
	}
	switch {
	case st.OwnerID == caller.Subject:
		return st, nil
	case caller.IsAdmin() && !write:
		return st, nil
	case caller.IsAdmin():
		return domain.Store{}, errs.E(errs.PermissionDenied, "only the store's owner changes its listings")
	}
	return domain.Store{}, errs.E(errs.NotFound, "store %s not found", storeID)
}

// check validates a listing where the data is: the variant exists and is
// on sale, the placement is one of its product's, and the design is the
// store owner's and ready.
func (l *Listings) check(ctx context.Context, st domain.Store, li domain.Listing) error {
	if li.ExternalProductID == "" && li.ExternalVariantID == "" && li.SKU == "" {
		return errs.Field("listing", "one of external_product_id, external_variant_id or sku is required")
	}
	if (li.DesignID == "") != (li.PlacementID == "") {
		return errs.Field("listing.placement_id", "design_id and placement_id go together")
	}
	var designs []string
	if li.DesignID != "" {
		designs = []string{li.DesignID}
	}
	vs, ds, err := l.store.Resolve(ctx, []string{li.VariantID}, designs)
	if err != nil {
		return err
	}
	if len(vs) != 1 {
		return errs.Field("listing.variant_id", "no such variant")
	}
	if !vs[0].Variant.Active || !vs[0].ProductActive {
		return errs.Field("listing.variant_id", "the variant is not on sale")
	}
	if li.DesignID == "" {
		return nil
	}
	if !slices.ContainsFunc(vs[0].Placements, func(p domain.Placement) bool { return p.ID == li.PlacementID }) {
		return errs.Field("listing.placement_id", "not a placement of the variant's product")
	}
	// Another user's design is reported like a missing one.
	if len(ds) != 1 || ds[0].OwnerID != st.OwnerID {
		return errs.Field("listing.design_id", "no such design")
	}
	if ds[0].Status != domain.DesignReady {
		return errs.Field("listing.design_id", "the design is not ready")
	}
	return nil
}

// Create adds a listing to the caller's store.
func (l *Listings) Create(ctx context.Context, caller principal.Principal, storeID string, li domain.Listing) (domain.Listing, error) {
	st, err := l.storeFor(ctx, caller, storeID, true)
	if err != nil {
		return domain.Listing{}, err
	}
	if err := l.check(ctx, st, li); err != nil {
		return domain.Listing{}, err
	}
	li.ID, li.StoreID = newID(), st.ID
	li.CreatedAt = time.Now().UTC().Truncate(time.Microsecond)
	li.UpdatedAt = li.CreatedAt
	if err := l.store.InTx(ctx, func(tx Tx) error { return tx.InsertListing(ctx, li) }); err != nil {
		return domain.Listing{}, fmt.Errorf("create listing: %w", err)
	}
	return li, nil
}

// Update replaces a listing's mapping.
func (l *Listings) Update(ctx context.Context, caller principal.Principal, storeID string, li domain.Listing) (domain.Listing, error) {
	st, err := l.storeFor(ctx, caller, storeID, true)
	if err != nil {
		return domain.Listing{}, err
	}
	if err := l.check(ctx, st, li); err != nil {
		return domain.Listing{}, err
	}
	li.StoreID = st.ID
	var out domain.Listing
	err = l.store.InTx(ctx, func(tx Tx) error {
		var err error
		out, err = tx.UpdateListing(ctx, li)
		return err
	})
	if err != nil {
		return domain.Listing{}, fmt.Errorf("update listing: %w", err)
	}
	return out, nil
}

// Delete removes a listing of the caller's store.
func (l *Listings) Delete(ctx context.Context, caller principal.Principal, storeID, id string) error {
	st, err := l.storeFor(ctx, caller, storeID, true)
	if err != nil {
		return err
	}
	if err := l.store.InTx(ctx, func(tx Tx) error { return tx.DeleteListing(ctx, st.ID, id) }); err != nil {
		return fmt.Errorf("delete listing: %w", err)
	}
	return nil
}

// Get returns a listing of a store the caller may see.
func (l *Listings) Get(ctx context.Context, caller principal.Principal, storeID, id string) (domain.Listing, error) {
	st, err := l.storeFor(ctx, caller, storeID, false)
	if err != nil {
		return domain.Listing{}, err
	}
	return l.store.Listing(ctx, st.ID, id)
}

// List pages the listings of a store the caller may see.
func (l *Listings) List(ctx context.Context, caller principal.Principal, storeID string, pageSize int, token string) ([]domain.Listing, string, error) {
	st, err := l.storeFor(ctx, caller, storeID, false)
	if err != nil {
		return nil, "", err
	}
	limit, after, err := page(pageSize, token)
	if err != nil {
		return nil, "", err
	}
	list, err := l.store.Listings(ctx, st.ID, after, limit+1)
	if err != nil {
		return nil, "", err
	}
	return pageOf(list, limit, func(x domain.Listing) string { return x.ID })
}

// Resolve finds the listing a store's marketplace order line maps to (the
// marketplace worker, and orders resolving an imported order's lines): by
// the line's external variant id, else its SKU, else a listing naming only
// its product. NotFound when nothing matches (or no such store); FailedPrecondition when the listing can no longer be printed
// (its variant left sale, its design or placement is gone), so the import
// holds the order with that reason.
func (l *Listings) Resolve(ctx context.Context, caller principal.Principal, storeID string, line domain.ExternalLine) (domain.Listing, error) {
	if err := requireSubject(caller, "listing resolution", principal.SubjectMarketplaceWorker, principal.SubjectOrders); err != nil {
		return domain.Listing{}, err
	}
	if line.Empty() {
		return domain.Listing{}, errs.Field("line", "one of external_product_id, external_variant_id or sku is required")
	}
	st, _, err := l.store.SealedStore(ctx, storeID)
	if err != nil {
		return domain.Listing{}, err
	}
	li, err := l.store.MatchListing(ctx, st.ID, line)
	if err != nil {
		return domain.Listing{}, err
	}
	if err := l.check(ctx, st, li); err != nil {
		return domain.Listing{}, errs.E(errs.FailedPrecondition, "listing %s cannot be printed: %v", li.ID, err)
	}
	return li, nil
}

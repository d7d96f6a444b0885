// Package catalog is the orders service's client of the catalog: one batch
// lookup of variants and designs, converted to what app needs.
package catalog

import (
	"context"

	"google.golang.org/grpc"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/grpcclient"
	"github.com/printfleet/printfleet/platform/principal"
	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	"github.com/printfleet/printfleet/services/orders/internal/app"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
)

// Client implements app.Catalog over gRPC.
type Client struct {
	c catalogv1.CatalogServiceClient
}

var _ app.Catalog = (*Client)(nil)

// New returns a client on cc (dialled with platform/grpcclient).
func New(cc grpc.ClientConnInterface) *Client {
	return &Client{c: catalogv1.NewCatalogServiceClient(cc)}
}

// GetVariants implements app.Catalog. The lookup is an internal call made as
// the orders service (catalog serves it to services only); the caller's
// ownership of each design is checked by app against the owner returned.
func (c *Client) GetVariants(ctx context.Context, variantIDs, designIDs []string, storeID string) (app.CatalogLookup, error) {
	ctx = principal.With(ctx, grpcclient.Service("orders"))
	resp, err := c.c.GetVariants(ctx, &catalogv1.GetVariantsRequest{VariantIds: variantIDs, DesignIds: designIDs, StoreId: storeID})
	if err != nil {
		return app.CatalogLookup{}, classify(err)
	}
	return ToLookup(resp), nil
}

// classify keeps the catalog's own answer from being mistaken for ours: a
// request the catalog found invalid is a bad request of our client's; its
// outages are ours.
func classify(err error) error {
	switch errs.KindOf(err) {
	case errs.Invalid:
		return errs.Wrap(errs.Invalid, err, "catalog refused the items")
	case errs.Unavailable, errs.DeadlineExceeded, errs.ResourceExhausted:
		return errs.Wrap(errs.Unavailable, err, "catalog unavailable; retry")
	}
	return errs.Wrap(errs.Internal, err, "catalog lookup failed")
}

// ToLookup converts a catalog answer.
func ToLookup(resp *catalogv1.GetVariantsResponse) app.CatalogLookup {
	out := app.CatalogLookup{Variants: map[string]app.CatalogVariant{}, Designs: map[string]app.CatalogDesign{}}
	for _, rv := range resp.GetVariants() {
		v := rv.GetVariant()
		cv := app.CatalogVariant{
			ID: v.GetId(), ProductID: v.GetProductId(), SKU: v.GetSku(), Title: v.GetTitle(),
			ProductTitle: rv.GetProductTitle(), Active: v.GetActive(), ProductActive: rv.GetProductActive(),
		}
		for _, p := range rv.GetPlacements() {
			cv.Placements = append(cv.Placements, domain.PlacementSpec{
				PlacementID: p.GetId(), Name: p.GetName(), WidthIn: p.GetWidthIn(), HeightIn: p.GetHeightIn(),
				MinDPI: p.GetMinDpi(), RecommendedDPI: p.GetRecommendedDpi(), Technique: p.GetTechnique(),
			})
		}
		out.Variants[cv.ID] = cv
	}
	for _, d := range resp.GetDesigns() {
		cd := app.CatalogDesign{
			ID: d.GetId(), OwnerID: d.GetOwnerId(), Ready: d.GetStatus() == catalogv1.DesignStatus_DESIGN_STATUS_READY,
			Key: designKey(d), RejectedPlacements: map[string]bool{},
		}
		for _, pc := range d.GetReport().GetPlacements() {
			if pc.GetVerdict() == catalogv1.DpiVerdict_DPI_VERDICT_REJECT {
				cd.RejectedPlacements[pc.GetPlacementId()] = true
			}
		}
		out.Designs[cd.ID] = cd
	}
	if st := resp.GetStore(); st != nil {
		out.Store = &app.CatalogStore{ID: st.GetId(), OwnerID: st.GetOwnerId()}
	}
	return out
}

// designKey is the processed master print files are made from; the original
// upload only when the catalog has no master recorded.
func designKey(d *catalogv1.Design) string {
	if k := d.GetMasterKey(); k != "" {
		return k
	}
	return d.GetObjectKey()
}

var _ app.ListingResolver = (*Client)(nil)

// ResolveListing implements app.ListingResolver: the listing a marketplace
// line of the store maps to, asked as the orders service (catalog serves it
// to the marketplace worker and to orders only). A line no listing maps is
// errs.NotFound.
func (c *Client) ResolveListing(ctx context.Context, storeID string, line app.ImportLine) (app.Listing, error) {
	ctx = principal.With(ctx, grpcclient.Service("orders"))
	l, err := c.c.ResolveListing(ctx, &catalogv1.ResolveListingRequest{
		StoreId: storeID, ExternalProductId: line.ExternalProductID, ExternalVariantId: line.ExternalVariantID, Sku: line.SKU,
	})
	if err != nil {
		if errs.Is(err, errs.NotFound) {
			return app.Listing{}, errs.Wrap(errs.NotFound, err, "no listing maps the line")
		}
		return app.Listing{}, classify(err)
	}
	return app.Listing{VariantID: l.GetVariantId(), DesignID: l.GetDesignId(), PlacementID: l.GetPlacementId()}, nil
}

// Package grpcapi serves catalogv1.CatalogService: it converts between the
// protobuf contract and the domain, reads the caller (principal.From) and
// passes it to the use cases explicitly. Errors pass through as errs kinds;
// the gRPC server maps them once.
package grpcapi

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/services/catalog/internal/app"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
)

// Server implements catalogv1.CatalogServiceServer.
type Server struct {
	catalogv1.UnimplementedCatalogServiceServer
	catalog  *app.Catalog
	designs  *app.Designs
	stores   *app.Stores
	listings *app.Listings
}

var _ catalogv1.CatalogServiceServer = (*Server)(nil)

// New returns the gRPC API over the use cases.
func New(c *app.Catalog, d *app.Designs, s *app.Stores, l *app.Listings) *Server {
	return &Server{catalog: c, designs: d, stores: s, listings: l}
}

// ListProducts pages active products from the projection.
func (s *Server) ListProducts(ctx context.Context, r *catalogv1.ListProductsRequest) (*catalogv1.ListProductsResponse, error) {
	views, next, err := s.catalog.ListProducts(ctx, int(r.GetPageSize()), r.GetPageToken())
	if err != nil {
		return nil, err
	}
	out := &catalogv1.ListProductsResponse{Products: make([]*catalogv1.Product, len(views)), NextPageToken: next}
	for i := range views {
		out.Products[i] = toProtoView(&views[i])
	}
	return out, nil
}

// GetProduct returns one product: the projection for everyone, the full
// record (stock, inactive products) for admins.
func (s *Server) GetProduct(ctx context.Context, r *catalogv1.GetProductRequest) (*catalogv1.Product, error) {
	if caller := principal.From(ctx); caller.IsAdmin() {
		p, err := s.catalog.AdminProduct(ctx, caller, r.GetProductId())
		if err != nil {
			return nil, err
		}
		return toProtoProduct(&p), nil
	}
	v, err := s.catalog.ProductView(ctx, r.GetProductId())
	if err != nil {
		return nil, err
	}
	return toProtoView(&v), nil
}

// CreateProduct adds a product (admin).
func (s *Server) CreateProduct(ctx context.Context, r *catalogv1.CreateProductRequest) (*catalogv1.Product, error) {
	p := toDomainProduct(r.GetProduct())
	p.ID = "" // output only
	p.Version = 0
	out, err := s.catalog.CreateProduct(ctx, principal.From(ctx), p)
	if err != nil {
		return nil, err
	}
	return toProtoProduct(&out), nil
}

// UpdateProduct changes the fields in update_mask (admin).
func (s *Server) UpdateProduct(ctx context.Context, r *catalogv1.UpdateProductRequest) (*catalogv1.Product, error) {
	out, err := s.catalog.UpdateProduct(ctx, principal.From(ctx), r.GetProductId(), app.ProductPatch{
		Product: toDomainProduct(r.GetProduct()), Fields: r.GetUpdateMask().GetPaths()})
	if err != nil {
		return nil, err
	}
	return toProtoProduct(&out), nil
}

// GetVariants resolves variants and designs for orders.
func (s *Server) GetVariants(ctx context.Context, r *catalogv1.GetVariantsRequest) (*catalogv1.GetVariantsResponse, error) {
	caller := principal.From(ctx)
	vs, ds, err := s.catalog.GetVariants(ctx, caller, r.GetVariantIds(), r.GetDesignIds())
	if err != nil {
		return nil, err
	}
	out := &catalogv1.GetVariantsResponse{}
	for i := range vs {
		rv := &catalogv1.ResolvedVariant{Variant: toProtoVariant(&vs[i].Variant), ProductTitle: vs[i].ProductTitle,
			ProductActive: vs[i].ProductActive, ProductImageKey: vs[i].ProductImageKey}
		for j := range vs[i].Placements {
			rv.Placements = append(rv.Placements, toProtoPlacement(&vs[i].Placements[j]))
		}
		out.Variants = append(out.Variants, rv)
	}
	for i := range ds {
		out.Designs = append(out.Designs, toProtoDesign(&ds[i], app.DesignURLs{}))
	}
	if id := r.GetStoreId(); id != "" {
		st, err := s.stores.Get(ctx, caller, id)
		switch {
		case err == nil:
			out.Store = toProtoStore(&st)
		case !errs.Is(err, errs.NotFound):
			return nil, err
		}
	}
	return out, nil
}

// CreateDesign registers an upload and returns a presigned POST.
func (s *Server) CreateDesign(ctx context.Context, r *catalogv1.CreateDesignRequest) (*catalogv1.CreateDesignResponse, error) {
	d, up, err := s.designs.Create(ctx, principal.From(ctx), r.GetFilename(), r.GetContentType(), r.GetSizeBytes())
	if err != nil {
		return nil, err
	}
	return &catalogv1.CreateDesignResponse{Design: toProtoDesign(&d, app.DesignURLs{}), UploadUrl: up.URL,
		UploadMethod: up.Method, UploadHeaders: up.Fields, UploadExpiresAt: timestamppb.New(up.ExpiresAt)}, nil
}

// ProcessDesign starts validation of an uploaded design (owner).
func (s *Server) ProcessDesign(ctx context.Context, r *catalogv1.ProcessDesignRequest) (*catalogv1.Design, error) {
	d, err := s.designs.Process(ctx, principal.From(ctx), r.GetDesignId())
	if err != nil {
		return nil, err
	}
	return toProtoDesign(&d, app.DesignURLs{}), nil
}

// GetDesign returns the caller's design (any design to admin or support).
func (s *Server) GetDesign(ctx context.Context, r *catalogv1.GetDesignRequest) (*catalogv1.Design, error) {
	d, urls, err := s.designs.Get(ctx, principal.From(ctx), r.GetDesignId())
	if err != nil {
		return nil, err
	}
	return toProtoDesign(&d, urls), nil
}

// CreateStore connects a marketplace store; the credentials are sealed and
// never echoed.
func (s *Server) CreateStore(ctx context.Context, r *catalogv1.CreateStoreRequest) (*catalogv1.Store, error) {
	c := r.GetCredentials()
	st, err := s.stores.Create(ctx, principal.From(ctx), domain.Store{Marketplace: toDomainMarketplace(r.GetMarketplace()), ShopID: r.GetShopId(),
		Name: r.GetName(), RateLimitPerSecond: r.GetRateLimitPerSecond(), RateLimitBurst: r.GetRateLimitBurst(),
		PaymentMethod: r.GetPaymentMethod(), Region: r.GetRegion(), OrderImport: r.GetOrderImport()},
		domain.StoreCredentials{APIKey: c.GetApiKey(), AccessToken: c.GetAccessToken(), RefreshToken: c.GetRefreshToken(),
			ClientID: c.GetClientId(), ClientSecret: c.GetClientSecret(), WebhookSecret: c.GetWebhookSecret()})
	if err != nil {
		return nil, err
	}
	return toProtoStore(&st), nil
}

// ListStores pages the caller's stores (every owner's to admin or
// support).
func (s *Server) ListStores(ctx context.Context, r *catalogv1.ListStoresRequest) (*catalogv1.ListStoresResponse, error) {
	list, next, err := s.stores.List(ctx, principal.From(ctx), int(r.GetPageSize()), r.GetPageToken())
	if err != nil {
		return nil, err
	}
	out := &catalogv1.ListStoresResponse{NextPageToken: next}
	for i := range list {
		out.Stores = append(out.Stores, toProtoStore(&list[i]))
	}
	return out, nil
}

// SaveStoreTokens saves a store's refreshed OAuth tokens (the marketplace
// worker only).
func (s *Server) SaveStoreTokens(ctx context.Context, r *catalogv1.SaveStoreTokensRequest) (*catalogv1.Store, error) {
	st, err := s.stores.SaveTokens(ctx, principal.From(ctx), r.GetStoreId(), r.GetAccessToken(), r.GetRefreshToken())
	if err != nil {
		return nil, err
	}
	return toProtoStore(&st), nil
}

// MarkStoreNeedsReconnection flags a store whose credentials the marketplace
// refused (the marketplace worker only).
func (s *Server) MarkStoreNeedsReconnection(ctx context.Context, r *catalogv1.MarkStoreNeedsReconnectionRequest) (*catalogv1.Store, error) {
	st, err := s.stores.MarkNeedsReconnection(ctx, principal.From(ctx), r.GetStoreId(), r.GetReason())
	if err != nil {
		return nil, err
	}
	return toProtoStore(&st), nil
}

// GetStoreCredentials returns decrypted credentials (the marketplace worker
// only). The webhook secret stays in the catalog, which verifies the
// webhooks itself.
func (s *Server) GetStoreCredentials(ctx context.Context, r *catalogv1.GetStoreCredentialsRequest) (*catalogv1.GetStoreCredentialsResponse, error) {
	st, c, err := s.stores.Credentials(ctx, principal.From(ctx), r.GetStoreId())
	if err != nil {
		return nil, err
	}
	return &catalogv1.GetStoreCredentialsResponse{Store: toProtoStore(&st), Credentials: &catalogv1.StoreCredentials{
		ApiKey: c.APIKey, AccessToken: c.AccessToken, RefreshToken: c.RefreshToken, ClientId: c.ClientID, ClientSecret: c.ClientSecret}}, nil
}

// SignRenderLinks implements catalogv1.CatalogServiceServer.
func (s *Server) SignRenderLinks(ctx context.Context, r *catalogv1.SignRenderLinksRequest) (*catalogv1.SignRenderLinksResponse, error) {
	urls, expires, err := s.designs.SignRenderLinks(ctx, principal.From(ctx), r.GetKeys())
	if err != nil {
		return nil, err
	}
	return &catalogv1.SignRenderLinksResponse{Urls: urls, ExpiresAt: timestamppb.New(expires)}, nil
}

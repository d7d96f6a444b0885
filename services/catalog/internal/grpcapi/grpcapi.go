// Package grpcapi serves catalogv1.CatalogService: it converts between the
// protobuf contract and the domain, and calls the use cases. Errors pass
// through as errs kinds; the gRPC server maps them once.
package grpcapi

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	typesv1 "github.com/printfleet/printfleet/proto/printfleet/types/v1"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/services/catalog/internal/app"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
)

// Server implements catalogv1.CatalogServiceServer.
type Server struct {
	catalogv1.UnimplementedCatalogServiceServer
	catalog *app.Catalog
	designs *app.Designs
	stores  *app.Stores
}

var _ catalogv1.CatalogServiceServer = (*Server)(nil)

// New returns the gRPC API over the use cases.
func New(c *app.Catalog, d *app.Designs, s *app.Stores) *Server {
	return &Server{catalog: c, designs: d, stores: s}
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
	if principal.From(ctx).IsAdmin() {
		p, err := s.catalog.AdminProduct(ctx, r.GetProductId())
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
	out, err := s.catalog.CreateProduct(ctx, p)
	if err != nil {
		return nil, err
	}
	return toProtoProduct(&out), nil
}

// UpdateProduct changes the fields in update_mask (admin).
func (s *Server) UpdateProduct(ctx context.Context, r *catalogv1.UpdateProductRequest) (*catalogv1.Product, error) {
	out, err := s.catalog.UpdateProduct(ctx, r.GetProductId(), app.ProductPatch{
		Product: toDomainProduct(r.GetProduct()), Fields: r.GetUpdateMask().GetPaths()})
	if err != nil {
		return nil, err
	}
	return toProtoProduct(&out), nil
}

// GetVariants resolves variants and designs for orders.
func (s *Server) GetVariants(ctx context.Context, r *catalogv1.GetVariantsRequest) (*catalogv1.GetVariantsResponse, error) {
	vs, ds, err := s.catalog.GetVariants(ctx, r.GetVariantIds(), r.GetDesignIds())
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
		st, err := s.stores.Get(ctx, id)
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
	d, up, err := s.designs.Create(ctx, r.GetFilename(), r.GetContentType(), r.GetSizeBytes())
	if err != nil {
		return nil, err
	}
	return &catalogv1.CreateDesignResponse{Design: toProtoDesign(&d, app.DesignURLs{}), UploadUrl: up.URL,
		UploadMethod: up.Method, UploadHeaders: up.Fields, UploadExpiresAt: timestamppb.New(up.ExpiresAt)}, nil
}

// ProcessDesign starts validation of an uploaded design (owner).
func (s *Server) ProcessDesign(ctx context.Context, r *catalogv1.ProcessDesignRequest) (*catalogv1.Design, error) {
	d, err := s.designs.Process(ctx, r.GetDesignId())
	if err != nil {
		return nil, err
	}
	return toProtoDesign(&d, app.DesignURLs{}), nil
}

// GetDesign returns the caller's design.
func (s *Server) GetDesign(ctx context.Context, r *catalogv1.GetDesignRequest) (*catalogv1.Design, error) {
	d, urls, err := s.designs.Get(ctx, r.GetDesignId())
	if err != nil {
		return nil, err
	}
	return toProtoDesign(&d, urls), nil
}

// CreateStore connects a marketplace store; the credentials are sealed and
// never echoed.
func (s *Server) CreateStore(ctx context.Context, r *catalogv1.CreateStoreRequest) (*catalogv1.Store, error) {
	c := r.GetCredentials()
	st, err := s.stores.Create(ctx, domain.Store{Marketplace: toDomainMarketplace(r.GetMarketplace()), ShopID: r.GetShopId(),
		Name: r.GetName(), RateLimitPerSecond: r.GetRateLimitPerSecond(), RateLimitBurst: r.GetRateLimitBurst()},
		domain.StoreCredentials{APIKey: c.GetApiKey(), AccessToken: c.GetAccessToken(), RefreshToken: c.GetRefreshToken(),
			ClientID: c.GetClientId(), ClientSecret: c.GetClientSecret()})
	if err != nil {
		return nil, err
	}
	return toProtoStore(&st), nil
}

// ListStores pages the caller's stores.
func (s *Server) ListStores(ctx context.Context, r *catalogv1.ListStoresRequest) (*catalogv1.ListStoresResponse, error) {
	list, next, err := s.stores.List(ctx, int(r.GetPageSize()), r.GetPageToken())
	if err != nil {
		return nil, err
	}
	out := &catalogv1.ListStoresResponse{NextPageToken: next}
	for i := range list {
		out.Stores = append(out.Stores, toProtoStore(&list[i]))
	}
	return out, nil
}

// GetStoreCredentials returns decrypted credentials (service role only).
func (s *Server) GetStoreCredentials(ctx context.Context, r *catalogv1.GetStoreCredentialsRequest) (*catalogv1.GetStoreCredentialsResponse, error) {
	st, c, err := s.stores.Credentials(ctx, r.GetStoreId())
	if err != nil {
		return nil, err
	}
	return &catalogv1.GetStoreCredentialsResponse{Store: toProtoStore(&st), Credentials: &catalogv1.StoreCredentials{
		ApiKey: c.APIKey, AccessToken: c.AccessToken, RefreshToken: c.RefreshToken, ClientId: c.ClientID, ClientSecret: c.ClientSecret}}, nil
}

// ---------------------------------------------------------------- converters

func toProtoMoney(m domain.Money) *typesv1.Money {
	return &typesv1.Money{Currency: m.Currency, AmountMinor: m.AmountMinor}
}

func toProtoView(v *domain.ProductView) *catalogv1.Product {
	out := &catalogv1.Product{Id: v.ID, Title: v.Title, Description: v.Description, Active: v.Active, Version: v.Version,
		Variants: make([]*catalogv1.Variant, len(v.Variants)), Placements: make([]*catalogv1.Placement, len(v.Placements))}
	for i, vr := range v.Variants {
		out.Variants[i] = &catalogv1.Variant{Id: vr.ID, Sku: vr.SKU, Title: vr.Title, Price: toProtoMoney(vr.Price),
			InStock: vr.InStock, ProductId: v.ID, Active: true}
	}
	for i, pl := range v.Placements {
		out.Placements[i] = &catalogv1.Placement{Id: pl.ID, Name: pl.Name, WidthIn: pl.WidthIn, HeightIn: pl.HeightIn,
			MinDpi: pl.MinDPI, RecommendedDpi: pl.RecommendedDPI}
	}
	return out
}

func toProtoProduct(p *domain.Product) *catalogv1.Product {
	out := &catalogv1.Product{Id: p.ID, Title: p.Title, Description: p.Description, ImageKey: p.ImageKey, Active: p.Active,
		Version: p.Version, CreatedAt: timestamppb.New(p.CreatedAt), UpdatedAt: timestamppb.New(p.UpdatedAt)}
	for i := range p.Variants {
		out.Variants = append(out.Variants, toProtoVariant(&p.Variants[i]))
	}
	for i := range p.Placements {
		out.Placements = append(out.Placements, toProtoPlacement(&p.Placements[i]))
	}
	return out
}

func toProtoVariant(v *domain.Variant) *catalogv1.Variant {
	return &catalogv1.Variant{Id: v.ID, Sku: v.SKU, Title: v.Title, Price: toProtoMoney(v.Price), InStock: v.InStock(),
		Size: v.Size, Color: v.Color, WeightGrams: v.WeightGrams, Active: v.Active, StockTracked: v.StockTracked,
		StockAvailable: v.StockAvailable, ProductId: v.ProductID}
}

func toProtoPlacement(p *domain.Placement) *catalogv1.Placement {
	return &catalogv1.Placement{Id: p.ID, Name: p.Name, WidthIn: p.WidthIn, HeightIn: p.HeightIn, MinDpi: p.MinDPI,
		RecommendedDpi: p.RecommendedDPI, Technique: p.Technique}
}

func toDomainProduct(p *catalogv1.Product) domain.Product {
	out := domain.Product{ID: p.GetId(), Title: p.GetTitle(), Description: p.GetDescription(), ImageKey: p.GetImageKey(),
		Active: p.GetActive(), Version: p.GetVersion()}
	for _, v := range p.GetVariants() {
		out.Variants = append(out.Variants, domain.Variant{ID: v.GetId(), SKU: v.GetSku(), Title: v.GetTitle(),
			Size: v.GetSize(), Color: v.GetColor(), WeightGrams: v.GetWeightGrams(),
			Price:  domain.Money{Currency: v.GetPrice().GetCurrency(), AmountMinor: v.GetPrice().GetAmountMinor()},
			Active: v.GetActive(), StockTracked: v.GetStockTracked(), StockAvailable: v.GetStockAvailable()})
	}
	for _, pl := range p.GetPlacements() {
		out.Placements = append(out.Placements, domain.Placement{ID: pl.GetId(), Name: pl.GetName(), WidthIn: pl.GetWidthIn(),
			HeightIn: pl.GetHeightIn(), MinDPI: pl.GetMinDpi(), RecommendedDPI: pl.GetRecommendedDpi(), Technique: pl.GetTechnique()})
	}
	return out
}

var designStatus = map[domain.DesignStatus]catalogv1.DesignStatus{
	domain.DesignPendingUpload: catalogv1.DesignStatus_DESIGN_STATUS_PENDING_UPLOAD,
	domain.DesignProcessing:    catalogv1.DesignStatus_DESIGN_STATUS_PROCESSING,
	domain.DesignReady:         catalogv1.DesignStatus_DESIGN_STATUS_READY,
	domain.DesignRejected:      catalogv1.DesignStatus_DESIGN_STATUS_REJECTED,
}

var dpiVerdict = map[string]catalogv1.DpiVerdict{
	"ok": catalogv1.DpiVerdict_DPI_VERDICT_OK, "warn": catalogv1.DpiVerdict_DPI_VERDICT_WARN,
	"reject": catalogv1.DpiVerdict_DPI_VERDICT_REJECT,
}

func toProtoDesign(d *domain.Design, urls app.DesignURLs) *catalogv1.Design {
	out := &catalogv1.Design{Id: d.ID, OwnerId: d.OwnerID, Status: designStatus[d.Status], Filename: d.Filename,
		ContentType: d.ContentType, SizeBytes: d.SizeBytes, ThumbnailUrl: urls.Thumbnail, PreviewUrl: urls.Preview,
		ObjectKey: d.ObjectKey, ThumbnailKey: d.ThumbnailKey, PreviewKey: d.PreviewKey, MasterKey: d.MasterKey}
	if !d.CreatedAt.IsZero() {
		out.CreatedAt, out.UpdatedAt = timestamppb.New(d.CreatedAt), timestamppb.New(d.UpdatedAt)
	}
	if r := d.Report; r != nil {
		out.Report = &catalogv1.DesignReport{Format: r.Format, WidthPx: r.WidthPx, HeightPx: r.HeightPx, HasAlpha: r.HasAlpha,
			Problems: r.Problems}
		for _, p := range r.Placements {
			out.Report.Placements = append(out.Report.Placements, &catalogv1.PlacementCheck{PlacementId: p.PlacementID,
				PlacementName: p.Name, EffectiveDpi: p.EffectiveDPI, Verdict: dpiVerdict[p.Verdict]})
		}
	}
	return out
}

var marketplaces = map[catalogv1.Marketplace]domain.Marketplace{
	catalogv1.Marketplace_MARKETPLACE_SHOPIFY: domain.Shopify,
	catalogv1.Marketplace_MARKETPLACE_ETSY:    domain.Etsy,
	catalogv1.Marketplace_MARKETPLACE_AMAZON:  domain.Amazon,
}

func toDomainMarketplace(m catalogv1.Marketplace) domain.Marketplace { return marketplaces[m] }

func toProtoMarketplace(m domain.Marketplace) catalogv1.Marketplace {
	for k, v := range marketplaces {
		if v == m {
			return k
		}
	}
	return catalogv1.Marketplace_MARKETPLACE_UNSPECIFIED
}

func toProtoStore(s *domain.Store) *catalogv1.Store {
	return &catalogv1.Store{Id: s.ID, OwnerId: s.OwnerID, Marketplace: toProtoMarketplace(s.Marketplace), ShopId: s.ShopID,
		Name: s.Name, RateLimitPerSecond: s.RateLimitPerSecond, RateLimitBurst: s.RateLimitBurst,
		CreatedAt: timestamppb.New(s.CreatedAt)}
}

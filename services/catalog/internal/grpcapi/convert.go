package grpcapi

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	typesv1 "github.com/printfleet/printfleet/proto/printfleet/types/v1"

	"github.com/printfleet/printfleet/services/catalog/internal/app"
	"github.com/printfleet/printfleet/services/catalog/internal/designpb"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
)

// Converters between the protobuf contract and the domain; the name says
// the direction.

func toProtoMoney(m domain.Money) *typesv1.Money {
	return &typesv1.Money{Currency: m.Currency, AmountMinor: m.AmountMinor}
}

// MarshalView is the wire encoding of GetProduct's answer to anyone but an
// admin (what the projection carries for the gateway, see
// services/catalog/projfmt).
func MarshalView(v domain.ProductView) ([]byte, error) {
	return proto.Marshal(toProtoView(&v))
}

func toProtoView(v *domain.ProductView) *catalogv1.Product {
	out := &catalogv1.Product{Id: v.ID, Title: v.Title, Description: v.Description, Active: v.Active, Version: v.Version,
		Variants: make([]*catalogv1.Variant, len(v.Variants)), Placements: make([]*catalogv1.Placement, len(v.Placements))}
	for i, vr := range v.Variants {
		out.Variants[i] = &catalogv1.Variant{Id: vr.ID, Sku: vr.SKU, Title: vr.Title, Price: toProtoMoney(vr.Price),
			InStock: vr.InStock, ProductId: v.ID, Active: true, Size: vr.Size, Color: vr.Color, WeightGrams: vr.WeightGrams,
			StockTracked: vr.StockTracked, StockAvailable: vr.StockAvailable}
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

func toProtoDesign(d *domain.Design, urls app.DesignURLs) *catalogv1.Design {
	return designpb.Design(d, urls.Thumbnail, urls.Preview)
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
	out := &catalogv1.Store{Id: s.ID, OwnerId: s.OwnerID, Marketplace: toProtoMarketplace(s.Marketplace), ShopId: s.ShopID,
		Name: s.Name, RateLimitPerSecond: s.RateLimitPerSecond, RateLimitBurst: s.RateLimitBurst,
		CreatedAt: timestamppb.New(s.CreatedAt), NeedsReconnection: s.NeedsReconnection, ReconnectionReason: s.ReconnectionReason,
		PaymentMethod: s.PaymentMethod, Region: s.Region, OrderImport: s.OrderImport}
	if !s.LastImportAt.IsZero() {
		out.LastImportAt = timestamppb.New(s.LastImportAt)
	}
	return out
}

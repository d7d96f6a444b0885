package grpcapi

import (
	"context"

	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"

	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
)

func toDomainListing(l *catalogv1.Listing) domain.Listing {
	return domain.Listing{ExternalProductID: l.GetExternalProductId(), ExternalVariantID: l.GetExternalVariantId(),
		SKU: l.GetSku(), VariantID: l.GetVariantId(), DesignID: l.GetDesignId(), PlacementID: l.GetPlacementId()}
}

func toProtoListing(l *domain.Listing) *catalogv1.Listing {
	return &catalogv1.Listing{Id: l.ID, StoreId: l.StoreID, ExternalProductId: l.ExternalProductID,
		ExternalVariantId: l.ExternalVariantID, Sku: l.SKU, VariantId: l.VariantID, DesignId: l.DesignID,
		PlacementId: l.PlacementID, CreatedAt: timestamppb.New(l.CreatedAt), UpdatedAt: timestamppb.New(l.UpdatedAt)}
}

// CreateListing adds a listing to the caller's store.
func (s *Server) CreateListing(ctx context.Context, r *catalogv1.CreateListingRequest) (*catalogv1.Listing, error) {
	l, err := s.listings.Create(ctx, principal.From(ctx), r.GetStoreId(), toDomainListing(r.GetListing()))
	if err != nil {
		return nil, err
	}
	return toProtoListing(&l), nil
}

// ListListings pages a store's listings.
func (s *Server) ListListings(ctx context.Context, r *catalogv1.ListListingsRequest) (*catalogv1.ListListingsResponse, error) {
	list, next, err := s.listings.List(ctx, principal.From(ctx), r.GetStoreId(), int(r.GetPageSize()), r.GetPageToken())
	if err != nil {
		return nil, err
	}
	out := &catalogv1.ListListingsResponse{NextPageToken: next}
	for i := range list {
		out.Listings = append(out.Listings, toProtoListing(&list[i]))
	}
	return out, nil
}

// GetListing returns one listing of a store.
func (s *Server) GetListing(ctx context.Context, r *catalogv1.GetListingRequest) (*catalogv1.Listing, error) {
	l, err := s.listings.Get(ctx, principal.From(ctx), r.GetStoreId(), r.GetListingId())
	if err != nil {
		return nil, err
	}
	return toProtoListing(&l), nil
}

// UpdateListing replaces a listing's mapping.
func (s *Server) UpdateListing(ctx context.Context, r *catalogv1.UpdateListingRequest) (*catalogv1.Listing, error) {
	in := toDomainListing(r.GetListing())
	in.ID = r.GetListingId()
	l, err := s.listings.Update(ctx, principal.From(ctx), r.GetStoreId(), in)
	if err != nil {
		return nil, err
	}
	return toProtoListing(&l), nil
}

// DeleteListing removes a listing.
func (s *Server) DeleteListing(ctx context.Context, r *catalogv1.DeleteListingRequest) (*emptypb.Empty, error) {
	if err := s.listings.Delete(ctx, principal.From(ctx), r.GetStoreId(), r.GetListingId()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// ResolveListing maps a marketplace order line (the marketplace worker and
// orders).
func (s *Server) ResolveListing(ctx context.Context, r *catalogv1.ResolveListingRequest) (*catalogv1.Listing, error) {
	l, err := s.listings.Resolve(ctx, principal.From(ctx), r.GetStoreId(), domain.ExternalLine{
		ProductID: r.GetExternalProductId(), VariantID: r.GetExternalVariantId(), SKU: r.GetSku()})
	if err != nil {
		return nil, err
	}
	return toProtoListing(&l), nil
}

package grpcapi

import (
	"context"

	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"

	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
)

// ReceiveMarketplaceWebhook verifies and records a marketplace's webhook
// delivery (the gateway only).
func (s *Server) ReceiveMarketplaceWebhook(ctx context.Context, r *catalogv1.ReceiveMarketplaceWebhookRequest) (*catalogv1.ReceiveMarketplaceWebhookResponse, error) {
	w := domain.Webhook{StoreID: r.GetStoreId(), Marketplace: toDomainMarketplace(r.GetMarketplace()), ID: r.GetWebhookId(),
		Topic: r.GetTopic(), Signature: r.GetSignature(), Body: r.GetBody()}
	if r.GetTriggeredAt() != nil {
		w.TriggeredAt = r.GetTriggeredAt().AsTime()
	}
	dup, err := s.stores.ReceiveWebhook(ctx, principal.From(ctx), w)
	if err != nil {
		return nil, err
	}
	return &catalogv1.ReceiveMarketplaceWebhookResponse{Duplicate: dup}, nil
}

// ListImportStores pages the stores the importer polls (the marketplace
// worker only).
func (s *Server) ListImportStores(ctx context.Context, r *catalogv1.ListImportStoresRequest) (*catalogv1.ListImportStoresResponse, error) {
	list, next, err := s.stores.ImportStores(ctx, principal.From(ctx), int(r.GetPageSize()), r.GetPageToken())
	if err != nil {
		return nil, err
	}
	out := &catalogv1.ListImportStoresResponse{NextPageToken: next}
	for i := range list {
		out.Stores = append(out.Stores, &catalogv1.ImportStore{Store: toProtoStore(&list[i].Store), Cursor: list[i].Cursor})
	}
	return out, nil
}

// SaveImportCursor records a finished poll of a store (the marketplace
// worker only).
func (s *Server) SaveImportCursor(ctx context.Context, r *catalogv1.SaveImportCursorRequest) (*catalogv1.Store, error) {
	st, err := s.stores.SaveImportCursor(ctx, principal.From(ctx), r.GetStoreId(), r.GetCursor())
	if err != nil {
		return nil, err
	}
	return toProtoStore(&st), nil
}

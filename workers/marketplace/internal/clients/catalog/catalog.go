// Package catalog looks marketplace stores up, with their decrypted
// credentials, through the catalog's internal gRPC API.
package catalog

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/printfleet/printfleet/platform/principal"
	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"

	"github.com/printfleet/printfleet/workers/marketplace/internal/app"
	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/marketplace"
	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

// Client looks stores up through the catalog's internal gRPC API, saves
// their refreshed tokens and marks the stores a marketplace refused, as the
// marketplace worker's principal (the only one the catalog gives credentials
// to).
type Client struct {
	rpc     catalogv1.CatalogServiceClient
	health  healthpb.HealthClient
	timeout time.Duration
}

var (
	_ app.Stores              = (*Client)(nil)
	_ app.Reconnections       = (*Client)(nil)
	_ app.ImportStores        = (*Client)(nil)
	_ marketplace.TokenKeeper = (*Client)(nil)
)

// Principal is the marketplace worker's identity towards the catalog.
var Principal = principal.Principal{Subject: principal.SubjectMarketplaceWorker, Roles: []string{principal.RoleService}}

// New uses cc (from grpcclient.Dial, which signs the principal); timeout
// bounds each call (default 5s).
func New(cc grpc.ClientConnInterface, timeout time.Duration) *Client {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	return &Client{rpc: catalogv1.NewCatalogServiceClient(cc), health: healthpb.NewHealthClient(cc), timeout: timeout}
}

func (c *Client) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(principal.With(ctx, Principal), c.timeout)
}

// Store returns the store with its decrypted credentials; its endpoints are
// left empty (they come from configuration). A store the catalog does not
// know, or cannot name, wraps domain.ErrStoreUnusable; anything else (catalog down,
// our principal refused) is worth retrying. A store that is not ownerID's
// (the order's user) is unusable too: a push never goes out with another
// seller's credentials, whatever the order says.
func (c *Client) Store(ctx context.Context, storeID, ownerID string) (domain.Store, error) {
	st, err := c.StoreByID(ctx, storeID)
	if err != nil {
		return domain.Store{}, err
	}
	if st.OwnerID != ownerID {
		return domain.Store{}, fmt.Errorf("%w: store %s does not belong to the order's user", domain.ErrStoreUnusable, storeID)
	}
	return st, nil
}

// StoreByID returns the store with its owner and decrypted credentials, for
// the importer (whose orders belong to the store's owner, whoever that is).
// Errors are classified as Store's.
func (c *Client) StoreByID(ctx context.Context, storeID string) (domain.Store, error) {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	resp, err := c.rpc.GetStoreCredentials(ctx, &catalogv1.GetStoreCredentialsRequest{StoreId: storeID})
	if err != nil {
		switch status.Code(err) {
		case codes.NotFound, codes.InvalidArgument:
			return domain.Store{}, fmt.Errorf("%w: catalog: store %s: %s", domain.ErrStoreUnusable, storeID, status.Convert(err).Message())
		}
		return domain.Store{}, fmt.Errorf("catalog: get store credentials %s: %w", storeID, err)
	}
	return toDomainStore(storeID, resp)
}

func toDomainStore(storeID string, resp *catalogv1.GetStoreCredentialsResponse) (domain.Store, error) {
	st, cr := resp.GetStore(), resp.GetCredentials()
	out := domain.Store{
		ID:     storeID,
		ShopID: st.GetShopId(),
		Credentials: domain.Credentials{APIKey: cr.GetApiKey(), AccessToken: cr.GetAccessToken(),
			RefreshToken: cr.GetRefreshToken(), ClientID: cr.GetClientId(), ClientSecret: cr.GetClientSecret()},
		OwnerID:       st.GetOwnerId(),
		Region:        st.GetRegion(),
		PaymentMethod: st.GetPaymentMethod(),
	}
	m, ok := marketplaceOf(st.GetMarketplace())
	if !ok {
		return domain.Store{}, fmt.Errorf("%w: store %s has marketplace %s", domain.ErrStoreUnusable, storeID, st.GetMarketplace())
	}
	out.Marketplace = m
	return out, nil
}

func marketplaceOf(m catalogv1.Marketplace) (domain.Marketplace, bool) {
	switch m {
	case catalogv1.Marketplace_MARKETPLACE_SHOPIFY:
		return domain.Shopify, true
	case catalogv1.Marketplace_MARKETPLACE_ETSY:
		return domain.Etsy, true
	case catalogv1.Marketplace_MARKETPLACE_AMAZON:
		return domain.Amazon, true
	}
	return "", false
}

// importPageSize is how many stores one ListImportStores page asks for.
const importPageSize = 200

// ListImportStores returns every store the catalog has the importer poll,
// reading all its pages. Stores of a marketplace without an adapter are
// left out.
func (c *Client) ListImportStores(ctx context.Context) ([]app.ImportStore, error) {
	var out []app.ImportStore
	token := ""
	for range 10000 {
		cctx, cancel := c.ctx(ctx)
		resp, err := c.rpc.ListImportStores(cctx, &catalogv1.ListImportStoresRequest{PageSize: importPageSize, PageToken: token})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("catalog: list import stores: %w", err)
		}
		for _, is := range resp.GetStores() {
			st := is.GetStore()
			m, ok := marketplaceOf(st.GetMarketplace())
			if !ok || st.GetNeedsReconnection() {
				continue
			}
			s := app.ImportStore{ID: st.GetId(), Marketplace: m, Cursor: is.GetCursor()}
			if ts := st.GetLastImportAt(); ts != nil && ts.IsValid() {
				s.LastImportAt = ts.AsTime()
			}
			if ts := st.GetCreatedAt(); ts != nil && ts.IsValid() {
				s.CreatedAt = ts.AsTime()
			}
			out = append(out, s)
		}
		if token = resp.GetNextPageToken(); token == "" {
			return out, nil
		}
	}
	return nil, fmt.Errorf("catalog: list import stores: too many pages")
}

// SaveImportCursor records a finished poll of the store: its cursor, and
// the time (the catalog's last_import_at).
func (c *Client) SaveImportCursor(ctx context.Context, storeID, cursor string) error {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	if _, err := c.rpc.SaveImportCursor(ctx, &catalogv1.SaveImportCursorRequest{StoreId: storeID, Cursor: cursor}); err != nil {
		return fmt.Errorf("catalog: save import cursor of store %s: %w", storeID, err)
	}
	return nil
}

// SavedTokens returns the store's OAuth tokens as the catalog has them now.
func (c *Client) SavedTokens(ctx context.Context, storeID string) (access, refresh string, err error) {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	resp, err := c.rpc.GetStoreCredentials(ctx, &catalogv1.GetStoreCredentialsRequest{StoreId: storeID})
	if err != nil {
		return "", "", fmt.Errorf("catalog: get store credentials %s: %w", storeID, err)
	}
	return resp.GetCredentials().GetAccessToken(), resp.GetCredentials().GetRefreshToken(), nil
}

// SaveTokens saves a store's refreshed OAuth tokens in the catalog.
func (c *Client) SaveTokens(ctx context.Context, storeID, access, refresh string) error {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	_, err := c.rpc.SaveStoreTokens(ctx, &catalogv1.SaveStoreTokensRequest{StoreId: storeID, AccessToken: access, RefreshToken: refresh})
	if err != nil {
		return fmt.Errorf("catalog: save store tokens %s: %w", storeID, err)
	}
	return nil
}

// MarkNeedsReconnection flags the store in the catalog, with the
// marketplace's answer (secrets already redacted) as the reason.
func (c *Client) MarkNeedsReconnection(ctx context.Context, storeID, reason string) error {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	_, err := c.rpc.MarkStoreNeedsReconnection(ctx, &catalogv1.MarkStoreNeedsReconnectionRequest{StoreId: storeID, Reason: reason})
	if err != nil {
		return fmt.Errorf("catalog: mark store %s: %w", storeID, err)
	}
	return nil
}

// Ready is a readiness check: the catalog service reports SERVING.
func (c *Client) Ready(ctx context.Context) error {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	resp, err := c.health.Check(ctx, &healthpb.HealthCheckRequest{Service: catalogv1.CatalogService_ServiceDesc.ServiceName})
	if err != nil {
		return fmt.Errorf("catalog health: %w", err)
	}
	if s := resp.GetStatus(); s != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("catalog health: %s", s)
	}
	return nil
}

package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/printfleet/printfleet/platform/grpcclient"
	"github.com/printfleet/printfleet/platform/principal"
	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"

	"github.com/printfleet/printfleet/workers/marketplace/internal/adapters"
)

// ErrStoreUnusable means the order names a store the worker can never push
// for as it stands: unknown to the catalog, or connected to a marketplace
// there is no adapter for. It is a permanent failure of the push.
var ErrStoreUnusable = errors.New("store unusable")

// Catalog looks stores up through the catalog's internal gRPC API, as the
// "marketplace" service principal.
type Catalog struct {
	rpc     catalogv1.CatalogServiceClient
	health  healthpb.HealthClient
	timeout time.Duration
}

var _ Stores = (*Catalog)(nil)

// NewCatalog uses cc (from grpcclient.Dial, which signs the principal).
func NewCatalog(cc grpc.ClientConnInterface, timeout time.Duration) *Catalog {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	return &Catalog{rpc: catalogv1.NewCatalogServiceClient(cc), health: healthpb.NewHealthClient(cc), timeout: timeout}
}

func (c *Catalog) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(principal.With(ctx, grpcclient.Service("marketplace")), c.timeout)
}

// Store returns the store with its decrypted credentials; its endpoints are
// left empty (they come from configuration). A store the catalog does not
// know, or cannot name, wraps ErrStoreUnusable; anything else (catalog down,
// our principal refused) is worth retrying. A store that is not ownerID's
// (the order's user) is unusable too: a push never goes out with another
// seller's credentials, whatever the order says.
func (c *Catalog) Store(ctx context.Context, storeID, ownerID string) (adapters.Store, error) {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	resp, err := c.rpc.GetStoreCredentials(ctx, &catalogv1.GetStoreCredentialsRequest{StoreId: storeID})
	if err != nil {
		switch status.Code(err) {
		case codes.NotFound, codes.InvalidArgument:
			return adapters.Store{}, fmt.Errorf("%w: catalog: store %s: %s", ErrStoreUnusable, storeID, status.Convert(err).Message())
		}
		return adapters.Store{}, fmt.Errorf("catalog: get store credentials %s: %w", storeID, err)
	}
	st, cr := resp.GetStore(), resp.GetCredentials()
	if st.GetOwnerId() != ownerID {
		return adapters.Store{}, fmt.Errorf("%w: store %s does not belong to the order's user", ErrStoreUnusable, storeID)
	}
	out := adapters.Store{
		ID:     storeID,
		ShopID: st.GetShopId(),
		Credentials: adapters.Credentials{APIKey: cr.GetApiKey(), AccessToken: cr.GetAccessToken(),
			RefreshToken: cr.GetRefreshToken(), ClientID: cr.GetClientId(), ClientSecret: cr.GetClientSecret()},
	}
	switch st.GetMarketplace() {
	case catalogv1.Marketplace_MARKETPLACE_SHOPIFY:
		out.Marketplace = adapters.Shopify
	case catalogv1.Marketplace_MARKETPLACE_ETSY:
		out.Marketplace = adapters.Etsy
	case catalogv1.Marketplace_MARKETPLACE_AMAZON:
		out.Marketplace = adapters.Amazon
	default:
		return adapters.Store{}, fmt.Errorf("%w: store %s has marketplace %s", ErrStoreUnusable, storeID, st.GetMarketplace())
	}
	return out, nil
}

// Ready is a readiness check: the catalog service reports SERVING.
func (c *Catalog) Ready(ctx context.Context) error {
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

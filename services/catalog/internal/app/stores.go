package app

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
)

// Sealer encrypts credentials bound to associated data.
type Sealer interface {
	Seal(plaintext, ad []byte) ([]byte, error)
	Open(sealed, ad []byte) ([]byte, error)
}

// Stores is the marketplace-connection use cases. Credentials go in sealed
// and come out only to the service role.
type Stores struct {
	store  Store
	sealer Sealer
}

// NewStores returns the store use cases; sealer may be nil when no
// credentials key is configured, and then the stores API is unavailable.
func NewStores(store Store, sealer Sealer) *Stores { return &Stores{store: store, sealer: sealer} }

func storeAD(id, owner string) []byte { return []byte("store\x00" + id + "\x00" + owner) }

// Create connects a store for the caller.
func (s *Stores) Create(ctx context.Context, caller principal.Principal, st domain.Store, creds domain.StoreCredentials) (domain.Store, error) {
	if err := caller.Require(); err != nil {
		return domain.Store{}, err
	}
	owner := caller.Subject
	if s.sealer == nil {
		return domain.Store{}, errs.E(errs.FailedPrecondition, "store connections are not configured on this server")
	}
	switch st.Marketplace {
	case domain.Shopify, domain.Etsy, domain.Amazon:
	default:
		return domain.Store{}, errs.Field("marketplace", "must be shopify, etsy or amazon")
	}
	if creds.Empty() {
		return domain.Store{}, errs.Field("credentials", "at least one credential is required")
	}
	if st.ShopID == "" {
		return domain.Store{}, errs.Field("shop_id", "must not be empty")
	}
	if st.Name == "" {
		return domain.Store{}, errs.Field("name", "must not be empty")
	}
	st.ID, st.OwnerID, st.CreatedAt = newID(), owner, time.Now().UTC().Truncate(time.Microsecond)
	plain, err := json.Marshal(creds)
	if err != nil {
		return domain.Store{}, fmt.Errorf("encode credentials: %w", err)
	}
	sealed, err := s.sealer.Seal(plain, storeAD(st.ID, owner))
	clear(plain)
	if err != nil {
		return domain.Store{}, fmt.Errorf("seal credentials: %w", err)
	}
	if err := s.store.InTx(ctx, func(tx Tx) error { return tx.InsertStore(ctx, st, sealed) }); err != nil {
		return domain.Store{}, fmt.Errorf("create store: %w", err)
	}
	return st, nil
}

// List pages the caller's stores.
func (s *Stores) List(ctx context.Context, caller principal.Principal, pageSize int, token string) ([]domain.Store, string, error) {
	if err := caller.Require(); err != nil {
		return nil, "", err
	}
	limit, after, err := page(pageSize, token)
	if err != nil {
		return nil, "", err
	}
	list, err := s.store.Stores(ctx, caller.Subject, after, limit+1)
	if err != nil {
		return nil, "", err
	}
	if len(list) <= limit {
		return list, "", nil
	}
	list = list[:limit]
	return list, encodeToken(list[limit-1].ID), nil
}

// Get returns a store without its credentials (service role: orders checks
// the store of an order belongs to the order's user).
func (s *Stores) Get(ctx context.Context, caller principal.Principal, id string) (domain.Store, error) {
	if err := caller.Require(principal.RoleService); err != nil {
		return domain.Store{}, err
	}
	st, _, err := s.store.SealedStore(ctx, id)
	return st, err
}

// Credentials returns a store and its decrypted credentials (service role:
// the marketplace worker).
func (s *Stores) Credentials(ctx context.Context, caller principal.Principal, id string) (domain.Store, domain.StoreCredentials, error) {
	if err := caller.Require(principal.RoleService); err != nil {
		return domain.Store{}, domain.StoreCredentials{}, err
	}
	if s.sealer == nil {
		return domain.Store{}, domain.StoreCredentials{}, errs.E(errs.FailedPrecondition, "store connections are not configured on this server")
	}
	st, sealed, err := s.store.SealedStore(ctx, id)
	if err != nil {
		return domain.Store{}, domain.StoreCredentials{}, err
	}
	plain, err := s.sealer.Open(sealed, storeAD(st.ID, st.OwnerID))
	if err != nil {
		return domain.Store{}, domain.StoreCredentials{}, fmt.Errorf("open credentials of store %s: %w", id, err)
	}
	var creds domain.StoreCredentials
	err = json.Unmarshal(plain, &creds)
	clear(plain)
	if err != nil {
		return domain.Store{}, domain.StoreCredentials{}, fmt.Errorf("decode credentials of store %s: %w", id, err)
	}
	return st, creds, nil
}

package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
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
	log    *slog.Logger
}

// NewStores returns the store use cases; sealer may be nil when no
// credentials key is configured, and then the stores API is unavailable.
func NewStores(store Store, sealer Sealer) *Stores { return &Stores{store: store, sealer: sealer} }

func storeAD(id, owner string) []byte { return []byte("store\x00" + id + "\x00" + owner) }

// Create connects a store for the caller. Connecting a shop already
// connected is refused, unless that store needs reconnection: then its
// credentials are replaced (same store id) and the flag cleared.
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
	asked := st // the settings as given, before the defaults
	switch st.PaymentMethod {
	case "":
		st.PaymentMethod = domain.PaymentCard
	case domain.PaymentCard, domain.PaymentInvoice:
	default:
		return domain.Store{}, errs.Field("payment_method", "must be card or invoice")
	}
	switch st.OrderImport {
	case "":
		st.OrderImport = domain.ImportAuto
	case domain.ImportAuto, domain.ImportOff:
	default:
		return domain.Store{}, errs.Field("order_import", "must be auto or off")
	}
	switch {
	case st.Marketplace != domain.Amazon && st.Region != "":
		return domain.Store{}, errs.Field("region", "only an Amazon store has a region")
	case st.Marketplace == domain.Amazon && st.Region == "":
		st.Region = domain.RegionNA
	case st.Marketplace == domain.Amazon && st.Region != domain.RegionNA && st.Region != domain.RegionEU && st.Region != domain.RegionFE:
		return domain.Store{}, errs.Field("region", "must be na, eu or fe")
	}
	if creds.Empty() {
		return domain.Store{}, errs.Field("credentials", "at least one credential is required")
	}
	if field, msg, ok := creds.ValidFor(st.Marketplace); !ok {
		return domain.Store{}, errs.Field(field, msg)
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
	err = s.store.InTx(ctx, func(tx Tx) error { return tx.InsertStore(ctx, st, sealed) })
	if errs.Is(err, errs.AlreadyExists) {
		return s.reconnect(ctx, st, asked, creds, err)
	}
	if err != nil {
		return domain.Store{}, fmt.Errorf("create store: %w", err)
	}
	return st, nil
}

// reconnect replaces the credentials of the owner's store of st's shop when
// it needs reconnection, and the payment method and region asked names;
// otherwise it returns exists.
func (s *Stores) reconnect(ctx context.Context, st, asked domain.Store, creds domain.StoreCredentials, exists error) (domain.Store, error) {
	var out domain.Store
	err := s.store.InTx(ctx, func(tx Tx) error {
		cur, err := tx.LockStoreByShop(ctx, st.OwnerID, st.Marketplace, st.ShopID)
		if err != nil {
			return err
		}
		if !cur.NeedsReconnection {
			return exists
		}
		plain, err := json.Marshal(creds)
		if err != nil {
			return fmt.Errorf("encode credentials: %w", err)
		}
		sealed, err := s.sealer.Seal(plain, storeAD(cur.ID, cur.OwnerID))
		clear(plain)
		if err != nil {
			return fmt.Errorf("seal credentials: %w", err)
		}
		cur.NeedsReconnection, cur.ReconnectionReason = false, ""
		// A seller connecting again may also correct how imports are paid
		// or the Amazon region (a wrong one is a reason to reconnect); what
		// they leave empty stays.
		pay, region, imp := cur.PaymentMethod, cur.Region, cur.OrderImport
		if asked.PaymentMethod != "" {
			pay = st.PaymentMethod
		}
		if asked.Region != "" {
			region = st.Region
		}
		if asked.OrderImport != "" {
			imp = st.OrderImport
		}
		if pay != cur.PaymentMethod || region != cur.Region || imp != cur.OrderImport {
			cur.PaymentMethod, cur.Region, cur.OrderImport = pay, region, imp
			if err := tx.SaveStoreSettings(ctx, cur.ID, cur.PaymentMethod, cur.Region, cur.OrderImport); err != nil {
				return err
			}
		}
		out = cur
		return tx.SaveStoreCredentials(ctx, cur.ID, sealed)
	})
	if err != nil {
		return domain.Store{}, fmt.Errorf("reconnect store: %w", err)
	}
	return out, nil
}

// List pages the caller's stores; an admin or support operator pages every
// owner's.
func (s *Stores) List(ctx context.Context, caller principal.Principal, pageSize int, token string) ([]domain.Store, string, error) {
	if err := caller.Require(); err != nil {
		return nil, "", err
	}
	limit, after, err := page(pageSize, token)
	if err != nil {
		return nil, "", err
	}
	owner := caller.Subject
	if caller.ReadsAll() {
		owner = "" // admins and support (the operator console) see every owner's stores
	}
	list, err := s.store.Stores(ctx, owner, after, limit+1)
	if err != nil {
		return nil, "", err
	}
	return pageOf(list, limit, func(x domain.Store) string { return x.ID })
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

// requireMarketplaceWorker admits only the marketplace worker: decrypted
// credentials go to the one process that pushes to marketplaces, not to
// every holder of the service role.
func (s *Stores) requireMarketplaceWorker(caller principal.Principal) error {
	if err := caller.Require(principal.RoleService); err != nil {
		return err
	}
	if caller.Subject != principal.SubjectMarketplaceWorker {
		return errs.E(errs.PermissionDenied, "store credentials are for the marketplace worker only")
	}
	if s.sealer == nil {
		return errs.E(errs.FailedPrecondition, "store connections are not configured on this server")
	}
	return nil
}

// Credentials returns a store and its decrypted credentials (the marketplace
// worker only).
func (s *Stores) Credentials(ctx context.Context, caller principal.Principal, id string) (domain.Store, domain.StoreCredentials, error) {
	if err := s.requireMarketplaceWorker(caller); err != nil {
		return domain.Store{}, domain.StoreCredentials{}, err
	}
	st, sealed, err := s.store.SealedStore(ctx, id)
	if err != nil {
		return domain.Store{}, domain.StoreCredentials{}, err
	}
	creds, err := s.open(st, sealed)
	return st, creds, err
}

func (s *Stores) open(st domain.Store, sealed []byte) (domain.StoreCredentials, error) {
	plain, err := s.sealer.Open(sealed, storeAD(st.ID, st.OwnerID))
	if err != nil {
		return domain.StoreCredentials{}, fmt.Errorf("open credentials of store %s: %w", st.ID, err)
	}
	var creds domain.StoreCredentials
	err = json.Unmarshal(plain, &creds)
	clear(plain)
	if err != nil {
		return domain.StoreCredentials{}, fmt.Errorf("decode credentials of store %s: %w", st.ID, err)
	}
	return creds, nil
}

// SaveTokens replaces a store's OAuth tokens with refreshed ones (the
// marketplace worker only), resealing its credentials under the row lock, and
// clears its reconnection flag. An empty refresh token keeps the current one.
func (s *Stores) SaveTokens(ctx context.Context, caller principal.Principal, id, access, refresh string) (domain.Store, error) {
	if err := s.requireMarketplaceWorker(caller); err != nil {
		return domain.Store{}, err
	}
	if access == "" {
		return domain.Store{}, errs.Field("access_token", "must not be empty")
	}
	var out domain.Store
	err := s.store.InTx(ctx, func(tx Tx) error {
		st, sealed, err := tx.LockSealedStore(ctx, id)
		if err != nil {
			return err
		}
		creds, err := s.open(st, sealed)
		if err != nil {
			return err
		}
		creds.AccessToken = access
		if refresh != "" {
			creds.RefreshToken = refresh
		}
		plain, err := json.Marshal(creds)
		if err != nil {
			return fmt.Errorf("encode credentials: %w", err)
		}
		resealed, err := s.sealer.Seal(plain, storeAD(st.ID, st.OwnerID))
		clear(plain)
		if err != nil {
			return fmt.Errorf("seal credentials: %w", err)
		}
		st.NeedsReconnection, st.ReconnectionReason = false, ""
		out = st
		return tx.SaveStoreCredentials(ctx, id, resealed)
	})
	if err != nil {
		return domain.Store{}, fmt.Errorf("save store tokens: %w", err)
	}
	return out, nil
}

// MarkNeedsReconnection records that the marketplace refused the store's
// credentials (the marketplace worker only); the seller sees it in the
// store list.
func (s *Stores) MarkNeedsReconnection(ctx context.Context, caller principal.Principal, id, reason string) (domain.Store, error) {
	if err := s.requireMarketplaceWorker(caller); err != nil {
		return domain.Store{}, err
	}
	if reason == "" {
		reason = "the marketplace refused the store's credentials"
	}
	var out domain.Store
	err := s.store.InTx(ctx, func(tx Tx) error {
		st, _, err := tx.LockSealedStore(ctx, id)
		if err != nil {
			return err
		}
		st.NeedsReconnection, st.ReconnectionReason = true, reason
		out = st
		return tx.MarkStoreNeedsReconnection(ctx, id, reason)
	})
	if err != nil {
		return domain.Store{}, fmt.Errorf("mark store: %w", err)
	}
	return out, nil
}

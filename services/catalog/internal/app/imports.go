package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
	"github.com/printfleet/printfleet/services/catalog/internal/events"
)

var webhookOutcomes = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "printfleet_catalog_marketplace_webhooks_total",
	Help: "Marketplace webhook deliveries by marketplace and outcome (accepted, duplicate, refused).",
}, []string{"marketplace", "outcome"})

// Outcomes of a webhook delivery.
const (
	WebhookAccepted  = "accepted"
	WebhookDuplicate = "duplicate"
	WebhookRefused   = "refused"
)

// WebhookRetention is how long a store's webhook deliveries are remembered
// for deduplication; marketplaces redeliver for far less (Shopify: 48 hours).
const WebhookRetention = 7 * 24 * time.Hour

// Import store pages: the importer walks every store, so its pages are
// larger than the public lists'.
const (
	DefaultImportPageSize = 100
	MaxImportPageSize     = 500
)

// webhookRefused is the one answer to every delivery that is not accepted
// (unknown store, another marketplace, no secret, a bad or missing
// signature), so that a caller learns nothing about which.
func webhookRefused() error { return errs.E(errs.Unauthenticated, "webhook signature does not verify") }

// requireSubject admits only a service caller whose subject is one of
// subjects.
func requireSubject(caller principal.Principal, what string, subjects ...string) error {
	if err := caller.Require(principal.RoleService); err != nil {
		return err
	}
	for _, s := range subjects {
		if caller.Subject == s {
			return nil
		}
	}
	return errs.E(errs.PermissionDenied, "%s is for %s only", what, subjects[0])
}

// ReceiveWebhook verifies a marketplace's webhook delivery to a store with
// the store's webhook secret before anything is stored (the gateway only),
// then records it once per (store, webhook id): a new delivery is announced
// to the importer through the outbox, and Shopify's app/uninstalled marks
// the store as needing reconnection, in the same transaction (a store with
// order import off records the delivery and announces nothing). duplicate
// reports a delivery recorded before (nothing else happens). Every refusal
// is the same UNAUTHENTICATED, and the body is never logged.
func (s *Stores) ReceiveWebhook(ctx context.Context, caller principal.Principal, w domain.Webhook) (duplicate bool, err error) {
	if err := requireSubject(caller, "webhook delivery", principal.SubjectGateway); err != nil {
		return false, err
	}
	if s.sealer == nil {
		return false, errs.E(errs.FailedPrecondition, "store connections are not configured on this server")
	}
	label := string(w.Marketplace)
	if label == "" {
		label = "unknown"
	}
	st, ok, err := s.verifyWebhook(ctx, w)
	if err != nil {
		return false, err
	}
	if !ok {
		webhookOutcomes.WithLabelValues(label, WebhookRefused).Inc()
		return false, webhookRefused()
	}
	if w.ID == "" {
		w.ID = domain.DerivedWebhookID(w.Topic, w.Body)
	}
	w.ReceivedAt = time.Now().UTC().Truncate(time.Microsecond)
	var fresh bool
	err = s.store.InTx(ctx, func(tx Tx) error {
		var err error
		if fresh, err = tx.InsertWebhook(ctx, w.StoreID, w.ID, w.Topic, w.ReceivedAt); err != nil || !fresh {
			return err
		}
		// A store whose orders are typed in over REST records the delivery
		// (so a copy stays a duplicate) and announces nothing.
		if st.OrderImport != domain.ImportOff {
			if err := tx.Emit(ctx, events.MarketplaceWebhookReceived(w)); err != nil {
				return err
			}
		}
		if w.Marketplace == domain.Shopify && w.Topic == domain.TopicAppUninstalled {
			return tx.MarkStoreNeedsReconnection(ctx, w.StoreID, "the app was uninstalled from the shop")
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("record webhook: %w", err)
	}
	if !fresh {
		webhookOutcomes.WithLabelValues(label, WebhookDuplicate).Inc()
		return true, nil
	}
	webhookOutcomes.WithLabelValues(label, WebhookAccepted).Inc()
	// Retention, best effort and outside the delivery's transaction: the
	// next delivery of the store prunes again.
	if _, err := s.store.PruneWebhooks(ctx, w.StoreID, w.ReceivedAt.Add(-WebhookRetention)); err != nil && s.log != nil {
		s.log.WarnContext(ctx, "pruning old webhook deliveries failed", "store_id", w.StoreID, "err", err)
	}
	return false, nil
}

// verifyWebhook reports whether w is signed by its store's webhook secret,
// and the store: false, never an error, for an unknown store, one of another
// marketplace or without a secret. Only Shopify signs its webhooks.
func (s *Stores) verifyWebhook(ctx context.Context, w domain.Webhook) (domain.Store, bool, error) {
	if w.Marketplace != domain.Shopify {
		return domain.Store{}, false, nil
	}
	st, sealed, err := s.store.SealedStore(ctx, w.StoreID)
	if errs.Is(err, errs.NotFound) {
		return domain.Store{}, false, nil
	}
	if err != nil {
		return domain.Store{}, false, err
	}
	if st.Marketplace != w.Marketplace {
		return domain.Store{}, false, nil
	}
	creds, err := s.open(st, sealed)
	if err != nil {
		return domain.Store{}, false, err
	}
	return st, domain.VerifyShopify(creds.WebhookSecret, w.Signature, w.Body), nil
}

// ImportStores pages every store the importer polls (those not needing
// reconnection) with its cursor (the marketplace worker only).
func (s *Stores) ImportStores(ctx context.Context, caller principal.Principal, pageSize int, token string) ([]domain.ImportStore, string, error) {
	if err := requireSubject(caller, "import stores", principal.SubjectMarketplaceWorker); err != nil {
		return nil, "", err
	}
	limit := pageSize
	switch {
	case limit < 0:
		return nil, "", errs.Field("page_size", "must not be negative")
	case limit == 0:
		limit = DefaultImportPageSize
	case limit > MaxImportPageSize:
		limit = MaxImportPageSize
	}
	after, err := decodeToken(token)
	if err != nil {
		return nil, "", err
	}
	list, err := s.store.ImportStores(ctx, after, limit+1)
	if err != nil {
		return nil, "", err
	}
	return pageOf(list, limit, func(x domain.ImportStore) string { return x.Store.ID })
}

// SaveImportCursor records a finished poll of a store: its cursor, and now
// as its last import (the marketplace worker only).
func (s *Stores) SaveImportCursor(ctx context.Context, caller principal.Principal, id, cursor string) (domain.Store, error) {
	if err := requireSubject(caller, "import cursors", principal.SubjectMarketplaceWorker); err != nil {
		return domain.Store{}, err
	}
	return s.store.SaveImportCursor(ctx, id, cursor)
}

// WithLog sets the logger of what fails in the background of a call.
func (s *Stores) WithLog(log *slog.Logger) *Stores {
	s.log = log
	return s
}

// Package app is pricing's use cases: quoting from an in-memory snapshot of
// the price data, admin writes of that data, and keeping the snapshot fresh.
//
// The hot path (Quote) never touches PostgreSQL: it reads an immutable
// *domain.Snapshot through an atomic pointer. The snapshot is rebuilt from
// the store and swapped in
//   - right after every admin write made through this process (so an admin
//     reads their own write on the instance that took it; a process that
//     serves no quotes — the worker, the jobs — never loads a snapshot and
//     skips this),
//   - when a NOTIFY on the price-data channel announces a version newer than
//     the snapshot's (other replicas' writes, typically within milliseconds),
//   - when a periodic poll of price_data_version finds a different version
//     (a safety net for a lost LISTEN connection or notification).
//
// Quotes are not persisted: a quote id (UUIDv7) and expiry are returned for
// the client's reference, and orders re-quote when an order is placed, so
// nothing on the hot path writes.
package app

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/services/pricing/internal/domain"
)

// WriteResult says what a write changed.
type WriteResult struct {
	// Changed counts rows inserted or changed (rewriting a row with the same
	// value does not count).
	Changed int
	// Version is the price-data version after the write; 0 when nothing
	// changed.
	Version int64
}

// Source loads the price data.
type Source interface {
	Load(ctx context.Context) (domain.Data, error)
	Version(ctx context.Context) (int64, error)
}

// Notifier announces new price-data versions. Listen blocks until ctx ends
// or the subscription fails; onListening runs once it is in effect.
type Notifier interface {
	Listen(ctx context.Context, onListening func(), onChange func(version int64)) error
}

// Writer writes price data; every write that changes something bumps the
// price-data version in the same transaction.
type Writer interface {
	UpsertVariantPrices(ctx context.Context, ps []domain.VariantPrice) (WriteResult, error)
	UpsertSurcharges(ctx context.Context, xs []domain.Surcharge) (WriteResult, error)
	UpsertShippingRates(ctx context.Context, rs []domain.ShippingRate) (WriteResult, error)
	UpsertFxRates(ctx context.Context, rs []domain.FxRate) (WriteResult, error)
	UpsertPlacementTechniques(ctx context.Context, ps []domain.PlacementTechnique) (WriteResult, error)
	UpsertTaxRates(ctx context.Context, rs []domain.TaxRate) (WriteResult, error)
}

// Coupons stores coupons and their usage.
type Coupons interface {
	CreateCoupon(ctx context.Context, c domain.Coupon, ensure bool) (domain.Coupon, WriteResult, error)
	ListCoupons(ctx context.Context) ([]domain.Coupon, error)
	RedeemCoupon(ctx context.Context, r domain.Redemption, now time.Time) (domain.Coupon, WriteResult, error)
	ConfirmCoupon(ctx context.Context, code, orderID, customerID string, placedAt time.Time) (late bool, res WriteResult, err error)
	ReleaseCoupon(ctx context.Context, orderID string) (released bool, res WriteResult, err error)
	ExpireReservations(ctx context.Context, now time.Time) (int, error)
}

// AdminData reads and deletes price data for the admin routes, and keeps
// the catalog's default prices.
type AdminData interface {
	ListVariantPrices(ctx context.Context) ([]domain.StoredVariantPrice, error)
	VariantPrices(ctx context.Context, variantID uuid.UUID) ([]domain.StoredVariantPrice, error)
	DeleteVariantPrices(ctx context.Context, variantID uuid.UUID, region string) (WriteResult, error)
	ApplyCatalogPrices(ctx context.Context, cp domain.CatalogPrices) (WriteResult, error)
	ListFxRates(ctx context.Context) ([]domain.FxRate, error)
	CouponsByCode(ctx context.Context, code string) ([]domain.Coupon, error)
	DeactivateCoupon(ctx context.Context, code string, now time.Time) (WriteResult, error)
	ListShippingRates(ctx context.Context) ([]domain.ShippingRate, error)
	DeleteShippingRate(ctx context.Context, method, country string) (WriteResult, error)
	ListTaxRates(ctx context.Context) ([]domain.TaxRate, error)
	DeleteTaxRate(ctx context.Context, country, region string) (WriteResult, error)
}

// Store is everything the service needs from persistence.
type Store interface {
	Source
	Notifier
	Writer
	Coupons
	AdminData
}

// Options tune a Service.
type Options struct {
	Log *slog.Logger
	// Now is the clock (tests pin it); nil means time.Now.
	Now func() time.Time
	// ReservationTTL is how long a coupon use reserved by an order create
	// waits for the order's placement to confirm it; 0 means
	// DefaultReservationTTL.
	ReservationTTL time.Duration
	// ProductionDays is the production lead time in business days that
	// delivery estimates count before a parcel leaves; nil means
	// domain.DefaultProductionDays.
	ProductionDays *int
}

// Service is the pricing application.
type Service struct {
	store Store
	log   *slog.Logger
	now   func() time.Time
	ttl   time.Duration
	// production is the lead time in business days of delivery estimates.
	production int

	snap     atomic.Pointer[domain.Snapshot]
	reloadMu sync.Mutex
}

// New returns a service without data; call Refresh (and usually Watch)
// before serving quotes.
func New(store Store, o Options) *Service {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ReservationTTL <= 0 {
		o.ReservationTTL = DefaultReservationTTL
	}
	production := domain.DefaultProductionDays
	if o.ProductionDays != nil {
		production = max(*o.ProductionDays, 0)
	}
	return &Service{store: store, log: o.Log, now: o.Now, ttl: o.ReservationTTL, production: production}
}

var (
	quotesTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "pricing_quotes_total",
		Help: "Quotes computed, by outcome (ok or the error kind).",
	}, []string{"outcome"})
	reloadsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "pricing_snapshot_reloads_total",
		Help: "Price-data snapshot reloads, by trigger and result.",
	}, []string{"trigger", "result"})
	dataVersion = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "pricing_price_data_version",
		Help: "Price-data version of the snapshot quotes are served from.",
	})
	loadedAt = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "pricing_price_data_loaded_timestamp_seconds",
		Help: "When the snapshot quotes are served from was loaded (Unix time).",
	})
	writesTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "pricing_admin_writes_total",
		Help: "Admin writes of price data, by kind and result.",
	}, []string{"kind", "result"})
)

// Snapshot is the snapshot quotes currently read (nil before the first load).
func (s *Service) Snapshot() *domain.Snapshot { return s.snap.Load() }

// Ready fails until price data has been loaded once.
func (s *Service) Ready(context.Context) error {
	if s.snap.Load() == nil {
		return errs.E(errs.Unavailable, "price data not loaded yet")
	}
	return nil
}

// Quote prices req from the in-memory snapshot. It never queries the store.
// Quotes are public: any caller, anonymous included, may ask for one.
func (s *Service) Quote(_ context.Context, req domain.QuoteRequest) (domain.Quote, error) {
	snap := s.snap.Load()
	if snap == nil {
		quotesTotal.WithLabelValues("unavailable").Inc()
		return domain.Quote{}, errs.E(errs.Unavailable, "price data not loaded yet")
	}
	now := s.now()
	req.ProductionDays = s.production
	q, err := snap.Quote(req, now)
	if err != nil {
		quotesTotal.WithLabelValues(errs.KindOf(err).String()).Inc()
		return domain.Quote{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return domain.Quote{}, errs.Wrap(errs.Internal, err, "quote id")
	}
	q.ID = id
	q.ExpiresAt = now.Add(domain.QuoteTTL)
	quotesTotal.WithLabelValues("ok").Inc()
	return q, nil
}

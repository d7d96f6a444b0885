package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

// The import side of the worker: marketplace orders become printfleet
// orders. Two roads lead there. A Shopify webhook the catalog verified
// arrives as a MarketplaceWebhookReceived and is imported at once; and
// every store is polled through its adapter every PollEvery, the backstop
// for webhooks that never came and the only road for Etsy and Amazon. Both
// may bring the same order any number of times: the orders service keeps one
// order per (store, marketplace order), so the importer never needs to
// remember what it imported. A poll saves the store's cursor only after every
// order it read was imported; a poll that fails half way saves nothing and
// the next round reads the same orders again.

// ImportOptions bound the importer.
type ImportOptions struct {
	// PollEvery is the time between two poll rounds.
	PollEvery time.Duration
	// Lookback is how far back the first poll of a store reads.
	Lookback time.Duration
	// Concurrency is how many stores are polled at once.
	Concurrency int
	// MaxPages bounds the pages read from one store in one round; the rest
	// is read next round, from the cursor saved after the last page.
	MaxPages int
	// PollTimeout bounds one store's poll: its pages, their imports and the
	// saved cursor.
	PollTimeout time.Duration
	// ImportTimeout bounds one webhook's import.
	ImportTimeout time.Duration
}

// ImportDeps are the importer's adapters.
type ImportDeps struct {
	Stores       ImportStores
	Marketplaces Importers
	Orders       Orders
	// Locks is optional: without it replicas may poll one store at once
	// (harmless, only wasteful: orders dedups).
	Locks TryLocker
	// Reconnections is optional: without it a store whose credentials the
	// marketplace refused is only logged as failing.
	Reconnections Reconnections
	Log           *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Importer imports marketplace orders.
type Importer struct {
	opt ImportOptions
	d   ImportDeps
	log *slog.Logger

	mu sync.Mutex
	// polled is when this process last finished a poll of each store;
	// lagged the marketplaces whose lag gauge is set.
	polled map[string]time.Time
	lagged map[string]domain.Marketplace
	known  map[string]ImportStore
	// polling holds the stores whose poll runs in this process: a round
	// skips them, so one slow store (Amazon's getOrders refills once a
	// minute) never holds the other stores' polls back.
	polling map[string]bool
	// resting holds the stores whose budget has no room until a time: a
	// round skips them until then instead of failing their poll again.
	resting map[string]time.Time
	slots   chan struct{}
	polls   sync.WaitGroup
}

// NewImporter returns the import use case over d.
func NewImporter(opt ImportOptions, d ImportDeps) (*Importer, error) {
	if d.Stores == nil || d.Marketplaces == nil || d.Orders == nil {
		return nil, errors.New("marketplace importer: Stores, Marketplaces and Orders are required")
	}
	if opt.PollEvery <= 0 || opt.Lookback <= 0 || opt.Concurrency <= 0 || opt.MaxPages <= 0 || opt.PollTimeout <= 0 ||
		opt.ImportTimeout <= 0 {
		return nil, fmt.Errorf("marketplace importer: poll every %v, lookback %v, concurrency %d, max pages %d, poll timeout %v and import timeout %v must be positive",
			opt.PollEvery, opt.Lookback, opt.Concurrency, opt.MaxPages, opt.PollTimeout, opt.ImportTimeout)
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Importer{opt: opt, d: d, log: d.Log, polled: map[string]time.Time{}, lagged: map[string]domain.Marketplace{},
		known: map[string]ImportStore{}, polling: map[string]bool{}, resting: map[string]time.Time{}, slots: make(chan struct{}, opt.Concurrency)}, nil
}

// WebhookDelivery is a marketplace webhook the catalog verified.
type WebhookDelivery struct {
	StoreID     string
	Marketplace domain.Marketplace
	Topic       string
	WebhookID   string
	Body        []byte
}

// ErrUnparseable means a webhook's body is not an order: redelivering it
// never helps.
var ErrUnparseable = errors.New("unparseable webhook")

// orderTopics are the webhook topics that carry an order.
var orderTopics = map[string]bool{"orders/create": true, "orders/updated": true, "orders/paid": true, "orders/cancelled": true}

// ImportWebhook imports the order a webhook carries. Other topics
// (app/uninstalled: the catalog already marked the store) are ignored. A
// body that is no order wraps ErrUnparseable and a store that is gone wraps
// domain.ErrStoreUnusable; other errors wrap domain.ErrPermanent when the
// orders service refused the order, and are worth retrying otherwise.
func (im *Importer) ImportWebhook(ctx context.Context, w WebhookDelivery) error {
	m := string(w.Marketplace)
	if !orderTopics[w.Topic] {
		importsTotal.WithLabelValues(m, "webhook", string(domain.ImportIgnored)).Inc()
		im.log.DebugContext(ctx, "marketplace webhook ignored", "store_id", w.StoreID, "topic", w.Topic, "webhook_id", w.WebhookID)
		return nil
	}
	o, err := im.d.Marketplaces.ParseOrderWebhook(w.Marketplace, w.Body)
	if err != nil {
		importsTotal.WithLabelValues(m, "webhook", string(domain.ImportFailed)).Inc()
		// The body is never logged: it holds a buyer's address.
		return fmt.Errorf("%w: %s webhook %s (%s) of store %s: %w", ErrUnparseable, m, w.WebhookID, w.Topic, w.StoreID, err)
	}
	ctx, cancel := context.WithTimeout(ctx, im.opt.ImportTimeout)
	defer cancel()
	ctx, span := otel.Tracer("github.com/printfleet/printfleet/workers/marketplace").Start(ctx, "marketplace import webhook")
	defer span.End()
	span.SetAttributes(attribute.String("marketplace", m), attribute.String("topic", w.Topic), attribute.String("store_id", w.StoreID))
	st, err := im.d.Stores.StoreByID(ctx, w.StoreID)
	if err != nil {
		importsTotal.WithLabelValues(m, "webhook", string(domain.ImportFailed)).Inc()
		return fmt.Errorf("import webhook %s: %w", w.WebhookID, err)
	}
	if st.Marketplace != w.Marketplace {
		importsTotal.WithLabelValues(m, "webhook", string(domain.ImportFailed)).Inc()
		return fmt.Errorf("%w: webhook %s names marketplace %s, store %s is %s", domain.ErrStoreUnusable, w.WebhookID, m, st.ID, st.Marketplace)
	}
	_, err = im.importOrder(ctx, "webhook", st, o)
	return err
}

// importOrder imports one order of st and counts how it went.
func (im *Importer) importOrder(ctx context.Context, source string, st domain.Store, o domain.ExternalOrder) (domain.ImportOutcome, error) {
	outcome := domain.ImportSkipped
	var err error
	if o.Ready || o.Cancelled {
		outcome, err = im.d.Orders.ImportOrder(ctx, st, o)
		if err != nil {
			outcome = domain.ImportFailed
		}
	}
	importsTotal.WithLabelValues(string(st.Marketplace), source, string(outcome)).Inc()
	log := im.log.With("store_id", st.ID, "marketplace", string(st.Marketplace), "external_order_id", o.ExternalID, "source", source)
	switch {
	case err != nil:
		log.WarnContext(ctx, "marketplace order import failed", "err", err, "retryable", domain.IsRetryable(err))
		return outcome, err
	case outcome == domain.ImportSkipped:
		log.DebugContext(ctx, "marketplace order not ready; skipped")
	default:
		log.InfoContext(ctx, "marketplace order imported", "outcome", string(outcome))
	}
	return outcome, nil
}

// PollStore reads st's orders changed since cursor page by page (at most
// MaxPages), imports each, then saves the cursor to poll from next. Any
// error stops the poll without saving: the next round reads the same orders
// again. An order the orders service refuses as invalid is counted as failed
// and passed over: it would stop the store's import for good.
func (im *Importer) PollStore(ctx context.Context, st domain.Store, cursor string) error {
	var since time.Time
	if cursor == "" {
		since = im.d.Now().Add(-im.opt.Lookback)
	}
	next := cursor
	for pages := 0; pages < im.opt.MaxPages; {
		page, err := im.d.Marketplaces.PollOrders(ctx, st, next, since)
		if err != nil {
			return fmt.Errorf("poll %s store %s: %w", st.Marketplace, st.ID, err)
		}
		pages++
		for _, o := range page.Orders {
			if _, err := im.importOrder(ctx, "poll", st, o); err != nil {
				if errors.Is(err, domain.ErrOrderRejected) {
					continue
				}
				return err
			}
		}
		if page.Cursor != "" {
			next = page.Cursor
		}
		if !page.More {
			break
		}
	}
	if err := im.d.Stores.SaveImportCursor(ctx, st.ID, next); err != nil {
		return fmt.Errorf("save import cursor of store %s: %w", st.ID, err)
	}
	return nil
}

// Run polls every store every PollEvery, the first round at once, until ctx
// ends; then it cuts the polls in flight and returns once they stopped. A
// poll is a read that the next one repeats (its cursor is saved only at its
// end, and importing an order again is a duplicate), and most of a slow one
// is spent waiting for a marketplace's budget, so nothing is gained by
// letting it run on.
func (im *Importer) Run(ctx context.Context) error {
	t := time.NewTicker(im.opt.PollEvery)
	defer t.Stop()
	defer im.polls.Wait()
	for {
		im.round(ctx, ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Round polls every store once and waits for the polls (tests).
func (im *Importer) Round(ctx context.Context) {
	im.round(ctx, ctx)
	im.polls.Wait()
}

// round lists the stores, updates their lag and starts a poll of each store
// not being polled already (here, or by another replica), Concurrency at a
// time; it returns once every poll has started, without waiting for them.
// New polls start while ctx lasts; the polls run on work.
func (im *Importer) round(ctx, work context.Context) {
	lctx, cancel := context.WithTimeout(work, im.opt.PollTimeout)
	stores, err := im.d.Stores.ListImportStores(lctx)
	cancel()
	if err != nil {
		im.log.WarnContext(ctx, "marketplace import: list stores failed", "err", err)
		// The stores known from the last listing keep lagging: the alert
		// must not go quiet because the catalog does.
		im.mu.Lock()
		known := slices.Collect(maps.Values(im.known))
		im.mu.Unlock()
		im.updateLag(known)
		return
	}
	im.updateLag(stores)

	for _, s := range stores {
		im.mu.Lock()
		busy := im.polling[s.ID] || im.d.Now().Before(im.resting[s.ID])
		im.mu.Unlock()
		if busy {
			continue
		}
		select {
		case im.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		im.mu.Lock()
		im.polling[s.ID] = true
		im.mu.Unlock()
		im.polls.Add(1)
		go func() {
			defer func() {
				im.mu.Lock()
				delete(im.polling, s.ID)
				im.mu.Unlock()
				<-im.slots
				im.polls.Done()
			}()
			im.pollOne(work, s)
		}()
	}
}

// pollOne polls one store under its lock, counts the poll and records its
// success.
func (im *Importer) pollOne(ctx context.Context, s ImportStore) {
	ctx, cancel := context.WithTimeout(ctx, im.opt.PollTimeout)
	defer cancel()
	m := string(s.Marketplace)
	log := im.log.With("store_id", s.ID, "marketplace", m)
	if im.d.Locks != nil {
		release, ok, err := im.d.Locks.TryLock(ctx, "import/"+s.ID)
		if err != nil {
			importPolls.WithLabelValues(m, "failed").Inc()
			log.WarnContext(ctx, "marketplace import: store lock failed", "err", err)
			return
		}
		if !ok {
			importPolls.WithLabelValues(m, "locked").Inc()
			return
		}
		defer release()
	}
	ctx, span := otel.Tracer("github.com/printfleet/printfleet/workers/marketplace").Start(ctx, "marketplace poll store")
	defer span.End()
	span.SetAttributes(attribute.String("marketplace", m), attribute.String("store_id", s.ID))
	err := im.poll(ctx, s)
	var de *domain.Error
	if errors.As(err, &de) && de.Reason == domain.ReasonBudget && de.RetryAfter > 0 {
		// The store's budget has no room yet (Amazon's getOrders refills
		// one request a minute): not a failure; the store rests until then.
		importPolls.WithLabelValues(m, "budget").Inc()
		im.mu.Lock()
		im.resting[s.ID] = im.d.Now().Add(de.RetryAfter)
		im.mu.Unlock()
		log.DebugContext(ctx, "marketplace import: the store's rate budget has no room yet; polling it later", "wait", de.RetryAfter)
		return
	}
	if err != nil {
		span.SetStatus(codes.Error, "poll failed")
		importPolls.WithLabelValues(m, "failed").Inc()
		log.WarnContext(ctx, "marketplace import: poll failed; the next round reads again", "err", err,
			"retryable", domain.IsRetryable(err))
		if im.d.Reconnections != nil && domain.ReasonOf(err) == domain.ReasonAuth {
			if err := im.d.Reconnections.MarkNeedsReconnection(ctx, s.ID, clip(err.Error(), 400)); err != nil {
				log.WarnContext(ctx, "marketplace import: mark store as needing reconnection failed", "err", err)
			}
		}
		return
	}
	importPolls.WithLabelValues(m, "ok").Inc()
	im.mu.Lock()
	im.polled[s.ID] = im.d.Now()
	im.setLagLocked()
	im.mu.Unlock()
}

func (im *Importer) poll(ctx context.Context, s ImportStore) error {
	st, err := im.d.Stores.StoreByID(ctx, s.ID)
	if err != nil {
		return err
	}
	return im.PollStore(ctx, st, s.Cursor)
}

// updateLag sets each listed store's lag (since its last poll by any
// replica, or since it was created) and drops the gauges of stores no longer
// listed.
func (im *Importer) updateLag(stores []ImportStore) {
	im.mu.Lock()
	defer im.mu.Unlock()
	listed := make(map[string]bool, len(stores))
	for _, s := range stores {
		listed[s.ID] = true
		im.known[s.ID] = s
	}
	for id := range im.known {
		if !listed[id] {
			delete(im.known, id)
			delete(im.polled, id)
		}
	}
	im.setLagLocked()
}

// setLagLocked sets each marketplace's lag gauge to its worst store's: the
// time since that store's last finished poll (by any replica, or by this
// process), or since it was created. Per store, the catalog keeps the time
// as the store's last_import_at (GET /v1/stores shows it); a label per store
// would grow the series with every store connected.
func (im *Importer) setLagLocked() {
	now := im.d.Now()
	worst := map[domain.Marketplace]float64{}
	for _, s := range im.known {
		last := s.LastImportAt
		if last.IsZero() {
			last = s.CreatedAt
		}
		if p := im.polled[s.ID]; p.After(last) {
			last = p
		}
		lag := 0.0
		if !last.IsZero() {
			lag = max(0, now.Sub(last).Seconds())
		}
		worst[s.Marketplace] = max(worst[s.Marketplace], lag)
	}
	for m, lag := range worst {
		importLag.WithLabelValues(string(m)).Set(lag)
		im.lagged[string(m)] = m
	}
	for key, m := range im.lagged {
		if _, ok := worst[m]; !ok {
			importLag.DeleteLabelValues(string(m))
			delete(im.lagged, key)
		}
	}
}

package server

import (
	"time"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/grpctls"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/platform/redis"
	"github.com/printfleet/printfleet/platform/s3"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"

	"github.com/printfleet/printfleet/workers/marketplace/internal/app"
	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/marketplace"
)

// Config is the worker's environment (every variable takes the PRINTFLEET_
// prefix).
type Config struct {
	AMQP      amqp.Config      `env:", prefix=AMQP_"`
	S3        s3.Config        `env:", prefix=S3_"`
	Principal principal.Config `env:", prefix="`
	// Redis holds what the replicas share: rate budgets and shipment locks.
	Redis redis.Config `env:", prefix=REDIS_"`
	// TLS secures the calls to the catalog (mTLS with a certificate).
	TLS grpctls.Config `env:""`
	// CatalogAddr is the catalog's gRPC target (GetStoreCredentials).
	CatalogAddr string `env:"CATALOG_ADDR, default=127.0.0.1:9102"`
	// OrdersAddr is the orders service's gRPC target (ImportOrder).
	OrdersAddr string `env:"ORDERS_ADDR, default=127.0.0.1:9101"`
	// ReceiptsBucket receives one receipt per push.
	ReceiptsBucket string `env:"S3_BUCKET_RECEIPTS, default=printfleet-receipts"`

	Endpoints marketplace.Endpoints `env:", prefix=MARKETPLACE_"`
	Options   Options               `env:", prefix=MARKETPLACE_"`
}

// defaults are the worker's own defaults: its queue's name is defined once,
// beside the event contracts.
var defaults = config.Defaults{"MARKETPLACE_QUEUE": eventsv1.QueueMarketplacePush,
	"MARKETPLACE_IMPORT_QUEUE": eventsv1.QueueMarketplaceImports}

// Options are the worker's own knobs.
type Options struct {
	// Queue is the queue consumed, bound to OrderShipped and OrderStatusChanged.
	Queue string `env:"QUEUE"`
	// Concurrency is how many deliveries are handled at once (and the
	// prefetch). Most of a push is waiting on a rate budget, so it can be well
	// above the core count.
	Concurrency int `env:"CONCURRENCY, default=32"`
	// PushTimeout bounds one delivery: store lookup, the push with its
	// budget waits and retries, the receipt and the event. A push that cannot
	// get budget before it is over goes back to the queue.
	PushTimeout time.Duration `env:"PUSH_TIMEOUT, default=2m"`
	// CallTimeout bounds each HTTP call to a marketplace.
	CallTimeout time.Duration `env:"CALL_TIMEOUT, default=10s"`
	// Retry bounds the retries inside one push; beyond it the delivery is
	// requeued with the consumer's backoff.
	RetryMaxAttempts int           `env:"RETRY_MAX_ATTEMPTS, default=5"`
	RetryBaseDelay   time.Duration `env:"RETRY_BASE_DELAY, default=200ms"`
	RetryMaxDelay    time.Duration `env:"RETRY_MAX_DELAY, default=10s"`
	// RetryMaxWait is the longest Retry-After waited out inside a push.
	RetryMaxWait time.Duration `env:"RETRY_MAX_WAIT, default=1m"`
	// CatalogTimeout bounds the store lookup; StorageTimeout the receipt write.
	CatalogTimeout time.Duration `env:"CATALOG_TIMEOUT, default=5s"`
	StorageTimeout time.Duration `env:"STORAGE_TIMEOUT, default=30s"`
	// RedisPrefix starts every Redis key of the worker (rate budgets, locks).
	RedisPrefix string `env:"REDIS_PREFIX, default=printfleet:marketplace:"`
	// DrainTimeout is how long pushes and webhook imports in flight may go
	// on after SIGTERM; then they are cut and their deliveries requeued (a
	// resend is idempotent). Polls are cut at once (a cut poll saves no
	// cursor; the next one reads again). Keep it below
	// PRINTFLEET_SHUTDOWN_GRACE (15s by default).
	DrainTimeout time.Duration `env:"DRAIN_TIMEOUT, default=10s"`

	// ImportQueue is the queue of verified marketplace webhooks
	// (MarketplaceWebhookReceived).
	ImportQueue string `env:"IMPORT_QUEUE"`
	// ImportQueueConcurrency is how many webhooks are imported at once (and
	// the prefetch).
	ImportQueueConcurrency int `env:"IMPORT_QUEUE_CONCURRENCY, default=8"`
	// ImportPollEvery is the time between two polls of every store (the
	// backstop for lost webhooks, and the only road for Etsy and Amazon).
	ImportPollEvery time.Duration `env:"IMPORT_POLL_EVERY, default=1m"`
	// ImportLookback is how far back the first poll of a store reads.
	ImportLookback time.Duration `env:"IMPORT_LOOKBACK, default=72h"`
	// ImportConcurrency is how many stores one replica polls at once.
	ImportConcurrency int `env:"IMPORT_CONCURRENCY, default=4"`
	// ImportMaxPages bounds the pages read from one store in one round; a
	// larger backlog is read over the next rounds.
	ImportMaxPages int `env:"IMPORT_MAX_PAGES, default=20"`
	// ImportPollTimeout bounds one store's poll: its pages with their
	// budget waits, the imports and the saved cursor.
	ImportPollTimeout time.Duration `env:"IMPORT_POLL_TIMEOUT, default=5m"`
	// ImportTimeout bounds the import of one webhook's order.
	ImportTimeout time.Duration `env:"IMPORT_TIMEOUT, default=1m"`
	// OrdersTimeout bounds one ImportOrder call (it prices, reserves stock
	// and takes payment).
	OrdersTimeout time.Duration `env:"ORDERS_TIMEOUT, default=30s"`

	// ShopifyAPIVersion is the Admin API version (YYYY-MM) the Shopify pushes
	// speak; empty: the version the worker was built for.
	ShopifyAPIVersion string `env:"SHOPIFY_API_VERSION"`
}

func (o Options) app() app.Options {
	return app.Options{PushTimeout: o.PushTimeout, StorageTimeout: o.StorageTimeout}
}

func (o Options) imports() app.ImportOptions {
	return app.ImportOptions{PollEvery: o.ImportPollEvery, Lookback: o.ImportLookback, Concurrency: o.ImportConcurrency,
		MaxPages: o.ImportMaxPages, PollTimeout: o.ImportPollTimeout, ImportTimeout: o.ImportTimeout}
}

// marketplace are the options every marketplace adapter shares.
func (o Options) marketplace(tokens *marketplace.Tokens, budgets *marketplace.Budgets) marketplace.Options {
	return marketplace.Options{
		CallTimeout: o.CallTimeout,
		Retry: marketplace.Retry{MaxAttempts: o.RetryMaxAttempts, BaseDelay: o.RetryBaseDelay,
			MaxDelay: o.RetryMaxDelay, MaxWait: o.RetryMaxWait},
		Tokens:            tokens,
		Budgets:           budgets,
		UserAgent:         "printfleet-marketplace-worker",
		ShopifyAPIVersion: o.ShopifyAPIVersion,
	}
}

package worker

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/platform/s3"

	"github.com/printfleet/printfleet/workers/marketplace/internal/adapters"
)

// Config is the worker's environment (every variable takes the PRINTFLEET_
// prefix).
type Config struct {
	AMQP      amqp.Config      `env:", prefix=AMQP_"`
	S3        s3.Config        `env:", prefix=S3_"`
	Principal principal.Config `env:", prefix="`
	// CatalogAddr is the catalog's gRPC target (GetStoreCredentials).
	CatalogAddr string `env:"CATALOG_ADDR, default=127.0.0.1:9102"`
	// ReceiptsBucket receives one receipt per push.
	ReceiptsBucket string `env:"S3_BUCKET_RECEIPTS, default=printfleet-receipts"`

	Endpoints Endpoints `env:", prefix=MARKETPLACE_"`
	Options   Options   `env:", prefix=MARKETPLACE_"`
}

// Options are the worker's own knobs.
type Options struct {
	Queue string `env:"QUEUE, default=marketplace.push"`
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
	// DrainTimeout is how long pushes in flight may go on after SIGTERM; then
	// they are cut and their deliveries requeued (a resend is idempotent).
	// Keep it below PRINTFLEET_SHUTDOWN_GRACE.
	DrainTimeout time.Duration `env:"DRAIN_TIMEOUT, default=15s"`

	// ReceiptsBucket is filled from Config.ReceiptsBucket.
	ReceiptsBucket string
}

func (o Options) withDefaults() Options {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.Queue == "" {
		o.Queue = "marketplace.push"
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 32
	}
	if o.RetryMaxAttempts <= 0 {
		o.RetryMaxAttempts = 5
	}
	if o.ReceiptsBucket == "" {
		o.ReceiptsBucket = "printfleet-receipts"
	}
	set(&o.PushTimeout, 2*time.Minute)
	set(&o.CallTimeout, 10*time.Second)
	set(&o.RetryBaseDelay, 200*time.Millisecond)
	set(&o.RetryMaxDelay, 10*time.Second)
	set(&o.RetryMaxWait, time.Minute)
	set(&o.CatalogTimeout, 5*time.Second)
	set(&o.StorageTimeout, 30*time.Second)
	set(&o.DrainTimeout, 15*time.Second)
	return o
}

// adapterOptions are the options every marketplace adapter shares.
func (o Options) adapterOptions(tokens *adapters.Tokens, budgets *adapters.Budgets) adapters.Options {
	return adapters.Options{
		CallTimeout: o.CallTimeout,
		Retry: adapters.Retry{MaxAttempts: o.RetryMaxAttempts, BaseDelay: o.RetryBaseDelay,
			MaxDelay: o.RetryMaxDelay, MaxWait: o.RetryMaxWait},
		Tokens:    tokens,
		Budgets:   budgets,
		UserAgent: "printfleet-marketplace-worker",
	}
}

// Endpoints are the marketplaces' API roots. They come from configuration
// only: nothing in an event or a store record can point the worker at another
// host (the Shopify shop name fills one DNS label or one path segment and is
// checked first).
type Endpoints struct {
	// ShopifyURL is the Admin API root. "{shop}" in it is replaced by the shop
	// name (production: https://{shop}.myshopify.com); without it the shop is
	// appended as a path segment (the sandbox: .../shopify/<shop>).
	ShopifyURL string `env:"SHOPIFY_URL, default=http://127.0.0.1:9302/shopify"`
	// EtsyURL is the Open API root; its token endpoint defaults to
	// EtsyURL + /v3/public/oauth/token.
	EtsyURL      string `env:"ETSY_URL, default=http://127.0.0.1:9302/etsy"`
	EtsyTokenURL string `env:"ETSY_TOKEN_URL"`
	// AmazonURL is the SP-API root; the Login with Amazon token endpoint
	// defaults to AmazonURL + /auth/o2/token (production:
	// https://api.amazon.com/auth/o2/token).
	AmazonURL      string `env:"AMAZON_URL, default=http://127.0.0.1:9302/amazon"`
	AmazonTokenURL string `env:"AMAZON_TOKEN_URL"`
}

// Validate checks that every configured URL is an absolute http(s) URL with
// nothing that could carry credentials or change its meaning.
func (e Endpoints) Validate() error {
	var errs []error
	check := func(name, raw string, required bool) {
		if raw == "" {
			if required {
				errs = append(errs, fmt.Errorf("%s is required", name))
			}
			return
		}
		u, err := url.Parse(strings.ReplaceAll(raw, "{shop}", "shop"))
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: not a URL", name))
		case u.Scheme != "https" && u.Scheme != "http", u.Host == "":
			errs = append(errs, fmt.Errorf("%s: want an absolute http(s) URL", name))
		case u.User != nil, u.RawQuery != "", u.Fragment != "":
			errs = append(errs, fmt.Errorf("%s: no user info, query or fragment allowed", name))
		}
	}
	check("SHOPIFY_URL", e.ShopifyURL, true)
	check("ETSY_URL", e.EtsyURL, true)
	check("ETSY_TOKEN_URL", e.EtsyTokenURL, false)
	check("AMAZON_URL", e.AmazonURL, true)
	check("AMAZON_TOKEN_URL", e.AmazonTokenURL, false)
	if strings.Count(e.ShopifyURL, "{shop}") > 1 {
		errs = append(errs, errors.New("SHOPIFY_URL: {shop} at most once"))
	}
	return errors.Join(errs...)
}

var shopifyShop = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// apply points a store at its marketplace's configured endpoints.
func (e Endpoints) apply(st adapters.Store) (adapters.Store, error) {
	switch st.Marketplace {
	case adapters.Shopify:
		shop := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(st.ShopID)), ".myshopify.com")
		if !shopifyShop.MatchString(shop) {
			return st, fmt.Errorf("%w: shop %q is not a Shopify shop name", ErrStoreUnusable, st.ShopID)
		}
		if strings.Contains(e.ShopifyURL, "{shop}") {
			st.BaseURL = strings.Replace(e.ShopifyURL, "{shop}", shop, 1)
		} else {
			st.BaseURL = strings.TrimRight(e.ShopifyURL, "/") + "/" + shop
		}
	case adapters.Etsy:
		st.BaseURL, st.TokenURL = e.EtsyURL, e.EtsyTokenURL
	case adapters.Amazon:
		st.BaseURL, st.TokenURL = e.AmazonURL, e.AmazonTokenURL
	default:
		return st, fmt.Errorf("%w: no adapter for marketplace %q", ErrStoreUnusable, st.Marketplace)
	}
	return st, nil
}

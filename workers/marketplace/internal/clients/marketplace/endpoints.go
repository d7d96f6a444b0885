package marketplace

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

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
func (e Endpoints) apply(st domain.Store) (domain.Store, error) {
	switch st.Marketplace {
	case domain.Shopify:
		shop := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(st.ShopID)), ".myshopify.com")
		if !shopifyShop.MatchString(shop) {
			return st, fmt.Errorf("%w: shop %q is not a Shopify shop name", domain.ErrStoreUnusable, st.ShopID)
		}
		if strings.Contains(e.ShopifyURL, "{shop}") {
			st.BaseURL = strings.Replace(e.ShopifyURL, "{shop}", shop, 1)
		} else {
			st.BaseURL = strings.TrimRight(e.ShopifyURL, "/") + "/" + shop
		}
	case domain.Etsy:
		st.BaseURL, st.TokenURL = e.EtsyURL, e.EtsyTokenURL
	case domain.Amazon:
		st.BaseURL, st.TokenURL = e.AmazonURL, e.AmazonTokenURL
	default:
		return st, fmt.Errorf("%w: no adapter for marketplace %q", domain.ErrStoreUnusable, st.Marketplace)
	}
	return st, nil
}

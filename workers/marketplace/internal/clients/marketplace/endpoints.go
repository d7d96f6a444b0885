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
	// AmazonURL is the SP-API root of the North America region (production:
	// https://sellingpartnerapi-na.amazon.com); the Login with Amazon token
	// endpoint defaults to AmazonURL + /auth/o2/token (production:
	// https://api.amazon.com/auth/o2/token).
	AmazonURL      string `env:"AMAZON_URL, default=http://127.0.0.1:9302/amazon"`
	AmazonTokenURL string `env:"AMAZON_TOKEN_URL"`
	// AmazonEUURL is the SP-API root of the Europe region (production:
	// https://sellingpartnerapi-eu.amazon.com); its token endpoint defaults to
	// AmazonEUURL + /auth/o2/token. Empty: Europe's stores are unusable.
	AmazonEUURL      string `env:"AMAZON_EU_URL, default=http://127.0.0.1:9302/amazon-eu"`
	AmazonEUTokenURL string `env:"AMAZON_EU_TOKEN_URL"`
	// AmazonFEURL is the SP-API root of the Far East region (production:
	// https://sellingpartnerapi-fe.amazon.com); its token endpoint defaults to
	// AmazonFEURL + /auth/o2/token. Empty: the Far East's stores are unusable.
	AmazonFEURL      string `env:"AMAZON_FE_URL, default=http://127.0.0.1:9302/amazon-fe"`
	AmazonFETokenURL string `env:"AMAZON_FE_TOKEN_URL"`
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
	// The regional roots have defaults; left empty, that region's stores are
	// unusable rather than the whole configuration refused.
	check("AMAZON_EU_URL", e.AmazonEUURL, false)
	check("AMAZON_EU_TOKEN_URL", e.AmazonEUTokenURL, false)
	check("AMAZON_FE_URL", e.AmazonFEURL, false)
	check("AMAZON_FE_TOKEN_URL", e.AmazonFETokenURL, false)
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
		region, err := AmazonRegion(st)
		if err != nil {
			return st, err
		}
		st.Region = region
		switch region {
		case "eu":
			st.BaseURL, st.TokenURL = e.AmazonEUURL, e.AmazonEUTokenURL
		case "fe":
			st.BaseURL, st.TokenURL = e.AmazonFEURL, e.AmazonFETokenURL
		default:
			st.BaseURL, st.TokenURL = e.AmazonURL, e.AmazonTokenURL
		}
		if st.BaseURL == "" {
			return st, fmt.Errorf("%w: no Amazon endpoint configured for region %s", domain.ErrStoreUnusable, region)
		}
	default:
		return st, fmt.Errorf("%w: no adapter for marketplace %q", domain.ErrStoreUnusable, st.Marketplace)
	}
	return st, nil
}

// amazonMarketplaceRegions maps Amazon's marketplace ids to the SP-API region
// that serves them.
var amazonMarketplaceRegions = map[string]string{
	// North America: US, CA, MX, BR.
	"ATVPDKIKX0DER": "na", "A2EUQ1WTGCTBG2": "na", "A1AM78C64UM0Y8": "na", "A2Q3Y263D00KWC": "na",
	// Europe: ES, UK, FR, BE, NL, DE, IT, SE, ZA, PL, EG, TR, SA, AE, IN.
	"A1RKKUPIHCS9HS": "eu", "A1F83G8C2ARO7P": "eu", "A13V1IB3VIYZZH": "eu", "AMEN7PMS3EDWL": "eu",
	"A1805IZSGTT6HS": "eu", "A1PA6795UKMFR9": "eu", "APJ6JRA9NG5V4": "eu", "A2NODRKZP88ZB9": "eu",
	"AE08WJ6YKNBMC": "eu", "A1C3SOZRARQ6R3": "eu", "ARBP9OOSHTCHU": "eu", "A33AVAJ2PDY3EV": "eu",
	"A17E79C6D8DWNP": "eu", "A2VIGQ35RCS4UG": "eu", "A21TJRUUN4KGV": "eu",
	// Far East: SG, AU, JP.
	"A19VAU5U5O7RUS": "fe", "A39IBJ37TRP1C6": "fe", "A1VC38T7YXB528": "fe",
}

// AmazonRegion is an Amazon store's SP-API region: its Region when set (na, eu
// or fe; anything else wraps domain.ErrStoreUnusable), else the region of its
// marketplace id (ShopID), else na.
func AmazonRegion(st domain.Store) (string, error) {
	switch r := strings.ToLower(strings.TrimSpace(st.Region)); r {
	case "na", "eu", "fe":
		return r, nil
	case "":
	default:
		return "", fmt.Errorf("%w: Amazon region %q is not na, eu or fe", domain.ErrStoreUnusable, st.Region)
	}
	if r, ok := amazonMarketplaceRegions[strings.ToUpper(strings.TrimSpace(st.ShopID))]; ok {
		return r, nil
	}
	return "na", nil
}

package marketplace

import (
	"errors"
	"testing"

	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

func TestEndpoints(t *testing.T) {
	t.Parallel()
	def := Endpoints{ShopifyURL: "http://127.0.0.1:9302/shopify", EtsyURL: "http://127.0.0.1:9302/etsy", AmazonURL: "http://127.0.0.1:9302/amazon",
		AmazonEUURL: "http://127.0.0.1:9302/amazon-eu", AmazonFEURL: "http://127.0.0.1:9302/amazon-fe"}
	if err := def.Validate(); err != nil {
		t.Fatal(err)
	}
	withAmazon := func(e Endpoints) Endpoints {
		e.AmazonEUURL, e.AmazonFEURL = def.AmazonEUURL, def.AmazonFEURL
		return e
	}
	for name, e := range map[string]Endpoints{
		"fe user info": {ShopifyURL: def.ShopifyURL, EtsyURL: def.EtsyURL, AmazonURL: def.AmazonURL, AmazonEUURL: def.AmazonEUURL, AmazonFEURL: "https://u:p@x"},
		"eu token":     withAmazon(Endpoints{ShopifyURL: def.ShopifyURL, EtsyURL: def.EtsyURL, AmazonURL: def.AmazonURL, AmazonEUTokenURL: "/relative"}),
		"missing":      {EtsyURL: def.EtsyURL, AmazonURL: def.AmazonURL},
		"relative":     {ShopifyURL: "/shopify", EtsyURL: def.EtsyURL, AmazonURL: def.AmazonURL},
		"user info":    {ShopifyURL: def.ShopifyURL, EtsyURL: "https://u:p@api.etsy.com", AmazonURL: def.AmazonURL},
		"query":        {ShopifyURL: def.ShopifyURL, EtsyURL: def.EtsyURL, AmazonURL: def.AmazonURL, AmazonTokenURL: "https://api.amazon.com/auth?x=1"},
		"scheme":       {ShopifyURL: "file:///etc", EtsyURL: def.EtsyURL, AmazonURL: def.AmazonURL},
		"shop twice":   {ShopifyURL: "https://{shop}.myshopify.com/{shop}", EtsyURL: def.EtsyURL, AmazonURL: def.AmazonURL},
		"token scheme": {ShopifyURL: def.ShopifyURL, EtsyURL: def.EtsyURL, EtsyTokenURL: "ftp://x", AmazonURL: def.AmazonURL},
	} {
		if err := e.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}

	prod := Endpoints{ShopifyURL: "https://{shop}.myshopify.com", EtsyURL: "https://api.etsy.com",
		AmazonURL: "https://sellingpartnerapi-na.amazon.com", AmazonTokenURL: "https://api.amazon.com/auth/o2/token",
		AmazonEUURL: "https://sellingpartnerapi-eu.amazon.com", AmazonFEURL: "https://sellingpartnerapi-fe.amazon.com"}
	if err := prod.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		e         Endpoints
		in        domain.Store
		base, tok string
		bad       bool
	}{
		{def, domain.Store{Marketplace: domain.Shopify, ShopID: "Acme-Tees"}, "http://127.0.0.1:9302/shopify/acme-tees", "", false},
		{prod, domain.Store{Marketplace: domain.Shopify, ShopID: "acme.myshopify.com"}, "https://acme.myshopify.com", "", false},
		{prod, domain.Store{Marketplace: domain.Shopify, ShopID: "evil.com#"}, "", "", true},
		{prod, domain.Store{Marketplace: domain.Shopify, ShopID: "a.b"}, "", "", true},
		{prod, domain.Store{Marketplace: domain.Etsy, ShopID: "555"}, "https://api.etsy.com", "", false},
		{prod, domain.Store{Marketplace: domain.Amazon, ShopID: "ATVPDKIKX0DER"}, prod.AmazonURL, prod.AmazonTokenURL, false},
		{prod, domain.Store{Marketplace: domain.Amazon, ShopID: "A1PA6795UKMFR9"}, prod.AmazonEUURL, "", false},
		{prod, domain.Store{Marketplace: domain.Amazon, ShopID: "A1VC38T7YXB528"}, prod.AmazonFEURL, "", false},
		{prod, domain.Store{Marketplace: domain.Amazon, ShopID: "ATVPDKIKX0DER", Region: "EU"}, prod.AmazonEUURL, "", false},
		{def, domain.Store{Marketplace: domain.Amazon, ShopID: "AUNKNOWN0000", Region: ""}, def.AmazonURL, "", false},
		{def, domain.Store{Marketplace: domain.Amazon, ShopID: "A1F83G8C2ARO7P", Region: "fe"}, def.AmazonFEURL, "", false},
		{prod, domain.Store{Marketplace: domain.Amazon, ShopID: "ATVPDKIKX0DER", Region: "mars"}, "", "", true},
		{Endpoints{AmazonURL: def.AmazonURL}, domain.Store{Marketplace: domain.Amazon, ShopID: "A1PA6795UKMFR9"}, "", "", true},
		{prod, domain.Store{Marketplace: "ebay"}, "", "", true},
	}
	for _, tc := range tests {
		got, err := tc.e.apply(tc.in)
		if tc.bad {
			if !errors.Is(err, domain.ErrStoreUnusable) {
				t.Errorf("%+v: err = %v, want ErrStoreUnusable", tc.in, err)
			}
			continue
		}
		if err != nil || got.BaseURL != tc.base || got.TokenURL != tc.tok {
			t.Errorf("%+v: %q %q %v; want %q %q", tc.in, got.BaseURL, got.TokenURL, err, tc.base, tc.tok)
		}
	}
}

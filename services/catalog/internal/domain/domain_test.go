package domain

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/printfleet/printfleet/platform/errs"
)

func valid() Product {
	return Product{ID: "p", Title: "Tee", Active: true,
		Variants: []Variant{{ID: "a", SKU: "A-1", Title: "S", Price: Money{"USD", 1299}, Active: true, StockTracked: true, StockAvailable: 0},
			{ID: "b", SKU: "A-2", Title: "M", Price: Money{"USD", 1299}, Active: false}},
		Placements: []Placement{{ID: "f", Name: "front", WidthIn: 12, HeightIn: 16, MinDPI: 150, RecommendedDPI: 300}}}
}

func TestValidateNamesTheField(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		mut   func(p *Product)
		field string
	}{
		{"ok", func(*Product) {}, ""},
		{"title", func(p *Product) { p.Title = " " }, "product.title"},
		{"sku case-insensitive duplicate", func(p *Product) { p.Variants[1].SKU = "a-1" }, "product.variants[1].sku"},
		{"price", func(p *Product) { p.Variants[0].Price.AmountMinor = 0 }, "product.variants[0].price.amount_minor"},
		{"currency", func(p *Product) { p.Variants[0].Price.Currency = "usd" }, "product.variants[0].price.currency"},
		{"dpi order", func(p *Product) { p.Placements[0].MinDPI = 301 }, "product.placements[0].recommended_dpi"},
		{"placement name duplicate", func(p *Product) {
			p.Placements = append(p.Placements, p.Placements[0])
			p.Placements[1].Name = "FRONT"
		}, "product.placements[1].name"},
		{"height", func(p *Product) { p.Placements[0].HeightIn = 101 }, "product.placements[0].height_in"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := valid()
			c.mut(&p)
			err := p.Validate()
			if c.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var e *errs.Error
			if !errors.As(err, &e) || e.Kind != errs.Invalid || e.Violations[0].Field != c.field || !strings.Contains(e.Message, c.field) {
				t.Fatalf("err = %v, want Invalid naming %s", err, c.field)
			}
		})
	}
}

func TestViewShowsOnlyWhatClientsSee(t *testing.T) {
	t.Parallel()
	p := valid()
	v := p.View()
	if !v.Active || len(v.Variants) != 1 || v.Variants[0].InStock || len(v.Placements) != 1 {
		t.Fatalf("view = %+v: want the active variant only, out of stock", v)
	}
	p.Variants[0].StockTracked = false
	if !p.View().Variants[0].InStock {
		t.Fatal("an untracked variant is always in stock")
	}
	p.Active = false
	if tv := p.View(); tv.Active || len(tv.Variants) != 0 || tv.Title != "" || tv.Version != p.Version {
		t.Fatalf("inactive product view = %+v, want a tombstone", tv)
	}
}

func TestMergeItems(t *testing.T) {
	t.Parallel()
	got, rej := MergeItems([]OrderItem{{"b", 1}, {"a", 2}, {"b", 3}})
	if rej != nil || len(got) != 2 || got[0] != (OrderItem{"a", 2}) || got[1] != (OrderItem{"b", 4}) {
		t.Fatalf("merge = %v %v", got, rej)
	}
	for _, bad := range [][]OrderItem{nil, {{"a", 0}}, {{"a", -1}}, {{"", 1}}} {
		if _, rej := MergeItems(bad); rej == nil || rej.Reason != ReasonInvalid {
			t.Errorf("MergeItems(%v) = %v, want invalid", bad, rej)
		}
	}
}

func TestVerifyShopifyIsTheBase64HMACOfTheRawBody(t *testing.T) {
	body := []byte(`{"id":1,"note":"café"}`)
	// openssl dgst -sha256 -hmac secret -binary | base64, as Shopify computes it.
	mac := hmac.New(sha256.New, []byte("secret"))
	mac.Write(body)
	sig := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if !VerifyShopify("secret", sig, body) {
		t.Fatal("a good signature does not verify")
	}
	for what, c := range map[string][3]string{
		"another secret":  {"other", sig, string(body)},
		"another body":    {"secret", sig, string(body) + " "},
		"no signature":    {"secret", "", string(body)},
		"no secret":       {"", sig, string(body)},
		"not base64":      {"secret", "%%%", string(body)},
		"hex, not base64": {"secret", hex.EncodeToString(mac.Sum(nil)), string(body)},
	} {
		if VerifyShopify(c[0], c[1], []byte(c[2])) {
			t.Errorf("%s verifies", what)
		}
	}
	again := append([]byte(nil), body...)
	if DerivedWebhookID("orders/create", body) != DerivedWebhookID("orders/create", again) ||
		DerivedWebhookID("orders/create", body) == DerivedWebhookID("orders/updated", body) {
		t.Fatal("derived ids are not a digest of topic and body")
	}
	if n := len(DerivedWebhookID("t", body)); n > 128 {
		t.Fatalf("a derived id of %d characters exceeds the webhook id's 128", n)
	}
}

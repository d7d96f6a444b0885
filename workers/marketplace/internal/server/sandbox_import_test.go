// The import side against the sandbox's Shopify shops, orders and webhooks
// and the Shopify adapter's PollOrders and ParseOrderWebhook.

package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	"github.com/printfleet/printfleet/sandbox/marketplace"

	"github.com/printfleet/printfleet/workers/marketplace/internal/app"
	mkt "github.com/printfleet/printfleet/workers/marketplace/internal/clients/marketplace"
	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/shopify"
	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
	"github.com/printfleet/printfleet/workers/marketplace/internal/testenv"
)

func TestShopifyImportByPollAgainstTheSandbox(t *testing.T) {
	sb := marketplace.New(marketplace.Options{Seed: 3})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	e := newImportEnv(t, Options{})
	router, _, err := newMarketplaces(e.opt, mkt.Endpoints{ShopifyURL: srv.URL + "/shopify", EtsyURL: srv.URL + "/etsy", AmazonURL: srv.URL + "/amazon"}, replicas{}, testenv.Discard)
	if err != nil {
		t.Fatal(err)
	}
	router.Parsers[domain.Shopify] = shopify.ParseOrderWebhook
	e.deps.Marketplaces = router
	shop, err := sb.IssueShopifyShop("")
	if err != nil {
		t.Fatal(err)
	}
	cr := shop.Store.Credentials
	id := e.catalog.Add(catalogv1.Marketplace_MARKETPLACE_SHOPIFY, shop.ShopID, &catalogv1.StoreCredentials{AccessToken: cr.AccessToken,
		RefreshToken: cr.RefreshToken, ClientId: cr.ClientID, ClientSecret: cr.ClientSecret})
	var in marketplace.ShopifyOrderInput
	_ = json.Unmarshal([]byte(`{"lines":[{"product_id":"111","variant_id":"222","sku":"TEE-M","quantity":2,"title":"Tee"}],
		"address":{"name":"Ada","line1":"1 Main","city":"Springfield","region":"IL","postal_code":"62701","country_code":"US"},"currency":"USD"}`), &in)
	placed, err := sb.PlaceShopifyOrder(shop.ShopID, in)
	if err != nil {
		t.Fatal(err)
	}
	im := e.importer(t)
	im.Round(context.Background())
	reqs := e.orders.Requests()
	if len(reqs) != 1 {
		t.Fatalf("requests %d", len(reqs))
	}
	r := reqs[0]
	if r.GetExternalOrderId() != placed.OrderID || r.GetLines()[0].GetExternalItemId() != placed.ItemIDs[0] || r.GetStoreId() != id {
		t.Fatalf("placed %+v imported %v", placed, r)
	}
	if c, ok := e.catalog.Cursor(id); !ok || c == "" {
		t.Fatalf("cursor %q saved %v", c, ok)
	}
	// The next round re-reads a small overlap: a duplicate, still one order.
	im.Round(context.Background())
	if n := e.orders.Count(); n != 1 {
		t.Fatalf("%d orders after a second round", n)
	}
	if err := sb.CancelShopifyOrder(shop.ShopID, placed.OrderID, "customer"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	im.Round(context.Background())
	last := e.orders.Requests()[len(e.orders.Requests())-1]
	if !last.GetCancelled() || last.GetExternalOrderId() != placed.OrderID {
		t.Fatalf("after the cancellation: %v", last)
	}
}

func TestShopifyImportByWebhookAgainstTheSandbox(t *testing.T) {
	sb := marketplace.New(marketplace.Options{Seed: 4})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	got := make(chan struct {
		topic string
		body  []byte
	}, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- struct {
			topic string
			body  []byte
		}{r.Header.Get("X-Shopify-Topic"), b}
	}))
	t.Cleanup(hook.Close)
	e := newImportEnv(t, Options{})
	router, _, _ := newMarketplaces(e.opt, mkt.Endpoints{ShopifyURL: srv.URL + "/shopify", EtsyURL: srv.URL + "/etsy", AmazonURL: srv.URL + "/amazon"}, replicas{}, testenv.Discard)
	router.Parsers[domain.Shopify] = shopify.ParseOrderWebhook
	e.deps.Marketplaces = router
	shop, _ := sb.IssueShopifyShop("")
	id := e.catalog.Add(catalogv1.Marketplace_MARKETPLACE_SHOPIFY, shop.ShopID, &catalogv1.StoreCredentials{AccessToken: shop.Store.Credentials.AccessToken})
	if err := sb.RegisterShopifyWebhook(shop.ShopID, hook.URL); err != nil {
		t.Fatal(err)
	}
	var in marketplace.ShopifyOrderInput
	_ = json.Unmarshal([]byte(`{"lines":[{"product_id":"111","variant_id":"222","sku":"TEE-M","quantity":2,"title":"Tee"}],
		"address":{"name":"Ada","line1":"1 Main","city":"Springfield","region":"IL","postal_code":"62701","country_code":"US"},"currency":"USD"}`), &in)
	placed, _ := sb.PlaceShopifyOrder(shop.ShopID, in)
	im := e.importer(t)
	select {
	case d := <-got:
		err := im.ImportWebhook(context.Background(), app.WebhookDelivery{StoreID: id, Marketplace: domain.Shopify, Topic: d.topic, Body: d.body})
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no webhook")
	}
	r := e.orders.Requests()[0]
	if r.GetExternalOrderId() != placed.OrderID || r.GetLines()[0].GetExternalItemId() != placed.ItemIDs[0] {
		t.Fatalf("imported %v", r)
	}
}

package server

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
)

// An Etsy store is connected only with an API key of the shape Etsy requires
// since February 2026 (keystring:shared_secret); the refusal names the field
// and does not repeat the key.
func TestEtsyStoreNeedsKeystringAndSharedSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(e.app, partAPI)
	alice := e.as("alice")
	create := func(shop, key string) error {
		_, err := e.client.CreateStore(alice, &catalogv1.CreateStoreRequest{Marketplace: catalogv1.Marketplace_MARKETPLACE_ETSY,
			ShopId: shop, Name: "Alice on Etsy", Credentials: &catalogv1.StoreCredentials{ApiKey: key, AccessToken: "10001.access"}})
		return err
	}
	for i, key := range []string{"barekeystring42", "keystring42:", ":shared42", "keystring 42:shared42", "key:sha:red"} {
		err := create("etsy-shape-"+string(rune('a'+i)), key)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(fieldsOf(err), "credentials.api_key") {
			t.Fatalf("key %q: %v", key, err)
		}
		if strings.Contains(err.Error(), key) {
			t.Fatalf("the refusal repeats the key: %v", err)
		}
	}
	if err := create("etsy-shape-ok", "keystring42:shared42"); err != nil {
		t.Fatal(err)
	}
	// Only Etsy keys have a shape: a Shopify store keeps any api_key.
	if _, err := e.client.CreateStore(alice, &catalogv1.CreateStoreRequest{Marketplace: catalogv1.Marketplace_MARKETPLACE_SHOPIFY,
		ShopId: "shape-shopify", Name: "n", Credentials: &catalogv1.StoreCredentials{ApiKey: "barekey", AccessToken: "shpat_x"}}); err != nil {
		t.Fatal(err)
	}
}

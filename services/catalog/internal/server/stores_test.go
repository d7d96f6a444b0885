package server

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"

	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
)

func TestCredentialsNeverAppearInResponsesLogsOrErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(e.app, partAPI)
	creds := &catalogv1.StoreCredentials{ApiKey: "apikey-SECRET-a1b2c3d4", AccessToken: "shpat_SECRET-e5f6a7b8",
		RefreshToken: "refresh-SECRET-c9d0e1f2", ClientId: "client-id-q1w2e3", ClientSecret: "client-SECRET-r4t5y6"}
	secrets := []string{creds.ApiKey, creds.AccessToken, creds.RefreshToken, creds.ClientSecret}
	alice, bob := e.as("alice"), e.as("bob")
	req := &catalogv1.CreateStoreRequest{Marketplace: catalogv1.Marketplace_MARKETPLACE_SHOPIFY, ShopId: "alice-shop",
		Name: "Alice's prints", Credentials: creds, RateLimitPerSecond: 2, RateLimitBurst: 40}

	var seen []string
	record := func(what string, v any, err error) {
		if err != nil {
			seen = append(seen, what+" error: "+err.Error()+" "+fmt.Sprint(status.Convert(err).Details()))
		}
		if m, ok := v.(proto.Message); ok && m != nil {
			b, _ := protojson.Marshal(m)
			seen = append(seen, what+": "+string(b))
		}
	}

	st, err := e.client.CreateStore(alice, req)
	if err != nil {
		t.Fatal(err)
	}
	record("create", st, nil)
	if st.GetOwnerId() != "alice" || st.GetRateLimitBurst() != 40 || st.GetMarketplace() != catalogv1.Marketplace_MARKETPLACE_SHOPIFY {
		t.Fatalf("store = %v", st)
	}
	_, err = e.client.CreateStore(alice, req)
	if status.Code(err) != codes.AlreadyExists {
		t.Fatalf("duplicate store: %v, want ALREADY_EXISTS", err)
	}
	record("duplicate", nil, err)
	long := strings.Repeat(creds.ApiKey, 30)
	bad := &catalogv1.CreateStoreRequest{Marketplace: catalogv1.Marketplace_MARKETPLACE_ETSY, ShopId: "x", Name: "x",
		Credentials: &catalogv1.StoreCredentials{ApiKey: long, AccessToken: creds.AccessToken}}
	_, err = e.client.CreateStore(alice, bad)
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("oversized credential: %v", err)
	}
	record("oversized", nil, err)
	list, err := e.client.ListStores(alice, &catalogv1.ListStoresRequest{})
	if err != nil || len(list.GetStores()) != 1 {
		t.Fatalf("alice's stores = %v, %v", list, err)
	}
	record("list", list, nil)
	if other, err := e.client.ListStores(bob, &catalogv1.ListStoresRequest{}); err != nil || len(other.GetStores()) != 0 {
		t.Fatalf("bob sees %v, %v", other, err)
	}
	for _, who := range []context.Context{alice, e.admin()} {
		_, err := e.client.GetStoreCredentials(who, &catalogv1.GetStoreCredentialsRequest{StoreId: st.GetId()})
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("credentials for a non-service caller: %v, want PERMISSION_DENIED", err)
		}
		record("denied", nil, err)
	}
	got, err := e.client.GetStoreCredentials(e.as("marketplace-worker", "service"), &catalogv1.GetStoreCredentialsRequest{StoreId: st.GetId()})
	if err != nil || got.GetCredentials().GetAccessToken() != creds.AccessToken || got.GetCredentials().GetClientSecret() != creds.ClientSecret ||
		got.GetStore().GetShopId() != "alice-shop" {
		t.Fatalf("service credentials = %v", err)
	}
	// Stored sealed, and bound to the row: moving it to another store fails
	// closed, and the failure names no secret.
	var sealed []byte
	if err := e.pool.QueryRow(context.Background(), `SELECT credentials FROM stores WHERE id = $1`, st.GetId()).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	notContains(t, "the database column", string(sealed), secrets...)
	st2, err := e.client.CreateStore(alice, &catalogv1.CreateStoreRequest{Marketplace: catalogv1.Marketplace_MARKETPLACE_ETSY,
		ShopId: "alice-etsy", Name: "n", Credentials: &catalogv1.StoreCredentials{ApiKey: "k2"}})
	if err != nil {
		t.Fatal(err)
	}
	record("create2", st2, nil)
	if _, err := e.pool.Exec(context.Background(), `UPDATE stores SET credentials = $1 WHERE id = $2`, sealed, st2.GetId()); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.GetStoreCredentials(e.as("marketplace-worker", "service"), &catalogv1.GetStoreCredentialsRequest{StoreId: st2.GetId()})
	if status.Code(err) != codes.Internal {
		t.Fatalf("swapped ciphertext: %v, want INTERNAL", err)
	}
	record("swapped", nil, err)

	for _, s := range seen {
		notContains(t, "a response or error", s, secrets...)
	}
	notContains(t, "the logs", e.logs.String(), secrets...)
	if !strings.Contains(e.logs.String(), "cannot be opened") {
		t.Fatal("the failed open was not logged (the log check would prove nothing)")
	}
	notContains(t, "the masked config", config.Masked(e.cfg), e.cfg.CredentialsKey.Reveal())
	dc := domain.StoreCredentials{AccessToken: creds.AccessToken}
	notContains(t, "fmt of domain credentials", fmt.Sprintf("%v %+v %#v %s", dc, dc, dc, dc), creds.AccessToken)
}

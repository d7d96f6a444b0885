package server

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"

	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/principal"
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
	for _, who := range []context.Context{alice, e.admin(), e.as("service:orders", principal.RoleService)} {
		_, err := e.client.GetStoreCredentials(who, &catalogv1.GetStoreCredentialsRequest{StoreId: st.GetId()})
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("credentials for a non-service caller: %v, want PERMISSION_DENIED", err)
		}
		record("denied", nil, err)
	}
	got, err := e.client.GetStoreCredentials(e.worker(), &catalogv1.GetStoreCredentialsRequest{StoreId: st.GetId()})
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
		ShopId: "alice-etsy", Name: "n", Credentials: &catalogv1.StoreCredentials{ApiKey: "k2:s2"}})
	if err != nil {
		t.Fatal(err)
	}
	record("create2", st2, nil)
	if _, err := e.pool.Exec(context.Background(), `UPDATE stores SET credentials = $1 WHERE id = $2`, sealed, st2.GetId()); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.GetStoreCredentials(e.worker(), &catalogv1.GetStoreCredentialsRequest{StoreId: st2.GetId()})
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

// worker is the marketplace worker's principal, the only caller of the
// credential calls.
func (e *env) worker() context.Context {
	return e.as(principal.SubjectMarketplaceWorker, principal.RoleService)
}

// The marketplace worker saves refreshed tokens sealed like the rest, and
// flags a store whose credentials a marketplace refused; the seller sees the
// flag in the store list, and saving tokens that work clears it. Any other
// caller, service role or not, is refused.
func TestWorkerSavesRefreshedTokensAndMarksRefusedStores(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(e.app, partAPI)
	alice := e.as("alice")
	creds := &catalogv1.StoreCredentials{ApiKey: "etsy-key-1:etsy-shared-1", AccessToken: "access-OLD-1a2b", RefreshToken: "refresh-OLD-3c4d",
		ClientId: "client-1"}
	st, err := e.client.CreateStore(alice, &catalogv1.CreateStoreRequest{Marketplace: catalogv1.Marketplace_MARKETPLACE_ETSY,
		ShopId: "4242", Name: "Alice on Etsy", Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	id := st.GetId()

	for _, who := range []context.Context{alice, e.admin(), e.as("service:orders", principal.RoleService),
		e.as(principal.SubjectMarketplaceWorker, principal.RoleUser)} {
		_, err := e.client.SaveStoreTokens(who, &catalogv1.SaveStoreTokensRequest{StoreId: id, AccessToken: "stolen"})
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("save tokens as another caller: %v, want PERMISSION_DENIED", err)
		}
		_, err = e.client.MarkStoreNeedsReconnection(who, &catalogv1.MarkStoreNeedsReconnectionRequest{StoreId: id})
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("mark as another caller: %v, want PERMISSION_DENIED", err)
		}
	}

	marked, err := e.client.MarkStoreNeedsReconnection(e.worker(), &catalogv1.MarkStoreNeedsReconnectionRequest{StoreId: id,
		Reason: "etsy answered 401 invalid_token"})
	if err != nil || !marked.GetNeedsReconnection() || marked.GetReconnectionReason() != "etsy answered 401 invalid_token" {
		t.Fatalf("mark = %v, %v", marked, err)
	}
	list, err := e.client.ListStores(alice, &catalogv1.ListStoresRequest{})
	if err != nil || len(list.GetStores()) != 1 || !list.GetStores()[0].GetNeedsReconnection() {
		t.Fatalf("alice's stores after the mark = %v, %v", list, err)
	}

	// A rotated pair, then an access token alone (the refresh token stays).
	if _, err := e.client.SaveStoreTokens(e.worker(), &catalogv1.SaveStoreTokensRequest{StoreId: id,
		AccessToken: "access-NEW-5e6f", RefreshToken: "refresh-NEW-7a8b"}); err != nil {
		t.Fatal(err)
	}
	saved, err := e.client.SaveStoreTokens(e.worker(), &catalogv1.SaveStoreTokensRequest{StoreId: id, AccessToken: "access-NEWER-9c0d"})
	if err != nil || saved.GetNeedsReconnection() {
		t.Fatalf("save = %v, %v", saved, err)
	}
	got, err := e.client.GetStoreCredentials(e.worker(), &catalogv1.GetStoreCredentialsRequest{StoreId: id})
	if err != nil {
		t.Fatal(err)
	}
	if c := got.GetCredentials(); c.GetAccessToken() != "access-NEWER-9c0d" || c.GetRefreshToken() != "refresh-NEW-7a8b" ||
		c.GetApiKey() != creds.ApiKey || c.GetClientId() != creds.ClientId || got.GetStore().GetNeedsReconnection() {
		t.Fatalf("credentials after the saves: access %q refresh %q key %q, store %v", c.GetAccessToken(), c.GetRefreshToken(),
			c.GetApiKey(), got.GetStore())
	}
	var sealed []byte
	if err := e.pool.QueryRow(context.Background(), `SELECT credentials FROM stores WHERE id = $1`, id).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	notContains(t, "the database column", string(sealed), "access-NEWER-9c0d", "refresh-NEW-7a8b")

	// The seller connects the shop again: same store, new credentials, flag
	// cleared. Without the flag, connecting it again is refused.
	if _, err := e.client.MarkStoreNeedsReconnection(e.worker(), &catalogv1.MarkStoreNeedsReconnectionRequest{StoreId: id}); err != nil {
		t.Fatal(err)
	}
	again := &catalogv1.CreateStoreRequest{Marketplace: catalogv1.Marketplace_MARKETPLACE_ETSY, ShopId: "4242", Name: "Alice on Etsy",
		Credentials: &catalogv1.StoreCredentials{ApiKey: "etsy-key-2:etsy-shared-2", AccessToken: "access-RECONNECTED", RefreshToken: "refresh-RECONNECTED"}}
	re, err := e.client.CreateStore(alice, again)
	if err != nil || re.GetId() != id || re.GetNeedsReconnection() {
		t.Fatalf("reconnect = %v, %v", re, err)
	}
	got, err = e.client.GetStoreCredentials(e.worker(), &catalogv1.GetStoreCredentialsRequest{StoreId: id})
	if err != nil || got.GetCredentials().GetAccessToken() != "access-RECONNECTED" || got.GetCredentials().GetApiKey() != "etsy-key-2:etsy-shared-2" {
		t.Fatalf("credentials after reconnecting: %v", err)
	}
	if _, err := e.client.CreateStore(alice, again); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("connecting a healthy store again: %v, want ALREADY_EXISTS", err)
	}

	_, err = e.client.SaveStoreTokens(e.worker(), &catalogv1.SaveStoreTokensRequest{StoreId: uuid.NewString(), AccessToken: "x"})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("save for an unknown store: %v, want NOT_FOUND", err)
	}
	_, err = e.client.SaveStoreTokens(e.worker(), &catalogv1.SaveStoreTokensRequest{StoreId: id})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("save without an access token: %v, want INVALID_ARGUMENT", err)
	}
}

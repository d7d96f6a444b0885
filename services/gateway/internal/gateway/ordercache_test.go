package gateway_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	"github.com/printfleet/printfleet/services/catalog/projfmt"
	"github.com/printfleet/printfleet/services/gateway/internal/gateway"
	"github.com/printfleet/printfleet/services/orders/cachefmt"
)

// TestCachedOrderRead: with an entry in the orders cache, the owner and an
// admin get it without a call to orders, in the bytes the gRPC path writes;
// anyone else, a tombstone, an entry without the API answer and a caller
// asking with trailers all go to orders, which decides as before.
func TestCachedOrderRead(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("needs Redis (-short)")
	}
	rdb := newRedis("127.0.0.1:6379", time.Second)
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis: %v", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "test:gateway:ordercache:" + hex.EncodeToString(b) + ":"
	f := startFakes(t, testSigner(t))
	cached := newEnv(t, withFakes(f), withOptions(func(o *gateway.Options) {
		o.OrderCache = &gateway.OrderCache{Redis: rdb, Prefix: prefix}
	}))
	plain := newEnv(t, withFakes(f))

	// The fake answers alice's order; the entry holds the same order.
	alice := bearer(mint(t, "alice", []string{"user"}))
	viaGRPC := plain.do("GET", "/v1/orders/"+aliceOrder, "", alice)
	if viaGRPC.status != http.StatusOK {
		t.Fatalf("via gRPC: %d %s", viaGRPC.status, viaGRPC.body)
	}
	var o ordersv1.Order
	if err := protojson.Unmarshal(viaGRPC.body, &o); err != nil {
		t.Fatal(err)
	}
	wire, err := proto.Marshal(&o)
	if err != nil {
		t.Fatal(err)
	}
	key := cachefmt.Key(prefix, aliceOrder)
	set := func(v string) {
		t.Helper()
		if err := rdb.Set(ctx, key, v, time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
	}
	set("3:o:" + cachefmt.Encode([]byte(`{"ID":"`+aliceOrder+`"}`), wire))

	for _, c := range []struct {
		name   string
		hdr    map[string]string
		status int
		cache  bool
	}{
		{"owner", alice, http.StatusOK, true},
		{"admin", bearer(mint(t, "root", []string{"admin"})), http.StatusOK, true},
		{"someone else", bearer(mint(t, "mallory", []string{"user"})), http.StatusNotFound, false},
		{"owner asking for trailers", merge(alice, map[string]string{"TE": "trailers"}), http.StatusOK, false},
	} {
		before := f.orders.count()
		r := cached.do("GET", "/v1/orders/"+aliceOrder, "", c.hdr)
		if r.status != c.status {
			t.Errorf("%s: %d %s", c.name, r.status, r.body)
		}
		if called := f.orders.count() > before; called == c.cache {
			t.Errorf("%s: orders called %v, want %v", c.name, called, !c.cache)
		}
		if c.cache && (string(r.body) != string(viaGRPC.body) || r.header.Get("Content-Type") != viaGRPC.header.Get("Content-Type") ||
			r.header.Get("X-Request-Id") == "" || r.header.Get("RateLimit") == "") {
			t.Errorf("%s: cached answer differs:\n%s %v\n%s %v", c.name, r.body, r.header, viaGRPC.body, viaGRPC.header)
		}
	}
	// No token: 401 as before, nothing read.
	if r := cached.do("GET", "/v1/orders/"+aliceOrder, "", nil); r.status != http.StatusUnauthorized {
		t.Errorf("anonymous: %d", r.status)
	}
	for name, v := range map[string]string{
		"tombstone":         "4:t",
		"entry without API": "4:o:" + cachefmt.Encode([]byte(`{}`), nil),
		"entry of another":  "4:o:" + cachefmt.Encode([]byte(`{}`), mustWire(t, &ordersv1.Order{Id: "other", UserId: "alice"})),
	} {
		set(v)
		before := f.orders.count()
		if r := cached.do("GET", "/v1/orders/"+aliceOrder, "", alice); r.status != http.StatusOK || f.orders.count() != before+1 {
			t.Errorf("%s: %d, orders calls %d → %d", name, r.status, before, f.orders.count())
		}
	}
}

func mustWire(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestProjectedProductRead: with the API answer in the catalog's projection,
// anonymous and ordinary callers get it without a call to the catalog, in
// the bytes the gRPC path writes; an admin, an unlisted product and a miss
// go to the catalog.
func TestProjectedProductRead(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("needs Redis (-short)")
	}
	rdb := newRedis("127.0.0.1:6379", time.Second)
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis: %v", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "test:gateway:products:" + hex.EncodeToString(b)
	f := startFakes(t, testSigner(t))
	projected := newEnv(t, withFakes(f), withOptions(func(o *gateway.Options) {
		o.ProductProjection = &gateway.ProductProjection{Redis: rdb, Prefix: prefix}
	}))
	plain := newEnv(t, withFakes(f))
	viaGRPC := plain.do("GET", "/v1/products/"+productID, "", nil)
	if viaGRPC.status != http.StatusOK {
		t.Fatalf("via gRPC: %d %s", viaGRPC.status, viaGRPC.body)
	}
	key := projfmt.Key(prefix, productID)
	setAPI := func(p *catalogv1.Product) {
		t.Helper()
		if err := rdb.HSet(ctx, key, projfmt.FieldVersion, "1", projfmt.FieldAPI, mustWire(t, p)).Err(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rdb.Del(context.Background(), key).Err() })
	}
	setAPI(product())
	for _, c := range []struct {
		name      string
		hdr       map[string]string
		projected bool
	}{
		{"anonymous", nil, true},
		{"a user", bearer(mint(t, "bob", []string{"user"})), true},
		{"an admin", bearer(mint(t, "root", []string{"admin"})), false},
	} {
		before := f.catalog.count()
		r := projected.do("GET", "/v1/products/"+productID, "", c.hdr)
		if r.status != http.StatusOK {
			t.Errorf("%s: %d %s", c.name, r.status, r.body)
		}
		if called := f.catalog.count() > before; called == c.projected {
			t.Errorf("%s: catalog called %v, want %v", c.name, called, !c.projected)
		}
		if c.projected && (string(r.body) != string(viaGRPC.body) || r.header.Get("Content-Type") != viaGRPC.header.Get("Content-Type")) {
			t.Errorf("%s: projected answer differs:\n%s\n%s", c.name, r.body, viaGRPC.body)
		}
	}
	unlisted := product()
	unlisted.Active = false
	setAPI(unlisted)
	before := f.catalog.count()
	if r := projected.do("GET", "/v1/products/"+productID, "", nil); r.status != http.StatusOK || f.catalog.count() != before+1 {
		t.Errorf("unlisted: %d, catalog calls %d → %d", r.status, before, f.catalog.count())
	}
	before = f.catalog.count()
	if r := projected.do("GET", "/v1/products/0190a000-0000-7000-8000-0000000000ff", "", nil); r.status != http.StatusNotFound || f.catalog.count() != before+1 {
		t.Errorf("miss: %d, catalog calls %d → %d", r.status, before, f.catalog.count())
	}
}

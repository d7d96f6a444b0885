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

	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
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

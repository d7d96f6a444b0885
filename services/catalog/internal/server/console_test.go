package server

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/printfleet/printfleet/platform/principal"
	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
)

func (e *env) support() context.Context { return e.as("sam", principal.RoleSupport) }

// SignRenderLinks signs GET links to rendered files for admins and support
// only, valid for the configured lifetime (10 minutes by default), and
// refuses any key the images worker does not write, naming its index.
func TestSignRenderLinks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(e.app, partAPI)
	ctx := context.Background()
	key := "orders/" + uuid.NewString() + "/" + uuid.NewString() + "/mockup.jpg"
	body := []byte("mockup bytes " + key)
	if _, err := e.s3.PutObject(ctx, "printfleet-renders", key, bytes.NewReader(body), int64(len(body)),
		minio.PutObjectOptions{ContentType: "image/jpeg"}); err != nil {
		t.Fatal(err)
	}
	design := "designs/" + uuid.NewString() + "/0123456789abcdef/thumb.webp"
	req := &catalogv1.SignRenderLinksRequest{Keys: []string{key, design}}

	for _, who := range []struct {
		name string
		ctx  context.Context
	}{{"admin", e.admin()}, {"support", e.support()}} {
		res, err := e.client.SignRenderLinks(who.ctx, req)
		if err != nil {
			t.Fatalf("%s: %v", who.name, err)
		}
		if len(res.Urls) != 2 || !strings.Contains(res.Urls[0], "mockup.jpg") || !strings.Contains(res.Urls[1], "thumb.webp") {
			t.Fatalf("%s: urls %v", who.name, res.Urls)
		}
		if left := time.Until(res.ExpiresAt.AsTime()); left < 9*time.Minute || left > 10*time.Minute+time.Second {
			t.Errorf("%s: links expire in %s, want 10 minutes", who.name, left)
		}
		resp, err := http.Get(res.Urls[0])
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Equal(got, body) {
			t.Fatalf("%s: GET link: %d %q", who.name, resp.StatusCode, got)
		}
	}
	for _, c := range []struct {
		name string
		ctx  context.Context
		want codes.Code
	}{
		{"user", e.as("alice"), codes.PermissionDenied},
		{"fulfillment", e.as("fred", principal.RoleFulfillment), codes.PermissionDenied},
		{"anonymous", context.Background(), codes.Unauthenticated},
	} {
		if _, err := e.client.SignRenderLinks(c.ctx, req); status.Code(err) != c.want {
			t.Errorf("%s: %v, want %s", c.name, err, c.want)
		}
	}
	for _, bad := range []string{
		"orders/../designs-bucket-secret", "orders/x/../../y", "../orders/x", "uploads/x.png",
		"designs", "orders/", "/orders/x", "ordersx/y", "orders//x",
	} {
		_, err := e.client.SignRenderLinks(e.support(), &catalogv1.SignRenderLinksRequest{Keys: []string{key, bad}})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "keys[1]") {
			t.Errorf("key %q: %v, want INVALID_ARGUMENT naming keys[1]", bad, err)
		}
	}
}

// Support reads every owner's stores (as an admin does) and any design;
// a user sees only their own.
func TestSupportReadsStoresAndDesigns(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(e.app, partAPI)
	alice, bob := e.as("alice"), e.as("bob")
	st, err := e.client.CreateStore(alice, &catalogv1.CreateStoreRequest{Marketplace: catalogv1.Marketplace_MARKETPLACE_SHOPIFY,
		ShopId: "alice-shop", Name: "Alice's prints", Credentials: &catalogv1.StoreCredentials{AccessToken: "shpat_x"},
		RateLimitPerSecond: 2, RateLimitBurst: 40})
	if err != nil {
		t.Fatal(err)
	}
	created, err := e.client.CreateDesign(alice, &catalogv1.CreateDesignRequest{Filename: "art.png", ContentType: "image/png", SizeBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	design := created.GetDesign().GetId()
	lists := func(ctx context.Context) bool {
		t.Helper()
		res, err := e.client.ListStores(ctx, &catalogv1.ListStoresRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range res.Stores {
			if s.Id == st.Id {
				return true
			}
		}
		return false
	}
	for _, who := range []struct {
		name string
		ctx  context.Context
	}{{"support", e.support()}, {"admin", e.admin()}} {
		if !lists(who.ctx) {
			t.Errorf("%s does not see alice's store", who.name)
		}
		d, err := e.client.GetDesign(who.ctx, &catalogv1.GetDesignRequest{DesignId: design})
		if err != nil || d.GetOwnerId() != "alice" {
			t.Errorf("%s GetDesign: %v %v", who.name, d, err)
		}
	}
	if lists(bob) {
		t.Error("bob sees alice's store")
	}
	if _, err := e.client.GetDesign(bob, &catalogv1.GetDesignRequest{DesignId: design}); status.Code(err) != codes.NotFound {
		t.Errorf("bob GetDesign: %v, want NOT_FOUND", err)
	}
	// Support changes nothing of alice's: processing her design is not theirs.
	if _, err := e.client.ProcessDesign(e.support(), &catalogv1.ProcessDesignRequest{DesignId: design}); status.Code(err) != codes.NotFound {
		t.Errorf("support ProcessDesign: %v, want NOT_FOUND", err)
	}
}

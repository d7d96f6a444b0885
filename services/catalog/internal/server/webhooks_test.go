package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"

	"github.com/printfleet/printfleet/platform/principal"
)

// gateway is the gateway's principal, the only caller of webhook
// deliveries.
func (e *env) gateway() context.Context { return e.as(principal.SubjectGateway, principal.RoleService) }

// shopifySign is Shopify's X-Shopify-Hmac-Sha256 of body under secret.
func shopifySign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// webhookCount reads printfleet_catalog_marketplace_webhooks_total for one
// outcome of Shopify (only this file's tests deliver webhooks).
func webhookCount(t *testing.T, outcome string) float64 {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "printfleet_catalog_marketplace_webhooks_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labels(m)["marketplace"] == "shopify" && labels(m)["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// A Shopify webhook is accepted only from the gateway and only when signed
// with the store's webhook secret; every refusal is the same
// UNAUTHENTICATED and stores nothing. A verified delivery is recorded and
// announced once, however many copies arrive (in parallel too), and an
// app/uninstalled marks the store. The webhook secret is sealed, never
// returned (not even to the marketplace worker), and neither it nor a
// refused body is logged.
func TestShopifyWebhooksAreVerifiedRecordedOnceAndAnnounced(t *testing.T) {
	e := newEnv(t)
	e.start(e.app, partAPI)
	alice, bob := e.as("alice"), e.as("bob")
	const secret = "whsec-SECRET-4f3e2d1c"
	var seen []string
	record := func(what string, v proto.Message, err error) {
		if err != nil {
			seen = append(seen, what+" error: "+err.Error()+" "+fmt.Sprint(status.Convert(err).Details()))
		}
		if v != nil {
			b, _ := protojson.Marshal(v)
			seen = append(seen, what+": "+string(b))
		}
	}
	st, err := e.client.CreateStore(alice, &catalogv1.CreateStoreRequest{Marketplace: catalogv1.Marketplace_MARKETPLACE_SHOPIFY,
		ShopId: "alice.myshopify.com", Name: "Alice", Credentials: &catalogv1.StoreCredentials{AccessToken: "shpat_a", WebhookSecret: secret}})
	if err != nil {
		t.Fatal(err)
	}
	record("create", st, nil)
	if st.GetPaymentMethod() != "card" || st.GetRegion() != "" {
		t.Fatalf("store defaults = %v", st)
	}
	noSecret, err := e.client.CreateStore(bob, &catalogv1.CreateStoreRequest{Marketplace: catalogv1.Marketplace_MARKETPLACE_SHOPIFY,
		ShopId: "bob.myshopify.com", Name: "Bob", Credentials: &catalogv1.StoreCredentials{AccessToken: "shpat_b"}})
	if err != nil {
		t.Fatal(err)
	}
	etsy, err := e.client.CreateStore(bob, &catalogv1.CreateStoreRequest{Marketplace: catalogv1.Marketplace_MARKETPLACE_ETSY,
		ShopId: "4242", Name: "Bob on Etsy", Credentials: &catalogv1.StoreCredentials{ApiKey: "k:s", WebhookSecret: secret}})
	if err != nil {
		t.Fatal(err)
	}
	creds, err := e.client.GetStoreCredentials(e.worker(), &catalogv1.GetStoreCredentialsRequest{StoreId: st.GetId()})
	if err != nil || creds.GetCredentials().GetAccessToken() != "shpat_a" || creds.GetCredentials().GetWebhookSecret() != "" ||
		creds.GetStore().GetPaymentMethod() != "card" {
		t.Fatalf("the worker's credentials = %v, %v", creds, err)
	}
	record("credentials", creds, nil)
	var sealed []byte
	if err := e.pool.QueryRow(context.Background(), `SELECT credentials FROM stores WHERE id = $1`, st.GetId()).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	notContains(t, "the database column", string(sealed), secret)

	body := []byte(`{"id":820982911946154508,"name":"#1001","line_items":[{"id":1,"sku":"TEE-M","quantity":1}]}`)
	delivery := func(id, topic string, b []byte) *catalogv1.ReceiveMarketplaceWebhookRequest {
		return &catalogv1.ReceiveMarketplaceWebhookRequest{StoreId: st.GetId(), Marketplace: catalogv1.Marketplace_MARKETPLACE_SHOPIFY,
			Signature: shopifySign(secret, b), WebhookId: id, Topic: topic, Body: b}
	}
	accepted0, dup0, refused0 := webhookCount(t, "accepted"), webhookCount(t, "duplicate"), webhookCount(t, "refused")

	// Only the gateway delivers.
	for _, who := range []context.Context{alice, e.admin(), e.worker(), e.as(principal.SubjectOrders, principal.RoleService),
		e.as(principal.SubjectGateway, principal.RoleUser)} {
		_, err := e.client.ReceiveMarketplaceWebhook(who, delivery("wh-1", "orders/create", body))
		wantCode(t, "a delivery from another caller", err, codes.PermissionDenied)
	}

	// Refusals, all alike: nothing is stored and the body is not logged.
	const marker = "REFUSED-BODY-MARKER-9a8b7c"
	refusedBody := []byte(`{"note":"` + marker + `"}`)
	bad := map[string]*catalogv1.ReceiveMarketplaceWebhookRequest{}
	r := delivery("wh-x", "orders/create", refusedBody)
	r.Signature = shopifySign("another-secret", refusedBody)
	bad["signed with another secret"] = r
	r = delivery("wh-x", "orders/create", refusedBody)
	r.Signature = ""
	bad["no signature"] = r
	r = delivery("wh-x", "orders/create", refusedBody)
	r.Signature = "not base64 !"
	bad["a malformed signature"] = r
	r = delivery("wh-x", "orders/create", refusedBody)
	r.Signature = shopifySign(secret, body)
	bad["the signature of another body"] = r
	r = delivery("wh-x", "orders/create", refusedBody)
	r.StoreId = uuid.NewString()
	bad["an unknown store"] = r
	r = delivery("wh-x", "orders/create", refusedBody)
	r.StoreId = etsy.GetId()
	bad["a store of another marketplace"] = r
	r = delivery("wh-x", "orders/create", refusedBody)
	r.Marketplace = catalogv1.Marketplace_MARKETPLACE_ETSY
	bad["the route of another marketplace"] = r
	r = delivery("wh-x", "orders/create", refusedBody)
	r.StoreId = noSecret.GetId()
	bad["a store without a webhook secret"] = r
	for what, req := range bad {
		_, err := e.client.ReceiveMarketplaceWebhook(e.gateway(), req)
		wantCode(t, what, err, codes.Unauthenticated)
		if msg := status.Convert(err).Message(); msg != "webhook signature does not verify" {
			t.Fatalf("%s: message %q tells apart the refusals", what, msg)
		}
		record(what, nil, err)
	}
	if n := e.count(`SELECT count(*) FROM marketplace_webhooks`); n != 0 {
		t.Fatalf("refused deliveries stored %d rows", n)
	}
	if n := e.events(eventsv1.KeyMarketplaceWebhookReceived); n != 0 {
		t.Fatalf("refused deliveries announced %d events", n)
	}

	// A good delivery is accepted once; its copies are duplicates, five of
	// them in parallel included.
	good := delivery("wh-1", "orders/create", body)
	good.TriggeredAt = timestamppb.Now()
	res, err := e.client.ReceiveMarketplaceWebhook(e.gateway(), good)
	if err != nil || res.GetDuplicate() {
		t.Fatalf("first delivery = %v, %v", res, err)
	}
	record("accepted", res, nil)
	res, err = e.client.ReceiveMarketplaceWebhook(e.gateway(), good)
	if err != nil || !res.GetDuplicate() {
		t.Fatalf("second delivery = %v, %v", res, err)
	}
	parallel := delivery("wh-2", "orders/updated", body)
	var wg sync.WaitGroup
	var mu sync.Mutex
	fresh := 0
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := e.client.ReceiveMarketplaceWebhook(e.gateway(), parallel)
			if err != nil {
				t.Error(err)
				return
			}
			if !res.GetDuplicate() {
				mu.Lock()
				fresh++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if fresh != 1 {
		t.Fatalf("%d parallel copies were accepted as new, want 1", fresh)
	}
	if n := e.events(eventsv1.KeyMarketplaceWebhookReceived); n != 2 {
		t.Fatalf("events = %d, want 2", n)
	}
	var payload []byte
	if err := e.pool.QueryRow(context.Background(), `SELECT payload FROM outbox WHERE type = $1 ORDER BY seq LIMIT 1`,
		eventsv1.KeyMarketplaceWebhookReceived).Scan(&payload); err != nil {
		t.Fatal(err)
	}
	var ev eventsv1.MarketplaceWebhookReceived
	if err := proto.Unmarshal(payload, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.GetStoreId() != st.GetId() || ev.GetMarketplace() != "shopify" || ev.GetTopic() != "orders/create" || ev.GetWebhookId() != "wh-1" ||
		string(ev.GetBody()) != string(body) || ev.GetReceivedAt() == nil || !ev.GetTriggeredAt().AsTime().Equal(good.GetTriggeredAt().AsTime()) {
		t.Fatalf("event = %v", &ev)
	}

	// Without a webhook id, the same topic and body are the same delivery.
	anon := delivery("", "orders/create", []byte(`{"id":2}`))
	for i, want := range []bool{false, true} {
		res, err := e.client.ReceiveMarketplaceWebhook(e.gateway(), anon)
		if err != nil || res.GetDuplicate() != want {
			t.Fatalf("delivery %d without an id = %v, %v", i, res, err)
		}
	}
	if res, err := e.client.ReceiveMarketplaceWebhook(e.gateway(), delivery("", "orders/create", []byte(`{"id":3}`))); err != nil || res.GetDuplicate() {
		t.Fatalf("another body without an id = %v, %v", res, err)
	}

	// The app uninstalled: the store needs reconnection, and the importer
	// stops polling it.
	if _, err := e.client.ReceiveMarketplaceWebhook(e.gateway(), delivery("wh-3", "app/uninstalled", []byte(`{"id":1}`))); err != nil {
		t.Fatal(err)
	}
	list, err := e.client.ListStores(alice, &catalogv1.ListStoresRequest{})
	if err != nil || len(list.GetStores()) != 1 || !list.GetStores()[0].GetNeedsReconnection() ||
		list.GetStores()[0].GetReconnectionReason() != "the app was uninstalled from the shop" {
		t.Fatalf("alice's stores after the uninstall = %v, %v", list, err)
	}
	record("list", list, nil)
	imports, err := e.client.ListImportStores(e.worker(), &catalogv1.ListImportStoresRequest{})
	if err != nil {
		t.Fatal(err)
	}
	record("imports", imports, nil)
	for _, x := range imports.GetStores() {
		if x.GetStore().GetId() == st.GetId() {
			t.Fatal("the importer still polls an uninstalled store")
		}
	}
	if n := e.count(`SELECT count(*) FROM marketplace_webhooks WHERE store_id = $1`, st.GetId()); n != 5 {
		t.Fatalf("recorded deliveries = %d, want 5", n)
	}

	if d := webhookCount(t, "accepted") - accepted0; d != 5 {
		t.Errorf("accepted counted %v, want 5", d)
	}
	if d := webhookCount(t, "duplicate") - dup0; d != 6 {
		t.Errorf("duplicates counted %v, want 6", d)
	}
	if d := webhookCount(t, "refused") - refused0; d != float64(len(bad)-1) {
		// The route of another marketplace is counted under etsy.
		t.Errorf("refusals counted %v, want %d", d, len(bad)-1)
	}
	for _, s := range seen {
		notContains(t, "a response or error", s, secret)
	}
	notContains(t, "the logs", e.logs.String(), secret, marker)
	if strings.Contains(e.logs.String(), string(body)) {
		t.Error("the logs hold a webhook body")
	}
}

// The importer (the marketplace worker alone) pages every store that does
// not need reconnection, with its cursor, payment method and Amazon
// region, and records a finished poll. A region on a store that is not
// Amazon's is refused.
func TestImportStoresAndCursorsAreTheWorkersOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(e.app, partAPI)
	_, err := e.client.CreateStore(e.as("zoe"), &catalogv1.CreateStoreRequest{Marketplace: catalogv1.Marketplace_MARKETPLACE_ETSY,
		ShopId: "1", Name: "Zoe", Region: "eu", Credentials: &catalogv1.StoreCredentials{ApiKey: "k:s"}})
	wantCode(t, "a region on an Etsy store", err, codes.InvalidArgument)
	_, err = e.client.CreateStore(e.as("zoe"), &catalogv1.CreateStoreRequest{Marketplace: catalogv1.Marketplace_MARKETPLACE_AMAZON,
		ShopId: "1", Name: "Zoe", Region: "mars", Credentials: &catalogv1.StoreCredentials{RefreshToken: "r"}})
	wantCode(t, "an unknown region", err, codes.InvalidArgument)

	var ids []string
	for i, req := range []*catalogv1.CreateStoreRequest{
		{Marketplace: catalogv1.Marketplace_MARKETPLACE_SHOPIFY, ShopId: "a.myshopify.com", Credentials: &catalogv1.StoreCredentials{AccessToken: "t"}},
		{Marketplace: catalogv1.Marketplace_MARKETPLACE_AMAZON, ShopId: "A1SELLER", Region: "eu", PaymentMethod: "invoice",
			Credentials: &catalogv1.StoreCredentials{RefreshToken: "r"}},
		{Marketplace: catalogv1.Marketplace_MARKETPLACE_AMAZON, ShopId: "A2SELLER", Credentials: &catalogv1.StoreCredentials{RefreshToken: "r"}},
		{Marketplace: catalogv1.Marketplace_MARKETPLACE_ETSY, ShopId: "77", Credentials: &catalogv1.StoreCredentials{ApiKey: "k:s"}},
	} {
		req.Name = fmt.Sprint("store ", i)
		st, err := e.client.CreateStore(e.as(fmt.Sprint("seller-", i)), req)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, st.GetId())
		switch i {
		case 1:
			if st.GetRegion() != "eu" || st.GetPaymentMethod() != "invoice" {
				t.Fatalf("amazon eu store = %v", st)
			}
		case 2:
			if st.GetRegion() != "na" || st.GetPaymentMethod() != "card" {
				t.Fatalf("amazon store without a region = %v", st)
			}
		}
	}
	got, err := e.client.GetStoreCredentials(e.worker(), &catalogv1.GetStoreCredentialsRequest{StoreId: ids[1]})
	if err != nil || got.GetStore().GetRegion() != "eu" || got.GetStore().GetPaymentMethod() != "invoice" {
		t.Fatalf("the worker's view of the eu store = %v, %v", got.GetStore(), err)
	}
	if _, err := e.client.MarkStoreNeedsReconnection(e.worker(), &catalogv1.MarkStoreNeedsReconnectionRequest{StoreId: ids[3]}); err != nil {
		t.Fatal(err)
	}

	for _, who := range []context.Context{e.as("seller-0"), e.admin(), e.gateway(), e.as(principal.SubjectOrders, principal.RoleService),
		e.as(principal.SubjectMarketplaceWorker, principal.RoleUser)} {
		_, err := e.client.ListImportStores(who, &catalogv1.ListImportStoresRequest{})
		wantCode(t, "import stores for another caller", err, codes.PermissionDenied)
		_, err = e.client.SaveImportCursor(who, &catalogv1.SaveImportCursorRequest{StoreId: ids[0], Cursor: "x"})
		wantCode(t, "a cursor saved by another caller", err, codes.PermissionDenied)
	}

	walk := func(size int32) (pages int, seen map[string]*catalogv1.ImportStore) {
		seen = map[string]*catalogv1.ImportStore{}
		token := ""
		for {
			page, err := e.client.ListImportStores(e.worker(), &catalogv1.ListImportStoresRequest{PageSize: size, PageToken: token})
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, x := range page.GetStores() {
				seen[x.GetStore().GetId()] = x
			}
			if token = page.GetNextPageToken(); token == "" {
				return pages, seen
			}
		}
	}
	pages, seen := walk(2)
	if pages != 2 || len(seen) != 3 || seen[ids[3]] != nil {
		t.Fatalf("%d pages of %d stores (%v), want 2 pages of the 3 stores not needing reconnection", pages, len(seen), seen)
	}
	if x := seen[ids[1]]; x.GetCursor() != "" || x.GetStore().GetLastImportAt() != nil || x.GetStore().GetRegion() != "eu" {
		t.Fatalf("a store never polled = %v", x)
	}

	saved, err := e.client.SaveImportCursor(e.worker(), &catalogv1.SaveImportCursorRequest{StoreId: ids[1], Cursor: "next-token-1"})
	if err != nil || saved.GetLastImportAt() == nil || saved.GetId() != ids[1] {
		t.Fatalf("save = %v, %v", saved, err)
	}
	_, seen = walk(0)
	if x := seen[ids[1]]; x.GetCursor() != "next-token-1" || !x.GetStore().GetLastImportAt().AsTime().Equal(saved.GetLastImportAt().AsTime()) {
		t.Fatalf("after the save = %v", x)
	}
	_, err = e.client.SaveImportCursor(e.worker(), &catalogv1.SaveImportCursorRequest{StoreId: uuid.NewString(), Cursor: "x"})
	wantCode(t, "a cursor of no store", err, codes.NotFound)
	_, err = e.client.ListImportStores(e.worker(), &catalogv1.ListImportStoresRequest{PageToken: "junk"})
	wantCode(t, "a malformed page token", err, codes.InvalidArgument)

	// A seller reconnecting a refused Amazon store may correct its region
	// (the payment method, not given, stays); the importer polls it again.
	if _, err := e.client.MarkStoreNeedsReconnection(e.worker(), &catalogv1.MarkStoreNeedsReconnectionRequest{StoreId: ids[1]}); err != nil {
		t.Fatal(err)
	}
	if _, seen = walk(0); seen[ids[1]] != nil {
		t.Fatal("the importer polls a store needing reconnection")
	}
	re, err := e.client.CreateStore(e.as("seller-1"), &catalogv1.CreateStoreRequest{Marketplace: catalogv1.Marketplace_MARKETPLACE_AMAZON,
		ShopId: "A1SELLER", Name: "store 1", Region: "fe", Credentials: &catalogv1.StoreCredentials{RefreshToken: "r2"}})
	if err != nil || re.GetId() != ids[1] || re.GetRegion() != "fe" || re.GetPaymentMethod() != "invoice" || re.GetNeedsReconnection() {
		t.Fatalf("reconnected = %v, %v", re, err)
	}
	if _, seen = walk(0); seen[ids[1]].GetStore().GetRegion() != "fe" || seen[ids[1]].GetCursor() != "next-token-1" {
		t.Fatalf("the reconnected store as the importer sees it = %v", seen[ids[1]])
	}
}

// A store whose orders are typed in over REST (order_import "off") is not
// polled, and its verified webhooks are recorded but announce nothing;
// connecting it again (after a refusal) with "auto" brings it back to the
// importer.
func TestStoresWithOrderImportOffAreNeitherPolledNorAnnounced(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(e.app, partAPI)
	_, err := e.client.CreateStore(e.as("olga"), &catalogv1.CreateStoreRequest{Marketplace: catalogv1.Marketplace_MARKETPLACE_SHOPIFY,
		ShopId: "olga", Name: "Olga", OrderImport: "sometimes", Credentials: &catalogv1.StoreCredentials{AccessToken: "t"}})
	wantCode(t, "an unknown order_import", err, codes.InvalidArgument)
	const secret = "whsec-off"
	req := &catalogv1.CreateStoreRequest{Marketplace: catalogv1.Marketplace_MARKETPLACE_SHOPIFY, ShopId: "olga", Name: "Olga",
		OrderImport: "off", Credentials: &catalogv1.StoreCredentials{AccessToken: "t", WebhookSecret: secret}}
	st, err := e.client.CreateStore(e.as("olga"), req)
	if err != nil || st.GetOrderImport() != "off" {
		t.Fatalf("store with import off = %v, %v", st, err)
	}
	listed := func() bool {
		page, err := e.client.ListImportStores(e.worker(), &catalogv1.ListImportStoresRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, is := range page.GetStores() {
			if is.GetStore().GetId() == st.GetId() {
				return true
			}
		}
		return false
	}
	if listed() {
		t.Fatal("a store with order import off is listed for polling")
	}
	body := []byte(`{"id":1001}`)
	deliver := func(id string) {
		r, err := e.client.ReceiveMarketplaceWebhook(e.gateway(), &catalogv1.ReceiveMarketplaceWebhookRequest{StoreId: st.GetId(),
			Marketplace: catalogv1.Marketplace_MARKETPLACE_SHOPIFY, Signature: shopifySign(secret, body), WebhookId: id,
			Topic: "orders/create", Body: body})
		if err != nil || r.GetDuplicate() {
			t.Fatalf("delivery %s = %v, %v", id, r, err)
		}
	}
	announced := func() int {
		var n int
		if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM outbox WHERE type = $1`, eventsv1.KeyMarketplaceWebhookReceived).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	deliver("wh-off")
	if n := announced(); n != 0 {
		t.Fatalf("a webhook of a store with import off was announced %d times", n)
	}
	// Settings change when the seller connects the store again.
	if _, err := e.client.MarkStoreNeedsReconnection(e.worker(), &catalogv1.MarkStoreNeedsReconnectionRequest{StoreId: st.GetId()}); err != nil {
		t.Fatal(err)
	}
	req.OrderImport = "auto"
	if st, err = e.client.CreateStore(e.as("olga"), req); err != nil || st.GetOrderImport() != "auto" {
		t.Fatalf("reconnected with import auto = %v, %v", st, err)
	}
	if !listed() {
		t.Fatal("the store is not polled once its import is auto")
	}
	deliver("wh-auto")
	if n := announced(); n != 1 {
		t.Fatalf("announced %d webhooks once import is auto, want 1", n)
	}
}

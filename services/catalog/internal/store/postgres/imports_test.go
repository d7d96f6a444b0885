package postgres_test

import (
	"context"
	"errors"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/errs"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	"github.com/printfleet/printfleet/services/catalog/internal/app"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
	"github.com/printfleet/printfleet/services/catalog/internal/events"
	"github.com/printfleet/printfleet/services/catalog/internal/testenv"
)

func shopifyShop(owner, shopID string) domain.Store {
	st := shop(owner, shopID)
	st.Marketplace = domain.Shopify
	return st
}

// A delivery is recorded once per store and webhook id, even when its
// copies race; the same id on another store is another delivery. The row,
// the outbox event and the uninstall mark commit together or not at all.
func TestWebhooksAreRecordedOncePerStoreWithTheirEventAndMark(t *testing.T) {
	t.Parallel()
	pool, s := testenv.DB(t)
	ctx := context.Background()
	a, b := shopifyShop("alice", "a.myshopify.com"), shopifyShop("bob", "b.myshopify.com")
	for _, st := range []domain.Store{a, b} {
		inTx(t, s, func(ctx context.Context, tx app.Tx) error { return tx.InsertStore(ctx, st, []byte{1}) })
	}
	now := time.Now().UTC().Truncate(time.Microsecond)

	var wg sync.WaitGroup
	var mu sync.Mutex
	fresh := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var isNew bool
			err := txErr(s, func(ctx context.Context, tx app.Tx) (err error) {
				isNew, err = tx.InsertWebhook(ctx, a.ID, "wh-1", "orders/create", now)
				if err != nil || !isNew {
					return err
				}
				return tx.Emit(ctx, events.MarketplaceWebhookReceived(domain.Webhook{StoreID: a.ID, Marketplace: domain.Shopify,
					ID: "wh-1", Topic: "orders/create", Body: []byte(`{"id":1}`), ReceivedAt: now}))
			})
			if err != nil {
				t.Error(err)
			}
			if isNew {
				mu.Lock()
				fresh++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if fresh != 1 {
		t.Fatalf("%d copies were new, want 1", fresh)
	}
	if n := count(t, pool, `SELECT count(*) FROM outbox WHERE type = 'catalog.marketplace_webhook_received.v1'`); n != 1 {
		t.Fatalf("outbox rows = %d, want 1", n)
	}
	var payload []byte
	if err := pool.QueryRow(ctx, `SELECT payload FROM outbox WHERE type = 'catalog.marketplace_webhook_received.v1'`).Scan(&payload); err != nil {
		t.Fatal(err)
	}
	var ev eventsv1.MarketplaceWebhookReceived
	if err := proto.Unmarshal(payload, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.GetStoreId() != a.ID || ev.GetMarketplace() != "shopify" || ev.GetWebhookId() != "wh-1" || string(ev.GetBody()) != `{"id":1}` ||
		!ev.GetReceivedAt().AsTime().Equal(now) || ev.GetTriggeredAt() != nil {
		t.Fatalf("event = %v", &ev)
	}
	inTx(t, s, func(ctx context.Context, tx app.Tx) error {
		isNew, err := tx.InsertWebhook(ctx, b.ID, "wh-1", "orders/create", now)
		if err == nil && !isNew {
			t.Error("the same webhook id on another store was taken for a duplicate")
		}
		return err
	})

	// An uninstall marks the store in the delivery's transaction; a failed
	// transaction leaves neither the row, nor the event, nor the mark.
	boom := errors.New("boom")
	err := txErr(s, func(ctx context.Context, tx app.Tx) error {
		if _, err := tx.InsertWebhook(ctx, a.ID, "wh-2", domain.TopicAppUninstalled, now); err != nil {
			return err
		}
		if err := tx.MarkStoreNeedsReconnection(ctx, a.ID, "the app was uninstalled from the shop"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if n := count(t, pool, `SELECT count(*) FROM marketplace_webhooks WHERE webhook_id = 'wh-2'`); n != 0 {
		t.Fatal("a rolled-back delivery was recorded")
	}
	if got, _, _ := s.SealedStore(ctx, a.ID); got.NeedsReconnection {
		t.Fatal("a rolled-back uninstall marked the store")
	}
	inTx(t, s, func(ctx context.Context, tx app.Tx) error {
		if _, err := tx.InsertWebhook(ctx, a.ID, "wh-2", domain.TopicAppUninstalled, now); err != nil {
			return err
		}
		return tx.MarkStoreNeedsReconnection(ctx, a.ID, "the app was uninstalled from the shop")
	})
	if got, _, _ := s.SealedStore(ctx, a.ID); !got.NeedsReconnection || got.ReconnectionReason != "the app was uninstalled from the shop" {
		t.Fatalf("store after the uninstall = %+v", got)
	}

	// Retention: a store's old deliveries go, the recent ones and other
	// stores' stay.
	old := now.Add(-8 * 24 * time.Hour)
	inTx(t, s, func(ctx context.Context, tx app.Tx) error {
		if _, err := tx.InsertWebhook(ctx, a.ID, "wh-old", "orders/create", old); err != nil {
			return err
		}
		_, err := tx.InsertWebhook(ctx, b.ID, "wh-old", "orders/create", old)
		return err
	})
	n, err := s.PruneWebhooks(ctx, a.ID, now.Add(-app.WebhookRetention))
	if err != nil || n != 1 {
		t.Fatalf("pruned %d, %v; want 1", n, err)
	}
	if n := count(t, pool, `SELECT count(*) FROM marketplace_webhooks`); n != 4 {
		t.Fatalf("deliveries left = %d, want 4 (a: wh-1, wh-2; b: wh-1, wh-old)", n)
	}
}

// The importer pages every store that does not need reconnection by id,
// with its cursor; saving a cursor stamps the last import.
func TestImportStoresPageWithCursorsAndSkipStoresNeedingReconnection(t *testing.T) {
	t.Parallel()
	_, s := testenv.DB(t)
	ctx := context.Background()
	var ids []string
	for i := range 5 {
		st := shop("owner-"+string(rune('a'+i)), "shop")
		if i == 4 {
			st.Marketplace, st.Region, st.PaymentMethod = domain.Amazon, domain.RegionEU, domain.PaymentInvoice
		}
		ids = append(ids, st.ID)
		inTx(t, s, func(ctx context.Context, tx app.Tx) error { return tx.InsertStore(ctx, st, []byte{1}) })
	}
	sort.Strings(ids)
	inTx(t, s, func(ctx context.Context, tx app.Tx) error { return tx.MarkStoreNeedsReconnection(ctx, ids[1], "401") })
	want := []string{ids[0], ids[2], ids[3], ids[4]}

	page := func(after string, limit int) []domain.ImportStore {
		list, err := s.ImportStores(ctx, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		return list
	}
	idsOf := func(list []domain.ImportStore) []string {
		var out []string
		for _, x := range list {
			out = append(out, x.Store.ID)
		}
		return out
	}
	first := page("", 2)
	if got := idsOf(first); !slices.Equal(got, want[:2]) {
		t.Fatalf("first page %v, want %v", got, want[:2])
	}
	if got := idsOf(page(first[1].Store.ID, 2)); !slices.Equal(got, want[2:]) {
		t.Fatalf("second page %v, want %v", got, want[2:])
	}
	for _, x := range first {
		if x.Cursor != "" || !x.Store.LastImportAt.IsZero() {
			t.Fatalf("a store never polled: %+v", x)
		}
	}

	before := time.Now()
	st, err := s.SaveImportCursor(ctx, ids[4], "since=2026-12-03T11:00:00Z")
	if err != nil {
		t.Fatal(err)
	}
	if st.ID != ids[4] || st.LastImportAt.Before(before.Add(-time.Second)) || st.Region != domain.RegionEU ||
		st.PaymentMethod != domain.PaymentInvoice || st.Marketplace != domain.Amazon {
		t.Fatalf("saved = %+v", st)
	}
	all := page("", 10)
	last := all[len(all)-1]
	if last.Store.ID != ids[4] || last.Cursor != "since=2026-12-03T11:00:00Z" || !last.Store.LastImportAt.Equal(st.LastImportAt) {
		t.Fatalf("listed after the save = %+v", last)
	}
	for _, id := range []string{"junk", testenv.ID()} {
		_, err := s.SaveImportCursor(ctx, id, "x")
		wantKind(t, "cursor of "+id, err, errs.NotFound)
	}
}

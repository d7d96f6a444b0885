package amqpapi

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/amqp"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"

	"github.com/printfleet/printfleet/workers/marketplace/internal/app"
	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

type importStores struct{ err error }

func (importStores) ListImportStores(context.Context) ([]app.ImportStore, error) { return nil, nil }
func (importStores) SaveImportCursor(context.Context, string, string) error      { return nil }
func (s importStores) StoreByID(_ context.Context, id string) (domain.Store, error) {
	return domain.Store{ID: id, Marketplace: domain.Shopify, OwnerID: "u1"}, s.err
}

type importers struct{}

func (importers) PollOrders(context.Context, domain.Store, string, time.Time) (domain.OrderPage, error) {
	return domain.OrderPage{}, nil
}

func (importers) ParseOrderWebhook(_ domain.Marketplace, b []byte) (domain.ExternalOrder, error) {
	if string(b) != "order" {
		return domain.ExternalOrder{}, &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonInvalid, Op: "parse webhook"}
	}
	return domain.ExternalOrder{ExternalID: "1", Ready: true, Lines: []domain.ExternalLine{{SKU: "S", Quantity: 1}}}, nil
}

type ordersFunc func() error

func (f ordersFunc) ImportOrder(context.Context, domain.Store, domain.ExternalOrder) (domain.ImportOutcome, error) {
	if err := f(); err != nil {
		return domain.ImportFailed, err
	}
	return domain.ImportImported, nil
}

type permanentErr struct{}

func (permanentErr) Error() string        { return "refused" }
func (permanentErr) Is(target error) bool { return target == domain.ErrPermanent }
func retryableErr() error {
	return &domain.Error{Kind: domain.KindRetryable, Reason: domain.ReasonUnavailable}
}
func webhook(topic, body string) proto.Message {
	return &eventsv1.MarketplaceWebhookReceived{StoreId: "s1", Marketplace: "shopify", Topic: topic, WebhookId: "w1", Body: []byte(body)}
}

func TestImportHandler(t *testing.T) {
	delivery := func(typ string, m proto.Message) amqp.Delivery {
		b, _ := proto.Marshal(m)
		return amqp.Delivery{ID: "m1", Type: typ, Body: b, Attempt: 1}
	}
	key := eventsv1.KeyMarketplaceWebhookReceived
	tests := []struct {
		name          string
		d             amqp.Delivery
		stores        importStores
		orders        error
		wantErr       bool
		wantPermanent bool // permanent: dead-lettered
	}{
		{name: "an order is imported", d: delivery(key, webhook("orders/create", "order"))},
		{name: "app/uninstalled is acked", d: delivery(key, webhook("app/uninstalled", "{}"))},
		{name: "a body that is no order is dead-lettered", d: delivery(key, webhook("orders/create", "x")), wantErr: true, wantPermanent: true},
		{name: "an unreadable message is dead-lettered", d: amqp.Delivery{ID: "m2", Type: key, Body: []byte{0xff, 0xff}}, wantErr: true, wantPermanent: true},
		{name: "an unexpected type is dead-lettered", d: delivery(eventsv1.KeyOrderPaid, webhook("orders/create", "order")), wantErr: true, wantPermanent: true},
		{name: "a store that is gone is dead-lettered", d: delivery(key, webhook("orders/create", "order")),
			stores: importStores{err: domain.ErrStoreUnusable}, wantErr: true, wantPermanent: true},
		{name: "an order refused is dead-lettered", d: delivery(key, webhook("orders/create", "order")), orders: permanentErr{},
			wantErr: true, wantPermanent: true},
		{name: "orders unavailable is retried", d: delivery(key, webhook("orders/create", "order")), orders: retryableErr(), wantErr: true},
		{name: "catalog unavailable is retried", d: delivery(key, webhook("orders/create", "order")),
			stores: importStores{err: errors.New("catalog down")}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			im, err := app.NewImporter(app.ImportOptions{PollEvery: time.Minute, Lookback: time.Hour, Concurrency: 1, MaxPages: 1,
				PollTimeout: time.Minute, ImportTimeout: time.Minute},
				app.ImportDeps{Stores: tt.stores, Marketplaces: importers{}, Orders: ordersFunc(func() error { return tt.orders })})
			if err != nil {
				t.Fatal(err)
			}
			err = ImportHandler(im)(context.Background(), tt.d)
			if (err != nil) != tt.wantErr || amqp.IsPermanent(err) != tt.wantPermanent {
				t.Fatalf("err = %v (permanent %v), want error %v permanent %v", err, amqp.IsPermanent(err), tt.wantErr, tt.wantPermanent)
			}
		})
	}
}

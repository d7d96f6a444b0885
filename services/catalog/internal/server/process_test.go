package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/amqp/amqptest"
	"github.com/printfleet/printfleet/platform/grpcclient"
	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/platform/run/runtest"
	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
)

// TestProcessesServeTogetherAndDrain runs the two long-running binaries'
// Serve functions as their mains do, configured only through the
// environment, on the test's database, Redis prefix, exchanges and queues:
// a product created over gRPC is projected by the worker, an order placed
// on the broker is reserved by it, every event is relayed, and both stop
// cleanly on cancellation. Not parallel: it sets the environment.
func TestProcessesServeTogetherAndDrain(t *testing.T) {
	e := newEnv(t)
	grpcAddr := runtest.FreeAddr(t)
	for k, v := range map[string]string{
		"PRINTFLEET_INTERNAL_SECRET": testSecret, "PRINTFLEET_PG_URL": e.pgURL,
		"PRINTFLEET_REDIS_ADDRS": "127.0.0.1:6379", "PRINTFLEET_CATALOG_REDIS_PREFIX": e.prefix,
		"PRINTFLEET_AMQP_URL": amqptest.URL(), "PRINTFLEET_AMQP_EXCHANGE": e.broker.Config.Exchange,
		"PRINTFLEET_AMQP_DEAD_LETTER_EXCHANGE": e.broker.Config.DeadLetterExchange,
		"PRINTFLEET_CATALOG_STOCK_QUEUE":       e.queues.Stock, "PRINTFLEET_CATALOG_PROJECTOR_QUEUE": e.queues.Projector,
		"PRINTFLEET_CATALOG_DESIGNS_QUEUE": e.queues.Designs, "PRINTFLEET_GRPC_ADDR": grpcAddr,
		"PRINTFLEET_ADMIN_ADDR": "127.0.0.1:0", "PRINTFLEET_CATALOG_CREDENTIALS_KEY": e.cfg.CredentialsKey.Reveal(),
		"PRINTFLEET_CATALOG_DESIGN_PREFIX": e.prefix + "/", "PRINTFLEET_LOG_LEVEL": "error",
	} {
		t.Setenv(k, v)
	}
	// What the catalog publishes must be routed somewhere (mandatory).
	ctx := context.Background()
	if err := e.conn.DeclareQueue(ctx, e.broker.Queue("sink"), eventsv1.KeyStockReserved, eventsv1.KeyStockRejected,
		eventsv1.KeyStockReleased, eventsv1.KeyDesignUploaded, eventsv1.KeyVariantPricesChanged); err != nil {
		t.Fatal(err)
	}

	runCtx, cancel := context.WithCancel(ctx)
	apiDone, workerDone := make(chan error, 1), make(chan error, 1)
	go func() { apiDone <- run.Run(runCtx, "catalog", ServeAPI) }()
	go func() { workerDone <- run.Run(runCtx, "catalog-worker", ServeWorker) }()
	defer func() {
		cancel()
		for name, ch := range map[string]chan error{"catalog": apiDone, "catalog-worker": workerDone} {
			select {
			case err := <-ch:
				if err != nil {
					t.Errorf("%s stopped with %v", name, err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("%s did not stop", name)
			}
		}
	}()

	cc, err := grpcclient.Dial(grpcAddr, grpcclient.Options{Signer: e.signer, DefaultTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := catalogv1.NewCatalogServiceClient(cc)
	var p *catalogv1.Product
	e.eventually(60*time.Second, "the API serves", func() (bool, string) {
		p, err = client.CreateProduct(e.admin(), &catalogv1.CreateProductRequest{Product: newProduct(1, 2)})
		return err == nil, fmt.Sprint(err)
	})
	e.eventually(30*time.Second, "the worker projects the new product", func() (bool, string) {
		v, found, _, err := e.app.Proj.Get(ctx, p.GetId())
		return found && v.Version == 1, fmt.Sprintf("found=%v err=%v", found, err)
	})

	body, err := proto.Marshal(&eventsv1.OrderPlaced{OrderId: "order-p1", UserId: "u1",
		Items: []*eventsv1.OrderPlacedItem{{VariantId: p.GetVariants()[0].GetId(), Quantity: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	e.publish(amqp.Message{ID: uuid.NewString(), Type: eventsv1.KeyOrderPlaced, Body: body})
	e.eventually(30*time.Second, "the worker reserves the order's stock", func() (bool, string) {
		n := e.count(`SELECT count(*) FROM reservations WHERE order_id = 'order-p1' AND status = 'reserved'`)
		return n == 1 && e.inboxed(eventsv1.QueueCatalogStock) == 1, fmt.Sprintf("%d reservations", n)
	})
	// The variant crossed zero: a second ProductChanged, projected too.
	e.eventually(30*time.Second, "the projection shows the variant out of stock", func() (bool, string) {
		got, err := client.GetProduct(ctx, &catalogv1.GetProductRequest{ProductId: p.GetId()})
		if err != nil {
			return false, err.Error()
		}
		return got.GetVersion() == 2 && !got.GetVariants()[0].GetInStock(), fmt.Sprintf("version %d", got.GetVersion())
	})
	e.eventually(30*time.Second, "every event relayed", func() (bool, string) {
		n := e.count(`SELECT count(*) FROM outbox WHERE published_at IS NULL`)
		return n == 0 && e.events(eventsv1.KeyStockReserved) == 1, fmt.Sprintf("%d unpublished", n)
	})
}

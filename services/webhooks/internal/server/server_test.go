package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	amqp091 "github.com/rabbitmq/amqp091-go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/amqp/amqptest"
	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/grpcclient"
	"github.com/printfleet/printfleet/platform/postgres/pgtest"
	"github.com/printfleet/printfleet/platform/principal"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	typesv1 "github.com/printfleet/printfleet/proto/printfleet/types/v1"
	webhooksv1 "github.com/printfleet/printfleet/proto/printfleet/webhooks/v1"
	store "github.com/printfleet/printfleet/services/webhooks/internal/store/postgres"
)

const testSecret = "webhooks-test-internal-secret-0123456789"

type okOrders struct{}

func (okOrders) SetWebhookSubscriber(context.Context, string, bool) error { return nil }

type fixture struct {
	client webhooksv1.WebhookServiceClient
	amqp   *amqptest.Env
	queue  string
}

// start runs the whole process on a fresh database and broker slice, with
// a fake orders and a loopback-friendly poster.
func start(t *testing.T) *fixture {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL and RabbitMQ")
	}
	_, url := pgtest.NewDB(t, store.Migrations)
	ae := amqptest.New(t)
	cfg := Config{GRPCAddr: "127.0.0.1:0", Grace: time.Second}
	cfg.PG.URL = config.Secret(url)
	cfg.PG.MaxConns = 8
	cfg.PG.ConnectTimeout = 5 * time.Second
	cfg.AMQP = ae.Config
	cfg.InternalSecret = testSecret
	cfg.Webhooks = WebhooksConfig{
		SecretsKey: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", RetrySchedule: []time.Duration{50 * time.Millisecond},
		DisableAfter: time.Hour, Timeout: 5 * time.Second, EndpointConcurrency: 4, Concurrency: 16, AllowHTTP: true,
		AllowAddrs: []string{"127.0.0.0/8"}, Retention: time.Hour, Queue: ae.Queue("notices"), Poll: 100 * time.Millisecond,
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	p, err := New(context.Background(), cfg, log, Deps{Orders: okOrders{}, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	signer, err := principal.NewSigner(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(grpcclient.ForwardPrincipal(signer)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	waitQueue(t, cfg.Webhooks.Queue)
	return &fixture{client: webhooksv1.NewWebhookServiceClient(cc), amqp: ae, queue: cfg.Webhooks.Queue}
}

// waitQueue waits until the consumer has declared (and bound) its queue.
func waitQueue(t *testing.T, q string) {
	t.Helper()
	conn, err := amqp091.Dial(amqptest.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		_, err = ch.QueueDeclarePassive(q, true, false, false, false, nil)
		if err == nil {
			_ = ch.Close()
			time.Sleep(100 * time.Millisecond) // the binding follows the declaration
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue %s never declared: %v", q, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func as(sub string, roles ...string) context.Context {
	if len(roles) == 0 {
		roles = []string{principal.RoleUser}
	}
	return principal.With(context.Background(), principal.Principal{Subject: sub, Roles: roles})
}

type sink struct {
	*httptest.Server
	mu   sync.Mutex
	got  [][]byte
	hdrs []http.Header
}

func newSink(t *testing.T) *sink {
	s := &sink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.got = append(s.got, b)
		s.hdrs = append(s.hdrs, r.Header.Clone())
		s.mu.Unlock()
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *sink) count() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.got) }

// TestNoticeToDelivery publishes an order notice twice under one message id
// on the real broker: one delivery, with the contract's payload.
func TestNoticeToDelivery(t *testing.T) {
	t.Parallel()
	f := start(t)
	s := newSink(t)
	w, err := f.client.CreateWebhook(as("user-a"), &webhooksv1.CreateWebhookRequest{Url: s.URL + "/hook", EventTypes: []string{"order.shipped"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(w.GetSecret()) < 40 || w.GetStatus() != webhooksv1.WebhookStatus_WEBHOOK_STATUS_ACTIVE {
		t.Fatalf("created %v", w)
	}
	if g, _ := f.client.GetWebhook(as("user-a"), &webhooksv1.GetWebhookRequest{WebhookId: w.GetId()}); g.GetSecret() != "" {
		t.Fatal("the secret is shown again")
	}
	conn, err := amqp.Dial(context.Background(), f.amqp.Config, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pub := amqp.NewPublisher(conn)
	defer pub.Close()
	occurred := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	ev := &eventsv1.OrderNotice{
		Type:       "order.shipped",
		Order:      &ordersv1.Order{Id: "o-1", UserId: "user-a", Total: &typesv1.Money{Currency: "USD", AmountMinor: 2499}},
		Shipment:   &ordersv1.Shipment{Id: "s-1", Carrier: "ups"},
		OccurredAt: timestamppb.New(occurred),
	}
	body, _ := proto.Marshal(ev)
	id := uuid.NewString()
	for range 2 {
		if err := pub.Publish(context.Background(), amqp.Message{ID: id, Type: eventsv1.KeyOrderNotice, Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	// Another owner's notice and an unwanted type deliver nothing.
	other, _ := proto.Marshal(&eventsv1.OrderNotice{Type: "order.shipped", Order: &ordersv1.Order{Id: "o-2", UserId: "user-b"}})
	paid, _ := proto.Marshal(&eventsv1.OrderNotice{Type: "order.paid", Order: &ordersv1.Order{Id: "o-3", UserId: "user-a"}})
	if err := pub.Publish(context.Background(), amqp.Message{Type: eventsv1.KeyOrderNotice, Body: other}, amqp.Message{Type: eventsv1.KeyOrderNotice, Body: paid}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.count() < 1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	if s.count() != 1 {
		t.Fatalf("received %d deliveries, want 1", s.count())
	}
	var payload struct {
		ID         string `json:"id"`
		Type       string `json:"type"`
		APIVersion string `json:"api_version"`
		CreatedAt  string `json:"created_at"`
		Data       struct {
			Order    map[string]any `json:"order"`
			Shipment map[string]any `json:"shipment"`
		} `json:"data"`
	}
	if err := json.Unmarshal(s.got[0], &payload); err != nil {
		t.Fatalf("payload %s: %v", s.got[0], err)
	}
	total, _ := payload.Data.Order["total"].(map[string]any)
	if payload.ID != id || payload.Type != "order.shipped" || payload.APIVersion != "2026-12-01" ||
		payload.CreatedAt != "2026-12-01T10:00:00Z" || payload.Data.Order["id"] != "o-1" ||
		total["amount_minor"] != float64(2499) || payload.Data.Shipment["carrier"] != "ups" {
		t.Fatalf("payload %s", s.got[0])
	}
	if s.hdrs[0].Get("Printfleet-Event-Id") != id {
		t.Fatalf("headers %v", s.hdrs[0])
	}
	ds, err := f.client.ListDeliveries(as("user-a"), &webhooksv1.ListDeliveriesRequest{WebhookId: w.GetId()})
	if err != nil || len(ds.GetDeliveries()) != 1 || ds.GetDeliveries()[0].GetEventId() != id {
		t.Fatalf("deliveries %v %v", ds, err)
	}
}

// TestBOLA: another user's webhook and deliveries are NOT_FOUND through
// every method; an admin may read them.
func TestBOLA(t *testing.T) {
	t.Parallel()
	f := start(t)
	w, err := f.client.CreateWebhook(as("user-a"), &webhooksv1.CreateWebhookRequest{Url: "https://93.184.215.14/hook", EventTypes: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	id := w.GetId()
	b := as("user-b")
	calls := map[string]func() error{
		"get": func() error {
			_, err := f.client.GetWebhook(b, &webhooksv1.GetWebhookRequest{WebhookId: id})
			return err
		},
		"delete": func() error {
			_, err := f.client.DeleteWebhook(b, &webhooksv1.DeleteWebhookRequest{WebhookId: id})
			return err
		},
		"rotate": func() error {
			_, err := f.client.RotateWebhookSecret(b, &webhooksv1.RotateWebhookSecretRequest{WebhookId: id})
			return err
		},
		"enable": func() error {
			_, err := f.client.EnableWebhook(b, &webhooksv1.EnableWebhookRequest{WebhookId: id})
			return err
		},
		"deliveries": func() error {
			_, err := f.client.ListDeliveries(b, &webhooksv1.ListDeliveriesRequest{WebhookId: id})
			return err
		},
		"redeliver": func() error {
			_, err := f.client.Redeliver(b, &webhooksv1.RedeliverRequest{WebhookId: id, DeliveryId: uuid.NewString()})
			return err
		},
	}
	for name, call := range calls {
		if code := status.Code(call()); code != codes.NotFound {
			t.Errorf("%s by another user: %v, want NotFound", name, code)
		}
	}
	if l, err := f.client.ListWebhooks(b, &webhooksv1.ListWebhooksRequest{}); err != nil || len(l.GetWebhooks()) != 0 {
		t.Fatalf("user-b's list: %v %v", l, err)
	}
	if _, err := f.client.ListWebhooks(b, &webhooksv1.ListWebhooksRequest{All: true}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("user-b lists all: %v", err)
	}
	admin := as("admin-1", principal.RoleAdmin)
	if g, err := f.client.GetWebhook(admin, &webhooksv1.GetWebhookRequest{WebhookId: id}); err != nil || g.GetOwnerId() != "user-a" {
		t.Fatalf("admin get: %v %v", g, err)
	}
	if l, err := f.client.ListWebhooks(admin, &webhooksv1.ListWebhooksRequest{OwnerId: "user-a"}); err != nil || len(l.GetWebhooks()) != 1 {
		t.Fatalf("admin list: %v %v", l, err)
	}
	if _, err := f.client.GetWebhook(as("user-a"), &webhooksv1.GetWebhookRequest{WebhookId: id}); err != nil {
		t.Fatalf("owner get: %v", err)
	}
	if _, err := f.client.CreateWebhook(context.Background(), &webhooksv1.CreateWebhookRequest{Url: "https://93.184.215.14/", EventTypes: []string{"*"}}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("anonymous create: %v", err)
	}
}

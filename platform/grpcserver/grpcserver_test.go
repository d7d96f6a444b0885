package grpcserver_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/grpcclient"
	"github.com/printfleet/printfleet/platform/grpcserver"
	"github.com/printfleet/printfleet/platform/principal"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	typesv1 "github.com/printfleet/printfleet/proto/printfleet/types/v1"
)

const secret = "test-internal-secret-0123456789"

// fakeOrders answers from the principal and deadline it sees.
type fakeOrders struct {
	ordersv1.UnimplementedOrderServiceServer
	deadlines chan time.Duration
	captured  chan metadata.MD
}

func (f *fakeOrders) GetOrder(ctx context.Context, req *ordersv1.GetOrderRequest) (*ordersv1.Order, error) {
	if dl, ok := ctx.Deadline(); ok && f.deadlines != nil {
		f.deadlines <- time.Until(dl)
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok && f.captured != nil {
		f.captured <- md
	}
	p := principal.From(ctx)
	switch {
	case !p.Authenticated():
		return nil, errs.E(errs.Unauthenticated, "sign in")
	case p.Subject == "panic":
		panic("boom")
	case p.Subject == "broken":
		return nil, errs.Wrap(errs.Internal, context.Canceled, "secret internal detail")
	case p.Subject != "alice" && !p.IsAdmin():
		return nil, errs.E(errs.NotFound, "order not found")
	}
	return &ordersv1.Order{Id: req.GetOrderId(), UserId: p.Subject}, nil
}

func start(t *testing.T, svc *fakeOrders) (ordersv1.OrderServiceClient, healthpb.HealthClient, *principal.Signer) {
	t.Helper()
	signer, _ := principal.NewSigner(secret)
	srv, err := grpcserver.New(grpcserver.Options{Log: slog.Default(), Signer: signer, Grace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ordersv1.RegisterOrderServiceServer(srv, svc)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeOn(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	cc, err := grpcclient.Dial(ln.Addr().String(), grpcclient.Options{Signer: signer, DefaultTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return ordersv1.NewOrderServiceClient(cc), healthpb.NewHealthClient(cc), signer
}

const orderID = "0192f7a0-0000-7000-8000-000000000001"

func TestInterceptorChain(t *testing.T) {
	t.Parallel()
	client, health, _ := start(t, &fakeOrders{})
	as := func(sub string, roles ...string) context.Context {
		return principal.With(context.Background(), principal.Principal{Subject: sub, Roles: roles})
	}
	cases := []struct {
		name string
		ctx  context.Context
		id   string
		code codes.Code
		msg  string
	}{
		{"owner", as("alice", "user"), orderID, codes.OK, ""},
		{"admin", as("root", "admin"), orderID, codes.OK, ""},
		{"someone else", as("bob", "user"), orderID, codes.NotFound, "order not found"},
		{"anonymous", context.Background(), orderID, codes.Unauthenticated, "sign in"},
		{"protovalidate", as("alice", "user"), "not-a-uuid", codes.InvalidArgument, ""},
		{"panic recovered", as("panic", "user"), orderID, codes.Internal, "internal error"},
		{"internal hidden", as("broken", "user"), orderID, codes.Internal, "internal error"},
	}
	for _, c := range cases {
		_, err := client.GetOrder(c.ctx, &ordersv1.GetOrderRequest{OrderId: c.id})
		if got := status.Code(err); got != c.code {
			t.Errorf("%s: code %v (%v), want %v", c.name, got, err, c.code)
		}
		if c.msg != "" && status.Convert(err).Message() != c.msg {
			t.Errorf("%s: message %q, want %q", c.name, status.Convert(err).Message(), c.msg)
		}
	}
	resp, err := health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: ordersv1.OrderService_ServiceDesc.ServiceName})
	if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", resp, err)
	}
}

func TestForgedPrincipalIsRejected(t *testing.T) {
	t.Parallel()
	client, _, _ := start(t, &fakeOrders{})
	forger, _ := principal.NewSigner("not-the-shared-secret-at-all")
	ctx := forger.Outgoing(context.Background(), "/printfleet.orders.v1.OrderService/GetOrder", principal.Principal{Subject: "alice", Roles: []string{"admin"}}, "r1")
	_, err := client.GetOrder(ctx, &ordersv1.GetOrderRequest{OrderId: orderID})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("forged principal: %v", err)
	}
	// Raw metadata claiming a role without a signature is refused too.
	ctx = metadata.AppendToOutgoingContext(context.Background(), principal.MDSubject, "alice", principal.MDRoles, "admin", principal.MDSig, "00")
	if _, err := client.GetOrder(ctx, &ordersv1.GetOrderRequest{OrderId: orderID}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("unsigned principal: %v", err)
	}
}

// TestCapturedPrincipalReplayedOnAnotherMethodIsRefused captures the principal
// metadata a real call carried to the server and replays it: on the method it
// was minted for it still verifies, on another method it is refused.
func TestCapturedPrincipalReplayedOnAnotherMethodIsRefused(t *testing.T) {
	t.Parallel()
	svc := &fakeOrders{captured: make(chan metadata.MD, 2)}
	client, _, _ := start(t, svc)
	ctx := principal.With(context.Background(), principal.Principal{Subject: "root", Roles: []string{principal.RoleAdmin}})
	if _, err := client.GetOrder(ctx, &ordersv1.GetOrderRequest{OrderId: orderID}); err != nil {
		t.Fatal(err)
	}
	in := <-svc.captured
	var kv []string
	for _, k := range []string{principal.MDSubject, principal.MDRoles, principal.MDStamp, principal.MDSig, principal.MDRequest} {
		kv = append(kv, k, in.Get(k)[0])
	}
	replay := metadata.AppendToOutgoingContext(context.Background(), kv...)
	if _, err := client.GetOrder(replay, &ordersv1.GetOrderRequest{OrderId: orderID}); err != nil {
		t.Fatalf("replay on the method it was minted for: %v", err)
	}
	<-svc.captured
	_, err := client.CancelOrder(replay, &ordersv1.CancelOrderRequest{OrderId: orderID, Reason: "replayed"})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("replay on CancelOrder: %v, want Unauthenticated", err)
	}
	t.Logf("captured admin principal: GetOrder accepted, CancelOrder refused (%v)", status.Code(err))
}

func TestDeadlines(t *testing.T) {
	t.Parallel()
	svc := &fakeOrders{deadlines: make(chan time.Duration, 2)}
	client, _, _ := start(t, svc)
	ctx := principal.With(context.Background(), principal.Principal{Subject: "alice"})
	if _, err := client.GetOrder(ctx, &ordersv1.GetOrderRequest{OrderId: orderID}); err != nil {
		t.Fatal(err)
	}
	if d := <-svc.deadlines; d > 3*time.Second || d < 2*time.Second {
		t.Fatalf("default deadline seen upstream = %v, want ≈3s", d)
	}
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if _, err := client.GetOrder(short, &ordersv1.GetOrderRequest{OrderId: orderID}); err != nil {
		t.Fatal(err)
	}
	if d := <-svc.deadlines; d > 500*time.Millisecond {
		t.Fatalf("caller deadline seen upstream = %v, want ≤ 500ms", d)
	}
}

func TestNULInAnyStringFieldIsInvalid(t *testing.T) {
	t.Parallel()
	client, _, _ := start(t, &fakeOrders{})
	ctx := principal.With(context.Background(), principal.Principal{Subject: "alice"})
	_, err := client.CancelOrder(ctx, &ordersv1.CancelOrderRequest{OrderId: orderID, Reason: "oops\x00"})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "reason") {
		t.Fatalf("NUL in reason: %v", err)
	}
	_, err = client.CreateOrder(ctx, &ordersv1.CreateOrderRequest{
		Items:           []*ordersv1.CreateOrderItem{{VariantId: orderID, Quantity: 1}},
		ShippingAddress: &typesv1.Address{Name: "A", Line1: "x\x00y", City: "c", PostalCode: "1", CountryCode: "GB"},
		Currency:        "GBP", PaymentMethod: ordersv1.PaymentMethod_PAYMENT_METHOD_CARD,
	})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "shipping_address.line1") {
		t.Fatalf("NUL in a nested field: %v", err)
	}
}

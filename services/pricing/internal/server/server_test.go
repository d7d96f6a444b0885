package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/grpcclient"
	"github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/platform/principal"
	pricingv1 "github.com/printfleet/printfleet/proto/printfleet/pricing/v1"
	typesv1 "github.com/printfleet/printfleet/proto/printfleet/types/v1"
	"github.com/printfleet/printfleet/services/pricing/internal/demo"
)

const testSecret = "pricing-test-internal-secret"

var signer = func() *principal.Signer {
	s, err := principal.NewSigner(testSecret)
	if err != nil {
		panic(err)
	}
	return s
}()

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// start runs a pricing API on 127.0.0.1:0 against the database at url.
func start(t *testing.T, url string, listen bool, poll time.Duration, opts ...postgres.Option) (*API, pricingv1.PricingServiceClient) {
	t.Helper()
	cfg := APIConfig{
		DBConfig:     DBConfig{PG: postgres.Config{URL: config.Secret(url), MaxConns: 4, ConnectTimeout: 5 * time.Second}},
		Config:       principal.Config{InternalSecret: testSecret},
		Listen:       listen,
		PollInterval: poll,
		Grace:        2 * time.Second,
	}
	ctx, cancel := context.WithCancel(context.Background())
	in, err := NewAPI(ctx, cfg, quietLog(), opts...)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx, ln) }()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(grpcclient.ForwardPrincipal(signer)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("instance: %v", err)
		}
	})
	return in, pricingv1.NewPricingServiceClient(conn)
}

// startWorker runs a pricing worker against the database at url, consuming
// queue on the broker of amqpCfg, until the test ends; edit adjusts its
// configuration (the reservation sweep is off unless edit sets it).
func startWorker(t *testing.T, url string, amqpCfg amqp.Config, queue string, edit ...func(*WorkerConfig)) *Worker {
	t.Helper()
	cfg := WorkerConfig{
		DBConfig: DBConfig{PG: postgres.Config{URL: config.Secret(url), MaxConns: 4, ConnectTimeout: 5 * time.Second}},
		AMQP:     amqpCfg,
		Queue:    queue,
	}
	for _, e := range edit {
		e(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w, err := NewWorker(ctx, cfg, quietLog())
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
	return w
}

func as(t testing.TB, roles ...string) context.Context {
	return principal.With(anon(t), principal.Principal{Subject: "alice", Roles: roles})
}

// anon is an unauthenticated call context with a deadline.
func anon(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func usd(amount int64) *typesv1.Money { return &typesv1.Money{Currency: "USD", AmountMinor: amount} }

func money(code string, amount int64) *typesv1.Money {
	return &typesv1.Money{Currency: code, AmountMinor: amount}
}

// dbState is every table's row count and the version: "nothing written"
// means it is unchanged.
func dbState(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT version FROM price_data_version`,
		`SELECT count(*) FROM variant_prices`, `SELECT count(*) FROM placement_surcharges`,
		`SELECT count(*) FROM shipping_rates`, `SELECT count(*) FROM coupons`,
		`SELECT count(*) FROM fx_rates`, `SELECT count(*) FROM placement_techniques`,
		`SELECT coalesce(sum(amount_minor), 0) FROM variant_prices`,
	} {
		var n int64
		if err := pool.QueryRow(context.Background(), q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s = %d; ", strings.TrimPrefix(q, "SELECT "), n)
	}
	return b.String()
}

// namesField reports whether err names field, in a BadRequest field
// violation or (protovalidate's errors) in its message.
func namesField(err error, field string) bool {
	st := status.Convert(err)
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				if v.GetField() == field {
					return true
				}
			}
		}
	}
	return strings.Contains(st.Message(), field)
}

var variant = "0190d000-0000-7000-8000-000000000001"

func seed(t *testing.T, in *API) {
	t.Helper()
	if _, err := demo.Seed(context.Background(), in.App); err != nil {
		t.Fatal(err)
	}
}

func demoItem(sku string, qty int32, placements ...string) *pricingv1.QuoteItem {
	return &pricingv1.QuoteItem{VariantId: demo.VariantID(sku).String(), Quantity: qty, PlacementIds: placements}
}

func quoteTotal(t testing.TB, c pricingv1.PricingServiceClient, sku string) (int64, error) {
	q, err := c.CreateQuote(anon(t), &pricingv1.CreateQuoteRequest{Items: []*pricingv1.QuoteItem{demoItem(sku, 1)}, CountryCode: "FR", Currency: "USD"})
	if err != nil {
		return 0, err
	}
	return q.GetLines()[0].GetUnitPrice().GetAmountMinor(), nil
}

func waitFor(t *testing.T, c pricingv1.PricingServiceClient, sku string, want int64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var got int64
	var err error
	for time.Now().Before(deadline) {
		if got, err = quoteTotal(t, c, sku); err == nil && got == want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("after %v the other instance still quotes %d (%v), want %d", within, got, err, want)
}

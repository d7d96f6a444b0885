// Command sandbox serves the payment provider and the marketplace stand-ins on two
// local addresses until SIGTERM or SIGINT.
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/printfleet/printfleet/sandbox/marketplace"
	"github.com/printfleet/printfleet/sandbox/payment"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := realMain(ctx, log); err != nil {
		log.Error("sandbox stopped", "err", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context, log *slog.Logger) error {
	payAddr := flag.String("payment-addr", env("PRINTFLEET_SANDBOX_PAYMENT_ADDR", "127.0.0.1:9301"), "payment provider listen address")
	mktAddr := flag.String("marketplace-addr", env("PRINTFLEET_SANDBOX_MARKETPLACE_ADDR", "127.0.0.1:9302"), "marketplaces listen address")
	payFaults, err := payment.FaultsFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	flag.IntVar(&payFaults.LatencyMS, "payment-latency-ms", payFaults.LatencyMS, "payment: added latency")
	flag.Float64Var(&payFaults.ErrorRate, "payment-error-rate", payFaults.ErrorRate, "payment: share of requests failing with 500")
	flag.Float64Var(&payFaults.DeclineRate, "payment-decline-rate", payFaults.DeclineRate, "payment: share of charges declined")
	flag.BoolVar(&payFaults.Outage, "payment-outage", payFaults.Outage, "payment: answer 503 to everything")
	mktFaults, err := marketplace.FaultsFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	flag.IntVar(&mktFaults.LatencyMS, "marketplace-latency-ms", mktFaults.LatencyMS, "marketplaces: added latency")
	flag.Float64Var(&mktFaults.ErrorRate, "marketplace-error-rate", mktFaults.ErrorRate, "marketplaces: share of requests failing with 5xx")
	flag.BoolVar(&mktFaults.Throttle, "marketplace-throttle", mktFaults.Throttle, "marketplaces: throttle everything")
	flag.Parse()

	pay := payment.New(payment.Options{Faults: payFaults})
	mkt := marketplace.New(marketplace.Options{Faults: map[marketplace.Name]marketplace.Faults{
		marketplace.Shopify: mktFaults, marketplace.Etsy: mktFaults, marketplace.Amazon: mktFaults}})
	errs := make(chan error, 2)
	for _, srv := range []*http.Server{
		{Addr: *payAddr, Handler: pay, ReadHeaderTimeout: 5 * time.Second},
		{Addr: *mktAddr, Handler: mkt, ReadHeaderTimeout: 5 * time.Second},
	} {
		go func() { errs <- serve(ctx, srv) }()
		log.Info("listening", "addr", srv.Addr)
	}
	return errors.Join(<-errs, <-errs)
}

// serve runs srv until ctx is done, then drains it.
func serve(ctx context.Context, srv *http.Server) error {
	done := make(chan error, 1)
	go func() { done <- srv.ListenAndServe() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

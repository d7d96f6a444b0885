package main

import (
	"context"
	"flag"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/sandbox/marketplace"
	"github.com/printfleet/printfleet/sandbox/payment"
)

// config is where the sandbox listens and which faults it starts with; every
// flag defaults to its environment variable.
type config struct {
	paymentAddr, marketplaceAddr string
	payment                      payment.Faults
	marketplace                  marketplace.Faults
}

func parseConfig(args []string, getenv func(string) string) (config, error) {
	env := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	var c config
	var err error
	if c.payment, err = payment.FaultsFromEnv(getenv); err != nil {
		return c, err
	}
	if c.marketplace, err = marketplace.FaultsFromEnv(getenv); err != nil {
		return c, err
	}
	fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	fs.StringVar(&c.paymentAddr, "payment-addr", env("PRINTFLEET_SANDBOX_PAYMENT_ADDR", "127.0.0.1:9301"), "payment provider listen address")
	fs.StringVar(&c.marketplaceAddr, "marketplace-addr", env("PRINTFLEET_SANDBOX_MARKETPLACE_ADDR", "127.0.0.1:9302"), "marketplaces listen address")
	fs.IntVar(&c.payment.LatencyMS, "payment-latency-ms", c.payment.LatencyMS, "payment: added latency in ms")
	fs.Float64Var(&c.payment.ErrorRate, "payment-error-rate", c.payment.ErrorRate, "payment: share of requests failing with 500")
	fs.Float64Var(&c.payment.DeclineRate, "payment-decline-rate", c.payment.DeclineRate, "payment: share of charges declined")
	fs.BoolVar(&c.payment.Outage, "payment-outage", c.payment.Outage, "payment: answer 503 to everything")
	fs.IntVar(&c.marketplace.LatencyMS, "marketplace-latency-ms", c.marketplace.LatencyMS, "marketplaces: added latency in ms")
	fs.Float64Var(&c.marketplace.ErrorRate, "marketplace-error-rate", c.marketplace.ErrorRate, "marketplaces: share of requests failing with 5xx")
	fs.BoolVar(&c.marketplace.Throttle, "marketplace-throttle", c.marketplace.Throttle, "marketplaces: throttle every request")
	return c, fs.Parse(args)
}

func (c config) serve(ctx context.Context, p *run.Process) error {
	pay := payment.New(payment.Options{Faults: c.payment})
	if err := pay.SetFaults(c.payment); err != nil { // validates what flags set
		return err
	}
	mkt := marketplace.New(marketplace.Options{})
	for _, m := range marketplace.Names {
		if err := mkt.SetFaults(m, c.marketplace); err != nil {
			return err
		}
	}
	p.Log.Info("sandbox serving", "payment_addr", c.paymentAddr, "marketplace_addr", c.marketplaceAddr,
		"payment_faults", c.payment, "marketplace_faults", c.marketplace)
	g, ctx := errgroup.WithContext(ctx)
	for _, srv := range []*http.Server{
		{Addr: c.paymentAddr, Handler: pay, ReadHeaderTimeout: 5 * time.Second},
		{Addr: c.marketplaceAddr, Handler: mkt, ReadHeaderTimeout: 5 * time.Second},
	} {
		g.Go(func() error { return run.ServeHTTP(ctx, srv) })
	}
	return g.Wait()
}

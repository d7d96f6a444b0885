package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/sandbox/carrier"
	"github.com/printfleet/printfleet/sandbox/marketplace"
	"github.com/printfleet/printfleet/sandbox/payment"
	"github.com/printfleet/printfleet/sandbox/receiver"
)

// config is where the sandbox listens and which faults it starts with; every
// flag defaults to its environment variable.
type config struct {
	paymentAddr, marketplaceAddr string
	receiverAddr                 string
	// carrierAddr serves the carrier stand-in, which posts signed updates
	// to carrierGateway with carrierSecret.
	carrierAddr, carrierGateway, carrierSecret string
	payment                                    payment.Faults
	marketplace                                marketplace.Faults
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
	fs.StringVar(&c.receiverAddr, "receiver-addr", env("PRINTFLEET_SANDBOX_RECEIVER_ADDR", "127.0.0.1:9303"), "webhook receivers listen address")
	fs.StringVar(&c.carrierAddr, "carrier-addr", env("PRINTFLEET_SANDBOX_CARRIER_ADDR", "127.0.0.1:9304"), "carrier listen address")
	fs.StringVar(&c.carrierGateway, "carrier-gateway-url", env("PRINTFLEET_SANDBOX_CARRIER_GATEWAY_URL", "http://127.0.0.1:8080"), "carrier: the gateway updates are posted to")
	c.carrierSecret = getenv("PRINTFLEET_SANDBOX_CARRIER_SECRET")
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
	p.Log.Info("sandbox serving", "payment_addr", c.paymentAddr, "marketplace_addr", c.marketplaceAddr, "receiver_addr", c.receiverAddr,
		"carrier_addr", c.carrierAddr, "carrier_gateway_url", c.carrierGateway,
		"payment_faults", c.payment, "marketplace_faults", c.marketplace)
	servers := []*http.Server{
		{Addr: c.paymentAddr, Handler: pay, ReadHeaderTimeout: 5 * time.Second},
		{Addr: c.marketplaceAddr, Handler: mkt, ReadHeaderTimeout: 5 * time.Second},
		// No write timeout: a hanging receiver holds a request until the client leaves.
		{Addr: c.receiverAddr, Handler: receiver.New(), ReadHeaderTimeout: 5 * time.Second},
		{Addr: c.carrierAddr, Handler: carrier.New(carrier.Options{GatewayURL: c.carrierGateway, Secret: c.carrierSecret}), ReadHeaderTimeout: 5 * time.Second},
	}
	lns := make([]net.Listener, 0, len(servers))
	for _, srv := range servers {
		ln, err := net.Listen("tcp", srv.Addr)
		if err != nil {
			for _, l := range lns {
				_ = l.Close()
			}
			return fmt.Errorf("listen %s: %w", srv.Addr, err)
		}
		lns = append(lns, ln)
	}
	p.Serving()
	g, ctx := errgroup.WithContext(ctx)
	for i, srv := range servers {
		g.Go(func() error { return run.ServeHTTPOn(ctx, srv, lns[i]) })
	}
	return g.Wait()
}

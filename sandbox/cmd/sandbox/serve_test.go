package main

import (
	"testing"

	"github.com/printfleet/printfleet/sandbox/marketplace"
	"github.com/printfleet/printfleet/sandbox/payment"
)

func TestParseConfig(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"PRINTFLEET_SANDBOX_PAYMENT_ADDR":           "127.0.0.1:1",
		"PRINTFLEET_SANDBOX_RECEIVER_ADDR":          "127.0.0.1:3",
		payment.EnvDeclineRate:                      "0.2",
		marketplace.EnvThrottle:                     "true",
		"PRINTFLEET_SANDBOX_MARKETPLACE_LATENCY_MS": "7",
	}
	c, err := parseConfig([]string{"-marketplace-addr", "127.0.0.1:2", "-payment-outage"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.paymentAddr != "127.0.0.1:1" || c.marketplaceAddr != "127.0.0.1:2" || c.receiverAddr != "127.0.0.1:3" {
		t.Fatalf("addresses: %+v", c)
	}
	if c.payment != (payment.Faults{DeclineRate: 0.2, Outage: true}) || c.marketplace != (marketplace.Faults{Throttle: true, LatencyMS: 7}) {
		t.Fatalf("faults: %+v / %+v", c.payment, c.marketplace)
	}
	if _, err := parseConfig([]string{"-nope"}, func(string) string { return "" }); err == nil {
		t.Fatal("unknown flag accepted")
	}
	if _, err := parseConfig(nil, func(k string) string { return map[string]string{payment.EnvOutage: "maybe"}[k] }); err == nil {
		t.Fatal("bad environment accepted")
	}
}

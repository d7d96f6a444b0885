package main

import (
	"fmt"
	"sort"
	"testing"

	pfconfig "github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/config/configtest"
	"github.com/printfleet/printfleet/sandbox/marketplace"
	"github.com/printfleet/printfleet/sandbox/payment"
)

// TestConfigReference keeps docs/configuration/sandbox.md in step with the
// variables parseConfig reads (regenerate with -update). The sandbox reads
// its environment by hand, so its variables are listed here, and the test
// fails when parseConfig reads one the list lacks or stops reading one.
func TestConfigReference(t *testing.T) {
	t.Parallel()
	asked := map[string]bool{}
	c, err := parseConfig(nil, func(k string) string { asked[k] = true; return "" })
	if err != nil {
		t.Fatal(err)
	}
	vars := []pfconfig.Var{
		{Name: "PRINTFLEET_SANDBOX_PAYMENT_ADDR", Type: "string", Default: c.paymentAddr,
			Description: "Listen address of the payment provider stand-in (flag -payment-addr)."},
		{Name: "PRINTFLEET_SANDBOX_MARKETPLACE_ADDR", Type: "string", Default: c.marketplaceAddr,
			Description: "Listen address of the Shopify, Etsy and Amazon stand-ins (flag -marketplace-addr)."},
		{Name: "PRINTFLEET_SANDBOX_RECEIVER_ADDR", Type: "string", Default: c.receiverAddr,
			Description: "Listen address of the webhook receivers, the stand-in for sellers' endpoints (flag -receiver-addr)."},
		{Name: "PRINTFLEET_SANDBOX_CARRIER_ADDR", Type: "string", Default: c.carrierAddr,
			Description: "Listen address of the carrier stand-in: POST /track posts a signed tracking update to the gateway (flag -carrier-addr)."},
		{Name: "PRINTFLEET_SANDBOX_CARRIER_GATEWAY_URL", Type: "string", Default: c.carrierGateway,
			Description: "Carrier: the gateway its updates go to, at /v1/carrier-updates (flag -carrier-gateway-url)."},
		{Name: "PRINTFLEET_SANDBOX_CARRIER_SECRET", Type: "secret",
			Description: "Carrier: the secret its updates are signed with (the gateway's PRINTFLEET_GATEWAY_CARRIER_SECRET)."},
		{Name: payment.EnvLatencyMS, Type: "int", Default: fmt.Sprint(c.payment.LatencyMS),
			Description: "Payment: latency added to every request, in ms (flag -payment-latency-ms)."},
		{Name: payment.EnvErrorRate, Type: "float64", Default: fmt.Sprint(c.payment.ErrorRate),
			Description: "Payment: share of requests failing with 500 (flag -payment-error-rate)."},
		{Name: payment.EnvDeclineRate, Type: "float64", Default: fmt.Sprint(c.payment.DeclineRate),
			Description: "Payment: share of charges declined (flag -payment-decline-rate)."},
		{Name: payment.EnvOutage, Type: "bool", Default: fmt.Sprint(c.payment.Outage),
			Description: "Payment: answer 503 to everything (flag -payment-outage)."},
		{Name: marketplace.EnvLatencyMS, Type: "int", Default: fmt.Sprint(c.marketplace.LatencyMS),
			Description: "Marketplaces: latency added to every request, in ms (flag -marketplace-latency-ms)."},
		{Name: marketplace.EnvErrorRate, Type: "float64", Default: fmt.Sprint(c.marketplace.ErrorRate),
			Description: "Marketplaces: share of requests failing with 5xx (flag -marketplace-error-rate)."},
		{Name: marketplace.EnvThrottle, Type: "bool", Default: fmt.Sprint(c.marketplace.Throttle),
			Description: "Marketplaces: throttle every request (flag -marketplace-throttle)."},
	}
	listed := map[string]bool{}
	for _, v := range vars {
		listed[v.Name] = true
		if !asked[v.Name] {
			t.Errorf("parseConfig no longer reads %s", v.Name)
		}
	}
	var missing []string
	for k := range asked {
		if !listed[k] {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("parseConfig reads %v, which the reference does not list", missing)
	}
	configtest.Check(t, "sandbox", pfconfig.Markdown("sandbox", vars))
}

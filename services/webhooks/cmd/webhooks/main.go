// Command webhooks serves webhooksv1.WebhookService, consumes the order and
// design notices of the webhooks.notices queue and delivers them to sellers'
// subscribed URLs, signed, with retries.
//
// Environment: PRINTFLEET_GRPC_ADDR (127.0.0.1:9104), PRINTFLEET_PG_URL (the
// webhooks database), PRINTFLEET_AMQP_URL, PRINTFLEET_INTERNAL_SECRET
// (required), PRINTFLEET_ORDERS_ADDR (127.0.0.1:9101),
// PRINTFLEET_WEBHOOKS_SECRETS_KEY (required) and the other
// PRINTFLEET_WEBHOOKS_* settings; see docs/configuration/webhooks.md. Admin
// listener: PRINTFLEET_ADMIN_ADDR (127.0.0.1:9210).
package main

import (
	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/services/webhooks/internal/server"
)

func main() { run.Main("webhooks", server.Serve, run.AdminAddr("127.0.0.1:9210")) }

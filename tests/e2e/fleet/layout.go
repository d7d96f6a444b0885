package fleet

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// Layout is where one fleet lives: its ports, databases, vhost and secrets.
// The zero Offset gives the documented local defaults (`make run`); tests use
// another offset, database prefix and vhost so that they never touch a fleet a
// developer is running.
type Layout struct {
	// Offset is added to every default port.
	Offset int
	// DBPrefix is prepended to the database names orders, catalog, pricing,
	// webhooks, ops.
	DBPrefix string
	// Vhost is the RabbitMQ virtual host.
	Vhost string
	// RedisDB is the Redis database number.
	RedisDB int

	PGHost, PGUser string
	PGPort         int
	RedisAddr      string
	AMQPHost       string
	AMQPPort       int
	S3Endpoint     string
	// BrokerUsers gives each process its own RabbitMQ user (BrokerUsers),
	// provisioned by EnsureVhost; false: every process uses guest.
	BrokerUsers bool

	InternalSecret string
	JWTSecret      string
	CredentialsKey string // base64 of 32 bytes
	// WebhooksSecretsKey seals the webhook subscriptions' signing secrets
	// (32 bytes in base64 or base64url, as platform/secret reads it).
	WebhooksSecretsKey string
	// CarrierSecret signs the carriers' tracking updates: the gateway
	// verifies them with it, the sandbox's carrier signs with it.
	CarrierSecret string
	// WebhooksRetrySchedule, WebhooksTimeout, WebhooksLease and
	// WebhooksDisableAfter override the webhooks service's defaults when
	// set: the suites compress hours of retries into seconds.
	WebhooksRetrySchedule string
	WebhooksTimeout       string
	WebhooksLease         string
	WebhooksDisableAfter  string
	// DraftTTL, when set, overrides how long a draft order lives
	// unconfirmed (the orders service's default is 72h); the e2e suite
	// shortens it to see the worker expire one.
	DraftTTL      time.Duration
	PaymentAPIKey string
	LogLevel      string
	// RateLimit overrides the gateway's per-principal limits (e.g. "100/1m")
	// when set; suites that poll hard raise it.
	RateLimit string
	// TraceDir, when set, makes every process append its spans to
	// <TraceDir>/<name>.jsonl (PRINTFLEET_TRACE_FILE).
	TraceDir string
	// NoOps leaves the ops service (the dead-letter parking) out of the
	// fleet, so that dead letters stay in the .dlq queues.
	NoOps bool
}

// Local is the layout `make run` uses. The development secrets can be
// overridden by PRINTFLEET_JWT_SECRET and PRINTFLEET_INTERNAL_SECRET.
func Local() Layout {
	l := Layout{
		Vhost: "printfleet", PGHost: "127.0.0.1", PGPort: 5432, PGUser: "postgres",
		RedisAddr: "127.0.0.1:6379", AMQPHost: "127.0.0.1", AMQPPort: 5672,
		S3Endpoint:     "http://127.0.0.1:7070",
		InternalSecret: "dev-internal-secret-change-me-0123456789",
		JWTSecret:      "dev-jwt-secret-change-me-0123456789",
		CredentialsKey: "ZGV2LWNyZWRlbnRpYWxzLWtleS0zMi1ieXRlcyEhISE=",
		// 32 bytes in unpadded base64url; the change-me in it makes a
		// deployed environment refuse it (config.Published).
		WebhooksSecretsKey: "dev-webhooks-secrets-key-change-me-01234567",
		CarrierSecret:      "dev-carrier-secret-change-me-0123456789",
		PaymentAPIKey:      "sk_test_printfleet_dev",
		LogLevel:           "info",
		BrokerUsers:        true,
	}
	if v := os.Getenv("PRINTFLEET_JWT_SECRET"); v != "" {
		l.JWTSecret = v
	}
	if v := os.Getenv("PRINTFLEET_INTERNAL_SECRET"); v != "" {
		l.InternalSecret = v
	}
	return l
}

func (l Layout) addr(port int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port+l.Offset))
}

// GatewayURL and the methods below are the addresses of the fleet's listeners.
func (l Layout) GatewayURL() string      { return "http://" + l.addr(8080) }
func (l Layout) GatewayAdmin() string    { return l.addr(9200) }
func (l Layout) OrdersGRPC() string      { return l.addr(9101) }
func (l Layout) CatalogGRPC() string     { return l.addr(9102) }
func (l Layout) PricingGRPC() string     { return l.addr(9103) }
func (l Layout) WebhooksGRPC() string    { return l.addr(9104) }
func (l Layout) OpsGRPC() string         { return l.addr(9105) }
func (l Layout) PaymentURL() string      { return "http://" + l.addr(9301) }
func (l Layout) MarketplacesURL() string { return "http://" + l.addr(9302) }

// CarrierURL is the sandbox's carrier: POST /track posts a signed tracking
// update to the gateway.
func (l Layout) CarrierURL() string { return "http://" + l.addr(9304) }

// ReceiverURL is the sandbox's webhook receiver: POST /receivers creates an
// endpoint the webhooks service may deliver to.
func (l Layout) ReceiverURL() string { return "http://" + l.addr(9303) }

// receiverAddr is the receiver's host:port, the one address the webhooks
// service's guard lets through (it refuses loopback otherwise).
func (l Layout) receiverAddr() string { return l.addr(9303) }

// AMQPURL is the shared development user's broker URL.
func (l Layout) AMQPURL() string {
	return fmt.Sprintf("amqp://guest:guest@%s:%d/%s", l.AMQPHost, l.AMQPPort, l.Vhost)
}

// DBName is the database of a service in this layout.
func (l Layout) DBName(service string) string { return l.DBPrefix + service }

// PGURL is the connection string of a service's database.
func (l Layout) PGURL(service string) string {
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", l.PGUser, l.PGHost, l.PGPort, l.DBName(service))
}

// Admin is the admin listener of a process by its default port.
func (l Layout) Admin(port int) string { return l.addr(port) }

// Packages are the main packages the fleet runs, relative to the repo root.
func (l Layout) Packages() []string {
	return []string{
		"./services/gateway/cmd/gateway",
		"./services/gateway/cmd/token",
		"./services/orders/cmd/orders",
		"./services/orders/cmd/orders-worker",
		"./services/catalog/cmd/catalog",
		"./services/catalog/cmd/catalog-worker",
		"./services/catalog/cmd/catalog-seed-demo",
		"./services/pricing/cmd/pricing",
		"./services/pricing/cmd/pricing-worker",
		"./services/pricing/cmd/pricing-seed-demo",
		"./services/pricing/cmd/pricing-coupons",
		"./services/webhooks/cmd/webhooks",
		"./services/ops/cmd/ops",
		"./workers/images/cmd/images",
		"./workers/marketplace/cmd/marketplace",
		"./sandbox/cmd/sandbox",
	}
}

// Common is the environment every process shares. It holds no secret: each
// process gets only the secrets it uses (procs), and the fleet withholds
// the others from the environment it inherits (Withheld).
func (l Layout) Common() map[string]string {
	return map[string]string{
		"PRINTFLEET_LOG_LEVEL":      l.LogLevel,
		"PRINTFLEET_REDIS_ADDRS":    l.RedisAddr,
		"PRINTFLEET_REDIS_DB":       strconv.Itoa(l.RedisDB),
		"PRINTFLEET_S3_ENDPOINT":    l.S3Endpoint,
		"PRINTFLEET_ORDERS_ADDR":    l.OrdersGRPC(),
		"PRINTFLEET_CATALOG_ADDR":   l.CatalogGRPC(),
		"PRINTFLEET_PRICING_ADDR":   l.PricingGRPC(),
		"PRINTFLEET_WEBHOOKS_ADDR":  l.WebhooksGRPC(),
		"PRINTFLEET_OPS_ADDR":       l.OpsGRPC(),
		"PRINTFLEET_SHUTDOWN_GRACE": "15s",
	}
}

// traced gives p its trace file when the layout has a TraceDir.
func (l Layout) traced(p Proc) Proc {
	if l.TraceDir != "" {
		p.Env["PRINTFLEET_TRACE_FILE"] = filepath.Join(l.TraceDir, p.Name+".jsonl")
	}
	return p
}

// Procs are the long-running processes in start order.
func (l Layout) Procs() []Proc {
	ps := l.procs()
	for i := range ps {
		ps[i] = l.traced(ps[i])
	}
	return ps
}

// Withheld are the secrets a process gets only when its Proc sets them, never
// from the environment the fleet inherits.
var Withheld = []string{
	"PRINTFLEET_INTERNAL_SECRET", "PRINTFLEET_AMQP_URL", "PRINTFLEET_JWT_SECRET",
	"PRINTFLEET_PAYMENT_API_KEY", "PRINTFLEET_CATALOG_CREDENTIALS_KEY",
	"PRINTFLEET_WEBHOOKS_SECRETS_KEY", "PRINTFLEET_GATEWAY_CARRIER_SECRET", "PRINTFLEET_SANDBOX_CARRIER_SECRET",
}

// secrets adds to p the internal secret when internal, and the process's
// broker URL when it uses the broker.
func (l Layout) secrets(p Proc, internal bool) Proc {
	if internal {
		p.Env["PRINTFLEET_INTERNAL_SECRET"] = l.InternalSecret
	}
	if _, ok := brokerUsers[p.Name]; ok {
		p.Env["PRINTFLEET_AMQP_URL"] = l.BrokerURL(p.Name)
	}
	return p
}

func (l Layout) procs() []Proc {
	ps := l.plainProcs()
	for i, p := range ps {
		// Who calls or serves gRPC holds the internal secret; the workers
		// that only consume (and the images worker, which decodes untrusted
		// images) do not.
		internal := map[string]bool{"gateway": true, "orders": true, "catalog": true, "pricing": true, "marketplace": true,
			"webhooks": true, "ops": true}[p.Name]
		ps[i] = l.secrets(p, internal)
	}
	return ps
}

func (l Layout) plainProcs() []Proc {
	svc := func(name string, grpcPort, adminPort int, env map[string]string) Proc {
		e := map[string]string{
			"PRINTFLEET_GRPC_ADDR":  l.addr(grpcPort),
			"PRINTFLEET_ADMIN_ADDR": l.addr(adminPort),
			"PRINTFLEET_PG_URL":     l.PGURL(name),
		}
		for k, v := range env {
			e[k] = v
		}
		return Proc{Name: name, Env: e, Admin: l.addr(adminPort)}
	}
	ps := []Proc{
		{Name: "sandbox", Env: map[string]string{
			"PRINTFLEET_ADMIN_ADDR":                  l.addr(9206),
			"PRINTFLEET_SANDBOX_PAYMENT_ADDR":        l.addr(9301),
			"PRINTFLEET_SANDBOX_MARKETPLACE_ADDR":    l.addr(9302),
			"PRINTFLEET_SANDBOX_RECEIVER_ADDR":       l.receiverAddr(),
			"PRINTFLEET_SANDBOX_CARRIER_ADDR":        l.addr(9304),
			"PRINTFLEET_SANDBOX_CARRIER_GATEWAY_URL": l.GatewayURL(),
			"PRINTFLEET_SANDBOX_CARRIER_SECRET":      l.CarrierSecret,
		}, Ready: HTTPReady(l.PaymentURL() + "/_sandbox/stats")},
		svc("pricing", 9103, 9203, nil),
		// catalog-worker before catalog: it binds the catalog's queues at
		// start, so the demo seed's events are routable as soon as they are
		// written (catalog's relay would retry them until it is up).
		{Name: "catalog-worker", Env: map[string]string{
			"PRINTFLEET_ADMIN_ADDR": l.addr(9208),
			"PRINTFLEET_PG_URL":     l.PGURL("catalog"),
		}, Admin: l.addr(9208)},
		svc("catalog", 9102, 9202, map[string]string{
			"PRINTFLEET_CATALOG_CREDENTIALS_KEY": l.CredentialsKey,
		}),
		svc("orders", 9101, 9201, l.ordersEnv()),
		{Name: "orders-worker", Env: map[string]string{
			"PRINTFLEET_ADMIN_ADDR":                l.addr(9207),
			"PRINTFLEET_PG_URL":                    l.PGURL("orders"),
			"PRINTFLEET_PAYMENT_URL":               l.PaymentURL(),
			"PRINTFLEET_PAYMENT_API_KEY":           l.PaymentAPIKey,
			"PRINTFLEET_ORDERS_DRAFT_EXPIRE_EVERY": "1s",
		}, Admin: l.addr(9207)},
		{Name: "pricing-worker", Env: map[string]string{
			"PRINTFLEET_ADMIN_ADDR": l.addr(9209),
			"PRINTFLEET_PG_URL":     l.PGURL("pricing"),
		}, Admin: l.addr(9209)},
		{Name: "images", Env: map[string]string{"PRINTFLEET_ADMIN_ADDR": l.addr(9204)}, Admin: l.addr(9204)},
		{Name: "marketplace", Env: map[string]string{
			"PRINTFLEET_ADMIN_ADDR":                l.addr(9205),
			"PRINTFLEET_MARKETPLACE_SHOPIFY_URL":   l.MarketplacesURL() + "/shopify",
			"PRINTFLEET_MARKETPLACE_ETSY_URL":      l.MarketplacesURL() + "/etsy",
			"PRINTFLEET_MARKETPLACE_AMAZON_URL":    l.MarketplacesURL() + "/amazon",
			"PRINTFLEET_MARKETPLACE_AMAZON_EU_URL": l.MarketplacesURL() + "/amazon-eu",
			"PRINTFLEET_MARKETPLACE_AMAZON_FE_URL": l.MarketplacesURL() + "/amazon-fe",
			// Imports: orders arrive through ImportOrder (PRINTFLEET_ORDERS_ADDR
			// is common); a short poll so sandbox orders show up at once.
			"PRINTFLEET_MARKETPLACE_IMPORT_POLL_EVERY": "1s",
		}, Admin: l.addr(9205)},
		// webhooks after orders (a subscription marks its owner in orders)
		// and before the gateway (whose readiness checks it).
		svc("webhooks", 9104, 9210, l.webhooksEnv()),
		// ops after every consumer (each declares the .dlq it parks; a
		// missing one is waited for) and before the gateway, whose console
		// calls it.
		svc("ops", 9105, 9212, nil),
		l.Gateway("gateway", 8080, 9200, l.RateLimit),
	}
	if l.NoOps {
		ps = slices.DeleteFunc(ps, func(p Proc) bool { return p.Name == "ops" })
	}
	return ps
}

// webhooksEnv is the webhooks service's own environment: its secrets key,
// plain http and the sandbox receiver's loopback address allowed (the
// service refuses both otherwise), and the layout's compressed timings.
func (l Layout) webhooksEnv() map[string]string {
	env := map[string]string{
		"PRINTFLEET_WEBHOOKS_SECRETS_KEY": l.WebhooksSecretsKey,
		"PRINTFLEET_WEBHOOKS_ALLOW_HTTP":  "true",
		"PRINTFLEET_WEBHOOKS_ALLOW_ADDRS": l.receiverAddr(),
	}
	for k, v := range map[string]string{
		"PRINTFLEET_WEBHOOKS_RETRY_SCHEDULE": l.WebhooksRetrySchedule,
		"PRINTFLEET_WEBHOOKS_TIMEOUT":        l.WebhooksTimeout,
		"PRINTFLEET_WEBHOOKS_LEASE":          l.WebhooksLease,
		"PRINTFLEET_WEBHOOKS_DISABLE_AFTER":  l.WebhooksDisableAfter,
	} {
		if v != "" {
			env[k] = v
		}
	}
	return env
}

// Gateway is a gateway process on the given default ports (offset applies),
// with rateLimit overriding both route classes when not empty.
func (l Layout) Gateway(name string, httpPort, adminPort int, rateLimit string) Proc {
	env := map[string]string{
		"PRINTFLEET_HTTP_ADDR":       l.addr(httpPort),
		"PRINTFLEET_ADMIN_ADDR":      l.addr(adminPort),
		"PRINTFLEET_JWT_SECRET":      l.JWTSecret,
		"PRINTFLEET_INTERNAL_SECRET": l.InternalSecret,
	}
	if l.CarrierSecret != "" {
		env["PRINTFLEET_GATEWAY_CARRIER_SECRET"] = l.CarrierSecret
	}
	for k, v := range l.consoleEnv() {
		env[k] = v
	}
	if rateLimit != "" {
		env["PRINTFLEET_RATELIMIT_DEFAULT"] = rateLimit
		env["PRINTFLEET_RATELIMIT_WRITE"] = rateLimit
	}
	return l.traced(Proc{Name: name, Binary: "gateway", Env: env, Admin: l.addr(adminPort)})
}

// consoleEnv points the gateway's operator console at the processes whose
// metrics its live figures read and allows images from the S3 endpoint the
// presigned links name. Its CSRF key is the per-process development one
// (one gateway replica).
func (l Layout) consoleEnv() map[string]string {
	return map[string]string{
		"PRINTFLEET_GATEWAY_CONSOLE_METRICS": "orders=http://" + l.addr(9201) + "/metrics,orders-worker=http://" + l.addr(9207) +
			"/metrics,marketplace=http://" + l.addr(9205) + "/metrics",
		"PRINTFLEET_GATEWAY_CONSOLE_IMAGE_ORIGINS": l.S3Endpoint,
	}
}

// ConsoleURL is the operator console.
func (l Layout) ConsoleURL() string { return l.GatewayURL() + "/console/" }

// Seeds are one-shot commands that load the demo catalog and price lists.
func (l Layout) Seeds() []Proc {
	return []Proc{
		{Name: "catalog-seed-demo", Env: map[string]string{
			"PRINTFLEET_PG_URL":     l.PGURL("catalog"),
			"PRINTFLEET_ADMIN_ADDR": "127.0.0.1:0",
			"PRINTFLEET_AMQP_URL":   l.BrokerURL("catalog"),
		}},
		{Name: "pricing-seed-demo", Env: map[string]string{
			"PRINTFLEET_PG_URL":     l.PGURL("pricing"),
			"PRINTFLEET_ADMIN_ADDR": "127.0.0.1:0",
		}},
	}
}

// ordersEnv is the orders API's own environment.
func (l Layout) ordersEnv() map[string]string {
	env := map[string]string{
		"PRINTFLEET_PAYMENT_URL":     l.PaymentURL(),
		"PRINTFLEET_PAYMENT_API_KEY": l.PaymentAPIKey,
	}
	if l.DraftTTL > 0 {
		env["PRINTFLEET_ORDERS_DRAFT_TTL"] = l.DraftTTL.String()
	}
	return env
}

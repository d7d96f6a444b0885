package fleet

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
)

// Layout is where one fleet lives: its ports, databases, vhost and secrets.
// The zero Offset gives the documented local defaults (`make run`); tests use
// another offset, database prefix and vhost so that they never touch a fleet a
// developer is running.
type Layout struct {
	// Offset is added to every default port.
	Offset int
	// DBPrefix is prepended to the database names orders, catalog, pricing.
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
	PaymentAPIKey  string
	LogLevel       string
	// RateLimit overrides the gateway's per-principal limits (e.g. "100/1m")
	// when set; suites that poll hard raise it.
	RateLimit string
	// TraceDir, when set, makes every process append its spans to
	// <TraceDir>/<name>.jsonl (PRINTFLEET_TRACE_FILE).
	TraceDir string
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
		PaymentAPIKey:  "sk_test_printfleet_dev",
		LogLevel:       "info",
		BrokerUsers:    true,
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
func (l Layout) PaymentURL() string      { return "http://" + l.addr(9301) }
func (l Layout) MarketplacesURL() string { return "http://" + l.addr(9302) }
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
		internal := map[string]bool{"gateway": true, "orders": true, "catalog": true, "pricing": true, "marketplace": true}[p.Name]
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
	return []Proc{
		{Name: "sandbox", Env: map[string]string{
			"PRINTFLEET_ADMIN_ADDR":               l.addr(9206),
			"PRINTFLEET_SANDBOX_PAYMENT_ADDR":     l.addr(9301),
			"PRINTFLEET_SANDBOX_MARKETPLACE_ADDR": l.addr(9302),
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
		svc("orders", 9101, 9201, map[string]string{
			"PRINTFLEET_PAYMENT_URL":     l.PaymentURL(),
			"PRINTFLEET_PAYMENT_API_KEY": l.PaymentAPIKey,
		}),
		{Name: "orders-worker", Env: map[string]string{
			"PRINTFLEET_ADMIN_ADDR":      l.addr(9207),
			"PRINTFLEET_PG_URL":          l.PGURL("orders"),
			"PRINTFLEET_PAYMENT_URL":     l.PaymentURL(),
			"PRINTFLEET_PAYMENT_API_KEY": l.PaymentAPIKey,
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
		l.Gateway("gateway", 8080, 9200, l.RateLimit),
	}
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
	if rateLimit != "" {
		env["PRINTFLEET_RATELIMIT_DEFAULT"] = rateLimit
		env["PRINTFLEET_RATELIMIT_WRITE"] = rateLimit
	}
	return l.traced(Proc{Name: name, Binary: "gateway", Env: env, Admin: l.addr(adminPort)})
}

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

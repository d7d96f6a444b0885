package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/minio/minio-go/v7"
	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/grpc"

	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/amqp/amqptest"
	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/grpcclient"
	"github.com/printfleet/printfleet/platform/outbox"
	"github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/platform/postgres/pgtest"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/platform/redis"
	"github.com/printfleet/printfleet/platform/s3"
	pgstore "github.com/printfleet/printfleet/services/catalog/internal/store/postgres"
)

const testSecret = "catalog-test-internal-secret-0123"

// batchCounter counts batches, which postgres.Counter (a QueryTracer) does
// not see; it wraps the pool's existing tracer.
type batchCounter struct {
	pgx.QueryTracer
	n atomic.Int64
}

func (b *batchCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	b.n.Add(1)
	return ctx
}
func (b *batchCounter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (b *batchCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// lockedBuffer collects log output from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// env is one test's catalog: its own database, Redis prefix, broker
// exchanges and queues, S3 key prefix, and logs captured in a buffer.
type env struct {
	t       *testing.T
	pool    *pgxpool.Pool
	pgURL   string
	queries *postgres.Counter
	batches *batchCounter
	rdb     goredis.UniversalClient
	prefix  string
	broker  *amqptest.Env
	conn    *amqp.Conn
	s3      *minio.Client
	cfg     APIConfig
	signer  *principal.Signer
	logs    *lockedBuffer
	log     *slog.Logger
	app     *App
	queues  Queues
	addr    string
	client  catalogv1.CatalogServiceClient
}

func testKey(t *testing.T) string {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(k)
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, queries: &postgres.Counter{}, batches: &batchCounter{}, logs: &lockedBuffer{}}
	e.pool, e.pgURL = pgtest.NewDB(t, pgstore.Migrations, postgres.WithTracer(e.queries), func(c *pgxpool.Config) {
		e.batches.QueryTracer = c.ConnConfig.Tracer
		c.ConnConfig.Tracer = e.batches
	})
	e.log = slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	e.prefix = "t-" + uuid.NewString()[:12]
	var err error
	if e.rdb, err = redis.New(redis.Config{Addrs: "127.0.0.1:6379", DialTimeout: time.Second, ReadTimeout: 2 * time.Second,
		WriteTimeout: 2 * time.Second, PoolSize: 32}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := e.rdb.Keys(ctx, "{"+e.prefix+"}*").Result()
		if len(keys) > 0 {
			e.rdb.Del(ctx, keys...)
		}
		e.rdb.Close()
	})

	e.broker = amqptest.New(t)
	e.conn = e.dial()
	e.queues = Queues{Stock: e.broker.Queue("stock"), Projector: e.broker.Queue("projector"), Designs: e.broker.Queue("designs")}

	s3cfg := s3.Config{Endpoint: "http://127.0.0.1:7070", AccessKey: "printfleet", SecretKey: "printfleet-dev-secret", Region: "us-east-1"}
	if e.s3, err = s3.New(s3cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s3.EnsureBuckets(ctx, e.s3, "us-east-1", "printfleet-designs", "printfleet-renders"); err != nil {
		t.Fatalf("S3 on 127.0.0.1:7070 (scripts/infra.sh s3): %v", err)
	}

	e.cfg = APIConfig{Common: Common{RedisPrefix: e.prefix}, CredentialsKey: config.Secret(testKey(t)),
		DesignsBucket: "printfleet-designs", RendersBucket: "printfleet-renders", DesignPrefix: e.prefix + "/", UploadTTL: 5 * time.Minute}
	if e.signer, err = principal.NewSigner(testSecret); err != nil {
		t.Fatal(err)
	}
	e.app, err = Build(Deps{DB: &postgres.DB{Primary: e.pool}, Redis: e.rdb, AMQP: e.conn, S3: e.s3, Presigner: e.s3,
		Signer: e.signer, Log: e.log}, e.cfg.options())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) dial() *amqp.Conn {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := e.broker.Config
	cfg.Name = e.broker.Config.Name + "-" + uuid.NewString()[:6]
	c, err := amqp.Dial(ctx, cfg, e.log)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// The parts of the catalog processes a test runs: ServeAPI runs partAPI
// and partRelay, ServeWorker partStock, partProjector, partDesigns and
// partRelay.
const (
	partAPI       = "api"
	partRelay     = "relay"
	partStock     = "stock"
	partProjector = "projector"
	partDesigns   = "designs"
)

// start runs parts of a on the test's listener and queues until the
// returned stop is called (or the test ends); stop waits for the drain.
func (e *env) start(a *App, parts ...string) (stop func()) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var loops []loop
	for _, part := range parts {
		switch part {
		case partAPI:
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				e.t.Fatal(err)
			}
			e.addr = ln.Addr().String()
			cc, err := grpcclient.Dial(e.addr, grpcclient.Options{Signer: e.signer, DefaultTimeout: 10 * time.Second})
			if err != nil {
				e.t.Fatal(err)
			}
			e.t.Cleanup(func() { cc.Close() })
			e.client = catalogv1.NewCatalogServiceClient(cc)
			api, err := a.grpcLoop(ln, 5*time.Second)
			if err != nil {
				e.t.Fatal(err)
			}
			loops = append(loops, api)
		case partRelay:
			loops = append(loops, a.relayLoop(outbox.RelayConfig{Service: "catalog-test", Poll: 200 * time.Millisecond}))
		case partStock:
			loops = append(loops, a.stockLoop(e.queues.Stock))
		case partProjector:
			loops = append(loops, a.projectorLoop(e.queues.Projector))
		case partDesigns:
			loops = append(loops, a.designsLoop(e.queues.Designs))
		default:
			e.t.Fatalf("unknown part %q", part)
		}
	}
	// Bind the consumer queues before returning, so messages published
	// right after start have somewhere to go.
	if err := a.bind(context.Background(), loops...); err != nil {
		e.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.runLoops(ctx, loops...) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					e.t.Errorf("run %v: %v", parts, err)
				}
			case <-time.After(20 * time.Second):
				e.t.Errorf("run %v did not stop", parts)
			}
		})
	}
	e.t.Cleanup(stop)
	if e.client != nil {
		e.waitServing()
	}
	return stop
}

func (e *env) waitServing() {
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := e.client.ListProducts(e.as("probe"), &catalogv1.ListProductsRequest{}, grpc.WaitForReady(true))
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// That first listing found the index incomplete and started a rebuild
	// in the background; let it finish, so that its queries do not land in
	// a test's count of the queries some call sends.
	e.eventually(10*time.Second, "the rebuild started by the first listing", func() (bool, string) {
		ok, err := e.app.Proj.Complete(context.Background())
		return ok, fmt.Sprint(err)
	})
}

// as is a context carrying a principal for gRPC calls and use cases.
func (e *env) as(sub string, roles ...string) context.Context {
	if len(roles) == 0 {
		roles = []string{principal.RoleUser}
	}
	return principal.With(context.Background(), principal.Principal{Subject: sub, Roles: roles})
}

func (e *env) admin() context.Context { return e.as(adminCaller.Subject, adminCaller.Roles...) }

// adminCaller is the admin the tests call use cases as.
var adminCaller = principal.Principal{Subject: "admin-1", Roles: []string{principal.RoleAdmin}}

// eventually polls cond until it holds or the timeout passes.
func (e *env) eventually(timeout time.Duration, what string, cond func() (bool, string)) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: not reached within %s: %s", what, timeout, detail)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (e *env) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// events counts the outbox rows of one routing key (eventsv1.Key…).
func (e *env) events(key string) int {
	e.t.Helper()
	return e.count(`SELECT count(*) FROM outbox WHERE type = $1`, key)
}

// inboxed counts the messages one consumer (eventsv1.Queue…) recorded.
func (e *env) inboxed(consumer string) int {
	e.t.Helper()
	return e.count(`SELECT count(*) FROM processed_messages WHERE consumer = $1`, consumer)
}

// publisher publishes test messages on the test's exchange.
func (e *env) publish(msgs ...amqp.Message) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := amqp.NewPublisher(e.conn)
	defer p.Close()
	if err := p.Publish(ctx, msgs...); err != nil {
		e.t.Fatal(err)
	}
}

// notContains fails if any of secrets appears in s.
func notContains(t *testing.T, where, s string, secrets ...string) {
	t.Helper()
	for _, x := range secrets {
		if strings.Contains(s, x) {
			t.Errorf("%s contains a secret (%q…)", where, x[:6])
		}
	}
}

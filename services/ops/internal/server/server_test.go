package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/amqp/amqptest"
	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/grpcclient"
	"github.com/printfleet/printfleet/platform/log"
	"github.com/printfleet/printfleet/platform/postgres/pgtest"
	"github.com/printfleet/printfleet/platform/principal"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	opsv1 "github.com/printfleet/printfleet/proto/printfleet/ops/v1"
	store "github.com/printfleet/printfleet/services/ops/internal/store/postgres"
)

const testSecret = "ops-test-internal-secret-0123456789"

// worker is a real platform consumer on the test's queue whose handler
// fails the messages it is told to fail, one delivery at a time (so the
// order of arrival is the order of publishing).
type worker struct {
	mu   sync.Mutex
	fail map[string]bool
	seen map[string]int
	got  chan string
}

func (w *worker) handle(_ context.Context, d amqp.Delivery) error {
	w.mu.Lock()
	w.seen[d.ID]++
	fail := w.fail[d.ID]
	w.mu.Unlock()
	w.got <- d.ID
	if fail {
		return amqp.Permanent(errors.New("design d-9 is missing"))
	}
	return nil
}

func (w *worker) setFail(id string, fail bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fail[id] = fail
}

func (w *worker) count(id string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seen[id]
}

type fixture struct {
	client   opsv1.DeadLetterServiceClient
	queue    string
	pub      *amqp.Publisher
	direct   *amqp.Publisher
	worker   *worker
	opsName  string
	registry *prometheus.Registry
}

func start(t *testing.T) *fixture {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL and RabbitMQ")
	}
	_, url := pgtest.NewDB(t, store.Migrations)
	ae := amqptest.New(t)
	q := ae.Queue("orders")
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

	// The consumer whose dead letters ops parks.
	dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wc, err := amqp.Dial(dctx, ae.Config, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = wc.Close() })
	if err := wc.DeclareQueue(dctx, q, eventsv1.KeyOrderPaid); err != nil {
		t.Fatal(err)
	}
	w := &worker{fail: map[string]bool{}, seen: map[string]int{}, got: make(chan string, 64)}
	wctx, wcancel := context.WithCancel(context.Background())
	wdone := make(chan error, 1)
	go func() {
		wdone <- amqp.Consume(wctx, wc, amqp.ConsumerConfig{Queue: q, RoutingKeys: []string{eventsv1.KeyOrderPaid}, Prefetch: 1, Handler: w.handle})
	}()
	t.Cleanup(func() { wcancel(); <-wdone })

	cfg := Config{GRPCAddr: "127.0.0.1:0", Grace: time.Second}
	cfg.PG.URL = config.Secret(url)
	cfg.PG.MaxConns = 8
	cfg.PG.ConnectTimeout = 5 * time.Second
	cfg.AMQP = ae.Config
	cfg.AMQP.Name = ae.Config.Name + ".ops"
	cfg.InternalSecret = testSecret
	// A queue whose .dlq never exists must not hold up the others.
	cfg.Ops = OpsConfig{Queues: []string{q, ae.Queue("never")}, Prefetch: 4}
	reg := prometheus.NewRegistry()
	p, err := New(context.Background(), cfg, logger, Deps{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancelRun := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancelRun()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	signer, err := principal.NewSigner(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(grpcclient.ForwardPrincipal(signer)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return &fixture{client: opsv1.NewDeadLetterServiceClient(cc), queue: q, pub: amqp.NewPublisher(wc),
		direct: amqp.NewPublisherTo(wc, ""), worker: w, opsName: cfg.AMQP.Name, registry: reg}
}

func as(sub string, roles ...string) context.Context {
	ctx := principal.With(context.Background(), principal.Principal{Subject: sub, Roles: roles})
	return log.WithRequestID(ctx, "req-"+sub)
}

var (
	admin   = as("ann", principal.RoleAdmin)
	support = as("sam", principal.RoleSupport)
)

// poison publishes an OrderPaid the worker fails, and returns its id.
func (f *fixture) poison(t *testing.T, orderID string) string {
	t.Helper()
	body, err := proto.Marshal(&eventsv1.OrderPaid{OrderId: orderID})
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.NewString()
	f.worker.setFail(id, true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.pub.Publish(ctx, amqp.Message{ID: id, Type: eventsv1.KeyOrderPaid, Body: body}); err != nil {
		t.Fatal(err)
	}
	return id
}

// parked waits until the letter of message id is in state and returns it.
func (f *fixture) parked(t *testing.T, msgID string, state opsv1.DeadLetterState, times int32) *opsv1.DeadLetter {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := f.client.ListDeadLetters(admin, &opsv1.ListDeadLettersRequest{Queue: f.queue, State: state, PageSize: 200})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range res.GetDeadLetters() {
			if l.GetMessageId() == msgID && l.GetTimesDeadLettered() == times {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %s not in state %s (times %d) within 20s", msgID, state, times)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sync publishes a sentinel straight to the queue and waits until the
// worker (one delivery at a time) has seen it: whatever was published to
// the queue before it has been delivered by then.
func (f *fixture) sync(t *testing.T) {
	t.Helper()
	id := uuid.NewString()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.direct.Publish(ctx, amqp.Message{ID: id, Type: eventsv1.KeyOrderPaid, RoutingKey: f.queue, Body: nil}); err != nil {
		t.Fatal(err)
	}
	for f.worker.count(id) == 0 {
		if ctx.Err() != nil {
			t.Fatal("sentinel not delivered")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func code(err error) codes.Code { return status.Code(err) }

func TestParkReplayDiscard(t *testing.T) {
	t.Parallel()
	f := start(t)
	orderID := uuid.NewString()
	id := f.poison(t, orderID)

	l := f.parked(t, id, opsv1.DeadLetterState_DEAD_LETTER_STATE_PARKED, 1)
	if !strings.Contains(l.GetReason(), "design d-9 is missing") || l.GetAttempts() != 1 || l.GetOrderId() != orderID ||
		!strings.Contains(l.GetBodyJson(), orderID) || l.GetBodyError() != "" || l.GetType() != eventsv1.KeyOrderPaid {
		t.Fatalf("parked letter = %v", l)
	}
	for k := range l.GetHeaders() {
		if strings.HasPrefix(k, "x-printfleet-") || k == "x-death" {
			t.Errorf("header %s shown among the message's own", k)
		}
	}

	// Reads: admin and support; not a user, not anonymous.
	if got, err := f.client.GetDeadLetter(support, &opsv1.GetDeadLetterRequest{Id: l.GetId()}); err != nil || got.GetMessageId() != id {
		t.Fatalf("support get: %v %v", got, err)
	}
	if _, err := f.client.ListDeadLetters(as("ula", principal.RoleUser), &opsv1.ListDeadLettersRequest{}); code(err) != codes.PermissionDenied {
		t.Errorf("user list: %v, want PermissionDenied", err)
	}
	if _, err := f.client.ListAudit(context.Background(), &opsv1.ListAuditRequest{}); code(err) != codes.Unauthenticated {
		t.Errorf("anonymous audit: %v, want Unauthenticated", err)
	}
	if byOrder, err := f.client.ListDeadLetters(support, &opsv1.ListDeadLettersRequest{OrderId: orderID}); err != nil || len(byOrder.GetDeadLetters()) != 1 {
		t.Errorf("by order: %v %v", byOrder, err)
	}
	// Actions: admin only.
	if _, err := f.client.ReplayDeadLetter(support, &opsv1.ReplayDeadLetterRequest{Id: l.GetId(), ActionId: uuid.NewString()}); code(err) != codes.PermissionDenied {
		t.Errorf("support replay: %v, want PermissionDenied", err)
	}
	if _, err := f.client.DiscardDeadLetter(as("ula", principal.RoleUser), &opsv1.DiscardDeadLetterRequest{Id: l.GetId(), ActionId: uuid.NewString(), Reason: "not mine"}); code(err) != codes.PermissionDenied {
		t.Errorf("user discard: %v, want PermissionDenied", err)
	}

	// Replay reaches the consumer queue once; the same action again does nothing.
	f.worker.setFail(id, false)
	before := f.worker.count(id)
	action := uuid.NewString()
	r1, err := f.client.ReplayDeadLetter(admin, &opsv1.ReplayDeadLetterRequest{Id: l.GetId(), ActionId: action, Reason: "design uploaded again"})
	if err != nil || r1.GetAffected() != 1 || r1.GetAudit().GetActor() != "ann" || r1.GetAudit().GetRequestId() != "req-ann" {
		t.Fatalf("replay: %v %v", r1, err)
	}
	r2, err := f.client.ReplayDeadLetter(admin, &opsv1.ReplayDeadLetterRequest{Id: l.GetId(), ActionId: action, Reason: "design uploaded again"})
	if err != nil || !proto.Equal(r1, r2) {
		t.Fatalf("repeated replay: %v %v, want the first result %v", r2, err, r1)
	}
	f.sync(t)
	if n := f.worker.count(id) - before; n != 1 {
		t.Errorf("the replayed message reached the consumer %d times, want 1", n)
	}
	if _, err := f.client.ReplayDeadLetter(admin, &opsv1.ReplayDeadLetterRequest{Id: l.GetId(), ActionId: uuid.NewString()}); code(err) != codes.FailedPrecondition {
		t.Errorf("replay of a replayed letter with a new action: %v, want FailedPrecondition", err)
	}
	if got, _ := f.client.GetDeadLetter(admin, &opsv1.GetDeadLetterRequest{Id: l.GetId()}); got.GetState() != opsv1.DeadLetterState_DEAD_LETTER_STATE_REPLAYED || got.GetResolvedBy() != "ann" {
		t.Errorf("after replay: %v", got)
	}

	// Discard: the reason is required; with one it is audited.
	again := f.poison(t, orderID)
	la := f.parked(t, again, opsv1.DeadLetterState_DEAD_LETTER_STATE_PARKED, 1)
	if _, err := f.client.DiscardDeadLetter(admin, &opsv1.DiscardDeadLetterRequest{Id: la.GetId(), ActionId: uuid.NewString()}); code(err) != codes.InvalidArgument {
		t.Errorf("discard without a reason: %v, want InvalidArgument", err)
	}
	d, err := f.client.DiscardDeadLetter(admin, &opsv1.DiscardDeadLetterRequest{Id: la.GetId(), ActionId: uuid.NewString(), Reason: "order was refunded by hand"})
	if err != nil || d.GetAffected() != 1 {
		t.Fatalf("discard: %v %v", d, err)
	}
	audit, err := f.client.ListAudit(support, &opsv1.ListAuditRequest{Target: la.GetId()})
	if err != nil || len(audit.GetEntries()) != 1 {
		t.Fatalf("audit of the discarded letter: %v %v", audit, err)
	}
	if e := audit.GetEntries()[0]; e.GetAction() != "dead_letter.discard" || e.GetActor() != "ann" || e.GetReason() != "order was refunded by hand" ||
		e.GetRequestId() != "req-ann" || e.GetCreatedAt() == nil {
		t.Errorf("audit entry = %v", e)
	}
	if dl, _ := f.client.GetDeadLetter(admin, &opsv1.GetDeadLetterRequest{Id: la.GetId()}); dl.GetState() != opsv1.DeadLetterState_DEAD_LETTER_STATE_DISCARDED || dl.GetResolutionReason() != "order was refunded by hand" {
		t.Errorf("after discard: %v", dl)
	}

	// Replay queue: only what is PARKED now (two new ones), not the
	// replayed or the discarded letter.
	p1, p2 := f.poison(t, uuid.NewString()), f.poison(t, uuid.NewString())
	f.parked(t, p1, opsv1.DeadLetterState_DEAD_LETTER_STATE_PARKED, 1)
	f.parked(t, p2, opsv1.DeadLetterState_DEAD_LETTER_STATE_PARKED, 1)
	f.worker.setFail(p2, false)
	c1, c2, cID := f.worker.count(p1), f.worker.count(p2), f.worker.count(id)
	rq, err := f.client.ReplayQueue(admin, &opsv1.ReplayQueueRequest{Queue: f.queue, ActionId: uuid.NewString()})
	if err != nil || rq.GetAffected() != 2 {
		t.Fatalf("replay queue: %v %v, want 2 affected", rq, err)
	}
	f.sync(t)
	if f.worker.count(p1) != c1+1 || f.worker.count(p2) != c2+1 || f.worker.count(id) != cID {
		t.Errorf("replay queue delivered p1 %d, p2 %d, replayed %d times; want 1, 1, 0",
			f.worker.count(p1)-c1, f.worker.count(p2)-c2, f.worker.count(id)-cID)
	}
	// p1 still fails: parked again, counted twice.
	again1 := f.parked(t, p1, opsv1.DeadLetterState_DEAD_LETTER_STATE_PARKED, 2)
	if again1.GetResolvedBy() != "" {
		t.Errorf("re-parked letter keeps its old resolution: %v", again1)
	}
	if _, err := f.client.ReplayQueue(admin, &opsv1.ReplayQueueRequest{Queue: "elsewhere", ActionId: uuid.NewString()}); code(err) != codes.InvalidArgument {
		t.Errorf("replay of an unknown queue: %v, want InvalidArgument", err)
	}

	// Queues: depths from the broker, parked from the database; a queue
	// that does not exist is -1.
	qs, err := f.client.ListQueues(support, &opsv1.ListQueuesRequest{})
	if err != nil || len(qs.GetQueues()) != 2 {
		t.Fatalf("queues: %v %v", qs, err)
	}
	if q := qs.GetQueues()[0]; q.GetQueue() != f.queue || q.GetParked() != 1 || q.GetDepth() < 0 || q.GetDlqDepth() < 0 {
		t.Errorf("queue stats %v", q)
	}
	if q := qs.GetQueues()[1]; q.GetDepth() != -1 || q.GetDlqDepth() != -1 || q.GetParked() != 0 {
		t.Errorf("missing queue stats %v, want -1 depths", q)
	}
	if n := testutil.ToFloat64(gaugeFor(t, f.registry, f.queue)); n != 1 {
		t.Errorf("parked gauge = %v, want 1", n)
	}
}

// gaugeFor reads printfleet_ops_dead_letters_parked{queue} from reg.
func gaugeFor(t *testing.T, reg *prometheus.Registry, queue string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "printfleet_ops_dead_letters_parked" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == queue {
				g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x"})
				g.Set(m.GetGauge().GetValue())
				return g
			}
		}
	}
	t.Fatalf("no parked gauge for %s", queue)
	return nil
}

// TestParkingSurvivesLostConnection: the broker drops the ops process's
// connection; a dead letter arriving afterwards is parked all the same.
func TestParkingSurvivesLostConnection(t *testing.T) {
	t.Parallel()
	f := start(t)
	first := f.poison(t, uuid.NewString())
	f.parked(t, first, opsv1.DeadLetterState_DEAD_LETTER_STATE_PARKED, 1)
	amqptest.ForceClose(t, f.opsName)
	second := f.poison(t, uuid.NewString())
	f.parked(t, second, opsv1.DeadLetterState_DEAD_LETTER_STATE_PARKED, 1)
	res, err := f.client.ListDeadLetters(admin, &opsv1.ListDeadLettersRequest{Queue: f.queue, PageSize: 1})
	if err != nil || len(res.GetDeadLetters()) != 1 || res.GetNextPageToken() == "" {
		t.Fatalf("first page: %v %v", res, err)
	}
	next, err := f.client.ListDeadLetters(admin, &opsv1.ListDeadLettersRequest{Queue: f.queue, PageSize: 1, PageToken: res.GetNextPageToken()})
	if err != nil || len(next.GetDeadLetters()) != 1 || next.GetDeadLetters()[0].GetId() == res.GetDeadLetters()[0].GetId() {
		t.Fatalf("second page: %v %v", next, err)
	}
}

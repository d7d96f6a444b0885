// Package outbox is the transactional outbox: events are written in the same
// PostgreSQL transaction as the change they announce, and a relay publishes
// them to RabbitMQ with publisher confirms, marking a row published only once
// the broker confirmed it.
//
// It follows the API announced for platform/outbox (Migrations, Add, NewRelay,
// Run) so the service can switch to the shared package when it lands.
package outbox

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/postgres"
)

//go:embed migrations/*.sql
var migrationsDir embed.FS

// Migrations holds the outbox and processed_messages tables; apply them with
// the service's own migrations.
var Migrations = mustSub(migrationsDir, "migrations")

func mustSub(f fs.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return s
}

// HeaderEventTime carries the event's creation time (RFC 3339 with
// nanoseconds): AMQP timestamps keep whole seconds only, too coarse for lag
// metrics.
const HeaderEventTime = "x-event-time"

// Event is one domain event to publish. Type is the routing key.
type Event struct {
	ID      string // a UUIDv7 when empty
	Type    string
	Payload proto.Message
}

// Add writes ev in tx, capturing the trace context of ctx.
func Add(ctx context.Context, tx pgx.Tx, ev Event) error {
	if ev.Type == "" || ev.Payload == nil {
		return errors.New("outbox: event needs a type and a payload")
	}
	id := ev.ID
	if id == "" {
		u, err := uuid.NewV7()
		if err != nil {
			return fmt.Errorf("outbox: event id: %w", err)
		}
		id = u.String()
	}
	body, err := proto.Marshal(ev.Payload)
	if err != nil {
		return fmt.Errorf("outbox: marshal %s: %w", ev.Type, err)
	}
	carrier := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, carrier)
	headers, err := json.Marshal(map[string]string(carrier))
	if err != nil {
		return fmt.Errorf("outbox: headers: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO outbox (id, type, payload, headers) VALUES ($1, $2, $3, $4)`,
		id, ev.Type, body, headers); err != nil {
		return fmt.Errorf("outbox: insert %s: %w", ev.Type, err)
	}
	return nil
}

// Publisher is what the relay publishes with (*amqp.Publisher).
type Publisher interface {
	Publish(ctx context.Context, msgs ...amqp.Message) error
}

// Options tune a relay.
type Options struct {
	Batch        int           // rows per transaction (default 100)
	PollInterval time.Duration // fallback poll when no notification arrives (default 1s)
	RetryMin     time.Duration // backoff of a row whose publish failed (default 500ms)
	RetryMax     time.Duration // (default 30s)
	Retention    time.Duration // published rows kept for inspection (default 24h)
}

// Relay publishes pending outbox rows.
type Relay struct {
	pool *pgxpool.Pool
	pub  Publisher
	log  *slog.Logger
	o    Options
}

var (
	publishedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "outbox_published_total", Help: "Outbox events confirmed by the broker, by type.",
	}, []string{"type"})
	failedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "outbox_publish_failures_total", Help: "Outbox events whose publish failed and will be retried, by type.",
	}, []string{"type"})
	relayLag = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "outbox_relay_lag_seconds",
		Help:    "Time from an outbox event's commit to its confirmed publish.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	})
)

// NewRelay returns a relay over pool's outbox table.
func NewRelay(pool *pgxpool.Pool, pub Publisher, log *slog.Logger, o Options) *Relay {
	if o.Batch <= 0 {
		o.Batch = 100
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 500 * time.Millisecond
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 30 * time.Second
	}
	if o.Retention <= 0 {
		o.Retention = 24 * time.Hour
	}
	return &Relay{pool: pool, pub: pub, log: log.With("component", "outbox-relay"), o: o}
}

// Run publishes until ctx is cancelled; on cancellation it flushes what is
// pending (bounded by a few seconds) and returns nil.
func (r *Relay) Run(ctx context.Context) error {
	wake := make(chan struct{}, 1)
	go r.listen(ctx, wake)
	lastPurge := time.Time{}
	for {
		n, err := r.PublishPending(ctx)
		if err != nil && ctx.Err() == nil {
			r.log.Warn("outbox relay batch failed", "err", err)
		}
		if ctx.Err() != nil {
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			for {
				if n, err := r.PublishPending(fctx); err != nil || n == 0 {
					break
				}
			}
			cancel()
			return nil
		}
		if time.Since(lastPurge) > time.Hour {
			r.purge(ctx)
			lastPurge = time.Now()
		}
		if n == r.o.Batch {
			continue
		}
		t := time.NewTimer(r.o.PollInterval)
		select {
		case <-ctx.Done():
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// listen turns NOTIFY outbox into wake-ups, reconnecting on failure.
func (r *Relay) listen(ctx context.Context, wake chan<- struct{}) {
	for ctx.Err() == nil {
		err := func() error {
			conn, err := r.pool.Acquire(ctx)
			if err != nil {
				return err
			}
			defer conn.Release()
			if _, err := conn.Exec(ctx, `LISTEN outbox`); err != nil {
				return err
			}
			defer conn.Exec(context.WithoutCancel(ctx), `UNLISTEN outbox`) //nolint:errcheck
			for {
				if _, err := conn.Conn().WaitForNotification(ctx); err != nil {
					return err
				}
				select {
				case wake <- struct{}{}:
				default:
				}
			}
		}()
		if ctx.Err() != nil {
			return
		}
		r.log.Warn("outbox listener lost; polling until it is back", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

type row struct {
	id        string
	typ       string
	payload   []byte
	headers   map[string]string
	createdAt time.Time
	attempts  int
}

// PublishPending publishes one batch of due rows and reports how many it
// took.
func (r *Relay) PublishPending(ctx context.Context) (int, error) {
	var n int
	err := postgres.InTx(ctx, r.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id::text, type, payload, headers, created_at, attempts FROM outbox
			WHERE published_at IS NULL AND next_attempt_at <= now()
			ORDER BY created_at, id LIMIT $1 FOR UPDATE SKIP LOCKED`, r.o.Batch)
		if err != nil {
			return fmt.Errorf("select pending: %w", err)
		}
		batch, err := pgx.CollectRows(rows, func(rw pgx.CollectableRow) (row, error) {
			var x row
			err := rw.Scan(&x.id, &x.typ, &x.payload, &x.headers, &x.createdAt, &x.attempts)
			return x, err
		})
		if err != nil {
			return fmt.Errorf("scan pending: %w", err)
		}
		n = len(batch)
		if n == 0 {
			return nil
		}
		msgs := make([]amqp.Message, n)
		for i, x := range batch {
			msgs[i] = amqp.Message{
				ID: x.id, Type: x.typ, Body: x.payload, Timestamp: x.createdAt,
				Headers: map[string]any{HeaderEventTime: x.createdAt.UTC().Format(time.RFC3339Nano)},
			}
		}
		pubErr := r.publish(ctx, batch, msgs)
		failed := map[string]bool{}
		var pe *amqp.PublishError
		switch {
		case pubErr == nil:
		case errors.As(pubErr, &pe):
			for _, f := range pe.Failed {
				failed[f.ID] = true
			}
		default:
			for _, x := range batch {
				failed[x.id] = true
			}
		}
		var ok []string
		for _, x := range batch {
			if failed[x.id] {
				failedTotal.WithLabelValues(x.typ).Inc()
				wait := backoff(x.attempts+1, r.o.RetryMin, r.o.RetryMax)
				if _, err := tx.Exec(ctx, `UPDATE outbox SET attempts = attempts + 1, next_attempt_at = now() + $2::interval WHERE id = $1`,
					x.id, wait.String()); err != nil {
					return fmt.Errorf("reschedule: %w", err)
				}
				continue
			}
			ok = append(ok, x.id)
			publishedTotal.WithLabelValues(x.typ).Inc()
			relayLag.Observe(time.Since(x.createdAt).Seconds())
		}
		if len(ok) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE outbox SET published_at = now() WHERE id = ANY($1::uuid[])`, ok); err != nil {
				return fmt.Errorf("mark published: %w", err)
			}
		}
		if pubErr != nil {
			r.log.Warn("outbox publish incomplete; failed events are retried", "failed", len(failed), "of", n, "err", pubErr)
		}
		return nil
	})
	return n, err
}

// publish sends the batch, each message under its own trace context, all in
// flight at once.
func (r *Relay) publish(ctx context.Context, batch []row, msgs []amqp.Message) error {
	errs := make([]error, len(batch))
	var wg sync.WaitGroup
	for i := range batch {
		wg.Go(func() {
			c := otel.GetTextMapPropagator().Extract(ctx, propagation.MapCarrier(batch[i].headers))
			errs[i] = r.pub.Publish(c, msgs[i])
		})
	}
	wg.Wait()
	var failed []*amqp.MessageError
	for i, err := range errs {
		if err != nil {
			failed = append(failed, &amqp.MessageError{ID: msgs[i].ID, Type: msgs[i].Type, Err: err})
		}
	}
	if len(failed) > 0 {
		return &amqp.PublishError{Failed: failed, Total: len(msgs)}
	}
	return nil
}

func (r *Relay) purge(ctx context.Context) {
	if _, err := r.pool.Exec(ctx, `DELETE FROM outbox WHERE published_at < now() - $1::interval`, r.o.Retention.String()); err != nil && ctx.Err() == nil {
		r.log.Warn("outbox purge failed", "err", err)
	}
}

func backoff(n int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/postgres"
)

// Publisher publishes a batch and returns once every message is confirmed,
// or an *amqp.PublishError naming those that were not.
type Publisher interface {
	Publish(ctx context.Context, msgs ...amqp.Message) error
}

var (
	relayPublished = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "printfleet_outbox_published_total",
		Help: "Outbox rows published and confirmed by the broker.",
	}, []string{"service"})
	relayFailures = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "printfleet_outbox_publish_failures_total",
		Help: "Outbox rows whose publish was not confirmed (retried later).",
	}, []string{"service"})
	relayLag = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "printfleet_outbox_lag_seconds",
		Help: "Age of the oldest unpublished outbox row (0 when none).",
	}, []string{"service"})
	relayPending = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "printfleet_outbox_pending_rows",
		Help: "Unpublished outbox rows, sampled.",
	}, []string{"service"})
)

// RelayConfig tunes a relay.
type RelayConfig struct {
	// Service labels the metrics.
	Service string
	// BatchSize is the number of rows locked and published per transaction.
	BatchSize int
	// Poll is the fallback interval when no notification arrives.
	Poll time.Duration
	// Retention is how long published rows are kept before deletion.
	Retention time.Duration
}

// Relay publishes outbox rows.
type Relay struct {
	pool *pgxpool.Pool
	pub  Publisher
	log  *slog.Logger
	cfg  RelayConfig
}

// NewRelay returns a relay over pool publishing through pub.
func NewRelay(pool *pgxpool.Pool, pub Publisher, log *slog.Logger, cfg RelayConfig) *Relay {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 256
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Retention <= 0 {
		cfg.Retention = time.Hour
	}
	return &Relay{pool: pool, pub: pub, log: log, cfg: cfg}
}

// Run publishes until ctx is cancelled. On cancel it finishes the batch in
// flight (its publish and mark) and returns nil.
func (r *Relay) Run(ctx context.Context) error {
	wake := make(chan struct{}, 1)
	go r.listen(ctx, wake)
	lastStats := time.Time{}
	lastSweep := time.Now()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		// The batch runs to completion even when ctx is cancelled mid-way, so
		// a confirmed publish is always marked.
		n, err := r.PublishBatch(context.WithoutCancel(ctx))
		if err != nil {
			r.log.Warn("outbox relay batch failed; retrying", "err", err)
			if !sleep(ctx, backoff) {
				break
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		if time.Since(lastStats) > time.Second {
			r.sampleLag(ctx)
			lastStats = time.Now()
		}
		if time.Since(lastSweep) > time.Minute {
			r.sweep(ctx)
			lastSweep = time.Now()
		}
		if n == r.cfg.BatchSize {
			continue // more waiting
		}
		select {
		case <-ctx.Done():
		case <-wake:
		case <-time.After(r.cfg.Poll):
		}
	}
	return nil
}

// PublishBatch locks up to BatchSize unpublished rows, publishes them and
// marks the confirmed ones published, all in one transaction. It reports how
// many rows it locked.
func (r *Relay) PublishBatch(ctx context.Context) (int, error) {
	var locked int
	err := postgres.InTx(ctx, r.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT id, type, payload, headers, created_at
			FROM outbox
			WHERE published_at IS NULL
			ORDER BY seq
			LIMIT $1
			FOR UPDATE SKIP LOCKED`, r.cfg.BatchSize)
		if err != nil {
			return fmt.Errorf("select outbox: %w", err)
		}
		var msgs []amqp.Message
		var ctxs []context.Context
		for rows.Next() {
			var (
				id      uuid.UUID
				m       amqp.Message
				headers []byte
			)
			if err := rows.Scan(&id, &m.Type, &m.Body, &headers, &m.Timestamp); err != nil {
				rows.Close()
				return fmt.Errorf("scan outbox: %w", err)
			}
			m.ID = id.String()
			carrier := propagation.MapCarrier{}
			_ = json.Unmarshal(headers, &carrier)
			ctxs = append(ctxs, otel.GetTextMapPropagator().Extract(ctx, carrier))
			msgs = append(msgs, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read outbox: %w", err)
		}
		locked = len(msgs)
		if locked == 0 {
			return nil
		}
		confirmed := r.publish(ctx, ctxs, msgs)
		if len(confirmed) == 0 {
			return errors.New("no message of the batch was confirmed")
		}
		if _, err := tx.Exec(ctx, `UPDATE outbox SET published_at = now() WHERE id = ANY($1)`, confirmed); err != nil {
			return fmt.Errorf("mark published: %w", err)
		}
		return nil
	})
	return locked, err
}

// publish sends msgs, each under the trace context stored with its row, and
// returns the ids the broker confirmed. Rows that share a trace context are
// published together so confirms stay pipelined.
func (r *Relay) publish(ctx context.Context, ctxs []context.Context, msgs []amqp.Message) []string {
	type group struct {
		ctx  context.Context
		msgs []amqp.Message
	}
	var groups []*group
	byTrace := map[string]*group{}
	for i, m := range msgs {
		key := traceKey(ctxs[i])
		g, ok := byTrace[key]
		if !ok {
			g = &group{ctx: ctxs[i]}
			byTrace[key] = g
			groups = append(groups, g)
		}
		g.msgs = append(g.msgs, m)
	}
	results := make(chan []string, len(groups))
	for _, g := range groups {
		go func() {
			results <- r.publishGroup(g.ctx, g.msgs)
		}()
	}
	var confirmed []string
	for range groups {
		confirmed = append(confirmed, <-results...)
	}
	relayPublished.WithLabelValues(r.cfg.Service).Add(float64(len(confirmed)))
	if failed := len(msgs) - len(confirmed); failed > 0 {
		relayFailures.WithLabelValues(r.cfg.Service).Add(float64(failed))
	}
	return confirmed
}

func (r *Relay) publishGroup(ctx context.Context, msgs []amqp.Message) []string {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := r.pub.Publish(pctx, msgs...)
	failed := map[string]bool{}
	if err != nil {
		var pe *amqp.PublishError
		if !errors.As(err, &pe) {
			r.log.Warn("outbox publish failed", "err", err, "messages", len(msgs))
			return nil
		}
		for _, f := range pe.Failed {
			failed[f.ID] = true
		}
		r.log.Warn("outbox publish partly failed", "failed", len(pe.Failed), "of", len(msgs), "err", err)
	}
	ids := make([]string, 0, len(msgs))
	for _, m := range msgs {
		if !failed[m.ID] {
			ids = append(ids, m.ID)
		}
	}
	return ids
}

func traceKey(ctx context.Context) string {
	c := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, c)
	return c.Get("traceparent") + "|" + c.Get("tracestate") + "|" + c.Get("baggage")
}

func (r *Relay) sampleLag(ctx context.Context) {
	var (
		oldest  *time.Time
		pending int64
	)
	err := r.pool.QueryRow(ctx, `
		SELECT (SELECT created_at FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT 1),
		       (SELECT count(*) FROM (SELECT 1 FROM outbox WHERE published_at IS NULL LIMIT 100000) p)`).Scan(&oldest, &pending)
	if err != nil {
		return
	}
	lag := 0.0
	if oldest != nil {
		lag = max(time.Since(*oldest).Seconds(), 0)
	}
	relayLag.WithLabelValues(r.cfg.Service).Set(lag)
	relayPending.WithLabelValues(r.cfg.Service).Set(float64(pending))
}

func (r *Relay) sweep(ctx context.Context) {
	if _, err := r.pool.Exec(ctx, `DELETE FROM outbox WHERE published_at < now() - $1::interval`, r.cfg.Retention.String()); err != nil {
		r.log.Warn("outbox sweep failed", "err", err)
	}
}

// listen forwards NOTIFYs on the outbox channel to wake, reconnecting as
// needed. Missed notifications are covered by the poll.
func (r *Relay) listen(ctx context.Context, wake chan<- struct{}) {
	for ctx.Err() == nil {
		conn, err := r.pool.Acquire(ctx)
		if err != nil {
			sleep(ctx, time.Second)
			continue
		}
		_, err = conn.Exec(ctx, "LISTEN "+notifyChannel)
		for err == nil {
			_, err = conn.Conn().WaitForNotification(ctx)
			if err == nil {
				select {
				case wake <- struct{}{}:
				default:
				}
			}
		}
		// The connection is in LISTEN state or broken: never return it.
		_ = conn.Hijack().Close(context.Background())
		if ctx.Err() == nil {
			sleep(ctx, time.Second)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

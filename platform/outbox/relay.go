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
	relayBatches = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "printfleet_outbox_batch_rows",
		Help:    "Rows claimed per published batch (how well the relay batches concurrent commits).",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
	}, []string{"service"})
)

// RelayConfig tunes a relay.
type RelayConfig struct {
	// Service labels the metrics.
	Service string
	// BatchSize is the number of rows claimed and published per batch.
	BatchSize int
	// Window is how long a woken relay waits before claiming, so that
	// commits finishing together are published as one batch (default 1ms;
	// negative: no wait).
	Window time.Duration
	// Poll is the interval of the safety-net poll (default 2s).
	Poll time.Duration
	// Grace is how old a row of another process must be before the poll
	// takes it (default Poll): younger rows are left to their writer's relay.
	Grace time.Duration
	// Retention is how long published rows are kept before deletion.
	Retention time.Duration
}

// Relay publishes outbox rows.
type Relay struct {
	pool *pgxpool.Pool
	pub  Publisher
	log  *slog.Logger
	cfg  RelayConfig
	wake chan struct{}
}

// NewRelay returns a relay over pool publishing through pub.
func NewRelay(pool *pgxpool.Pool, pub Publisher, log *slog.Logger, cfg RelayConfig) *Relay {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 256
	}
	if cfg.Window < 0 {
		cfg.Window = 0
	} else if cfg.Window == 0 {
		cfg.Window = time.Millisecond
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 2 * time.Second
	}
	if cfg.Grace <= 0 {
		cfg.Grace = cfg.Poll
	}
	if cfg.Retention <= 0 {
		cfg.Retention = time.Hour
	}
	return &Relay{pool: pool, pub: pub, log: log, cfg: cfg, wake: make(chan struct{}, 1)}
}

// Wake tells the relay that this process committed outbox rows. It never
// blocks; wakes that arrive while the relay is busy coalesce into one.
func (r *Relay) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// claim says which rows a batch takes.
type claim int

const (
	// claimOwn takes the rows this process wrote (after a Wake).
	claimOwn claim = iota
	// claimAny also takes other processes' rows older than the grace period
	// (the safety-net poll).
	claimAny
)

// Run publishes until ctx is cancelled. On cancel it finishes the batch in
// flight (its publish and mark), publishes what this process committed and
// has not published yet (for at most stopDrain, so that a graceful stop
// leaves nothing for the other relays' poll), and returns nil.
func (r *Relay) Run(ctx context.Context) error {
	poll := time.NewTicker(r.cfg.Poll)
	defer poll.Stop()
	lastSweep := time.Now()
	backoff := 100 * time.Millisecond
	mode := claimAny // first, whatever a previous run of this process left
	for ctx.Err() == nil {
		if err := r.drain(ctx, mode); err != nil {
			r.log.Warn("outbox relay batch failed; retrying", "err", err)
			if !sleep(ctx, backoff) {
				break
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		if time.Since(lastSweep) > time.Minute {
			r.sweep(ctx)
			lastSweep = time.Now()
		}
		select {
		case <-ctx.Done():
		case <-r.wake:
			// Let commits that finish together join the batch.
			if r.cfg.Window > 0 {
				sleep(ctx, r.cfg.Window)
			}
			select {
			case <-r.wake:
			default:
			}
			mode = claimOwn
		case <-poll.C:
			mode = claimAny
			if !r.sample(ctx) {
				mode = -1 // nothing to take: skip the claim
			}
		}
	}
	r.finalDrain(ctx)
	return nil
}

// Flush publishes every row this process wrote and has not published yet,
// and returns once there is none left or a batch failed. A one-shot job that
// writes outbox rows calls it before exiting, so that its events go out at
// once instead of waiting for a running relay's safety-net poll.
func (r *Relay) Flush(ctx context.Context) error {
	for {
		n, err := r.publishBatch(ctx, claimOwn)
		if err != nil {
			return fmt.Errorf("outbox flush: %w", err)
		}
		if n < r.cfg.BatchSize {
			return nil
		}
	}
}

// stopDrain bounds the last publish after Run's ctx is cancelled.
const stopDrain = 5 * time.Second

func (r *Relay) finalDrain(ctx context.Context) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopDrain)
	defer cancel()
	if err := r.Flush(fctx); err != nil {
		r.log.Warn("outbox relay: last batch before stopping failed; the poll of another relay or the next start publishes it", "err", err)
	}
}

// drain publishes batches until one comes back short.
func (r *Relay) drain(ctx context.Context, mode claim) error {
	if mode < 0 {
		return nil
	}
	for ctx.Err() == nil {
		// The batch runs to completion even when ctx is cancelled mid-way,
		// so a confirmed publish is always marked.
		n, err := r.publishBatch(context.WithoutCancel(ctx), mode)
		if err != nil || n < r.cfg.BatchSize {
			return err
		}
	}
	return nil
}

// PublishBatch claims up to BatchSize unpublished rows of any origin,
// publishes them and marks the confirmed ones published. It reports how
// many rows it claimed.
func (r *Relay) PublishBatch(ctx context.Context) (int, error) {
	return r.publishBatch(ctx, claimAny)
}

const claimColumns = `SELECT id, type, payload, headers, created_at FROM outbox WHERE published_at IS NULL`

var claimSQL = map[claim]string{
	claimOwn: claimColumns + ` AND origin = $2 ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED`,
	claimAny: claimColumns + ` AND (origin = $2 OR origin IS NULL OR created_at < now() - make_interval(secs => $3))
		ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED`,
}

// publishBatch is one batch in two round trips: BEGIN and the claim
// pipelined, then (after the broker confirmed) the mark and COMMIT
// pipelined. The claimed rows stay locked until the commit.
func (r *Relay) publishBatch(ctx context.Context, mode claim) (n int, err error) {
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("acquire: %w", err)
	}
	// A connection left inside a transaction is destroyed by Release.
	defer conn.Release()
	defer func() {
		if err != nil && conn.Conn().PgConn().TxStatus() != 'I' {
			_, _ = conn.Exec(ctx, "ROLLBACK")
		}
	}()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	args := []any{r.cfg.BatchSize, origin}
	if mode == claimAny {
		args = append(args, r.cfg.Grace.Seconds())
	}
	b.Queue(claimSQL[mode], args...)
	br := conn.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return 0, fmt.Errorf("begin: %w", err)
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return 0, fmt.Errorf("select outbox: %w", err)
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
			_ = br.Close()
			return 0, fmt.Errorf("scan outbox: %w", err)
		}
		m.ID = id.String()
		carrier := propagation.MapCarrier{}
		_ = json.Unmarshal(headers, &carrier)
		ctxs = append(ctxs, otel.GetTextMapPropagator().Extract(ctx, carrier))
		msgs = append(msgs, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		_ = br.Close()
		return 0, fmt.Errorf("read outbox: %w", err)
	}
	if err := br.Close(); err != nil {
		return 0, fmt.Errorf("claim outbox: %w", err)
	}
	if len(msgs) == 0 {
		_, err := conn.Exec(ctx, "COMMIT")
		return 0, err
	}
	confirmed := r.publish(ctx, ctxs, msgs)
	if len(confirmed) == 0 {
		return len(msgs), errors.New("no message of the batch was confirmed")
	}
	b = &pgx.Batch{}
	b.Queue(`UPDATE outbox SET published_at = now() WHERE id = ANY($1::uuid[])`, confirmed)
	b.Queue("COMMIT")
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return len(msgs), fmt.Errorf("mark published: %w", err)
	}
	relayBatches.WithLabelValues(r.cfg.Service).Observe(float64(len(msgs)))
	return len(msgs), nil
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

// sample updates the lag and pending gauges and reports whether the poll
// has rows to take: this process's, or others' older than the grace period.
// One query, outside any transaction; on error it says yes, so that the
// claim reports the problem.
func (r *Relay) sample(ctx context.Context) bool {
	var (
		oldest    *time.Time
		pending   int64
		claimable bool
	)
	err := r.pool.QueryRow(ctx, `
		SELECT min(created_at), count(*),
		       coalesce(bool_or(origin = $1 OR origin IS NULL OR created_at < now() - make_interval(secs => $2)), false)
		FROM (SELECT created_at, origin FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT 100000) p`,
		origin, r.cfg.Grace.Seconds()).Scan(&oldest, &pending, &claimable)
	if err != nil {
		return true
	}
	lag := 0.0
	if oldest != nil {
		lag = max(time.Since(*oldest).Seconds(), 0)
	}
	relayLag.WithLabelValues(r.cfg.Service).Set(lag)
	relayPending.WithLabelValues(r.cfg.Service).Set(float64(pending))
	return claimable
}

func (r *Relay) sweep(ctx context.Context) {
	if _, err := r.pool.Exec(ctx, `DELETE FROM outbox WHERE published_at < now() - $1::interval`, r.cfg.Retention.String()); err != nil {
		r.log.Warn("outbox sweep failed", "err", err)
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

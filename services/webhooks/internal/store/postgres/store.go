// Package postgres is the webhooks store on PostgreSQL: endpoints, events,
// deliveries and (through platform/outbox's migrations) the inbox, with the
// migrations embedded.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/inbox"
	"github.com/printfleet/printfleet/platform/outbox"
	"github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/services/webhooks/internal/app"
	"github.com/printfleet/printfleet/services/webhooks/internal/domain"
)

//go:embed migrations/*.sql
var own embed.FS

// Migrations are the webhooks schema plus the platform's inbox (and outbox)
// tables, applied in name order.
var Migrations = func() fs.FS {
	sub, err := fs.Sub(own, "migrations")
	if err != nil {
		panic(err)
	}
	return postgres.MustMerge(outbox.Migrations, sub)
}()

// Store implements app.Store.
type Store struct{ db *pgxpool.Pool }

var _ app.Store = (*Store)(nil)

// New returns a store on db.
func New(db *pgxpool.Pool) *Store { return &Store{db: db} }

const endpointCols = `e.id::text, e.owner_id, e.url, e.event_types, e.description, e.secret_sealed,
	e.prev_secret_sealed, e.prev_secret_expires_at, e.status, e.disabled_reason, e.failing_since,
	(SELECT min(d.created_at) FROM deliveries d WHERE d.endpoint_id = e.id AND d.status = 'pending'),
	e.created_at, e.updated_at`

func scanEndpoint(row pgx.Row) (domain.Endpoint, error) {
	var (
		e                        domain.Endpoint
		status                   string
		prevExp, failing, oldest pgtype.Timestamptz
	)
	err := row.Scan(&e.ID, &e.OwnerID, &e.URL, &e.EventTypes, &e.Description, &e.SecretSealed,
		&e.PrevSecretSealed, &prevExp, &status, &e.DisabledReason, &failing, &oldest, &e.CreatedAt, &e.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, errs.E(errs.NotFound, "webhook not found")
	}
	if err != nil {
		return e, err
	}
	e.Status = domain.EndpointStatus(status)
	e.PrevSecretExpiresAt, e.FailingSince, e.OldestPendingAt = postgres.Time(prevExp), postgres.Time(failing), postgres.Time(oldest)
	e.CreatedAt, e.UpdatedAt = e.CreatedAt.UTC(), e.UpdatedAt.UTC()
	return e, nil
}

// CreateEndpoint implements app.Store. The owner's endpoints are counted
// under a transaction-scoped advisory lock on the owner, so two creates
// racing cannot pass the limit together.
func (s *Store) CreateEndpoint(ctx context.Context, e domain.Endpoint, max int) error {
	return postgres.InTx(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('webhooks:' || $1, 0))`, e.OwnerID); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM endpoints WHERE owner_id = $1`, e.OwnerID).Scan(&n); err != nil {
			return err
		}
		if n >= max {
			return errs.E(errs.FailedPrecondition, "at most %d webhooks per account", max)
		}
		_, err := tx.Exec(ctx, `INSERT INTO endpoints (id, owner_id, url, event_types, description, secret_sealed, status, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)`,
			e.ID, e.OwnerID, e.URL, e.EventTypes, e.Description, e.SecretSealed, string(e.Status), e.CreatedAt)
		return err
	})
}

// GetEndpoint implements app.Store.
func (s *Store) GetEndpoint(ctx context.Context, id string) (domain.Endpoint, error) {
	return scanEndpoint(s.db.QueryRow(ctx, `SELECT `+endpointCols+` FROM endpoints e WHERE e.id = $1`, id))
}

// ListEndpoints implements app.Store.
func (s *Store) ListEndpoints(ctx context.Context, q app.EndpointQuery) ([]domain.Endpoint, error) {
	rows, err := s.db.Query(ctx, `SELECT `+endpointCols+` FROM endpoints e
		WHERE ($1 = '' OR e.owner_id = $1)
		  AND ($2::timestamptz IS NULL OR (e.created_at, e.id) < ($2, $3::uuid))
		ORDER BY e.created_at DESC, e.id DESC LIMIT $4`,
		q.OwnerID, postgres.Timestamptz(q.AfterCreated), nullUUID(q.AfterID), q.Limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Endpoint, error) { return scanEndpoint(r) })
}

func nullUUID(id string) any {
	if id == "" {
		return nil
	}
	return id
}

// UpdateEndpoint implements app.Store.
func (s *Store) UpdateEndpoint(ctx context.Context, id string, fn func(*domain.Endpoint) error) (domain.Endpoint, error) {
	var e domain.Endpoint
	err := postgres.InTx(ctx, s.db, func(tx pgx.Tx) error {
		var err error
		e, err = scanEndpoint(tx.QueryRow(ctx, `SELECT `+endpointCols+` FROM endpoints e WHERE e.id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		if err := fn(&e); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE endpoints SET url = $2, event_types = $3, description = $4, secret_sealed = $5,
			prev_secret_sealed = $6, prev_secret_expires_at = $7, status = $8, disabled_reason = $9,
			failing_since = $10, updated_at = $11 WHERE id = $1`,
			e.ID, e.URL, e.EventTypes, e.Description, e.SecretSealed, e.PrevSecretSealed, postgres.Timestamptz(e.PrevSecretExpiresAt),
			string(e.Status), e.DisabledReason, postgres.Timestamptz(e.FailingSince), e.UpdatedAt)
		return err
	})
	return e, err
}

// DeleteEndpoint implements app.Store. Its deliveries go with it.
func (s *Store) DeleteEndpoint(ctx context.Context, id string) (int, error) {
	var left int
	err := postgres.InTx(ctx, s.db, func(tx pgx.Tx) error {
		var owner string
		err := tx.QueryRow(ctx, `DELETE FROM endpoints WHERE id = $1 RETURNING owner_id`, id).Scan(&owner)
		if errors.Is(err, pgx.ErrNoRows) {
			return errs.E(errs.NotFound, "webhook not found")
		}
		if err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT count(*) FROM endpoints WHERE owner_id = $1 AND status = 'active'`, owner).Scan(&left)
	})
	return left, err
}

// ActiveEndpoints implements app.Store.
func (s *Store) ActiveEndpoints(ctx context.Context, ownerID string) ([]domain.Endpoint, error) {
	rows, err := s.db.Query(ctx, `SELECT id::text, event_types FROM endpoints WHERE owner_id = $1 AND status = 'active'`, ownerID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []domain.Endpoint
	for rows.Next() {
		e := domain.Endpoint{OwnerID: ownerID, Status: domain.EndpointActive}
		if err := rows.Scan(&e.ID, &e.EventTypes); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// RecordEvent implements app.Store: the inbox claim, the event and its
// deliveries ride one batch in one transaction. Only endpoints still active
// get a delivery.
func (s *Store) RecordEvent(ctx context.Context, consumer string, ev domain.Event, endpointIDs []string, now time.Time) (bool, error) {
	first := false
	err := postgres.InTx(ctx, s.db, func(tx pgx.Tx) error {
		ok, err := inbox.Claim(ctx, tx, consumer, ev.ID)
		if err != nil || !ok {
			return err
		}
		first = true
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO events (id, type, owner_id, occurred_at, body, created_at, order_id) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			ev.ID, ev.Type, ev.OwnerID, ev.OccurredAt, ev.Body, now, orderID(ev.OrderID))
		// The endpoints were read before this transaction; one disabled
		// since gets no delivery. FOR SHARE waits for a disable in flight
		// and rechecks the status after it, and holds back a disable that
		// comes later until these deliveries are committed, so its sweep of
		// the endpoint's pending deliveries sees them.
		b.Queue(`INSERT INTO deliveries (id, endpoint_id, event_id, next_attempt_at, created_at)
			SELECT gen_random_uuid(), e.id, $2, $3, $3 FROM (
				SELECT id FROM endpoints WHERE id = ANY($1::uuid[]) AND status = 'active' FOR SHARE
			) AS e`, endpointIDs, ev.ID, now)
		return tx.SendBatch(ctx, b).Close()
	})
	return first, err
}

// Claim implements app.Store. Candidates are ranked per endpoint so that no
// endpoint gets more than its free slots; the rows are then locked with
// SKIP LOCKED (replicas claiming together take different rows) and leased.
func (s *Store) Claim(ctx context.Context, r app.ClaimRequest) ([]app.Claimed, error) {
	busyIDs := make([]string, 0, len(r.Busy))
	busyN := make([]int32, 0, len(r.Busy))
	for id, n := range r.Busy {
		busyIDs = append(busyIDs, id)
		busyN = append(busyN, int32(n))
	}
	rows, err := s.db.Query(ctx, `
		WITH ranked AS (
			SELECT d.id, d.next_attempt_at,
			       row_number() OVER (PARTITION BY d.endpoint_id ORDER BY d.next_attempt_at, d.id) AS rn,
			       coalesce(b.used, 0) AS used
			FROM deliveries d
			JOIN endpoints e ON e.id = d.endpoint_id AND e.status = 'active'
			LEFT JOIN unnest($1::uuid[], $2::int[]) AS b(endpoint_id, used) ON b.endpoint_id = d.endpoint_id
			WHERE d.status = 'pending' AND d.next_attempt_at <= $3
			  AND (d.leased_until IS NULL OR d.leased_until <= $3)
		), cand AS (
			SELECT id FROM ranked WHERE rn <= $4 - used ORDER BY next_attempt_at LIMIT $5
		), due AS (
			SELECT d.id FROM deliveries d
			WHERE d.id IN (SELECT id FROM cand) AND d.status = 'pending'
			  AND (d.leased_until IS NULL OR d.leased_until <= $3)
			FOR UPDATE SKIP LOCKED
		)
		UPDATE deliveries d SET leased_until = $6, attempts = d.attempts + 1
		FROM due, endpoints e, events ev
		WHERE d.id = due.id AND e.id = d.endpoint_id AND ev.id = d.event_id AND e.status = 'active'
		RETURNING d.id::text, d.endpoint_id::text, d.event_id::text, ev.type, d.attempts, e.url,
		          e.secret_sealed, e.prev_secret_sealed, e.prev_secret_expires_at, ev.body`,
		busyIDs, busyN, r.Now, r.PerEndpoint, r.Limit, r.Now.Add(r.Lease))
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	defer rows.Close()
	var out []app.Claimed
	for rows.Next() {
		var c app.Claimed
		var exp pgtype.Timestamptz
		if err := rows.Scan(&c.DeliveryID, &c.EndpointID, &c.EventID, &c.EventType, &c.Attempt, &c.URL,
			&c.SecretSealed, &c.PrevSecretSealed, &exp, &c.Body); err != nil {
			return nil, err
		}
		c.PrevSecretExpiresAt = postgres.Time(exp)
		out = append(out, c)
	}
	return out, rows.Err()
}

// RecordAttempt implements app.Store.
func (s *Store) RecordAttempt(ctx context.Context, a app.Attempt) (bool, error) {
	disabled := false
	err := postgres.InTx(ctx, s.db, func(tx pgx.Tx) error {
		var delivered pgtype.Timestamptz
		if a.Status == domain.DeliverySucceeded {
			delivered = postgres.Timestamptz(a.At)
		}
		var next pgtype.Timestamptz
		if a.Status == domain.DeliveryPending {
			next = postgres.Timestamptz(a.NextAttemptAt)
		}
		tag, err := tx.Exec(ctx, `UPDATE deliveries SET status = $3, next_attempt_at = $4, leased_until = NULL,
			response_status = $5, response_body = $6, error = $7, latency_ms = $8, last_attempt_at = $9,
			delivered_at = coalesce($10, delivered_at)
			WHERE id = $1 AND attempts = $2 AND status = 'pending'`,
			a.DeliveryID, a.Attempt, string(a.Status), next, a.ResponseStatus, a.ResponseBody, a.Error,
			a.Latency.Milliseconds(), a.At, delivered)
		if err != nil || tag.RowsAffected() == 0 {
			return err // a later claim owns the delivery now
		}
		if _, err := tx.Exec(ctx, `INSERT INTO delivery_attempts (delivery_id, attempt, attempted_at, response_status, error, latency_ms)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
			a.DeliveryID, a.Attempt, a.At, a.ResponseStatus, a.Error, a.Latency.Milliseconds()); err != nil {
			return err
		}
		if a.Succeeded {
			_, err := tx.Exec(ctx, `UPDATE endpoints SET failing_since = NULL, updated_at = $2
				WHERE id = $1 AND failing_since IS NOT NULL`, a.EndpointID, a.At)
			return err
		}
		var failingSince time.Time
		err = tx.QueryRow(ctx, `UPDATE endpoints SET failing_since = coalesce(failing_since, $2),
			updated_at = CASE WHEN failing_since IS NULL THEN $2 ELSE updated_at END
			WHERE id = $1 RETURNING failing_since`, a.EndpointID, a.At).Scan(&failingSince)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		reason := a.Disable
		if reason == "" && !a.DisableFailingBefore.IsZero() && failingSince.Before(a.DisableFailingBefore) {
			reason = domain.ReasonFailing
		}
		if reason == "" {
			return nil
		}
		tag, err = tx.Exec(ctx, `UPDATE endpoints SET status = 'disabled', disabled_reason = $2, updated_at = $3
			WHERE id = $1 AND status = 'active'`, a.EndpointID, reason, a.At)
		if err != nil {
			return err
		}
		disabled = tag.RowsAffected() == 1
		_, err = tx.Exec(ctx, `UPDATE deliveries SET status = 'failed', next_attempt_at = NULL, leased_until = NULL,
			error = CASE WHEN error = '' THEN 'endpoint disabled: ' || $2 ELSE error END
			WHERE endpoint_id = $1 AND status = 'pending'`, a.EndpointID, reason)
		return err
	})
	return disabled, err
}

const deliveryCols = `d.id::text, d.endpoint_id::text, d.event_id::text, ev.type, d.status, d.attempts,
	d.response_status, d.response_body, d.error, d.latency_ms, d.next_attempt_at, d.last_attempt_at,
	d.delivered_at, d.created_at`

func scanDelivery(row pgx.Row) (domain.Delivery, error) {
	var (
		d                 domain.Delivery
		status            string
		latency           int64
		next, last, deliv pgtype.Timestamptz
	)
	err := row.Scan(&d.ID, &d.EndpointID, &d.EventID, &d.EventType, &status, &d.Attempts, &d.ResponseStatus,
		&d.ResponseBody, &d.Error, &latency, &next, &last, &deliv, &d.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, errs.E(errs.NotFound, "delivery not found")
	}
	if err != nil {
		return d, err
	}
	d.Status = domain.DeliveryStatus(status)
	d.Latency = time.Duration(latency) * time.Millisecond
	d.NextAttemptAt, d.LastAttemptAt, d.DeliveredAt = postgres.Time(next), postgres.Time(last), postgres.Time(deliv)
	d.CreatedAt = d.CreatedAt.UTC()
	return d, nil
}

// ListDeliveries implements app.Store.
func (s *Store) ListDeliveries(ctx context.Context, q app.DeliveryQuery) ([]domain.Delivery, error) {
	rows, err := s.db.Query(ctx, `SELECT `+deliveryCols+` FROM deliveries d JOIN events ev ON ev.id = d.event_id
		WHERE d.endpoint_id = $1
		  AND ($2 = '' OR d.status = $2)
		  AND ($3::uuid IS NULL OR d.event_id = $3::uuid)
		  AND ($4::timestamptz IS NULL OR (d.created_at, d.id) < ($4, $5::uuid))
		ORDER BY d.created_at DESC, d.id DESC LIMIT $6`,
		q.EndpointID, string(q.Status), nullUUID(q.EventID), postgres.Timestamptz(q.AfterCreated), nullUUID(q.AfterID), q.Limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Delivery, error) { return scanDelivery(r) })
}

// ListOrderDeliveries implements app.Store: the order's events on
// events_order (a handful per order), their deliveries on deliveries_event.
func (s *Store) ListOrderDeliveries(ctx context.Context, q app.OrderDeliveryQuery) ([]domain.Delivery, error) {
	rows, err := s.db.Query(ctx, `SELECT `+deliveryCols+` FROM events ev JOIN deliveries d ON d.event_id = ev.id
		WHERE ev.order_id = $1::uuid
		  AND ($2::timestamptz IS NULL OR (d.created_at, d.id) < ($2, $3::uuid))
		ORDER BY d.created_at DESC, d.id DESC LIMIT $4`,
		q.OrderID, postgres.Timestamptz(q.AfterCreated), nullUUID(q.AfterID), q.Limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Delivery, error) { return scanDelivery(r) })
}

// orderID is an event's order for its uuid column: NULL when it names none
// (or not a uuid, which no order id is).
func orderID(id string) any {
	if uuid.Validate(id) != nil {
		return nil
	}
	return id
}

// Redeliver implements app.Store: the attempt count goes on.
func (s *Store) Redeliver(ctx context.Context, endpointID, deliveryID string, now time.Time) (domain.Delivery, error) {
	return scanDelivery(s.db.QueryRow(ctx, `WITH u AS (
			UPDATE deliveries SET status = 'pending', next_attempt_at = $3, leased_until = NULL, delivered_at = NULL
			WHERE id = $2 AND endpoint_id = $1 RETURNING *)
		SELECT `+deliveryCols+` FROM u d JOIN events ev ON ev.id = d.event_id`, endpointID, deliveryID, now))
}

// Stats implements app.Store.
func (s *Store) Stats(ctx context.Context, now time.Time) (app.Stats, error) {
	st := app.Stats{EndpointCount: map[domain.EndpointStatus]int64{}}
	var oldest pgtype.Timestamptz
	if err := s.db.QueryRow(ctx, `SELECT count(*), min(next_attempt_at) FILTER (WHERE next_attempt_at <= $1)
		FROM deliveries WHERE status = 'pending'`, now).Scan(&st.Pending, &oldest); err != nil {
		return st, err
	}
	st.OldestDueAt = postgres.Time(oldest)
	rows, err := s.db.Query(ctx, `SELECT status, count(*) FROM endpoints GROUP BY status`)
	if err != nil {
		return st, err
	}
	defer rows.Close()
	for rows.Next() {
		var status string
		var n int64
		if err := rows.Scan(&status, &n); err != nil {
			return st, err
		}
		st.EndpointCount[domain.EndpointStatus(status)] = n
	}
	return st, rows.Err()
}

// Purge implements app.Store: deliveries first, then events none refers to.
func (s *Store) Purge(ctx context.Context, cutoff time.Time) (int64, error) {
	tag, err := s.db.Exec(ctx, `DELETE FROM deliveries WHERE created_at < $1`, cutoff)
	if err != nil {
		return 0, err
	}
	if _, err := s.db.Exec(ctx, `DELETE FROM events ev WHERE ev.created_at < $1
		AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = ev.id)`, cutoff); err != nil {
		return 0, err
	}
	if err := inbox.Sweep(ctx, s.db, fmt.Sprintf("%d seconds", int64(time.Since(cutoff).Seconds()))); err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

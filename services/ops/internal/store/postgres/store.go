// Package postgres is the ops store on PostgreSQL: the parked dead letters
// and the audit log of the operators' actions, with the migrations embedded.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/services/ops/internal/app"
	"github.com/printfleet/printfleet/services/ops/internal/domain"
)

//go:embed migrations/*.sql
var own embed.FS

// Migrations are the ops schema, applied in name order.
var Migrations = func() fs.FS {
	sub, err := fs.Sub(own, "migrations")
	if err != nil {
		panic(err)
	}
	return sub
}()

// Store implements app.Store.
type Store struct{ db *pgxpool.Pool }

var _ app.Store = (*Store)(nil)

// New returns a store on db.
func New(db *pgxpool.Pool) *Store { return &Store{db: db} }

// Park implements app.Store.
func (s *Store) Park(ctx context.Context, l domain.DeadLetter) (bool, error) {
	headers := l.Headers
	if headers == nil {
		headers = map[string]string{}
	}
	// Only a REPLAYED letter that failed again is parked again; a
	// duplicate of a PARKED (or DISCARDED) one changes nothing.
	tag, err := s.db.Exec(ctx, `
INSERT INTO dead_letters (id, queue, message_id, type, body, content_type, headers, message_time, reason,
	attempts, state, times_dead_lettered, dead_lettered_at, order_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'PARKED', 1, $11, $12)
ON CONFLICT (queue, message_id) DO UPDATE SET
	state = 'PARKED', times_dead_lettered = dead_letters.times_dead_lettered + 1,
	type = EXCLUDED.type, body = EXCLUDED.body, content_type = EXCLUDED.content_type, headers = EXCLUDED.headers,
	message_time = EXCLUDED.message_time, reason = EXCLUDED.reason, attempts = EXCLUDED.attempts,
	dead_lettered_at = EXCLUDED.dead_lettered_at, order_id = EXCLUDED.order_id,
	resolved_by = '', resolved_at = NULL, resolution_reason = ''
WHERE dead_letters.state = 'REPLAYED'`,
		l.ID, l.Queue, l.MessageID, l.Type, l.Body, l.ContentType, headers, postgres.Timestamptz(l.MessageTime), l.Reason,
		l.Attempts, l.DeadLetteredAt, l.OrderID)
	if err != nil {
		// A lost database is errs.Unavailable: the consumer holds the
		// message and retries, rather than requeueing it, which would
		// spend a quorum queue's delivery limit.
		return false, postgres.Classify(fmt.Errorf("park dead letter: %w", err))
	}
	return tag.RowsAffected() == 1, nil
}

const letterCols = `id::text, queue, message_id, type, body, content_type, headers, message_time, reason, attempts,
	state, times_dead_lettered, dead_lettered_at, order_id, resolved_by, resolved_at, resolution_reason`

func scanLetter(row pgx.Row) (domain.DeadLetter, error) {
	var (
		l               domain.DeadLetter
		state           string
		msgAt, resolved pgtype.Timestamptz
	)
	err := row.Scan(&l.ID, &l.Queue, &l.MessageID, &l.Type, &l.Body, &l.ContentType, &l.Headers, &msgAt, &l.Reason,
		&l.Attempts, &state, &l.TimesDeadLettered, &l.DeadLetteredAt, &l.OrderID, &l.ResolvedBy, &resolved, &l.ResolutionReason)
	if errors.Is(err, pgx.ErrNoRows) {
		return l, errs.E(errs.NotFound, "dead letter not found")
	}
	if err != nil {
		return l, fmt.Errorf("scan dead letter: %w", err)
	}
	l.State, l.MessageTime, l.ResolvedAt = domain.State(state), postgres.Time(msgAt), postgres.Time(resolved)
	l.DeadLetteredAt = l.DeadLetteredAt.UTC()
	return l, nil
}

// Get implements app.Store.
func (s *Store) Get(ctx context.Context, id string) (domain.DeadLetter, error) {
	return scanLetter(s.db.QueryRow(ctx, `SELECT `+letterCols+` FROM dead_letters WHERE id = $1`, id))
}

// List implements app.Store.
func (s *Store) List(ctx context.Context, f app.Filter) ([]domain.DeadLetter, error) {
	rows, err := s.db.Query(ctx, `SELECT `+letterCols+` FROM dead_letters
WHERE state = $1 AND ($2 = '' OR queue = $2) AND ($3 = '' OR order_id = $3)
	AND ($4::timestamptz IS NULL OR (dead_lettered_at, id) < ($4, $5::uuid))
ORDER BY dead_lettered_at DESC, id DESC LIMIT $6`,
		string(f.State), f.Queue, f.OrderID, postgres.Timestamptz(f.AfterTime), nullUUID(f.AfterID), f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.DeadLetter, error) { return scanLetter(r) })
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	return out, nil
}

func nullUUID(id string) pgtype.Text {
	return pgtype.Text{String: id, Valid: id != ""}
}

// CountParked implements app.Store.
func (s *Store) CountParked(ctx context.Context) (map[string]int64, error) {
	rows, err := s.db.Query(ctx, `SELECT queue, count(*) FROM dead_letters WHERE state = 'PARKED' GROUP BY queue`)
	if err != nil {
		return nil, fmt.Errorf("count parked: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var q string
		var n int64
		if err := rows.Scan(&q, &n); err != nil {
			return nil, fmt.Errorf("count parked: %w", err)
		}
		out[q] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count parked: %w", err)
	}
	return out, nil
}

const auditCols = `id::text, action_id::text, actor, action, target, reason, affected, request_id, created_at`

func scanAudit(row pgx.Row) (domain.AuditEntry, error) {
	var a domain.AuditEntry
	err := row.Scan(&a.ID, &a.ActionID, &a.Actor, &a.Action, &a.Target, &a.Reason, &a.Affected, &a.RequestID, &a.CreatedAt)
	if err != nil {
		return a, err
	}
	a.CreatedAt = a.CreatedAt.UTC()
	return a, nil
}

// ListAudit implements app.Store.
func (s *Store) ListAudit(ctx context.Context, f app.AuditFilter) ([]domain.AuditEntry, error) {
	rows, err := s.db.Query(ctx, `SELECT `+auditCols+` FROM audit_log
WHERE ($1 = '' OR target = $1) AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3::uuid))
ORDER BY created_at DESC, id DESC LIMIT $4`, f.Target, postgres.Timestamptz(f.AfterTime), nullUUID(f.AfterID), f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.AuditEntry, error) { return scanAudit(r) })
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return out, nil
}

// Act implements app.Store.
func (s *Store) Act(ctx context.Context, a domain.AuditEntry, sel app.Selection,
	fn func(context.Context, []*domain.DeadLetter) error) (domain.AuditEntry, bool, error) {
	var (
		out   domain.AuditEntry
		first bool
	)
	err := postgres.InTx(ctx, s.db, func(tx pgx.Tx) error {
		// Concurrent requests with one action id wait for each other here,
		// so only one of them acts.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 17))`, a.ActionID); err != nil {
			return fmt.Errorf("lock action: %w", err)
		}
		prev, err := scanAudit(tx.QueryRow(ctx, `SELECT `+auditCols+` FROM audit_log WHERE action_id = $1`, a.ActionID))
		if err == nil {
			out = prev
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("find action: %w", err)
		}
		var ls []*domain.DeadLetter
		if sel.ID != "" {
			l, err := scanLetter(tx.QueryRow(ctx, `SELECT `+letterCols+` FROM dead_letters WHERE id = $1 FOR UPDATE`, sel.ID))
			if err != nil {
				return err
			}
			ls = append(ls, &l)
		} else {
			rows, err := tx.Query(ctx, `SELECT `+letterCols+` FROM dead_letters WHERE queue = $1 AND state = 'PARKED'
ORDER BY dead_lettered_at, id FOR UPDATE`, sel.Queue)
			if err != nil {
				return fmt.Errorf("select queue's letters: %w", err)
			}
			if ls, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*domain.DeadLetter, error) {
				l, err := scanLetter(r)
				return &l, err
			}); err != nil {
				return fmt.Errorf("select queue's letters: %w", err)
			}
		}
		if err := fn(ctx, ls); err != nil {
			return err
		}
		b := &pgx.Batch{}
		for _, l := range ls {
			b.Queue(`UPDATE dead_letters SET state = $2, resolved_by = $3, resolved_at = $4, resolution_reason = $5 WHERE id = $1`,
				l.ID, string(l.State), l.ResolvedBy, postgres.Timestamptz(l.ResolvedAt), l.ResolutionReason)
		}
		a.Affected = len(ls)
		b.Queue(`INSERT INTO audit_log (id, action_id, actor, action, target, reason, affected, request_id, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, a.ID, a.ActionID, a.Actor, a.Action, a.Target, a.Reason, a.Affected, a.RequestID, a.CreatedAt)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("record action: %w", err)
		}
		out, first = a, true
		return nil
	})
	if err != nil {
		return domain.AuditEntry{}, false, err
	}
	return out, first, nil
}

// Package postgres is the catalog's PostgreSQL adapter: one file per
// aggregate (products, variants and placements, stock reservations,
// designs, marketplace stores), the outbox and inbox written inside the same
// transactions (this file), and the embedded migrations. Driver errors stop
// here: a missing row is errs.NotFound, a unique violation errs.AlreadyExists
// or a field error.
package postgres

import (
	"context"
	"embed"
	"io/fs"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/inbox"
	"github.com/printfleet/printfleet/platform/outbox"
	"github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/services/catalog/internal/app"
)

//go:embed migrations/*.sql
var own embed.FS

// Migrations are the platform's messaging tables (outbox, inbox) and the
// catalog's, name-ordered.
var Migrations fs.FS = postgres.MustMerge(outbox.Migrations, mustSub(own, "migrations"))

func mustSub(f fs.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return s
}

// Store implements app.Store.
type Store struct {
	primary *pgxpool.Pool
	reader  func() *pgxpool.Pool
	// wake is called after a commit that emitted events (the process's
	// outbox.Relay.Wake); nil when the process runs no relay.
	wake func()
}

// WakeAfterCommit makes the store call wake after every commit that emitted
// events, so that the process's relay publishes them at once.
func (s *Store) WakeAfterCommit(wake func()) { s.wake = wake }

var _ app.Store = (*Store)(nil)

var _ app.Tx = (*tx)(nil)

// New returns a store on db (reads that tolerate lag use db.Reader()).
func New(db *postgres.DB) *Store { return &Store{primary: db.Primary, reader: db.Reader} }

// NewFromPool returns a store whose reads all go to pool (tests).
func NewFromPool(pool *pgxpool.Pool) *Store {
	return &Store{primary: pool, reader: func() *pgxpool.Pool { return pool }}
}

// InTx runs fn in one transaction.
func (s *Store) InTx(ctx context.Context, fn func(app.Tx) error) error {
	var emitted bool
	err := postgres.InTx(ctx, s.primary, func(t pgx.Tx) error {
		w := &tx{tx: t}
		err := fn(w)
		emitted = w.emitted
		return err
	})
	if err == nil && emitted && s.wake != nil {
		s.wake()
	}
	return err
}

type tx struct {
	tx      pgx.Tx
	emitted bool
}

func (t *tx) Claim(ctx context.Context, consumer, messageID string) (bool, error) {
	return inbox.Claim(ctx, t.tx, consumer, messageID)
}

func (t *tx) Emit(ctx context.Context, ev outbox.Event) error {
	t.emitted = true
	return outbox.Add(ctx, t.tx, ev)
}

func notFound(what, id string) error { return errs.E(errs.NotFound, "%s %s not found", what, id) }

// validIDs keeps the ids that are UUIDs: anything else cannot exist.
func validIDs(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if uuid.Validate(id) == nil {
			out = append(out, id)
		}
	}
	return out
}

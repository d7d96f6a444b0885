package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/errs"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	"github.com/printfleet/printfleet/services/catalog/internal/app"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
	"github.com/printfleet/printfleet/services/catalog/internal/events"
	pgstore "github.com/printfleet/printfleet/services/catalog/internal/store/postgres"
	"github.com/printfleet/printfleet/services/catalog/internal/testenv"
)

// inTx runs fn in one store transaction and fails t on error.
func inTx(t *testing.T, s *pgstore.Store, fn func(ctx context.Context, tx app.Tx) error) {
	t.Helper()
	ctx := context.Background()
	if err := s.InTx(ctx, func(tx app.Tx) error { return fn(ctx, tx) }); err != nil {
		t.Fatal(err)
	}
}

// txErr runs fn in one store transaction and returns its error.
func txErr(s *pgstore.Store, fn func(ctx context.Context, tx app.Tx) error) error {
	ctx := context.Background()
	return s.InTx(ctx, func(tx app.Tx) error { return fn(ctx, tx) })
}

// insert stores p (its timestamps are filled in).
func insert(t *testing.T, s *pgstore.Store, p *domain.Product) {
	t.Helper()
	inTx(t, s, func(ctx context.Context, tx app.Tx) error { return tx.InsertProduct(ctx, p) })
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// wantKind fails t unless err is of kind k.
func wantKind(t *testing.T, what string, err error, k errs.Kind) {
	t.Helper()
	if !errs.Is(err, k) {
		t.Fatalf("%s: %v (kind %s), want kind %s", what, err, errs.KindOf(err), k)
	}
}

// wantField fails t unless err is an Invalid or AlreadyExists error naming
// field.
func wantField(t *testing.T, what string, err error, k errs.Kind, field string) {
	t.Helper()
	wantKind(t, what, err, k)
	var e *errs.Error
	if !errors.As(err, &e) || len(e.Violations) != 1 || e.Violations[0].Field != field {
		t.Fatalf("%s: %v does not name %s alone", what, err, field)
	}
}

func TestInTxRollsBackEverythingOnError(t *testing.T) {
	t.Parallel()
	pool, s := testenv.DB(t)
	p := testenv.Product(5)
	boom := errors.New("boom")
	err := txErr(s, func(ctx context.Context, tx app.Tx) error {
		if err := tx.InsertProduct(ctx, &p); err != nil {
			return err
		}
		if err := tx.Emit(ctx, events.ProductChanged(p.ID, p.Version)); err != nil {
			return err
		}
		if _, err := tx.Claim(ctx, eventsv1.QueueCatalogStock, uuid.NewString()); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx = %v, want the closure's error", err)
	}
	for _, table := range []string{"products", "variants", "placements", "outbox", "processed_messages"} {
		if n := count(t, pool, `SELECT count(*) FROM `+table); n != 0 {
			t.Errorf("%s has %d rows after a rolled back transaction", table, n)
		}
	}
	_, err = s.Product(context.Background(), p.ID)
	wantKind(t, "product of a rolled back insert", err, errs.NotFound)
}

func TestClaimIsOncePerConsumerAndMessage(t *testing.T) {
	t.Parallel()
	pool, s := testenv.DB(t)
	msg := uuid.NewString()
	claim := func(consumer, id string) bool {
		var first bool
		inTx(t, s, func(ctx context.Context, tx app.Tx) (err error) { first, err = tx.Claim(ctx, consumer, id); return err })
		return first
	}
	if !claim(eventsv1.QueueCatalogStock, msg) {
		t.Fatal("first claim refused")
	}
	if claim(eventsv1.QueueCatalogStock, msg) {
		t.Fatal("second claim of the same message by the same consumer granted")
	}
	if !claim(eventsv1.QueueCatalogDesigns, msg) {
		t.Fatal("another consumer's claim of the same message refused")
	}
	if n := count(t, pool, `SELECT count(*) FROM processed_messages WHERE message_id = $1`, msg); n != 2 {
		t.Fatalf("inbox rows = %d, want 2", n)
	}
}

func TestEmitWritesTheEventInTheTransaction(t *testing.T) {
	t.Parallel()
	pool, s := testenv.DB(t)
	id := testenv.ID()
	inTx(t, s, func(ctx context.Context, tx app.Tx) error { return tx.Emit(ctx, events.ProductChanged(id, 7)) })
	var typ string
	var body []byte
	if err := pool.QueryRow(context.Background(), `SELECT type, payload FROM outbox WHERE published_at IS NULL`).Scan(&typ, &body); err != nil {
		t.Fatal(err)
	}
	var m eventsv1.ProductChanged
	if err := proto.Unmarshal(body, &m); err != nil || typ != eventsv1.KeyProductChanged || m.GetProductId() != id || m.GetVersion() != 7 {
		t.Fatalf("outbox row %s %v (%v), want %s for %s v7", typ, &m, err, eventsv1.KeyProductChanged, id)
	}
}

// Package outbox is the transactional outbox: services write events into the
// outbox table inside the transaction that makes the change, and a Relay
// publishes them to RabbitMQ with publisher confirms, marking a row published
// only after its confirm. A crash between confirm and mark republishes the
// row, which consumers absorb with their inbox (at-least-once delivery,
// exactly-once effect).
//
// One relay per process, woken in-process. Every process that writes outbox
// rows runs one Relay on its database and, after each commit that wrote rows,
// calls Relay.Wake. Rows carry the writing process's origin; a woken relay
// claims only rows of its own origin, so a commit never wakes a relay that has
// nothing to do (the orders API and the orders worker share a database, and
// each publishes exactly what it committed). After a wake the relay waits a
// short window (RelayConfig.Window) so that commits finishing together are
// published as one batch: one claim, every confirm outstanding at once, one
// UPDATE marking the batch. Each relay also polls slowly (RelayConfig.Poll):
// the poll publishes rows of any origin older than RelayConfig.Grace, which
// covers rows whose writer died before its relay published them and rows
// whose publish failed. On a graceful stop a relay first publishes what its
// process committed. Rows are claimed with FOR UPDATE SKIP LOCKED, held
// until they are marked, so two relays never publish a row at the same time.
//
// An event may be gated (Event.Gate): its row is written only when a row of
// another table matches, decided by the INSERT itself in the caller's batch,
// for events only some owners want (a notice for a seller's webhooks). A
// caller that counts the rows its batch wrote (QueueWritten) wakes its relay
// only when there is one.
//
// There is no NOTIFY: pg_notify in every write transaction takes a
// cluster-wide lock at commit and woke every listening relay of the database
// (see docs/order-lifecycle.md for the measurement).
package outbox

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"sync/atomic"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/protobuf/proto"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations holds the outbox and processed_messages tables; merge it with a
// service's own migrations (postgres.MustMerge(outbox.Migrations, own)).
var Migrations = func() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err)
	}
	return sub
}()

// origin names this process in the rows it writes, so that its own relay,
// woken in-process, claims exactly them.
var origin = uuid.NewString()

// Event is one domain event to publish.
type Event struct {
	// ID is the message id consumers deduplicate on; a UUIDv7 when empty.
	ID string
	// Type is the event type and routing key, e.g. orders.order_placed.v1.
	Type    string
	Payload proto.Message
	// Gate, when set, makes the row conditional: the INSERT itself writes
	// it only when the gate's table has a matching row. Nil: always written.
	Gate *Gate
}

// Gate is the condition of a conditional event: Table has a row whose
// Column equals Value. The INSERT decides it (INSERT … SELECT … WHERE
// EXISTS), so the condition rides the change's own batch and transaction:
// no read before, no extra round trip, no extra commit. It suits an event
// only some owners want (a notice for a seller who subscribed to it): the
// check costs an index lookup, a row nobody wants costs nothing more.
// Table and Column are identifiers written by the program, never input; a
// gate with the same Table and Column is always the same statement text.
type Gate struct {
	Table, Column string
	Value         any
}

func (g *Gate) insertSQL() string {
	return `INSERT INTO outbox (id, type, payload, headers, origin) ` +
		`SELECT $1::uuid, $2::text, $3::bytea, $4::jsonb, $5::text ` +
		`WHERE EXISTS (SELECT 1 FROM ` + pgx.Identifier{g.Table}.Sanitize() +
		` WHERE ` + pgx.Identifier{g.Column}.Sanitize() + ` = $6)`
}

type row struct {
	id      uuid.UUID
	typ     string
	payload []byte
	headers []byte
}

func prepare(ctx context.Context, e Event) (row, error) {
	var (
		id  uuid.UUID
		err error
	)
	if e.ID == "" {
		id, err = uuid.NewV7()
	} else {
		id, err = uuid.Parse(e.ID)
	}
	if err != nil {
		return row{}, fmt.Errorf("outbox: event id: %w", err)
	}
	if e.Gate != nil && (e.Gate.Table == "" || e.Gate.Column == "") {
		return row{}, fmt.Errorf("outbox: event %s: a gate needs a table and a column", id)
	}
	if e.Type == "" || e.Payload == nil {
		return row{}, fmt.Errorf("outbox: event %s needs a type and a payload", id)
	}
	payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(e.Payload)
	if err != nil {
		return row{}, fmt.Errorf("outbox: marshal %s: %w", e.Type, err)
	}
	carrier := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, carrier)
	headers, err := json.Marshal(carrier)
	if err != nil {
		return row{}, fmt.Errorf("outbox: headers: %w", err)
	}
	return row{id: id, typ: e.Type, payload: payload, headers: headers}, nil
}

const insertSQL = `INSERT INTO outbox (id, type, payload, headers, origin) VALUES ($1, $2, $3, $4, $5)`

// Add writes events in tx. After tx commits, the caller calls Wake on its
// process's Relay.
func Add(ctx context.Context, tx pgx.Tx, events ...Event) error {
	b := &pgx.Batch{}
	if err := Queue(ctx, b, events...); err != nil {
		return err
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("outbox: insert: %w", err)
	}
	return nil
}

// Queue adds the inserts for events to a batch the caller sends inside its
// transaction, so the outbox rides the same round trip as the change. After
// the commit, the caller calls Wake on its process's Relay.
func Queue(ctx context.Context, b *pgx.Batch, events ...Event) error {
	_, err := QueueWritten(ctx, b, events...)
	return err
}

// Written tells, once the batch's results have been read (its Close
// returned), how many outbox rows the batch wrote: every ungated event's,
// and each gated event's whose gate was open.
type Written struct {
	certain int
	gated   atomic.Int64
}

// Rows is the number of rows written; before the batch's results are read
// it counts only the ungated events. A nil Written wrote none.
func (w *Written) Rows() int {
	if w == nil {
		return 0
	}
	return w.certain + int(w.gated.Load())
}

// QueueWritten is Queue that also reports what the batch wrote, so that a
// caller wakes its relay only after a commit that wrote a row: a batch whose
// only events were gated out has nothing for it to publish.
func QueueWritten(ctx context.Context, b *pgx.Batch, events ...Event) (*Written, error) {
	w := &Written{}
	for _, e := range events {
		r, err := prepare(ctx, e)
		if err != nil {
			return nil, err
		}
		if e.Gate == nil {
			b.Queue(insertSQL, r.id, r.typ, r.payload, r.headers, origin)
			w.certain++
			continue
		}
		b.Queue(e.Gate.insertSQL(), r.id, r.typ, r.payload, r.headers, origin, e.Gate.Value).Exec(func(ct pgconn.CommandTag) error {
			w.gated.Add(ct.RowsAffected())
			return nil
		})
	}
	return w, nil
}

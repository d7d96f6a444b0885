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

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
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
	for _, e := range events {
		r, err := prepare(ctx, e)
		if err != nil {
			return err
		}
		b.Queue(insertSQL, r.id, r.typ, r.payload, r.headers, origin)
	}
	return nil
}

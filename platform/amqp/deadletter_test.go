package amqp_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/amqp/amqptest"
)

// TestDeadLetterCarriesHandlerError: a message the handler fails for good
// reaches the .dlq as a copy with the handler's error (truncated to 1 KiB),
// the attempts, and the message's id, type, timestamp, content type and
// headers; an Existing consumer then reads the .dlq as it is.
func TestDeadLetterCarriesHandlerError(t *testing.T) {
	t.Parallel()
	env := amqptest.New(t)
	conn := dial(t, env.Config)
	q := env.Queue("errtext")
	const key = "orders.order_paid.v1"
	declare(t, conn, q, key)

	long := strings.Repeat("x", 3000)
	startConsumer(t, conn, amqp.ConsumerConfig{
		Queue: q, RoutingKeys: []string{key},
		Handler: func(context.Context, amqp.Delivery) error {
			return amqp.Permanent(errors.New("design d-1 is missing " + long))
		},
	})
	ts := time.Now().Add(-time.Hour).Truncate(time.Second)
	msg := amqp.Message{ID: uuid.NewString(), Type: key, Body: []byte("poison"), Timestamp: ts,
		ContentType: "application/x-test", Headers: map[string]any{"x-tenant": "t-1"}}
	publishAll(context.Background(), t, amqp.NewPublisher(conn), []amqp.Message{msg})
	waitFor(t, 10*time.Second, "the dead letter", func() bool { return depth(t, conn, amqp.DLQName(q)) == 1 })

	d := readDeadLetter(t, conn, q)
	errText, _ := d.Headers[amqp.HeaderError].(string)
	if !strings.HasPrefix(errText, "permanent: design d-1 is missing xxx") || len(errText) != amqp.MaxErrorHeader {
		t.Errorf("%s = %.60q… (%d bytes), want the handler's error cut to %d bytes", amqp.HeaderError, errText, len(errText), amqp.MaxErrorHeader)
	}
	if a, _ := d.Headers[amqp.HeaderAttempts].(int32); a != 1 {
		t.Errorf("%s = %v, want 1", amqp.HeaderAttempts, d.Headers[amqp.HeaderAttempts])
	}
	if d.ID != msg.ID || d.Type != key || string(d.Body) != "poison" || !d.Timestamp.Equal(ts) || d.Headers["x-tenant"] != "t-1" {
		t.Errorf("dead letter = id %s type %s body %q ts %v headers %v; want the original's", d.ID, d.Type, d.Body, d.Timestamp, d.Headers)
	}
	if _, ok := d.Headers["traceparent"]; !ok {
		t.Errorf("dead letter lost its trace context: %v", d.Headers)
	}
	if _, ok := d.Headers["x-death"]; ok {
		t.Errorf("dead letter went through the broker's dead-lettering (x-death): %v", d.Headers["x-death"])
	}
	if n := depth(t, conn, q); n != 0 {
		t.Errorf("queue depth %d, want 0 (acked once the copy was confirmed)", n)
	}
	if n := depth(t, conn, amqp.DLQName(q)); n != 0 {
		t.Errorf(".dlq depth %d after the Existing consumer acked, want 0", n)
	}
}

// TestExistingConsumerWaitsForItsQueue: consuming a queue that does not
// exist yet neither fails nor declares it; once it appears (with arguments
// of its own) it is consumed as it is, and a failing handler requeues
// instead of dead-lettering.
func TestExistingConsumerWaitsForItsQueue(t *testing.T) {
	t.Parallel()
	env := amqptest.New(t)
	conn := dial(t, env.Config)
	q := env.Queue("later")
	attempts := make(chan int, 16)
	startConsumer(t, conn, amqp.ConsumerConfig{
		Queue: amqp.DLQName(q), Existing: true,
		Handler: func(_ context.Context, d amqp.Delivery) error {
			attempts <- d.Attempt
			if d.Attempt < 3 {
				return amqp.Permanent(errors.New("database away"))
			}
			return nil
		},
	})
	time.Sleep(300 * time.Millisecond) // let it try and fail the passive declare at least once
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := conn.QueueDepth(ctx, amqp.DLQName(q)); err == nil {
		t.Fatal("the Existing consumer declared its queue")
	}
	declare(t, conn, q) // declares q and its .dlq (a quorum queue)

	raw, err := amqp091.Dial(amqptest.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ch, err := raw.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.PublishWithContext(ctx, "", amqp.DLQName(q), false, false, amqp091.Publishing{MessageId: uuid.NewString(), Body: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	var seen []int
	for len(seen) < 3 {
		select {
		case a := <-attempts:
			seen = append(seen, a)
		case <-time.After(20 * time.Second):
			t.Fatalf("attempts %v: the queue was not consumed once it appeared, or a failure was not requeued", seen)
		}
	}
	if seen[0] != 1 || seen[2] != 3 {
		t.Errorf("attempts %v, want 1 2 3 (requeued, never dead-lettered)", seen)
	}
	waitFor(t, 10*time.Second, "the .dlq to empty", func() bool { return depth(t, conn, amqp.DLQName(q)) == 0 })
}

// TestDeadLetterFallsBackToTheBroker: when the copy carrying the error
// cannot be published, the consumer rejects the message and the broker
// dead-letters it itself: it reaches the .dlq with x-death and without the
// error header, and leaves the queue.
func TestDeadLetterFallsBackToTheBroker(t *testing.T) {
	t.Parallel()
	env := amqptest.New(t)
	conn := dial(t, env.Config)
	amqp.DeadLetterTo(conn, env.Config.Exchange+".missing")
	q := env.Queue("fallback")
	const key = "orders.order_paid.v1"
	declare(t, conn, q, key)
	startConsumer(t, conn, amqp.ConsumerConfig{
		Queue: q, RoutingKeys: []string{key},
		Handler: func(context.Context, amqp.Delivery) error { return amqp.Permanent(errors.New("bad body")) },
	})
	msg := amqp.Message{ID: uuid.NewString(), Type: key, Body: []byte("poison")}
	publishAll(context.Background(), t, amqp.NewPublisher(conn), []amqp.Message{msg})
	waitFor(t, 30*time.Second, "the broker's dead letter", func() bool { return depth(t, conn, amqp.DLQName(q)) == 1 })

	d := readDeadLetter(t, conn, q)
	if d.ID != msg.ID || string(d.Body) != "poison" {
		t.Errorf("dead letter %q %q, want the message %q", d.ID, d.Body, msg.ID)
	}
	if _, ok := d.Headers["x-death"]; !ok {
		t.Errorf("no x-death header: the broker did not dead-letter it (headers %v)", d.Headers)
	}
	if _, ok := d.Headers[amqp.HeaderError]; ok {
		t.Errorf("the failed copy arrived too: %v", d.Headers)
	}
	if n := depth(t, conn, q); n != 0 {
		t.Errorf("%d messages left in the queue", n)
	}
}

// readDeadLetter reads one message of q's .dlq as an Existing consumer.
func readDeadLetter(t *testing.T, conn *amqp.Conn, q string) amqp.Delivery {
	t.Helper()
	got := make(chan amqp.Delivery, 4)
	stop := startConsumer(t, conn, amqp.ConsumerConfig{
		Queue: amqp.DLQName(q), Existing: true,
		Handler: func(_ context.Context, d amqp.Delivery) error { got <- d; return nil },
	})
	var d amqp.Delivery
	select {
	case d = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the Existing consumer did not receive the dead letter")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	return d
}

package amqp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	amqp091 "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Handler processes one delivery. Returning nil acks it. Any other error
// retries it: after a backoff that grows with the attempt the message is
// requeued, and once the queue's delivery limit is reached it goes to the
// queue's .dlq. Permanent(err) sends it to the .dlq at once. A panic counts as
// an error. The handler's ctx is not cancelled when Consume's ctx is (in-flight
// handlers finish during a graceful drain); it carries the message's trace.
type Handler func(ctx context.Context, d Delivery) error

// Delivery is one received message.
type Delivery struct {
	ID          string // message_id
	Type        string // event type (the routing key it was published with)
	Body        []byte
	Headers     map[string]any
	Timestamp   time.Time
	Redelivered bool
	Attempt     int // 1 on first delivery, counted by the quorum queue
}

// ConsumerConfig describes one consumer. Zero values take the Conn's Config.
type ConsumerConfig struct {
	Queue       string   // the consumer's quorum queue; its dead letters go to DLQName(Queue)
	RoutingKeys []string // bound on the event exchange, e.g. orders.order_placed.v1 or orders.#
	Prefetch    int      // unacked deliveries the broker sends ahead (basic.qos)
	Concurrency int      // handlers running at once; defaults to Prefetch
	// HandlerTimeout bounds one handler call; zero means no bound beyond the
	// handler's own deadlines.
	HandlerTimeout time.Duration
	Handler        Handler
	// Existing consumes Queue as it already is on the broker: a passive
	// declare, no arguments, no bindings, no .dlq of its own (the process
	// that parks the dead letters reads each <queue>.dlq so). A queue that
	// does not exist yet is waited for, with the reconnect backoff. A
	// delivery whose handler fails is never dead-lettered (there is nowhere
	// further to send it): it is requeued after the retry backoff.
	Existing bool
}

// Headers the consumer adds to the copy of a message it dead-letters.
const (
	// HeaderError is the handler's error text (at most MaxErrorHeader bytes).
	HeaderError = "x-printfleet-error"
	// HeaderAttempts is the number of deliveries the consumer made.
	HeaderAttempts = "x-printfleet-attempts"
	// MaxErrorHeader bounds HeaderError.
	MaxErrorHeader = 1024
)

// deadLetterTimeout bounds the publish of a dead letter and its confirm.
const deadLetterTimeout = 10 * time.Second

// Permanent marks err as not worth retrying: the delivery is rejected without
// requeue and goes straight to the dead-letter queue.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return "permanent: " + e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Consume declares cfg.Queue (see Conn.DeclareQueue) and handles its messages
// until ctx is cancelled, resuming after every connection loss. On
// cancellation it stops taking deliveries, requeues those not yet started,
// waits for the running handlers, and returns nil. It returns an error only
// if the configuration is invalid, the queue cannot be declared, or conn is
// closed.
func Consume(ctx context.Context, conn *Conn, cfg ConsumerConfig) error {
	if cfg.Queue == "" || cfg.Handler == nil {
		return errors.New("amqp: consume: Queue and Handler are required")
	}
	if cfg.Prefetch <= 0 {
		cfg.Prefetch = conn.cfg.Prefetch
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = cfg.Prefetch
	}
	if !cfg.Existing {
		if err := conn.DeclareQueue(ctx, cfg.Queue, cfg.RoutingKeys...); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("amqp: consume %s: %w", cfg.Queue, err)
		}
		trackDepth(conn, cfg.Queue)
	}
	c := &consumer{
		conn:  conn,
		cfg:   cfg,
		log:   conn.log.With("queue", cfg.Queue),
		slots: make(chan struct{}, cfg.Concurrency),
		attrs: append([]attribute.KeyValue{
			semconv.MessagingSystemRabbitMQ,
			semconv.MessagingOperationTypeProcess,
			semconv.MessagingOperationName("process"),
			semconv.MessagingDestinationSubscriptionName(cfg.Queue),
		}, conn.server...),
	}
	defer c.running.Wait()

	for attempt := 1; ; attempt++ {
		started := time.Now()
		err := c.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrClosed) {
			return fmt.Errorf("amqp: consume %s: %w", cfg.Queue, err)
		}
		if time.Since(started) > conn.cfg.ReconnectMax {
			attempt = 1 // it ran for a while: this is a fresh failure, not a loop
		}
		wait := backoff(attempt, conn.cfg.ReconnectMin, conn.cfg.ReconnectMax)
		c.log.Warn("amqp consumer interrupted, resuming", "err", err, "retry_in", wait)
		if !sleep(ctx.Done(), wait) {
			return nil
		}
	}
}

type consumer struct {
	conn    *Conn
	cfg     ConsumerConfig
	log     *slog.Logger
	slots   chan struct{} // bounds running handlers
	running sync.WaitGroup
	attrs   []attribute.KeyValue
}

// session consumes on one channel until ctx is done (nil) or the channel is
// lost (the reason).
func (c *consumer) session(ctx context.Context) error {
	ch, err := c.conn.channel(ctx)
	if err != nil {
		return err
	}
	defer ch.Close() //nolint:errcheck // may already be closed by the broker
	closes := ch.NotifyClose(make(chan *amqp091.Error, 1))

	if c.cfg.Existing {
		if _, err := ch.QueueDeclarePassive(c.cfg.Queue, true, false, false, false, nil); err != nil {
			return fmt.Errorf("queue %s: %w", c.cfg.Queue, err)
		}
	} else if err := declareQueue(ch, c.conn.cfg, queueSpec{c.cfg.Queue, c.cfg.RoutingKeys}); err != nil {
		// Declaring again is cheap and brings the queue back if it was deleted.
		return err
	}
	if err := ch.Qos(c.cfg.Prefetch, 0, false); err != nil {
		return fmt.Errorf("set prefetch: %w", err)
	}
	tag := fmt.Sprintf("%s/%s/%s", c.conn.cfg.Name, c.cfg.Queue, uuid.NewString()[:8])
	deliveries, err := ch.Consume(c.cfg.Queue, tag, false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}

	for {
		select {
		case <-ctx.Done():
			c.drain(ch, tag, deliveries)
			c.running.Wait() // their acks need this channel open
			return nil
		case d, ok := <-deliveries:
			if !ok {
				select {
				case e, ok := <-closes:
					if ok && e != nil {
						return fmt.Errorf("channel closed: %w", e)
					}
					return fmt.Errorf("channel closed: %w", ErrConnectionLost)
				default:
					return errors.New("consumer cancelled by the broker")
				}
			}
			select {
			case c.slots <- struct{}{}:
			case <-ctx.Done():
				_ = d.Nack(false, true) // not started: give it back now
				continue
			}
			c.running.Add(1)
			go func() {
				defer func() { <-c.slots; c.running.Done() }()
				c.handle(ctx, d)
			}()
		}
	}
}

// drain cancels the consumer and requeues what the broker already sent but
// no handler has started.
func (c *consumer) drain(ch *amqp091.Channel, tag string, deliveries <-chan amqp091.Delivery) {
	if err := ch.Cancel(tag, false); err != nil {
		return // the channel is gone and the broker requeues everything unacked
	}
	for d := range deliveries {
		_ = d.Nack(false, true)
	}
}

func (c *consumer) handle(ctx context.Context, d amqp091.Delivery) {
	del := toDelivery(d)
	if d.Redelivered {
		redeliveriesTotal.WithLabelValues(c.cfg.Queue).Inc()
	}

	// The handler outlives a shutdown request so a drain can finish it.
	hctx := extractTrace(context.WithoutCancel(ctx), d.Headers)
	hctx, span := tracer().Start(hctx, "process "+d.Exchange,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(c.attrs...),
		trace.WithAttributes(
			semconv.MessagingDestinationName(d.Exchange),
			semconv.MessagingRabbitMQDestinationRoutingKey(d.RoutingKey),
			semconv.MessagingRabbitMQMessageDeliveryTag(int(d.DeliveryTag)),
			semconv.MessagingMessageID(del.ID),
			semconv.MessagingMessageBodySize(len(d.Body)),
			attribute.Int("printfleet.delivery_attempt", del.Attempt),
		))
	defer span.End()
	if c.cfg.HandlerTimeout > 0 {
		var cancel context.CancelFunc
		hctx, cancel = context.WithTimeout(hctx, c.cfg.HandlerTimeout)
		defer cancel()
	}

	start := time.Now()
	err := c.call(hctx, del)
	// A dependency that is down (database restarting, a service away) is not
	// the message's fault: hold the message and call again with backoff for
	// as long as the process runs, instead of spending the delivery limit
	// and dead-lettering good events during an outage.
	for wait := 1; err != nil && !IsPermanent(err) && Unavailable(err) && ctx.Err() == nil; wait++ {
		d := backoff(wait, c.conn.cfg.RetryMin, c.conn.cfg.RetryMax)
		c.log.Warn("amqp handler: dependency unavailable, holding the message", "message_id", del.ID,
			"type", del.Type, "err", err, "retry_in", d)
		if !sleep(ctx.Done(), d) {
			break
		}
		err = c.call(hctx, del)
	}
	handlerDuration.WithLabelValues(c.cfg.Queue).Observe(time.Since(start).Seconds())

	outcome := c.settle(ctx, hctx, d, del, err)
	handledTotal.WithLabelValues(c.cfg.Queue, outcome).Inc()
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, outcome)
		span.SetAttributes(semconv.ErrorTypeKey.String(outcome))
	}
}

// call runs the handler, turning a panic into an error.
func (c *consumer) call(ctx context.Context, d Delivery) (err error) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("amqp handler panicked", "message_id", d.ID, "type", d.Type,
				"panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("handler panic: %v", r)
		}
	}()
	return c.cfg.Handler(ctx, d)
}

// settle acks, requeues after a backoff, or dead-letters d, and names the
// outcome. hctx carries the message's trace for the dead letter.
func (c *consumer) settle(ctx, hctx context.Context, d amqp091.Delivery, del Delivery, err error) string {
	log := c.log.With("message_id", del.ID, "type", del.Type, "attempt", del.Attempt)
	var outcome string
	var ackErr error
	switch {
	case err == nil:
		outcome, ackErr = outcomeAck, d.Ack(false)
	case !c.cfg.Existing && (IsPermanent(err) || del.Attempt > c.conn.cfg.DeliveryLimit):
		// A requeue now would exceed the delivery limit and the broker would
		// dead-letter it anyway: skip the backoff.
		log.Warn("amqp message dead-lettered", "err", err, "dlq", DLQName(c.cfg.Queue))
		outcome = outcomeDeadLetter
		if perr := c.deadLetter(hctx, d, del, err); perr != nil {
			// The broker's own dead-lettering still keeps the message, only
			// without the error text.
			log.Warn("amqp dead letter with its error not confirmed; rejecting to the DLX", "err", perr)
			ackErr = d.Reject(false)
		} else {
			ackErr = d.Ack(false)
		}
	default:
		wait := backoff(del.Attempt, c.conn.cfg.RetryMin, c.conn.cfg.RetryMax)
		log.Info("amqp handler failed, will retry", "err", err, "retry_in", wait)
		sleep(ctx.Done(), wait) // on shutdown, requeue at once
		outcome, ackErr = outcomeRetry, d.Nack(false, true)
	}
	if ackErr != nil {
		// The channel is gone; the broker redelivers the message.
		log.Warn("amqp settle failed", "outcome", outcome, "err", ackErr)
	}
	return outcome
}

// deadLetter publishes a copy of d carrying the handler's error to the
// dead-letter exchange, routed to this queue's .dlq, and waits for its
// confirm. Only then may d be acked: a crash in between leaves d unacked, to
// be redelivered and dead-lettered again (a duplicate the parking side drops
// by message id).
func (c *consumer) deadLetter(hctx context.Context, d amqp091.Delivery, del Delivery, cause error) error {
	headers := make(map[string]any, len(d.Headers)+2)
	for k, v := range d.Headers {
		if k == "x-delivery-count" {
			continue // the broker's count for this queue, not the dead letter's
		}
		headers[k] = v
	}
	headers[HeaderError] = truncateUTF8(cause.Error(), MaxErrorHeader)
	headers[HeaderAttempts] = int32(del.Attempt)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(hctx), deadLetterTimeout)
	defer cancel()
	return c.conn.deadLetterPublisher().Publish(ctx, Message{
		ID: d.MessageId, Type: del.Type, RoutingKey: c.cfg.Queue, Body: d.Body, Headers: headers,
		Timestamp: d.Timestamp, ContentType: d.ContentType,
	})
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func toDelivery(d amqp091.Delivery) Delivery {
	typ := d.Type
	if typ == "" {
		typ = d.RoutingKey
	}
	return Delivery{
		ID:          d.MessageId,
		Type:        typ,
		Body:        d.Body,
		Headers:     map[string]any(d.Headers),
		Timestamp:   d.Timestamp,
		Redelivered: d.Redelivered,
		Attempt:     deliveryCount(d.Headers) + 1,
	}
}

// deliveryCount is the quorum queue's count of earlier failed deliveries.
func deliveryCount(h amqp091.Table) int {
	switch v := h["x-delivery-count"].(type) {
	case int64:
		return int(v)
	case int32:
		return int(v)
	case int16:
		return int(v)
	case int:
		return v
	case uint8:
		return int(v)
	}
	return 0
}

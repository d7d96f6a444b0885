package amqp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	amqp091 "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// DefaultContentType is the content type of a Message that sets none.
const DefaultContentType = "application/x-protobuf"

// maxInFlight bounds the unconfirmed publishes on one channel; it also sizes
// the confirm and return buffers, so the client's reader never waits on us.
const maxInFlight = 1024

// Publish failures, wrapped in a *MessageError per message.
var (
	ErrUnroutable = errors.New("amqp: message unroutable: no queue is bound for its routing key")
	ErrNacked     = errors.New("amqp: broker nacked the message")
)

// errChannelGone means the channel closed before the message was written, so
// it is safe to publish it again on a new channel.
var errChannelGone = errors.New("amqp: publisher channel closed")

// Message is one event to publish. Type is the routing key.
type Message struct {
	ID          string         // message_id, the event id; a UUIDv7 when empty
	Type        string         // event type and routing key, e.g. orders.order_placed.v1
	RoutingKey  string         // overrides Type as the routing key (a dead letter, a replay to one queue)
	Body        []byte         // protobuf payload
	Headers     map[string]any // application headers; values must be AMQP table types
	Timestamp   time.Time      // event time, now when zero; AMQP keeps whole seconds
	ContentType string         // DefaultContentType when empty
}

// MessageError is why one message of a batch was not confirmed.
type MessageError struct {
	ID   string
	Type string
	Err  error
}

func (e *MessageError) Error() string {
	return fmt.Sprintf("message %s (%s): %v", e.ID, e.Type, e.Err)
}

func (e *MessageError) Unwrap() error { return e.Err }

// PublishError lists the messages of a batch that were not confirmed; the
// others were. errors.Is(err, ErrUnroutable) and friends see through it.
type PublishError struct {
	Failed []*MessageError
	Total  int
}

func (e *PublishError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "amqp: publish: %d of %d messages not confirmed", len(e.Failed), e.Total)
	for i, f := range e.Failed {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Failed)-i)
			break
		}
		b.WriteString("; ")
		b.WriteString(f.Error())
	}
	return b.String()
}

func (e *PublishError) Unwrap() []error {
	errs := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		errs[i] = f
	}
	return errs
}

// Publisher publishes persistent, mandatory messages to the event exchange
// with publisher confirms. It is safe for concurrent use; all callers share
// one channel, reopened after a connection loss.
type Publisher struct {
	conn     *Conn
	exchange string
	opening  chan struct{} // one caller at a time opens the channel, ctx permitting

	mu  sync.Mutex
	cur *confirmChannel
}

// NewPublisher returns a Publisher on c. Its channel opens on first use.
func NewPublisher(c *Conn) *Publisher { return NewPublisherTo(c, c.cfg.Exchange) }

// NewPublisherTo returns a Publisher on c that publishes to exchange instead
// of the event exchange: the dead-letter exchange, or "" (the default
// exchange, which routes a message to the queue its routing key names).
func NewPublisherTo(c *Conn, exchange string) *Publisher {
	return &Publisher{conn: c, exchange: exchange, opening: make(chan struct{}, 1)}
}

// Close closes the publisher's channel at shutdown; messages still awaiting
// their confirm fail with ErrConnectionLost. A later Publish opens a new one.
func (p *Publisher) Close() error {
	p.mu.Lock()
	cc := p.cur
	p.cur = nil
	p.mu.Unlock()
	if cc == nil {
		return nil
	}
	if err := cc.ch.Close(); err != nil && !errors.Is(err, amqp091.ErrClosed) {
		return fmt.Errorf("amqp: close publisher: %w", err)
	}
	return nil
}

// Publish sends msgs and returns once the broker has confirmed every one of
// them, or a *PublishError naming those that were nacked, returned as
// unroutable, lost with the connection, or still unconfirmed when ctx ended.
// All messages of the batch are in flight at once. While the connection is
// being recovered, Publish waits for it (bounded by ctx).
func (p *Publisher) Publish(ctx context.Context, msgs ...Message) error {
	type job struct {
		id, key string
		span    trace.Span
		result  <-chan error
		err     error
	}
	jobs := make([]job, len(msgs))
	for i := range msgs {
		m, j := &msgs[i], &jobs[i]
		j.id, j.key = m.ID, m.Type
		if m.RoutingKey != "" {
			j.key = m.RoutingKey
		}
		if j.id == "" {
			j.id = newMessageID()
		}
		var spanCtx context.Context
		spanCtx, j.span = p.startSpan(ctx, j.id, j.key, m)
		pub, err := toPublishing(spanCtx, j.id, m)
		if err != nil {
			j.err = err
			continue
		}
		j.result, j.err = p.send(ctx, j.key, pub)
	}

	var failed []*MessageError
	for i := range jobs {
		j := &jobs[i]
		if j.err == nil {
			j.err = awaitConfirm(ctx, j.result)
		}
		finishPublish(j.span, j.err)
		if j.err != nil {
			failed = append(failed, &MessageError{ID: j.id, Type: j.key, Err: j.err})
		}
	}
	if len(failed) > 0 {
		return &PublishError{Failed: failed, Total: len(msgs)}
	}
	return nil
}

func awaitConfirm(ctx context.Context, result <-chan error) error {
	select {
	case err := <-result: // prefer a confirm that is already there
		return err
	default:
	}
	select {
	case err := <-result:
		return err
	case <-ctx.Done():
		return fmt.Errorf("wait for confirm: %w", ctx.Err())
	}
}

// send publishes on the current channel, moving to a new one if the current
// one turns out to be closed before the message was written.
func (p *Publisher) send(ctx context.Context, key string, pub amqp091.Publishing) (<-chan error, error) {
	for {
		cc, err := p.channel(ctx)
		if err != nil {
			return nil, err
		}
		if err := p.conn.waitUnblocked(ctx); err != nil {
			return nil, err
		}
		result, err := cc.publish(ctx, p.exchange, key, pub)
		if !errors.Is(err, errChannelGone) {
			return result, err
		}
		if ctx.Err() != nil {
			return nil, ErrConnectionLost
		}
	}
}

// channel returns the live confirm channel, opening one if needed.
func (p *Publisher) channel(ctx context.Context) (*confirmChannel, error) {
	if cc := p.current(); cc != nil {
		return cc, nil
	}
	select {
	case p.opening <- struct{}{}:
		defer func() { <-p.opening }()
	case <-ctx.Done():
		return nil, fmt.Errorf("publisher channel: %w", ctx.Err())
	}
	if cc := p.current(); cc != nil { // opened while we waited
		return cc, nil
	}
	ch, err := p.conn.channel(ctx)
	if err != nil {
		return nil, fmt.Errorf("publisher channel: %w", err)
	}
	cc, err := newConfirmChannel(ch)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.cur = cc
	p.mu.Unlock()
	return cc, nil
}

func (p *Publisher) current() *confirmChannel {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur != nil && !p.cur.gone() {
		return p.cur
	}
	return nil
}

func (p *Publisher) startSpan(ctx context.Context, id, key string, m *Message) (context.Context, trace.Span) {
	exchange := p.exchange
	attrs := append([]attribute.KeyValue{
		semconv.MessagingSystemRabbitMQ,
		semconv.MessagingOperationTypeSend,
		semconv.MessagingOperationName("publish"),
		semconv.MessagingDestinationName(exchange),
		semconv.MessagingRabbitMQDestinationRoutingKey(key),
		semconv.MessagingMessageID(id),
		semconv.MessagingMessageBodySize(len(m.Body)),
	}, p.conn.server...)
	return tracer().Start(ctx, "publish "+exchange,
		trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attrs...))
}

func finishPublish(span trace.Span, err error) {
	outcome := outcomeAck
	switch {
	case err == nil:
	case errors.Is(err, ErrUnroutable):
		outcome = outcomeReturned
	case errors.Is(err, ErrNacked):
		outcome = outcomeNack
	default:
		outcome = outcomeError
	}
	publishedTotal.WithLabelValues(outcome).Inc()
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, outcome)
		span.SetAttributes(semconv.ErrorTypeKey.String(outcome))
	}
	span.End()
}

func toPublishing(ctx context.Context, id string, m *Message) (amqp091.Publishing, error) {
	if m.Type == "" {
		return amqp091.Publishing{}, errors.New("message has no type (routing key)")
	}
	headers := make(amqp091.Table, len(m.Headers)+2)
	for k, v := range m.Headers {
		headers[k] = v
	}
	injectTrace(ctx, headers)
	if err := headers.Validate(); err != nil {
		return amqp091.Publishing{}, fmt.Errorf("headers: %w", err)
	}
	ts := m.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	ct := m.ContentType
	if ct == "" {
		ct = DefaultContentType
	}
	return amqp091.Publishing{
		Headers:      headers,
		ContentType:  ct,
		DeliveryMode: amqp091.Persistent,
		MessageId:    id,
		Timestamp:    ts.UTC(),
		Type:         m.Type,
		Body:         m.Body,
	}, nil
}

func newMessageID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// confirmChannel is a channel in confirm mode and its unconfirmed messages.
type confirmChannel struct {
	ch    *amqp091.Channel
	slots chan struct{} // one per unconfirmed message, at most maxInFlight
	done  chan struct{} // closed once the channel is gone and pending is failed

	sendMu sync.Mutex // serializes publishes so the predicted delivery tag is exact

	mu      sync.Mutex
	pending map[uint64]*unconfirmed
	dead    bool
}

type unconfirmed struct {
	id, key  string
	start    time.Time
	returned *amqp091.Return
	result   chan error // buffered: the waiter may have given up
}

func newConfirmChannel(ch *amqp091.Channel) (*confirmChannel, error) {
	cc := &confirmChannel{
		ch:      ch,
		slots:   make(chan struct{}, maxInFlight),
		done:    make(chan struct{}),
		pending: make(map[uint64]*unconfirmed),
	}
	confirms := ch.NotifyPublish(make(chan amqp091.Confirmation, maxInFlight))
	returns := ch.NotifyReturn(make(chan amqp091.Return, maxInFlight))
	closes := ch.NotifyClose(make(chan *amqp091.Error, 1))
	if err := ch.Confirm(false); err != nil {
		ch.Close() //nolint:errcheck // already failing
		return nil, fmt.Errorf("enable publisher confirms: %w", err)
	}
	go cc.run(confirms, returns, closes)
	return cc, nil
}

func (cc *confirmChannel) gone() bool {
	select {
	case <-cc.done:
		return true
	default:
		return cc.ch.IsClosed()
	}
}

// publish sends one mandatory message and returns where its outcome will be
// delivered.
func (cc *confirmChannel) publish(ctx context.Context, exchange, key string, pub amqp091.Publishing) (<-chan error, error) {
	select {
	case cc.slots <- struct{}{}:
	case <-cc.done:
		return nil, errChannelGone
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for a publish slot: %w", ctx.Err())
	}
	u := &unconfirmed{id: pub.MessageId, key: key, result: make(chan error, 1)}

	cc.sendMu.Lock()
	defer cc.sendMu.Unlock()
	// Register before sending: the confirm can arrive before Publish returns.
	tag := cc.ch.GetNextPublishSeqNo()
	cc.mu.Lock()
	if cc.dead {
		cc.mu.Unlock()
		<-cc.slots
		return nil, errChannelGone
	}
	cc.pending[tag] = u
	cc.mu.Unlock()

	u.start = time.Now()
	err := cc.ch.PublishWithContext(ctx, exchange, key, true, false, pub)
	if err == nil {
		return u.result, nil
	}
	cc.mu.Lock()
	_, mine := cc.pending[tag]
	delete(cc.pending, tag)
	cc.mu.Unlock()
	if mine {
		<-cc.slots
	}
	if errors.Is(err, amqp091.ErrClosed) {
		return nil, errChannelGone
	}
	return nil, fmt.Errorf("publish: %w", err)
}

// run settles confirms and returns until the channel closes.
func (cc *confirmChannel) run(confirms <-chan amqp091.Confirmation, returns <-chan amqp091.Return, closes <-chan *amqp091.Error) {
	for {
		select {
		case r, ok := <-returns:
			if !ok {
				returns = nil
				continue
			}
			cc.markReturned(r)
		case c, ok := <-confirms:
			if !ok {
				cc.failAll(closes)
				return
			}
			// The broker sends a message's basic.return before its ack and the
			// client queues them in that order, so a return that belongs to
			// this confirm is already buffered: take it first.
			for more := returns != nil; more; {
				select {
				case r, ok := <-returns:
					if ok {
						cc.markReturned(r)
					} else {
						returns, more = nil, false
					}
				default:
					more = false
				}
			}
			cc.settle(c)
		}
	}
}

// markReturned flags the oldest unconfirmed message the return matches. A
// return carries no delivery tag; message id and routing key identify it.
func (cc *confirmChannel) markReturned(r amqp091.Return) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	var oldest uint64
	for tag, u := range cc.pending {
		if u.returned == nil && u.id == r.MessageId && u.key == r.RoutingKey && (oldest == 0 || tag < oldest) {
			oldest = tag
		}
	}
	if oldest != 0 {
		cc.pending[oldest].returned = &r
	}
}

func (cc *confirmChannel) settle(c amqp091.Confirmation) {
	cc.mu.Lock()
	u := cc.pending[c.DeliveryTag]
	delete(cc.pending, c.DeliveryTag)
	cc.mu.Unlock()
	if u == nil {
		return
	}
	<-cc.slots
	confirmLatency.Observe(time.Since(u.start).Seconds())
	switch {
	case !c.Ack:
		u.result <- ErrNacked
	case u.returned != nil:
		u.result <- fmt.Errorf("%w (exchange %q, routing key %q: %d %s)", ErrUnroutable,
			u.returned.Exchange, u.returned.RoutingKey, u.returned.ReplyCode, u.returned.ReplyText)
	default:
		u.result <- nil
	}
}

// failAll fails every unconfirmed message once the channel is gone: the broker
// may or may not have them, and only a publish confirmed on a new channel counts.
func (cc *confirmChannel) failAll(closes <-chan *amqp091.Error) {
	err := ErrConnectionLost
	select {
	case amqpErr, ok := <-closes:
		if ok && amqpErr != nil {
			err = fmt.Errorf("%w: %v", ErrConnectionLost, amqpErr)
		}
	default:
	}
	cc.mu.Lock()
	cc.dead = true
	pending := cc.pending
	cc.pending = nil
	cc.mu.Unlock()
	for _, u := range pending {
		<-cc.slots
		u.result <- err
	}
	close(cc.done)
}

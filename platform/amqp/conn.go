package amqp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/attribute"
)

// Errors callers can test for with errors.Is.
var (
	ErrClosed         = errors.New("amqp: connection closed")
	ErrConnectionLost = errors.New("amqp: connection lost before the broker confirmed")
)

// Conn is one AMQP connection that heals itself: when the broker or the
// network drops it, Conn redials with capped exponential backoff and jitter
// for as long as the process lives, re-declares the topology, and the
// consumers and publishers built on it reopen their channels.
type Conn struct {
	cfg    Config
	log    *slog.Logger
	server []attribute.KeyValue

	ctx      context.Context // cancelled by Close
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	closeErr error // from closing the last connection, set before wg is done

	mu        sync.Mutex
	conn      *amqp091.Connection // nil while reconnecting
	up        chan struct{}       // closed while conn is usable, replaced when it is lost
	lastErr   error               // why the connection was lost, or why the last dial failed
	blocked   string              // the broker's reason while it blocks publishers (resource alarm)
	unblocked chan struct{}       // closed unless the broker blocks publishers
	queues    map[string]queueSpec

	dlxOnce sync.Once
	dlx     *Publisher // the consumers' dead letters with their error, opened on first use
}

// deadLetterPublisher is the Publisher to the dead-letter exchange shared by
// the consumers on c.
func (c *Conn) deadLetterPublisher() *Publisher {
	c.dlxOnce.Do(func() { c.dlx = NewPublisherTo(c, c.cfg.DeadLetterExchange) })
	return c.dlx
}

// session is a live connection and its notifications.
type session struct {
	conn    *amqp091.Connection
	closed  chan *amqp091.Error
	blocked chan amqp091.Blocking
}

// Dial connects to the broker and declares the exchanges. It retries until ctx
// is done (give it a deadline) and then fails naming the broker and the last
// error, so a process that cannot reach it exits with a clear message. Once
// Dial has succeeded, Conn recovers from every later loss by itself until
// Close.
func Dial(ctx context.Context, cfg Config, log *slog.Logger) (*Conn, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	c := &Conn{
		cfg:    cfg,
		log:    log.With("component", "amqp", "connection", cfg.Name),
		server: serverAttrs(cfg.URL),
		up:     make(chan struct{}),
		queues: make(map[string]queueSpec),
	}
	c.unblocked = make(chan struct{})
	close(c.unblocked)
	c.ctx, c.cancel = context.WithCancel(context.Background())

	s, err := c.dialRetry(ctx)
	if err != nil {
		c.cancel()
		return nil, fmt.Errorf("amqp: connect to %s: %w", cfg.RedactedURL(), err)
	}
	c.markUp(s)
	c.log.Info("amqp connected", "url", cfg.RedactedURL())
	c.wg.Go(func() { c.supervise(s) })
	return c, nil
}

// Ready reports whether the connection is up and the broker accepts
// publishes; it is meant for a /readyz check and does not block.
func (c *Conn) Ready(ctx context.Context) error {
	if c.ctx.Err() != nil {
		return ErrClosed
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.conn == nil || c.conn.IsClosed():
		cause := c.lastErr
		if cause == nil {
			cause = ErrConnectionLost
		}
		return fmt.Errorf("amqp: not connected to %s: %w", c.cfg.RedactedURL(), cause)
	case c.blocked != "":
		return fmt.Errorf("amqp: broker blocks publishing: %s", c.blocked)
	}
	return nil
}

// Close stops recovery and closes the connection; consumers and publishers
// using it fail with ErrClosed.
func (c *Conn) Close() error {
	untrackDepth(c)
	c.cancel()
	c.wg.Wait() // supervise closes the connection on its way out
	if c.closeErr != nil && !errors.Is(c.closeErr, amqp091.ErrClosed) {
		return fmt.Errorf("amqp: close: %w", c.closeErr)
	}
	return nil
}

// DeclareQueue declares a consumer queue (durable quorum queue with the
// configured delivery limit, dead-lettering into DLQName(name)) bound to the
// event exchange with routingKeys, and re-declares it on every reconnect.
// Consume calls it; a publisher-only process may call it so that messages
// have somewhere to go before the consumer first starts.
func (c *Conn) DeclareQueue(ctx context.Context, name string, routingKeys ...string) error {
	if name == "" {
		return errors.New("amqp: declare queue: empty name")
	}
	q := queueSpec{name: name, routingKeys: append([]string(nil), routingKeys...)}
	err := c.withChannel(ctx, func(ch *amqp091.Channel) error { return declareQueue(ch, c.cfg, q) })
	if err != nil {
		return fmt.Errorf("amqp: %w", err)
	}
	// Register only what the broker accepted once, so that a bad declaration
	// cannot keep every later reconnect failing.
	c.mu.Lock()
	c.queues[name] = q
	c.mu.Unlock()
	return nil
}

// QueueDepth returns the number of messages ready for delivery in queue (a
// passive declare), e.g. to export a DLQ's depth as a gauge.
func (c *Conn) QueueDepth(ctx context.Context, queue string) (int, error) {
	var n int
	err := c.withChannel(ctx, func(ch *amqp091.Channel) error {
		q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
		n = q.Messages
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("amqp: queue depth of %s: %w", queue, err)
	}
	return n, nil
}

// withChannel runs f on a short-lived channel.
func (c *Conn) withChannel(ctx context.Context, f func(*amqp091.Channel) error) error {
	ch, err := c.channel(ctx)
	if err != nil {
		return err
	}
	defer ch.Close() //nolint:errcheck // a failed f may already have closed it
	return f(ch)
}

// channel opens a channel, waiting for the connection to come back if it is
// down, until ctx is done.
func (c *Conn) channel(ctx context.Context) (*amqp091.Channel, error) {
	for {
		conn, err := c.connection(ctx)
		if err != nil {
			return nil, err
		}
		ch, err := conn.Channel()
		if err == nil {
			return ch, nil
		}
		if !conn.IsClosed() {
			return nil, fmt.Errorf("open channel: %w", err)
		}
		c.markDown(conn, err) // lost between the check and the open: wait for the next one
	}
}

// connection returns the live connection, waiting while it is being recovered.
func (c *Conn) connection(ctx context.Context) (*amqp091.Connection, error) {
	for {
		c.mu.Lock()
		conn, up := c.conn, c.up
		c.mu.Unlock()
		if conn != nil {
			if !conn.IsClosed() {
				return conn, nil
			}
			// Lost, and supervise has not noticed yet.
			c.markDown(conn, ErrConnectionLost)
			continue
		}
		select {
		case <-up:
		case <-c.ctx.Done():
			return nil, ErrClosed
		case <-ctx.Done():
			c.mu.Lock()
			last := c.lastErr
			c.mu.Unlock()
			return nil, fmt.Errorf("wait for connection (last error: %v): %w", last, ctx.Err())
		}
	}
}

func (c *Conn) markUp(s *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.conn, c.lastErr = s.conn, nil
	c.setBlocked(false, "")
	close(c.up)
}

// markDown records that conn is lost; it is a no-op if conn was already replaced.
func (c *Conn) markDown(conn *amqp091.Connection, cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != conn || c.conn == nil {
		return
	}
	c.conn, c.lastErr = nil, cause
	c.setBlocked(false, "") // publishers now wait for the connection instead
	c.up = make(chan struct{})
}

// setBlocked records connection.blocked / unblocked; c.mu must be held.
func (c *Conn) setBlocked(active bool, reason string) {
	switch {
	case active && c.blocked == "":
		c.unblocked = make(chan struct{})
		fallthrough
	case active:
		if reason == "" {
			reason = "unspecified resource alarm"
		}
		c.blocked = reason
	case c.blocked != "":
		c.blocked = ""
		close(c.unblocked)
	}
}

// waitUnblocked waits while the broker blocks publishers. Writing to a
// blocked connection would stall in the socket, beyond any ctx.
func (c *Conn) waitUnblocked(ctx context.Context) error {
	c.mu.Lock()
	unblocked, reason := c.unblocked, c.blocked
	c.mu.Unlock()
	select {
	case <-unblocked:
		return nil
	case <-c.ctx.Done():
		return ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("broker blocks publishing (%s): %w", reason, ctx.Err())
	}
}

// supervise watches the live connection and replaces it when it is lost.
func (c *Conn) supervise(s *session) {
	// Closing here, not in Close, also covers a dial that succeeds just as
	// Close is called.
	defer func() { c.closeErr = s.conn.Close() }()
	for {
		select {
		case <-c.ctx.Done():
			return
		case b, ok := <-s.blocked:
			if !ok {
				s.blocked = nil // the connection is closing; s.closed follows
				continue
			}
			c.mu.Lock()
			c.setBlocked(b.Active, b.Reason)
			c.mu.Unlock()
			c.log.Warn("amqp broker flow control", "blocked", b.Active, "reason", b.Reason)
			continue
		case amqpErr := <-s.closed:
			if c.ctx.Err() != nil {
				return
			}
			cause := ErrConnectionLost
			if amqpErr != nil {
				cause = amqpErr
			}
			c.markDown(s.conn, cause)
			c.mu.Lock()
			c.lastErr = cause // markDown may have run first with a vaguer cause
			c.mu.Unlock()
			c.log.Warn("amqp connection lost, reconnecting", "err", cause)
		}

		next, err := c.dialRetry(c.ctx)
		if err != nil {
			return // closed
		}
		s = next
		c.markUp(s)
		reconnectsTotal.WithLabelValues(c.cfg.Name).Inc()
		c.log.Info("amqp reconnected")
	}
}

// dialRetry dials with backoff until it succeeds or ctx is done. It then
// reports the last real failure, not the cancellation that cut the wait short.
func (c *Conn) dialRetry(ctx context.Context) (*session, error) {
	var last error
	for attempt := 1; ; attempt++ {
		s, err := c.dial(ctx)
		if err == nil {
			return s, nil
		}
		if ctx.Err() != nil {
			if last == nil {
				last = err
			}
			return nil, fmt.Errorf("gave up after %d attempts: %w", attempt, last)
		}
		last = err
		c.mu.Lock()
		c.lastErr = err
		c.mu.Unlock()
		wait := backoff(attempt, c.cfg.ReconnectMin, c.cfg.ReconnectMax)
		c.log.Warn("amqp dial failed", "attempt", attempt, "retry_in", wait, "err", err)
		if !sleep(ctx.Done(), wait) {
			return nil, fmt.Errorf("gave up after %d attempts: %w", attempt, last)
		}
	}
}

// dial opens one connection and declares the topology on it.
func (c *Conn) dial(ctx context.Context) (*session, error) {
	props := amqp091.NewConnectionProperties()
	props.SetClientConnectionName(c.cfg.Name)
	conn, err := amqp091.DialConfig(c.cfg.URL, amqp091.Config{
		Properties: props,
		Heartbeat:  c.cfg.Heartbeat,
		Locale:     "en_US",
		Dial: func(network, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: dialTimeout}
			nc, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			// No heartbeats during the handshake: bound it; amqp091 clears the
			// deadline once the connection is open.
			deadline := time.Now().Add(dialTimeout)
			if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
				deadline = dl
			}
			if err := nc.SetDeadline(deadline); err != nil {
				nc.Close()
				return nil, err
			}
			return nc, nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	s := &session{
		conn:    conn,
		closed:  conn.NotifyClose(make(chan *amqp091.Error, 1)),
		blocked: conn.NotifyBlocked(make(chan amqp091.Blocking, 8)),
	}
	if err := c.declareTopology(conn); err != nil {
		conn.Close()
		return nil, err
	}
	return s, nil
}

// declareTopology declares the exchanges and every registered queue.
func (c *Conn) declareTopology(conn *amqp091.Connection) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("declare topology: open channel: %w", err)
	}
	defer ch.Close() //nolint:errcheck // a failed declaration already closed it
	if err := declareExchanges(ch, c.cfg); err != nil {
		return fmt.Errorf("declare topology: %w", err)
	}
	c.mu.Lock()
	queues := make([]queueSpec, 0, len(c.queues))
	for _, q := range c.queues {
		queues = append(queues, q)
	}
	c.mu.Unlock()
	for _, q := range queues {
		if err := declareQueue(ch, c.cfg, q); err != nil {
			return fmt.Errorf("declare topology: %w", err)
		}
	}
	return nil
}

package e2e

// Fault-suite helpers usable from any goroutine (no t.Fatal): HTTP and
// database access, the dead-letter survey, and the outage cycle every kill
// scenario uses.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	amqp091 "github.com/rabbitmq/amqp091-go"

	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
)

func (fx *faultFleet) send(ctx context.Context, method, path, tok string, body []byte, hdr ...string) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, fx.layout.GatewayURL()+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := fx.httpc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

// withDB runs fn on a fresh connection to the private database of service.
func (fx *faultFleet) withDB(ctx context.Context, service string, fn func(*pgx.Conn) error) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, fx.pg.URL(fx.layout.DBName(service)))
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	return fn(c)
}

func getJSON(ctx context.Context, hc *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// deadLetters takes every message off the consumers' dead-letter queues on
// the private broker and describes them ("queue: type id reason attempt").
// In a fault scenario a dead letter is an event the pipeline gave up on.
func (fx *faultFleet) deadLetters() ([]string, error) {
	conn, err := amqp091.Dial(fx.mq.URL())
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	// basic.get blocks while a queue has no leader: bound the whole survey.
	stop := time.AfterFunc(30*time.Second, func() { _ = conn.Close() })
	defer stop.Stop()
	ch, err := conn.Channel()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, q := range eventsv1.Queues { // each consumer queue has a .dlq
		for {
			d, ok, err := ch.Get(q+".dlq", false)
			var amqpErr *amqp091.Error
			if errors.As(err, &amqpErr) && amqpErr.Code == amqp091.NotFound {
				// No process declared the queue (its consumer is not in
				// this fleet yet): nothing was dead-lettered there. The
				// refusal closed the channel; go on with a new one.
				if ch, err = conn.Channel(); err != nil {
					return out, err
				}
				break
			}
			if err != nil {
				return out, fmt.Errorf("get %s.dlq: %w", q, err)
			}
			if !ok {
				break
			}
			// The consumer's own error when it recorded one
			// (x-printfleet-error), else the broker's x-death reason.
			reason, _ := d.Headers["x-printfleet-error"].(string)
			if deaths, ok := d.Headers["x-death"].([]any); ok && len(deaths) > 0 && reason == "" {
				if death, ok := deaths[0].(amqp091.Table); ok {
					reason, _ = death["reason"].(string)
				}
			}
			out = append(out, fmt.Sprintf("%s: %s %s (%s)", q, d.Type, d.MessageId, reason))
			if err := d.Ack(false); err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

// outage kills one thing, keeps it down, and starts it again.
type outage struct {
	at    float64 // fraction of the load's requests done when it strikes
	name  string
	kill  func() error
	start func(context.Context) error
	down  time.Duration

	progressAt            int64
	killedAt, restartedAt time.Time
	boot                  time.Duration
	late                  bool // the load had finished before it struck
}

func (o *outage) cycle(ctx context.Context) error {
	o.killedAt = time.Now()
	if err := o.kill(); err != nil {
		return fmt.Errorf("kill %s: %w", o.name, err)
	}
	time.Sleep(o.down)
	b := time.Now()
	if err := o.start(ctx); err != nil {
		return fmt.Errorf("restart %s: %w", o.name, err)
	}
	o.restartedAt = time.Now()
	o.boot = o.restartedAt.Sub(b)
	return nil
}

// waitProgress waits until progress reaches target; it reports false when
// the load finished (or ctx ended) first.
func waitProgress(ctx context.Context, progress *atomic.Int64, target int64, done <-chan struct{}) bool {
	for progress.Load() < target {
		select {
		case <-done:
			return false
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return true
}

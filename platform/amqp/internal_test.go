package amqp

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

func TestBackoffGrowsWithJitterAndCap(t *testing.T) {
	t.Parallel()
	lo, hi := 100*time.Millisecond, 2*time.Second
	tests := []struct {
		attempt  int
		min, max time.Duration
	}{
		{1, 50 * time.Millisecond, 100 * time.Millisecond},
		{2, 100 * time.Millisecond, 200 * time.Millisecond},
		{4, 400 * time.Millisecond, 800 * time.Millisecond},
		{5, 800 * time.Millisecond, 1600 * time.Millisecond},
		{6, time.Second, 2 * time.Second},
		{60, time.Second, 2 * time.Second}, // no overflow on long outages
	}
	for _, tt := range tests {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := backoff(tt.attempt, lo, hi)
			if d < tt.min || d > tt.max {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", tt.attempt, d, tt.min, tt.max)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Errorf("backoff(%d) took only %d distinct values: no jitter", tt.attempt, len(seen))
		}
	}
}

func TestDeliveryAttemptFromQuorumHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		headers amqp091.Table
		want    int
	}{
		{nil, 1},
		{amqp091.Table{}, 1},
		{amqp091.Table{"x-delivery-count": int64(2)}, 3},
		{amqp091.Table{"x-delivery-count": int32(4)}, 5},
		{amqp091.Table{"x-delivery-count": "junk"}, 1},
	}
	for _, tt := range tests {
		if got := toDelivery(amqp091.Delivery{Headers: tt.headers}).Attempt; got != tt.want {
			t.Errorf("attempt for %v = %d, want %d", tt.headers, got, tt.want)
		}
	}
}

func TestDeliveryTypeFallsBackToRoutingKey(t *testing.T) {
	t.Parallel()
	if got := toDelivery(amqp091.Delivery{RoutingKey: "orders.order_placed.v1"}).Type; got != "orders.order_placed.v1" {
		t.Errorf("type = %q", got)
	}
}

func TestPublishersWaitWhileBrokerBlocks(t *testing.T) {
	t.Parallel()
	c := &Conn{unblocked: make(chan struct{})}
	close(c.unblocked)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	defer c.cancel()

	if err := c.waitUnblocked(context.Background()); err != nil {
		t.Fatalf("not blocked: %v", err)
	}
	c.setBlocked(true, "low on disk")
	c.setBlocked(true, "low on disk") // repeated notifications are harmless
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := c.waitUnblocked(ctx); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "low on disk") {
		t.Fatalf("blocked: %v, want a deadline error naming the alarm", err)
	}

	done := make(chan error, 1)
	go func() { done <- c.waitUnblocked(context.Background()) }()
	time.Sleep(20 * time.Millisecond)
	c.mu.Lock()
	c.setBlocked(false, "")
	c.mu.Unlock()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after unblock: %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("waiter not released by unblock")
	}
}

func TestTruncateUTF8KeepsWholeCharacters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"abcdef", 3, "abc"},
		{"aé", 2, "a"}, // é is two bytes: not split
		{"aéb", 3, "aé"},
		{"€€", 4, "€"},
	}
	for _, tt := range tests {
		if got := truncateUTF8(tt.in, tt.n); got != tt.want {
			t.Errorf("truncateUTF8(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

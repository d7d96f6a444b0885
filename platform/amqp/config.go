package amqp

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// Config configures the connection and the defaults of the consumers and
// publishers that use it. A service embeds it under a prefix, e.g.
//
//	AMQP amqp.Config `env:", prefix=AMQP_"`
//
// URL holds the broker password: print the Config itself (String, LogValue),
// which masks it, never the field.
type Config struct {
	URL  string `env:"URL, default=amqp://guest:guest@127.0.0.1:5672/printfleet"`
	Name string `env:"CONNECTION_NAME"` // shown by the broker as connection_name; defaults to program@host

	Exchange           string `env:"EXCHANGE, default=printfleet.events"`
	DeadLetterExchange string `env:"DEAD_LETTER_EXCHANGE, default=printfleet.dlx"`

	Prefetch      int           `env:"PREFETCH, default=32"`      // unacked deliveries per consumer
	DeliveryLimit int           `env:"DELIVERY_LIMIT, default=5"` // failed deliveries before dead-lettering: up to limit+1 tries
	RetryMin      time.Duration `env:"RETRY_MIN, default=200ms"`  // handler retry backoff
	RetryMax      time.Duration `env:"RETRY_MAX, default=10s"`
	ReconnectMin  time.Duration `env:"RECONNECT_MIN, default=200ms"` // reconnect backoff
	ReconnectMax  time.Duration `env:"RECONNECT_MAX, default=15s"`
	Heartbeat     time.Duration `env:"HEARTBEAT, default=10s"`
}

// Defaults used when a Config is built in code rather than from the environment.
const (
	defaultURL           = "amqp://guest:guest@127.0.0.1:5672/printfleet"
	defaultExchange      = "printfleet.events"
	defaultDLX           = "printfleet.dlx"
	defaultPrefetch      = 32
	defaultDeliveryLimit = 5
	dialTimeout          = 15 * time.Second
)

func (c Config) withDefaults() Config {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.URL == "" {
		c.URL = defaultURL
	}
	if c.Name == "" {
		host, _ := os.Hostname()
		c.Name = filepath.Base(os.Args[0]) + "@" + host
	}
	if c.Exchange == "" {
		c.Exchange = defaultExchange
	}
	if c.DeadLetterExchange == "" {
		c.DeadLetterExchange = defaultDLX
	}
	if c.Prefetch <= 0 {
		c.Prefetch = defaultPrefetch
	}
	if c.DeliveryLimit <= 0 {
		c.DeliveryLimit = defaultDeliveryLimit
	}
	set(&c.RetryMin, 200*time.Millisecond)
	set(&c.RetryMax, 10*time.Second)
	set(&c.ReconnectMin, 200*time.Millisecond)
	set(&c.ReconnectMax, 15*time.Second)
	set(&c.Heartbeat, 10*time.Second)
	return c
}

func (c Config) validate() error {
	u, err := url.Parse(c.URL)
	if err != nil {
		// url.Parse echoes the input, password included: don't wrap it.
		return errors.New("amqp: config: URL is not a valid URL")
	}
	if u.Scheme != "amqp" && u.Scheme != "amqps" {
		return fmt.Errorf("amqp: config: URL scheme %q, want amqp or amqps", u.Scheme)
	}
	if c.Exchange == c.DeadLetterExchange {
		return fmt.Errorf("amqp: config: exchange and dead-letter exchange are both %q", c.Exchange)
	}
	if c.RetryMin > c.RetryMax || c.ReconnectMin > c.ReconnectMax {
		return errors.New("amqp: config: a backoff minimum exceeds its maximum")
	}
	return nil
}

// RedactedURL returns the broker URL with its password masked.
func (c Config) RedactedURL() string {
	u, err := url.Parse(c.URL)
	if err != nil {
		return "<invalid URL>"
	}
	return u.Redacted()
}

// String prints the Config with the password masked.
func (c Config) String() string {
	return fmt.Sprintf("{URL:%s Name:%s Exchange:%s DeadLetterExchange:%s Prefetch:%d DeliveryLimit:%d Retry:%s-%s Reconnect:%s-%s Heartbeat:%s}",
		c.RedactedURL(), c.Name, c.Exchange, c.DeadLetterExchange, c.Prefetch, c.DeliveryLimit,
		c.RetryMin, c.RetryMax, c.ReconnectMin, c.ReconnectMax, c.Heartbeat)
}

// GoString masks the password under %#v too.
func (c Config) GoString() string { return "amqp.Config" + c.String() }

// MarshalJSON masks the password, so config.Masked can log a struct that
// embeds this one.
func (c Config) MarshalJSON() ([]byte, error) {
	type plain Config // drops the methods, so no recursion
	p := plain(c)
	p.URL = c.RedactedURL()
	return json.Marshal(p)
}

// LogValue makes slog print the Config with the password masked.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("url", c.RedactedURL()),
		slog.String("name", c.Name),
		slog.String("exchange", c.Exchange),
		slog.String("dead_letter_exchange", c.DeadLetterExchange),
		slog.Int("prefetch", c.Prefetch),
		slog.Int("delivery_limit", c.DeliveryLimit),
	)
}

// backoff returns how long to wait before attempt n (1-based): doubling from
// lo, capped at hi, with "equal jitter" (half fixed, half random) so that
// replicas retrying together spread out without the wait collapsing to zero.
func backoff(n int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	half := d / 2
	return half + rand.N(half+1)
}

// sleep waits for d or until done is closed; it reports whether d elapsed.
func sleep(done <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	}
}

// Package amqptest gives each test its own exchanges and queues on the local
// RabbitMQ, deleted when the test ends, so tests run in parallel against the
// real broker without seeing each other's messages.
//
// PRINTFLEET_TEST_AMQP_URL names the broker and vhost (default: guest on
// 127.0.0.1:5672, vhost printfleet, created with rabbitmqctl if missing).
// Tests are skipped under -short.
package amqptest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/printfleet/printfleet/platform/amqp"
)

// URL is the broker the tests use.
func URL() string {
	if u := os.Getenv("PRINTFLEET_TEST_AMQP_URL"); u != "" {
		return u
	}
	return "amqp://guest:guest@127.0.0.1:5672/printfleet"
}

// Env is one test's slice of the broker.
type Env struct {
	// Config has unique exchange names and short retry/reconnect backoffs;
	// adjust it before dialing.
	Config amqp.Config
	prefix string

	mu     sync.Mutex
	queues []string
}

// New returns a fresh Env for t and deletes what it names when t ends.
func New(t testing.TB) *Env {
	t.Helper()
	if testing.Short() {
		t.Skip("needs RabbitMQ (skipped with -short)")
	}
	ensureVhost(t)
	prefix := "t." + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	e := &Env{
		prefix: prefix,
		Config: amqp.Config{
			URL:                URL(),
			Name:               prefix,
			Exchange:           prefix + ".events",
			DeadLetterExchange: prefix + ".dlx",
			Prefetch:           16,
			DeliveryLimit:      3,
			RetryMin:           10 * time.Millisecond,
			RetryMax:           50 * time.Millisecond,
			ReconnectMin:       50 * time.Millisecond,
			ReconnectMax:       500 * time.Millisecond,
		},
	}
	t.Cleanup(func() { e.cleanup(t) })
	return e
}

// Queue returns a queue name unique to this Env; the queue and its .dlq are
// deleted when the test ends.
func (e *Env) Queue(name string) string {
	q := e.prefix + "." + name
	e.mu.Lock()
	e.queues = append(e.queues, q)
	e.mu.Unlock()
	return q
}

func (e *Env) cleanup(t testing.TB) {
	conn, err := amqp091.Dial(URL())
	if err != nil {
		t.Logf("amqptest: cleanup: %v", err)
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Logf("amqptest: cleanup: %v", err)
		return
	}
	defer ch.Close()
	e.mu.Lock()
	defer e.mu.Unlock()
	// A missing queue or exchange is not an error for delete in RabbitMQ 3.x.
	for _, q := range e.queues {
		for _, name := range []string{q, amqp.DLQName(q)} {
			if _, err := ch.QueueDelete(name, false, false, false); err != nil {
				t.Logf("amqptest: delete queue %s: %v", name, err)
				return
			}
		}
	}
	for _, x := range []string{e.Config.Exchange, e.Config.DeadLetterExchange} {
		if err := ch.ExchangeDelete(x, false, false); err != nil {
			t.Logf("amqptest: delete exchange %s: %v", x, err)
			return
		}
	}
}

// ForceClose makes the broker close the connection named name (its
// connection_name), as an operator or a broker restart would.
func ForceClose(t testing.TB, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := rabbitmqctl("-q", "--no-table-headers", "list_connections", "pid", "client_properties")
		if err != nil {
			t.Fatalf("amqptest: list connections: %v", err)
		}
		var pids []string
		for line := range strings.SplitSeq(out, "\n") {
			if strings.Contains(line, fmt.Sprintf(`{"connection_name","%s"}`, name)) {
				pids = append(pids, strings.SplitN(line, "\t", 2)[0])
			}
		}
		for _, pid := range pids {
			if _, err := rabbitmqctl("close_connection", pid, "closed by test"); err != nil {
				t.Fatalf("amqptest: close connection %s: %v", pid, err)
			}
		}
		if len(pids) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("amqptest: no connection named %q", name)
		}
		time.Sleep(200 * time.Millisecond) // the broker lists new connections with a lag
	}
}

var (
	vhostOnce sync.Once
	vhostErr  error
)

// ensureVhost creates the test vhost once per process if the broker refuses it.
func ensureVhost(t testing.TB) {
	t.Helper()
	vhostOnce.Do(func() {
		conn, dialErr := amqp091.Dial(URL())
		if dialErr == nil {
			conn.Close()
			return
		}
		u, perr := url.Parse(URL())
		if perr != nil {
			vhostErr = fmt.Errorf("parse PRINTFLEET_TEST_AMQP_URL: %w", perr)
			return
		}
		vhost := strings.TrimPrefix(u.Path, "/")
		if vhost == "" {
			vhost = "/"
		}
		if unescaped, err := url.PathUnescape(vhost); err == nil {
			vhost = unescaped
		}
		user := u.User.Username()
		if _, err := rabbitmqctl("-q", "add_vhost", vhost); err != nil && !strings.Contains(err.Error(), "already exists") {
			vhostErr = fmt.Errorf("dial %s failed (%v) and add_vhost failed: %w", u.Redacted(), dialErr, err)
			return
		}
		if _, err := rabbitmqctl("-q", "set_permissions", "-p", vhost, user, ".*", ".*", ".*"); err != nil {
			vhostErr = fmt.Errorf("set permissions on vhost %s: %w", vhost, err)
			return
		}
		conn, err := amqp091.Dial(URL())
		if err != nil {
			vhostErr = fmt.Errorf("dial %s after creating the vhost: %w", u.Redacted(), err)
			return
		}
		conn.Close()
	})
	if vhostErr != nil {
		t.Fatalf("amqptest: %v", vhostErr)
	}
}

func rabbitmqctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "rabbitmqctl", args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("rabbitmqctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

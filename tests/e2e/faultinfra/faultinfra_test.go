package faultinfra

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	amqp091 "github.com/rabbitmq/amqp091-go"
)

func need(t *testing.T) context.Context {
	t.Helper()
	if testing.Short() || os.Getenv("PRINTFLEET_E2E_FAULTS") == "off" {
		t.Skip("private datastore instances are skipped with -short or PRINTFLEET_E2E_FAULTS=off")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func alive(pid int) bool { return pid > 0 && syscall.Kill(pid, 0) == nil }

func TestRedisKillRestart(t *testing.T) {
	t.Parallel()
	ctx := need(t)
	r, err := StartRedis(ctx, t)
	if err != nil {
		t.Fatal(err)
	}
	first := r.Pid()
	if err := r.Kill(); err != nil {
		t.Fatal(err)
	}
	if r.Pid() != 0 || alive(first) {
		t.Fatalf("redis pid %d survived SIGKILL", first)
	}
	if err := r.ping(ctx); err == nil {
		t.Fatal("a killed redis still answers PING")
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if r.Pid() == 0 || r.Pid() == first {
		t.Fatalf("restart: pid %d (was %d)", r.Pid(), first)
	}
	if err := r.ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestPostgresKillKeepsCommits(t *testing.T) {
	t.Parallel()
	ctx := need(t)
	p, err := StartPostgres(ctx, t)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Exec(ctx, "postgres", `CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)`); err != nil {
		t.Fatal(err)
	}
	held, err := pgx.Connect(ctx, p.URL("postgres")) // a backend that must die too
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close(context.Background())
	first := p.Pid()
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if alive(first) {
		t.Fatalf("postmaster %d survived SIGKILL", first)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, p.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(ctx, `SELECT n FROM kept`).Scan(&n); err != nil || n != 42 {
		t.Fatalf("committed row after the crash: %d, %v", n, err)
	}
	var maxConns int
	if err := conn.QueryRow(ctx, `SELECT current_setting('max_connections')::int`).Scan(&maxConns); err != nil || maxConns < 200 {
		t.Fatalf("max_connections = %d, %v", maxConns, err)
	}
}

func TestRabbitMQKillKeepsConfirmedMessages(t *testing.T) {
	t.Parallel()
	ctx := need(t)
	r, err := StartRabbitMQ(ctx, t)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := amqp091.Dial(r.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare("kept", true, false, false, false, amqp091.Table{"x-queue-type": "quorum"}); err != nil {
		t.Fatal(err)
	}
	// RabbitMQ 3.10 records a new quorum queue's member state lazily: a node
	// killed within a second or so of the declaration comes back with the
	// queue but without a leader. The fleet's queues exist long before any
	// kill, so let this one settle too.
	time.Sleep(5 * time.Second)
	publish := func() {
		if err := ch.Confirm(false); err != nil {
			t.Fatal(err)
		}
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", "kept", true, false,
			amqp091.Publishing{DeliveryMode: amqp091.Persistent, Body: []byte("x")})
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := dc.WaitContext(ctx); !ok || err != nil {
			t.Fatalf("not confirmed: %v", err)
		}
	}
	publish()
	first := r.Pid()
	restarted := time.Now()
	if err := r.Kill(); err != nil {
		t.Fatal(err)
	}
	if alive(first) {
		t.Fatalf("node script %d survived SIGKILL", first)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("kill → ready again: %v", time.Since(restarted))
	// The quorum queue needs a moment after the boot to recover its log.
	var got amqp091.Delivery
	var ok bool
	var last error
	deadline := time.Now().Add(30 * time.Second)
	for !ok && time.Now().Before(deadline) {
		got, ok, last = getOne(r.URL(), "kept")
		if !ok {
			time.Sleep(200 * time.Millisecond)
		}
	}
	t.Logf("message back %v after the kill (last error: %v)", time.Since(restarted), last)
	if !ok || string(got.Body) != "x" {
		t.Fatalf("the confirmed message did not survive the kill (got %v %q)", ok, got.Body)
	}
	if out, err := r.Ctl(ctx, "list_queues", "name", "messages"); err != nil {
		t.Fatal(err)
	} else {
		t.Logf("rabbitmqctl list_queues:\n%s", out)
	}
}

// getOne takes one message off queue with autoack on a fresh connection,
// giving up after 10 s (a queue without a leader blocks basic.get).
func getOne(url, queue string) (amqp091.Delivery, bool, error) {
	conn, err := amqp091.Dial(url)
	if err != nil {
		return amqp091.Delivery{}, false, err
	}
	defer conn.Close()
	stop := time.AfterFunc(10*time.Second, func() { _ = conn.Close() })
	defer stop.Stop()
	ch, err := conn.Channel()
	if err != nil {
		return amqp091.Delivery{}, false, err
	}
	return ch.Get(queue, true)
}

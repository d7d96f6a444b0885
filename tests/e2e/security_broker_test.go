package e2e

// Per-process broker users.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
)

// publishAs publishes one message with routing key as the process's broker
// user and returns the broker's verdict: nil when confirmed, the channel's
// close error when refused.
func publishAs(t *testing.T, e *environment, proc, key string) error {
	t.Helper()
	conn, err := amqp091.Dial(e.layout.BrokerURL(proc))
	if err != nil {
		t.Fatalf("%s's broker user: %v", proc, err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	closed := ch.NotifyClose(make(chan *amqp091.Error, 1))
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conf, err := ch.PublishWithDeferredConfirmWithContext(ctx, "printfleet.events", key, false, false,
		amqp091.Publishing{ContentType: "application/octet-stream", Body: []byte("not an event")})
	if err != nil {
		return err
	}
	select {
	case e := <-closed:
		if e == nil {
			return errors.New("channel closed")
		}
		return e
	case <-conf.Done():
		select { // a refusal closes the channel and may also release the confirm
		case e := <-closed:
			if e != nil {
				return e
			}
		case <-time.After(200 * time.Millisecond):
		}
		if !conf.Acked() {
			return errors.New("nacked")
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestBrokerRefusesForeignEvents: each process has its own RabbitMQ user
// whose topic permission on the events exchange covers only its own routing
// keys. The images worker may publish images.* but not an orders event (a
// forged OrderPaid would start rendering and shipping an unpaid order), and
// it cannot consume the orders worker's queue.
func TestBrokerRefusesForeignEvents(t *testing.T) {
	e := need(t)
	if !e.layout.BrokerUsers {
		t.Fatal("the e2e layout must give each process its own broker user")
	}
	// An images.* key no queue binds: routed nowhere, but allowed.
	if err := publishAs(t, e, "images", "images.permission_probe.v1"); err != nil {
		t.Fatalf("images publishing its own key: %v", err)
	}
	for proc, key := range map[string]string{
		"images":         eventsv1.KeyOrderPaid,
		"marketplace":    eventsv1.KeyStockReserved,
		"pricing-worker": eventsv1.KeyOrderPlaced,
		"catalog-worker": eventsv1.KeyPrintFilesReady,
		"webhooks":       eventsv1.KeyOrderNotice, // it only consumes
		"ops":            eventsv1.KeyOrderPaid,   // it replays to queues, never to the exchange
	} {
		err := publishAs(t, e, proc, key)
		var ae *amqp091.Error
		if !errors.As(err, &ae) || ae.Code != amqp091.AccessRefused {
			t.Errorf("%s publishing %s: %v, want ACCESS_REFUSED", proc, key, err)
			continue
		}
		t.Logf("%s publishing %s: refused by the broker: %d %s", proc, key, ae.Code, ae.Reason)
	}

	conn, err := amqp091.Dial(e.layout.BrokerURL("images"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	_, err = ch.Consume(eventsv1.QueueOrdersWorker, "", false, false, false, false, nil)
	var ae *amqp091.Error
	if !errors.As(err, &ae) || ae.Code != amqp091.AccessRefused {
		t.Fatalf("images consuming %s: %v, want ACCESS_REFUSED", eventsv1.QueueOrdersWorker, err)
	}
	t.Logf("images consuming %s: refused: %s", eventsv1.QueueOrdersWorker, ae.Reason)
}

// TestProcessesHoldOnlyTheirSecrets reads each running process's environment
// (/proc/<pid>/environ): the internal secret only where gRPC is served or
// called — never in the images worker, which decodes untrusted images — and
// each broker user only in its own process.
func TestProcessesHoldOnlyTheirSecrets(t *testing.T) {
	e := need(t)
	holders := map[string]bool{"gateway": true, "orders": true, "catalog": true, "pricing": true, "marketplace": true, "webhooks": true, "ops": true}
	for _, p := range e.layout.Procs() {
		pid := e.fleet.Pid(p.Name)
		if pid == 0 {
			t.Fatalf("%s is not running", p.Name)
		}
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			t.Fatal(err)
		}
		env := map[string]string{}
		for _, kv := range strings.Split(string(raw), "\x00") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = v
			}
		}
		_, has := env["PRINTFLEET_INTERNAL_SECRET"]
		if has != holders[p.Name] {
			t.Errorf("%s holds the internal secret: %v", p.Name, has)
		}
		if u, ok := env["PRINTFLEET_AMQP_URL"]; ok && !strings.Contains(u, "//printfleet-"+p.Name+":") {
			t.Errorf("%s's broker URL is not its own user's: %s", p.Name, strings.SplitN(u, ":", 3)[1])
		}
		t.Logf("%-15s internal secret: %-5v broker user: %v", p.Name, has, env["PRINTFLEET_AMQP_URL"] != "")
	}
}

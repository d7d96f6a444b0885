package e2e

// Dead letters through the ops service.

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp091 "github.com/rabbitmq/amqp091-go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/printfleet/printfleet/platform/grpcclient"
	"github.com/printfleet/printfleet/platform/log"
	"github.com/printfleet/printfleet/platform/principal"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	opsv1 "github.com/printfleet/printfleet/proto/printfleet/ops/v1"
)

// TestPoisonMessageIsParkedAndDiscarded: a malformed PrintFilesReady
// published by the images worker's own broker user fails in the orders
// worker, reaches orders.worker.dlq with the worker's error, is parked by
// ops (decoded: the body is reported as not a PrintFilesReady), and an
// admin discards it with a reason that the audit log keeps.
func TestPoisonMessageIsParkedAndDiscarded(t *testing.T) {
	e := need(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	id := publishGarbage(t, e)

	signer, err := principal.NewSigner(e.layout.InternalSecret)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient(e.layout.OpsGRPC(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(grpcclient.ForwardPrincipal(signer)))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ops := opsv1.NewDeadLetterServiceClient(cc)
	admin := log.WithRequestID(principal.With(ctx, principal.Principal{Subject: "e2e-operator", Roles: []string{principal.RoleAdmin}}), "e2e-dlq-"+id[:8])

	var letter *opsv1.DeadLetter
	for letter == nil {
		res, err := ops.ListDeadLetters(admin, &opsv1.ListDeadLettersRequest{Queue: eventsv1.QueueOrdersWorker, PageSize: 200})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range res.GetDeadLetters() {
			if l.GetMessageId() == id {
				letter = l
			}
		}
		if letter == nil {
			if ctx.Err() != nil {
				t.Fatal("the poison message was not parked within 90s")
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	t.Logf("parked: %s reason %q attempts %d body_error %q", letter.GetId(), letter.GetReason(), letter.GetAttempts(), letter.GetBodyError())
	if !strings.Contains(letter.GetReason(), "decode "+eventsv1.KeyPrintFilesReady) || letter.GetType() != eventsv1.KeyPrintFilesReady {
		t.Errorf("reason %q, want the orders worker's decode error", letter.GetReason())
	}
	if letter.GetBodyError() == "" || letter.GetBodyBase64() == "" || letter.GetBodyJson() != "" {
		t.Errorf("undecodable body shown as json %q error %q base64 %q", letter.GetBodyJson(), letter.GetBodyError(), letter.GetBodyBase64())
	}
	qs, err := ops.ListQueues(admin, &opsv1.ListQueuesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs.GetQueues() {
		if q.GetDepth() < 0 || q.GetDlqDepth() < 0 {
			t.Errorf("queue %s: depth %d dlq %d, want both read from the broker", q.GetQueue(), q.GetDepth(), q.GetDlqDepth())
		}
		if q.GetQueue() == eventsv1.QueueOrdersWorker && q.GetParked() < 1 {
			t.Errorf("orders.worker parked %d, want at least 1", q.GetParked())
		}
	}

	res, err := ops.DiscardDeadLetter(admin, &opsv1.DiscardDeadLetterRequest{Id: letter.GetId(), ActionId: uuid.NewString(), Reason: "e2e poison, never a real event"})
	if err != nil || res.GetAffected() != 1 {
		t.Fatalf("discard: %v %v", res, err)
	}
	audit, err := ops.ListAudit(admin, &opsv1.ListAuditRequest{Target: letter.GetId()})
	if err != nil || len(audit.GetEntries()) != 1 {
		t.Fatalf("audit: %v %v", audit, err)
	}
	if a := audit.GetEntries()[0]; a.GetActor() != "e2e-operator" || a.GetAction() != "dead_letter.discard" ||
		a.GetReason() != "e2e poison, never a real event" || a.GetRequestId() != "e2e-dlq-"+id[:8] {
		t.Errorf("audit entry %v", a)
	}
	got, err := ops.GetDeadLetter(admin, &opsv1.GetDeadLetterRequest{Id: letter.GetId()})
	if err != nil || got.GetState() != opsv1.DeadLetterState_DEAD_LETTER_STATE_DISCARDED {
		t.Errorf("after discard: %v %v", got, err)
	}
}

// publishGarbage publishes an undecodable body on a real routing key with
// the images worker's broker user; the orders worker dead-letters it.
func publishGarbage(t *testing.T, e *environment) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := amqp091.Dial(e.layout.BrokerURL("images"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	id := uuid.NewString()
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "printfleet.events", eventsv1.KeyPrintFilesReady, true, false, amqp091.Publishing{
		MessageId: id, Type: eventsv1.KeyPrintFilesReady, Timestamp: time.Now(), DeliveryMode: amqp091.Persistent,
		ContentType: "application/x-protobuf", Body: []byte("garbage, not a protobuf \xff\xfe"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := dc.WaitContext(ctx); !ok || err != nil {
		t.Fatalf("garbage not confirmed: %v", err)
	}
	return id
}

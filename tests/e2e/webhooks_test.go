package e2e

// Outbound webhooks over the whole fleet: a seller subscribes a receiver of
// the sandbox over REST, and every event of its orders and designs reaches
// it signed, with a stable event id, while the receiver is down, slow, or
// the webhooks process is killed in the middle of a delivery; a seller's URL
// never reaches an internal address.
//
// The fleet compresses the retry schedule (1s, 2s, 4s, 8s, 16s), the
// attempt timeout (3s) and the lease of a claimed delivery (6s). The tests
// run in parallel on the suite's fleet, each with its own seller, except
// the kill, which runs alone among the suite's sequential tests.

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestWebhooksWholeWay: a subscription to "*" receives every event of an
// order's way from creation to shipment, of an order cancelled after payment
// and refunded, and of a design made ready and one rejected; each delivery
// verifies under the secret of the creation answer, carries a distinct
// event id and the object as the API shows it after the change; the
// delivery log lists them succeeded with the answer's status and latency.
func TestWebhooksWholeWay(t *testing.T) {
	e := need(t)
	t.Parallel()
	seller := secToken(t, newSubject("wh-whole"), "user", time.Hour)
	whWaitAPI(t, e, seller)
	partner := token(t, "print-partner", "fulfillment", time.Hour)
	rcv := newWhReceiver(t, e, whOK)
	sub := createWh(t, e, seller, rcv.URL, "*")

	// Designs after the subscription: one ready, one rejected.
	mug, wrap := demoItem(t, e, "Ceramic Mug 11oz", "White", "wrap")
	design := readyDesign(t, e, seller, designPNG(t, 2550, 1050))
	bad := uploadedDesign(t, e, seller, "notes.png", "image/png", []byte(strings.Repeat("plain text, not an image. ", 8)))
	e.api.must(t, http.StatusOK, http.MethodPost, "/v1/designs/"+bad+":process", seller, map[string]any{})
	eventually(t, 60*time.Second, "design rejected", func() (bool, string) {
		s := str(e.api.must(t, http.StatusOK, http.MethodGet, "/v1/designs/"+bad, seller, nil), "status")
		if s == "DESIGN_STATUS_READY" {
			t.Fatalf("a text file became a READY design")
		}
		return s == "DESIGN_STATUS_REJECTED", s
	})

	orderBody := map[string]any{
		"items":            []any{map[string]any{"variant_id": mug, "quantity": 1, "design_id": design, "placement_id": wrap}},
		"shipping_address": address(), "currency": "USD", "payment_method": "PAYMENT_METHOD_CARD",
	}
	// The first order: paid, rendered, in production, shipped with tracking.
	r := secCreateOrder(t, e, seller, orderBody)
	if r.Status != http.StatusCreated {
		t.Fatalf("create order: %d %s", r.Status, r.Body)
	}
	shippedID := str(r.JSON(t), "id")
	produced := waitStatus(t, e, seller, shippedID, "ORDER_STATUS_IN_PRODUCTION", 90*time.Second)
	tracking := "1Z" + strings.ToUpper(strings.ReplaceAll(uuid.NewString(), "-", ""))[:16]
	trackingURL := "https://www.ups.com/track?tracknum=" + tracking
	e.api.must(t, http.StatusCreated, http.MethodPost, "/v1/orders/"+shippedID+"/shipments", partner, map[string]any{
		"carrier": "UPS", "tracking_number": tracking, "tracking_url": trackingURL,
	})
	waitStatus(t, e, seller, shippedID, "ORDER_STATUS_SHIPPED", 10*time.Second)

	// The second order: cancelled while PAID (before its print files are
	// rendered), then refunded. Rendering may beat the cancel; then another
	// order tries again.
	cancelledID, cancelledTotal := "", any(nil)
	for try := 1; try <= 4 && cancelledID == ""; try++ {
		r := secCreateOrder(t, e, seller, orderBody)
		if r.Status != http.StatusCreated {
			t.Fatalf("create order: %d %s", r.Status, r.Body)
		}
		o := r.JSON(t)
		id := str(o, "id")
		deadline := time.Now().Add(60 * time.Second)
		for {
			st := orderStatus(t, e, seller, id)
			if st == "ORDER_STATUS_PAID" {
				c := e.api.do(t, http.MethodPost, "/v1/orders/"+id+":cancel", seller, map[string]any{"reason": "customer changed their mind"})
				if c.Status == http.StatusOK {
					cancelledID, cancelledTotal = id, dig(o, "total")
				} else {
					t.Logf("try %d: cancel of the PAID order %s answered %d %s", try, id, c.Status, secClip(c.Body, 200))
				}
				break
			}
			if progress[st] > progress["ORDER_STATUS_PAID"] || progress[st] < 0 {
				t.Logf("try %d: order %s reached %s before it could be cancelled while PAID", try, id, st)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("order %s not PAID within 60 s (%s)", id, st)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if cancelledID == "" {
		t.Fatal("no order could be cancelled while PAID in 4 tries")
	}

	want := map[string][]string{
		shippedID:   {"order.created", "order.paid", "order.in_production", "order.shipped"},
		cancelledID: {"order.created", "order.paid", "order.cancelled", "order.refunded"},
	}
	designEvent := func(got []whReceived, id, typ string) bool {
		return slices.ContainsFunc(got, func(d whReceived) bool {
			return d.ok() && d.Event.Type == typ && str(d.Event.Data, "design", "id") == id
		})
	}
	got := rcv.waitReceived(t, 90*time.Second, "every event of the whole way", func(got []whReceived) (bool, string) {
		ok1, s1 := hasTypes(got, []string{shippedID}, want[shippedID]...)
		ok2, s2 := hasTypes(got, []string{cancelledID}, want[cancelledID]...)
		ok3 := designEvent(got, design, "design.ready") && designEvent(got, bad, "design.rejected")
		return ok1 && ok2 && ok3, fmt.Sprintf("shipped order: %s; cancelled order: %s; design events %v", s1, s2, ok3)
	})

	assertWhDeliveries(t, got, sub.Secret)
	assertSameEventSameBytes(t, got)
	assertOneEventPerChange(t, got)

	// One event per change, each with its own id and the object after the
	// change.
	statusAfter := map[string]string{
		"order.created": "ORDER_STATUS_PENDING", "order.paid": "ORDER_STATUS_PAID",
		"order.in_production": "ORDER_STATUS_IN_PRODUCTION", "order.shipped": "ORDER_STATUS_SHIPPED",
		"order.cancelled": "ORDER_STATUS_CANCELLED", "order.refunded": "ORDER_STATUS_CANCELLED",
	}
	seenIDs := map[string]string{}
	by := typesByOrder(got)
	for order, types := range want {
		for _, typ := range types {
			d := by[order][typ][0]
			if other, dup := seenIDs[d.eventID()]; dup {
				t.Errorf("event id %s carries both %s and %s", d.eventID(), other, typ)
			}
			seenIDs[d.eventID()] = typ
			if s := str(d.Event.Data, "order", "status"); s != statusAfter[typ] {
				t.Errorf("%s of order %s: data.order.status %s, want %s", typ, order, s, statusAfter[typ])
			}
			if _, isNumber := dig(d.Event.Data, "order", "total", "amount_minor").(float64); !isNumber {
				t.Errorf("%s: data.order.total.amount_minor is not a JSON number: %s", typ, secJSON(dig(d.Event.Data, "order", "total")))
			}
		}
	}
	for _, x := range []struct{ id, typ, status string }{{design, "design.ready", "DESIGN_STATUS_READY"}, {bad, "design.rejected", "DESIGN_STATUS_REJECTED"}} {
		i := slices.IndexFunc(got, func(d whReceived) bool { return d.Event.Type == x.typ && str(d.Event.Data, "design", "id") == x.id })
		d := got[i]
		if other, dup := seenIDs[d.eventID()]; dup {
			t.Errorf("event id %s carries both %s and %s", d.eventID(), other, x.typ)
		}
		seenIDs[d.eventID()] = x.typ
		if s := str(d.Event.Data, "design", "status"); s != x.status {
			t.Errorf("%s: data.design.status %s, want %s", x.typ, s, x.status)
		}
		if strings.Contains(string(d.Body), "X-Amz-Signature") || strings.Contains(string(d.Body), "X-Amz-Credential") {
			t.Errorf("%s carries a presigned URL: %s", x.typ, secClip(d.Body, 400))
		}
	}

	// The shipment: carrier, tracking number and URL, and every item.
	sh := by[shippedID]["order.shipped"][0]
	if str(sh.Event.Data, "shipment", "carrier") != "UPS" || str(sh.Event.Data, "shipment", "tracking_number") != tracking ||
		str(sh.Event.Data, "shipment", "tracking_url") != trackingURL {
		t.Errorf("order.shipped without the tracking: %s", secJSON(dig(sh.Event.Data, "shipment")))
	}
	var items []string
	for _, it := range asSlice(dig(produced, "items")) {
		items = append(items, str(it, "id"))
	}
	var shippedItems []string
	for _, it := range asSlice(dig(sh.Event.Data, "shipment", "items")) {
		shippedItems = append(shippedItems, str(it, "item_id"))
		if q, _ := num(dig(it, "quantity")); q != 1 {
			t.Errorf("shipment item %s quantity %v, want 1", str(it, "item_id"), dig(it, "quantity"))
		}
	}
	slices.Sort(items)
	slices.Sort(shippedItems)
	if len(items) == 0 || !slices.Equal(items, shippedItems) {
		t.Errorf("order.shipped items %v, want the order's items %v", shippedItems, items)
	}
	// The refund: the amount paid.
	rf := by[cancelledID]["order.refunded"][0]
	if amount(dig(rf.Event.Data, "refund")) != amount(cancelledTotal) || amount(cancelledTotal) <= 0 ||
		str(rf.Event.Data, "refund", "currency") != "USD" {
		t.Errorf("order.refunded refund %s, want the order's total %s", secJSON(dig(rf.Event.Data, "refund")), secJSON(cancelledTotal))
	}
	// The order as the API shows it.
	if api := e.api.must(t, http.StatusOK, http.MethodGet, "/v1/orders/"+shippedID, seller, nil); str(api, "id") != str(sh.Event.Data, "order", "id") ||
		secJSON(dig(api, "total")) != secJSON(dig(sh.Event.Data, "order", "total")) || secJSON(dig(api, "items")) != secJSON(dig(sh.Event.Data, "order", "items")) {
		t.Errorf("order.shipped's data.order differs from GET /v1/orders/%s:\n%s\n%s", shippedID, secJSON(sh.Event.Data["order"]), secJSON(api))
	}

	// The delivery log: every event the receiver got, succeeded, with the
	// answer's status and the latency; the same set of events on both sides.
	var log []map[string]any
	var at []whReceived
	eventually(t, 60*time.Second, "delivery log and receiver agree", func() (bool, string) {
		at = rcv.received(t)
		log = whDeliveries(t, e, seller, sub.ID)
		inLog := map[string]bool{}
		pending := 0
		for _, d := range log {
			inLog[str(d, "event_id")] = true
			if str(d, "status") != "DELIVERY_STATUS_SUCCEEDED" {
				pending++
			}
		}
		okIDs := okEventIDs(at)
		return pending == 0 && slices.Equal(keys(inLog), keys(okIDs)),
			fmt.Sprintf("%d rows (%d not succeeded), %d events answered 2xx at the receiver", len(log), pending, len(okIDs))
	})
	deliveryOf := map[string]string{}
	for _, d := range at {
		deliveryOf[d.eventID()] = d.deliveryID()
	}
	for _, d := range log {
		lat, hasLatency := num(d["latency_ms"])
		if code, _ := num(d["response_status"]); code != 200 || !hasLatency || lat < 0 || str(d, "delivered_at") == "" {
			t.Errorf("delivery log row without the answer: %s", secJSON(d))
		}
		if n, _ := num(d["attempts"]); n < 1 {
			t.Errorf("delivery log row with %v attempts: %s", d["attempts"], secJSON(d))
		}
		if str(d, "id") != deliveryOf[str(d, "event_id")] {
			t.Errorf("delivery log row %s of event %s; the receiver saw delivery id %s", str(d, "id"), str(d, "event_id"), deliveryOf[str(d, "event_id")])
		}
		if str(d, "webhook_id") != sub.ID {
			t.Errorf("delivery log row of webhook %q, want %s", str(d, "webhook_id"), sub.ID)
		}
	}
	assertNewestFirst(t, log)
	// Filters: by event id, and by status.
	one := e.api.must(t, http.StatusOK, http.MethodGet, "/v1/webhooks/"+sub.ID+"/deliveries?event_id="+sh.eventID(), seller, nil)
	if rows := asSlice(dig(one, "deliveries")); len(rows) != 1 || str(rows[0], "event_id") != sh.eventID() {
		t.Errorf("deliveries?event_id=%s lists %s", sh.eventID(), secJSON(rows))
	}
	none := e.api.must(t, http.StatusOK, http.MethodGet, "/v1/webhooks/"+sub.ID+"/deliveries?status=DELIVERY_STATUS_PENDING", seller, nil)
	if rows := asSlice(dig(none, "deliveries")); len(rows) != 0 {
		t.Errorf("deliveries?status=PENDING lists %d rows though all succeeded: %s", len(rows), secJSON(rows))
	}
	var lines []string
	for _, d := range at {
		if d.orderID() == shippedID || d.orderID() == cancelledID || d.Event.Type == "design.ready" || d.Event.Type == "design.rejected" {
			lines = append(lines, fmt.Sprintf("%s +%v", d.Event.Type, d.ReceivedAt.Sub(d.createdAt()).Round(time.Millisecond)))
		}
	}
	t.Logf("whole way: %d deliveries verified, %d log rows succeeded; received (lag after the change): %s", len(at), len(log), strings.Join(lines, ", "))
}

// TestWebhooksReceiverDown: the receiver answers 500 while three orders
// make their way, long enough for every event to be refused three times;
// then it answers 200. Every event arrives, each under one event id with
// one payload, retried with rising attempt numbers; the receiver's events
// are the delivery log's, all succeeded.
func TestWebhooksReceiverDown(t *testing.T) {
	e := need(t)
	t.Parallel()
	seller := secToken(t, newSubject("wh-down"), "user", time.Hour)
	whWaitAPI(t, e, seller)
	rcv := newWhReceiver(t, e, whMode{Status: http.StatusInternalServerError})
	sub := createWh(t, e, seller, rcv.URL, "*")

	downAt := time.Now()
	orders := whBlankOrders(t, e, seller, 1)
	rcv.waitReceived(t, 30*time.Second, "the first event refused", func(got []whReceived) (bool, string) {
		return len(got) > 0, "nothing yet"
	})
	orders = append(orders, whBlankOrders(t, e, seller, 2)...) // events keep coming while it is down
	const refusals = 3
	rcv.waitReceived(t, 60*time.Second, fmt.Sprintf("every event refused %d times", refusals), func(got []whReceived) (bool, string) {
		n := map[[2]string]int{}
		for _, d := range got {
			if d.Answered == http.StatusInternalServerError {
				n[[2]string{d.orderID(), d.Event.Type}]++
			}
		}
		var short []string
		for _, o := range orders {
			for _, typ := range whBlankTypes {
				if c := n[[2]string{o, typ}]; c < refusals {
					short = append(short, fmt.Sprintf("%s %s ×%d", o[len(o)-6:], typ, c))
				}
			}
		}
		return len(short) == 0, fmt.Sprint(short)
	})
	w := e.api.must(t, http.StatusOK, http.MethodGet, "/v1/webhooks/"+sub.ID, seller, nil)
	if str(w, "failing_since") == "" || str(w, "oldest_pending_at") == "" || str(w, "status") != "WEBHOOK_STATUS_ACTIVE" {
		t.Errorf("while every delivery fails: status %s failing_since %q oldest_pending_at %q, want ACTIVE and both set",
			str(w, "status"), str(w, "failing_since"), str(w, "oldest_pending_at"))
	}
	// The log while it is down: pending, the 500 recorded, a next attempt.
	for _, d := range whDeliveries(t, e, seller, sub.ID) {
		code, _ := num(d["response_status"])
		n, _ := num(d["attempts"])
		next, err := time.Parse(time.RFC3339Nano, str(d, "next_attempt_at"))
		if str(d, "status") != "DELIVERY_STATUS_PENDING" || code != http.StatusInternalServerError || n < refusals || err != nil ||
			next.Before(downAt) || str(d, "last_attempt_at") == "" || str(d, "delivered_at") != "" {
			t.Errorf("delivery log row while the receiver refuses: %s", secJSON(d))
		}
	}

	rcv.setMode(t, whOK)
	upAt := time.Now()
	rcv.waitReceived(t, 90*time.Second, "every event delivered once the receiver is back", func(got []whReceived) (bool, string) {
		return hasTypes(got, orders, whBlankTypes...)
	})
	deliveredIn := time.Since(upAt)

	got, log := whLogMatchesReceiver(t, e, rcv, seller, sub.ID)

	// Small pages list the same deliveries, newest first, each once.
	var paged []string
	next := ""
	for page := 0; page < 20; page++ {
		path := "/v1/webhooks/" + sub.ID + "/deliveries?page_size=2"
		if next != "" {
			path += "&page_token=" + url.QueryEscape(next)
		}
		body := e.api.must(t, http.StatusOK, http.MethodGet, path, seller, nil)
		for _, d := range asSlice(dig(body, "deliveries")) {
			paged = append(paged, str(d, "id"))
		}
		if next = str(body, "next_page_token"); next == "" {
			break
		}
	}
	var whole []string
	for _, d := range log {
		whole = append(whole, str(d, "id"))
	}
	if !slices.Equal(paged, whole) {
		t.Errorf("pages of 2 list %v, one page lists %v", paged, whole)
	}
	assertNewestFirst(t, log)

	assertWhDeliveries(t, got, sub.Secret)
	byEvent := assertSameEventSameBytes(t, got)
	assertOneEventPerChange(t, got)
	for id, ds := range byEvent {
		for i := 1; i < len(ds); i++ {
			if ds[i].attempt() <= ds[i-1].attempt() {
				t.Errorf("event %s: attempt %d after attempt %d", id, ds[i].attempt(), ds[i-1].attempt())
			}
		}
		if n := len(slices.DeleteFunc(slices.Clone(ds), func(d whReceived) bool { return !d.ok() })); n > 1 {
			t.Errorf("event %s answered 2xx %d times with no redelivery asked", id, n)
		}
	}
	retries := 0
	for _, d := range log {
		n, _ := num(d["attempts"])
		if recorded := len(byEvent[str(d, "event_id")]); int(n) != recorded {
			t.Errorf("log says %v attempts of event %s, the receiver recorded %d", n, str(d, "event_id"), recorded)
		}
		if code, _ := num(d["response_status"]); code != 200 {
			t.Errorf("delivery log row after recovery: %s", secJSON(d))
		}
		retries += int(n) - 1
	}
	eventually(t, 30*time.Second, "failing_since cleared", func() (bool, string) {
		w := e.api.must(t, http.StatusOK, http.MethodGet, "/v1/webhooks/"+sub.ID, seller, nil)
		return str(w, "failing_since") == "" && str(w, "status") == "WEBHOOK_STATUS_ACTIVE", secJSON(w)
	})
	t.Logf("receiver down %v (every event refused ≥ %d times), back up: %d events of %d orders all delivered %v later; %d deliveries recorded, %d retries, %d log rows",
		upAt.Sub(downAt).Round(time.Millisecond), refusals, len(byEvent), len(orders), deliveredIn.Round(time.Millisecond), len(got), retries, len(log))
}

// TestWebhooksKillDuringDelivery: the receiver hangs; as soon as a delivery
// is in flight the webhooks process is SIGKILLed; the receiver is healed and
// the process started again. Every event arrives (the deliveries in flight
// once their lease expires), under the same event ids and delivery ids.
//
// Not parallel: it runs among the sequential tests, so none that needs the
// webhooks process runs while it is down; it starts the process again if
// anything leaves it stopped.
func TestWebhooksKillDuringDelivery(t *testing.T) {
	e := need(t)
	if os.Getenv("PRINTFLEET_E2E_FAULTS") == "off" {
		t.Skip("PRINTFLEET_E2E_FAULTS=off")
	}
	whHealWebhooks(t, e)
	t.Cleanup(func() { whHealWebhooks(t, e) })
	seller := secToken(t, newSubject("wh-kill"), "user", time.Hour)
	whWaitAPI(t, e, seller)
	rcv := newWhReceiver(t, e, whMode{Status: http.StatusOK, Hang: true})
	sub := createWh(t, e, seller, rcv.URL, "*")

	orders := whBlankOrders(t, e, seller, 2)
	eventually(t, 30*time.Second, "a delivery in flight", func() (bool, string) {
		n, inFlight := rcv.stats(t)
		return inFlight >= 1, fmt.Sprintf("received %d, in flight %d", n, inFlight)
	})
	_, inFlight := rcv.stats(t)
	if err := e.fleet.Kill(whProc, syscall.SIGKILL, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	before := rcv.received(t)
	rcv.setMode(t, whOK)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := e.fleet.Restart(ctx, whProc, 90*time.Second); err != nil {
		t.Fatal(err)
	}
	restartedAt := time.Now()

	rcv.waitReceived(t, 90*time.Second, "every event after the restart", func(got []whReceived) (bool, string) {
		return hasTypes(got, orders, whBlankTypes...)
	})
	deliveredIn := time.Since(restartedAt)
	whWaitAPI(t, e, seller)
	got, log := whLogMatchesReceiver(t, e, rcv, seller, sub.ID)

	assertWhDeliveries(t, got, sub.Secret)
	byEvent := assertSameEventSameBytes(t, got)
	assertOneEventPerChange(t, got)
	// The deliveries cut by the kill: sent again, same event and delivery.
	var resent []string
	for _, h := range before {
		var again *whReceived
		for i := range got {
			if got[i].eventID() == h.eventID() && got[i].ok() {
				again = &got[i]
				break
			}
		}
		if again == nil {
			t.Errorf("the delivery cut by the kill (%s) never arrived again", h)
			continue
		}
		if again.deliveryID() != h.deliveryID() {
			t.Errorf("event %s: delivery id %s before the kill, %s after", h.eventID(), h.deliveryID(), again.deliveryID())
		}
		if again.attempt() <= h.attempt() {
			t.Errorf("event %s: attempt %d after the kill, %d before", h.eventID(), again.attempt(), h.attempt())
		}
		resent = append(resent, fmt.Sprintf("%s +%v", h.Header.Get("Printfleet-Event-Type"), again.ReceivedAt.Sub(killedAt).Round(time.Millisecond)))
	}
	if len(before) == 0 {
		t.Error("the receiver recorded no delivery before the kill though one was in flight")
	}
	t.Logf("SIGKILL of %s with %d deliveries in flight (%d recorded before); restarted %v later; all %d events of %d orders delivered %v after the restart (lease 6 s); re-sent after the kill: %s; %d log rows",
		whProc, inFlight, len(before), restartedAt.Sub(killedAt).Round(time.Millisecond), len(byEvent), len(orders),
		deliveredIn.Round(time.Millisecond), strings.Join(resent, ", "), len(log))
}

// TestWebhooksSlowEndpoint: one seller, two subscriptions: A answers after
// 2 s, B at once. About twenty events later, B's lag (event created_at →
// received_at) stays under 2 s at p99 while A's grows.
func TestWebhooksSlowEndpoint(t *testing.T) {
	e := need(t)
	t.Parallel()
	seller := secToken(t, newSubject("wh-slow"), "user", time.Hour)
	whWaitAPI(t, e, seller)
	slow := newWhReceiver(t, e, whMode{Status: http.StatusOK, DelayMS: 2000})
	fast := newWhReceiver(t, e, whOK)
	subA := createWh(t, e, seller, slow.URL, "*")
	subB := createWh(t, e, seller, fast.URL, "*")

	orders := whBlankOrders(t, e, seller, 7) // 21 events
	cond := func(got []whReceived) (bool, string) { return hasTypes(got, orders, whBlankTypes...) }
	gotB := fast.waitReceived(t, 60*time.Second, "every event at the healthy endpoint", cond)
	gotA := slow.waitReceived(t, 120*time.Second, "every event at the slow endpoint", cond)

	lags := func(got []whReceived) []time.Duration {
		first := map[string]time.Duration{}
		for _, d := range got {
			if _, seen := first[d.eventID()]; !seen && d.orderID() != "" && slices.Contains(orders, d.orderID()) {
				first[d.eventID()] = d.ReceivedAt.Sub(d.createdAt())
			}
		}
		out := make([]time.Duration, 0, len(first))
		for _, l := range first {
			out = append(out, l)
		}
		return out
	}
	lagA, lagB := lags(gotA), lags(gotB)
	r := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	t.Logf("slow endpoint A (answers after 2 s): %d events, lag p50 %v p99 %v max %v", len(lagA), r(quantile(lagA, 0.5)), r(quantile(lagA, 0.99)), r(quantile(lagA, 1)))
	t.Logf("healthy endpoint B:                 %d events, lag p50 %v p99 %v max %v", len(lagB), r(quantile(lagB, 0.5)), r(quantile(lagB, 0.99)), r(quantile(lagB, 1)))
	if p99 := quantile(lagB, 0.99); p99 >= 2*time.Second {
		t.Errorf("the healthy endpoint's p99 lag is %v (≥ 2 s) beside a slow one", r(p99))
	}
	if len(lagB) != 3*len(orders) || len(lagA) != 3*len(orders) {
		t.Errorf("events received: A %d, B %d, want %d each", len(lagA), len(lagB), 3*len(orders))
	}
	assertWhDeliveries(t, gotA, subA.Secret)
	assertWhDeliveries(t, gotB, subB.Secret)
	assertOneEventPerChange(t, gotA)
	assertOneEventPerChange(t, gotB)
	// The same events at both, under the same event ids, as two deliveries.
	idsA, idsB := okEventIDs(gotA), okEventIDs(gotB)
	if !slices.Equal(keys(idsA), keys(idsB)) {
		t.Errorf("the two subscriptions got different event ids:\nA %v\nB %v", keys(idsA), keys(idsB))
	}
	for _, a := range gotA {
		for _, b := range gotB {
			if a.eventID() == b.eventID() && a.deliveryID() == b.deliveryID() {
				t.Errorf("event %s: one delivery id %s for two subscriptions", a.eventID(), a.deliveryID())
			}
		}
	}
}

// connCounter is a loopback listener that counts the connections made to
// it: a guarded address must see none.
type connCounter struct {
	ln    net.Listener
	count atomic.Int64
}

func newConnCounter(t *testing.T) *connCounter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &connCounter{ln: ln}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.count.Add(1)
			_, _ = conn.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
			conn.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return c
}

// TestWebhooksSSRF: URLs naming internal addresses are refused at creation
// with 400 and a message that says why, and nothing is created; a receiver
// that redirects to a loopback listener gets its 302 recorded as a failed
// attempt, and the listener sees no connection.
func TestWebhooksSSRF(t *testing.T) {
	e := need(t)
	t.Parallel()
	seller := secToken(t, newSubject("wh-ssrf"), "user", time.Hour)
	whWaitAPI(t, e, seller)
	inside := newConnCounter(t)
	insideURL := "http://" + inside.ln.Addr().String() + "/hook"

	// Each refused with 400; all but the dotted IPv4-mapped literal (which
	// the request's URI rule refuses before the address guard sees it) with
	// a message that names the reason.
	corpus := []struct {
		url string
		why bool
	}{
		{"https://10.0.0.1/x", true},
		{"https://169.254.169.254/", true},
		{"https://[::1]/", true},
		{"https://[fc00::1]/", true},
		{"https://localhost/", true},
		{"https://127.0.0.1/", true},
		{"https://192.168.1.1/", true},
		{"https://172.16.0.1/", true},
		{"https://100.64.0.1/", true},
		{"https://[fe80::1]/", true},
		{"https://[::ffff:a00:1]/", true},      // IPv4-mapped 10.0.0.1
		{"https://[64:ff9b::a00:1]/", true},    // NAT64 of 10.0.0.1
		{"https://[::ffff:127.0.0.1]/", false}, // IPv4-mapped loopback, dotted
		{insideURL, true},                      // loopback on a port the development allow list does not name
	}
	for _, c := range corpus {
		r := e.api.do(t, http.MethodPost, "/v1/webhooks", seller, map[string]any{"url": c.url, "event_types": []string{"*"}})
		if msg := checkErrorBody(r, http.StatusBadRequest, "INVALID_ARGUMENT"); msg != "" {
			t.Errorf("POST /v1/webhooks %s: %s", c.url, msg)
			continue
		}
		var eb secErrorBody
		_ = json.Unmarshal(r.Body, &eb)
		m := strings.ToLower(eb.Error.Message)
		if c.why && !containsAny(m, "address", "private", "loopback", "link-local", "internal", "not allowed", "blocked", "refused", "reserved", "local") {
			t.Errorf("POST /v1/webhooks %s: 400 without a message that says why: %q", c.url, eb.Error.Message)
		}
		t.Logf("%-30s → %d %s", c.url, r.Status, eb.Error.Message)
	}
	if list := whList(t, e, seller, ""); len(list) != 0 {
		t.Errorf("refused URLs left %d webhooks: %s", len(list), secJSON(list))
	}

	// A redirect to the loopback listener: an answer, a failure, never
	// followed.
	rcv := newWhReceiver(t, e, whMode{Status: http.StatusFound, RedirectTo: insideURL})
	sub := createWh(t, e, seller, rcv.URL, "order.created")
	whBlankOrders(t, e, seller, 1)
	var row map[string]any
	eventually(t, 60*time.Second, "the redirect attempted twice and recorded as a failure", func() (bool, string) {
		log := whDeliveries(t, e, seller, sub.ID)
		if len(log) == 0 {
			return false, "no delivery yet"
		}
		row = log[0]
		n, _ := num(row["attempts"])
		return n >= 2, secJSON(row)
	})
	if code, _ := num(row["response_status"]); code != http.StatusFound || str(row, "status") == "DELIVERY_STATUS_SUCCEEDED" {
		t.Errorf("a 302 answer must be a failed attempt with its status: %s", secJSON(row))
	}
	for _, d := range rcv.received(t) {
		if d.Answered != http.StatusFound {
			t.Errorf("redirecting receiver answered %d", d.Answered)
		}
	}
	e.api.must(t, http.StatusOK, http.MethodDelete, "/v1/webhooks/"+sub.ID, seller, nil)
	if r := e.api.do(t, http.MethodGet, "/v1/webhooks/"+sub.ID, seller, nil); r.Status != http.StatusNotFound {
		t.Errorf("GET a deleted webhook: %d %s", r.Status, secClip(r.Body, 200))
	}
	if list := whList(t, e, seller, ""); len(list) != 0 {
		t.Errorf("the list after the delete holds %d webhooks", len(list))
	}
	if n := inside.count.Load(); n != 0 {
		t.Errorf("the loopback listener behind the refused URLs and the redirect saw %d connections", n)
	}
	t.Logf("%d URLs refused, redirect not followed (%v attempts, status %v); loopback listener connections: %d",
		len(corpus), row["attempts"], row["response_status"], inside.count.Load())
}

// whLogMatchesReceiver waits until every delivery in the subscription's log
// succeeded and the log names exactly the events the receiver answered 2xx
// to; it returns what the receiver got and the log.
func whLogMatchesReceiver(t *testing.T, e *environment, rcv *whReceiver, seller, webhookID string) ([]whReceived, []map[string]any) {
	t.Helper()
	var got []whReceived
	var log []map[string]any
	eventually(t, 60*time.Second, "delivery log and receiver agree", func() (bool, string) {
		got = rcv.received(t)
		log = whDeliveries(t, e, seller, webhookID)
		inLog := map[string]bool{}
		pending := 0
		for _, d := range log {
			inLog[str(d, "event_id")] = true
			if str(d, "status") != "DELIVERY_STATUS_SUCCEEDED" {
				pending++
			}
		}
		okIDs := okEventIDs(got)
		return pending == 0 && slices.Equal(keys(inLog), keys(okIDs)),
			fmt.Sprintf("%d rows (%d not succeeded), %d events answered 2xx at the receiver", len(log), pending, len(okIDs))
	})
	return got, log
}

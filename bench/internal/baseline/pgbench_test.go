package baseline

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/printfleet/printfleet/platform/outbox"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	"github.com/printfleet/printfleet/services/orders/sqlstmt"
)

// The script runs exactly the store's create path:
// sqlstmt.CreateOrderBatch in the store's order, then what platform/outbox
// queues for a new order's events (OrderPlaced and the gated order.created
// notice); every binding the bench holds is used.
func TestStatementsAreTheStores(t *testing.T) {
	t.Parallel()
	batch, err := createOrderStatements()
	if err != nil {
		t.Fatal(err)
	}
	ob := &pgx.Batch{}
	if err := outbox.Queue(context.Background(), ob,
		outbox.Event{Type: eventsv1.KeyOrderPlaced, Payload: &eventsv1.OrderPlaced{}},
		outbox.Event{Type: eventsv1.KeyOrderNotice, Payload: &eventsv1.OrderNotice{}, Gate: sqlstmt.SubscriberGate("u")}); err != nil {
		t.Fatal(err)
	}
	want := sqlstmt.CreateOrderBatch()
	for _, q := range ob.QueuedQueries {
		want = append(want, q.SQL)
	}
	var got []string
	for _, st := range batch {
		got = append(got, st.sql)
	}
	if !slices.Equal(got, want) {
		t.Errorf("the batch runs\n%s\nwant\n%s", strings.Join(got, ";\n"), strings.Join(want, ";\n"))
	}
	used := map[string]bool{}
	for _, sql := range got {
		used[sql] = true
	}
	for _, st := range storeStatements {
		if !used[st.sql] {
			t.Errorf("%s is bound but no longer on the store's create path", st.name)
		}
	}
}

// A statement the store gains on its create path stops the script instead
// of being left out of it.
func TestAnUnboundStatementIsRefused(t *testing.T) {
	t.Parallel()
	if _, err := storeStatement("UPDATE orders SET version = version + 1"); err == nil {
		t.Error("a statement without bound variables was accepted")
	}
}

func TestPgbenchScript(t *testing.T) {
	t.Parallel()
	s, err := PgbenchScript()
	if err != nil {
		t.Fatal(err)
	}
	// No $n survives; every :variable is defined by -D, by the \gset query
	// or by pgbench itself.
	if placeholder.MatchString(strings.ReplaceAll(s, idsQuery, "")) {
		t.Errorf("a $n parameter survived:\n%s", s)
	}
	defined := DefaultOrderValues.Defines()
	for _, v := range []string{"order_id", "item_ids", "event_id", "outbox_id", "notice_id", "idem_key", "user_id", "created_at", "empty", "client_id"} {
		defined[v] = "set by the script"
	}
	batch, err := createOrderStatements()
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range batch {
		for _, a := range st.args {
			if _, ok := defined[a]; !ok {
				t.Errorf("%s binds :%s, which nothing defines", st.name, a)
			}
		}
	}
	// Two round trips: ids, then the pipeline (one implicit transaction).
	for _, want := range []string{`\gset`, "\\startpipeline\nINSERT INTO idempotency_keys", "\\endpipeline\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %q:\n%s", want, s)
		}
	}
	if got := strings.Count(s, ";\n"); got != len(batch) {
		t.Errorf("%d statements, want the %d batched", got, len(batch))
	}
	if !strings.Contains(s, "VALUES (:order_id, :user_id, :status, :currency,") {
		t.Errorf("order insert not bound as expected:\n%s", s)
	}
}

func TestBindRejectsAMismatch(t *testing.T) {
	t.Parallel()
	if _, err := bind(orderStatement{"x", "SELECT $1, $2", []string{"a"}}); err == nil {
		t.Error("an unbound $2 was accepted")
	}
	if _, err := bind(orderStatement{"x", "SELECT $1", []string{"a", "b"}}); err == nil {
		t.Error("an extra variable was accepted")
	}
	got, err := bind(orderStatement{"x", " SELECT $1, $10, $1 ", []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}})
	if err != nil || got != "SELECT :a, :j, :a" {
		t.Errorf("bind = %q, %v", got, err)
	}
}

func TestParsePgbench(t *testing.T) {
	t.Parallel()
	out := `pgbench (15.20 (Debian 15.20-0+deb12u1))
transaction type: order-create.pgbench.sql
number of clients: 8
number of transactions actually processed: 18234
number of failed transactions: 2 (0.011%)
latency average = 4.388 ms
initial connection time = 12.304 ms
tps = 1823.112345 (without initial connection time)
`
	r, err := ParsePgbenchSummary(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.TPS != 1823.112345 || r.Processed != 18234 || r.Failed != 2 {
		t.Errorf("parsed %+v", r)
	}
	if _, err := ParsePgbenchSummary("pgbench: error: connection refused"); err == nil {
		t.Error("a report without tps parsed")
	}
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, []byte("0 1 4200 0 1700000000 123\n0 2 failed 0 1700000000 456\n1 1 1500 0 1700000000 789\n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(path)
	defer f.Close()
	if err := ParsePgbenchLog(f, &r.Latency); err != nil {
		t.Fatal(err)
	}
	if r.Latency.Count() != 2 || r.Latency.Max() != 4200*1000 || r.Latency.Min() != 1500*1000 {
		t.Errorf("log parsed to %d values, %v..%v", r.Latency.Count(), r.Latency.Min(), r.Latency.Max())
	}
}

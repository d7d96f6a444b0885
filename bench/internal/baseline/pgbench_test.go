package baseline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The pgbench script runs exactly the store's SQL: every statement copied
// here is byte for byte a statement of the store (or of platform/outbox),
// and the store's create path has no statement the copy lacks.
func TestOrderSQLMatchesStore(t *testing.T) {
	t.Parallel()
	if err := CheckOrderSQL(filepath.Join("..", "..", "..")); err != nil {
		t.Errorf("the copy in ordersql.go is out of date: %v", err)
	}
}

// The check notices a changed statement.
func TestCheckOrderSQLNoticesDrift(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..", "..")
	src, err := os.ReadFile(filepath.Join(root, "services", "orders", "internal", "store", "postgres", "store.go"))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	for _, dir := range []string{filepath.Join("services", "orders", "internal", "store", "postgres"), filepath.Join("platform", "outbox")} {
		if err := os.MkdirAll(filepath.Join(tmp, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ob, err := os.ReadFile(filepath.Join(root, "platform", "outbox", "outbox.go"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "platform", "outbox", "outbox.go"), ob, 0o644); err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(src), "locked_until = now()\n", "locked_until = clock_timestamp()\n", 1)
	if changed == string(src) {
		t.Fatal("the store no longer has the statement this test edits")
	}
	if err := os.WriteFile(filepath.Join(tmp, "services", "orders", "internal", "store", "postgres", "store.go"), []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckOrderSQL(tmp); err == nil || !strings.Contains(err.Error(), "complete idempotency key") {
		t.Errorf("an edited statement passed the check: %v", err)
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
	for _, v := range []string{"order_id", "item_ids", "event_id", "outbox_id", "idem_key", "user_id", "created_at", "empty", "client_id"} {
		defined[v] = "set by the script"
	}
	for _, st := range append([]orderStatement{createOrderClaim}, createOrderBatch...) {
		for _, a := range st.args {
			if _, ok := defined[a]; !ok {
				t.Errorf("%s binds :%s, which nothing defines", st.name, a)
			}
		}
	}
	// Four round trips: ids (BEGIN's), claim, the pipeline, COMMIT.
	for _, want := range []string{`\gset`, "RETURNING true;\n\\startpipeline\nBEGIN;\n", "SELECT pg_notify('printfleet_outbox', '');\n\\endpipeline\nCOMMIT;\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %q:\n%s", want, s)
		}
	}
	if got := strings.Count(s, ";\n"); got != 2+len(createOrderBatch)+1 {
		t.Errorf("%d statements, want claim + BEGIN + %d batched + COMMIT", got, len(createOrderBatch))
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

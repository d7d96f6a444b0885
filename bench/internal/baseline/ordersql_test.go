package baseline

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// sqlStrings folds every string expression in file (literals, and + of
// literals and the file's string constants) and returns them per function
// ("" for package level).
func sqlStrings(t *testing.T, path string) map[string][]string {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read the store's source: %v", err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), path, src, 0)
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]string{}
	for _, d := range f.Decls {
		if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.CONST {
			for _, sp := range g.Specs {
				vs := sp.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i < len(vs.Values) {
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							consts[n.Name], _ = strconv.Unquote(lit.Value)
						}
					}
				}
			}
		}
	}
	var fold func(e ast.Expr) (string, bool)
	fold = func(e ast.Expr) (string, bool) {
		switch e := e.(type) {
		case *ast.BasicLit:
			if e.Kind != token.STRING {
				return "", false
			}
			s, err := strconv.Unquote(e.Value)
			return s, err == nil
		case *ast.Ident:
			s, ok := consts[e.Name]
			return s, ok
		case *ast.BinaryExpr:
			if e.Op != token.ADD {
				return "", false
			}
			a, ok1 := fold(e.X)
			b, ok2 := fold(e.Y)
			return a + b, ok1 && ok2
		}
		return "", false
	}
	out := map[string][]string{}
	for _, d := range f.Decls {
		name := ""
		if fd, ok := d.(*ast.FuncDecl); ok {
			name = fd.Name.Name
		}
		ast.Inspect(d, func(n ast.Node) bool {
			e, ok := n.(ast.Expr)
			if !ok {
				return true
			}
			if s, ok := fold(e); ok {
				if isSQL(s) {
					out[name] = append(out[name], s)
				}
				return false // not the parts of a folded expression again
			}
			return true
		})
	}
	return out
}

func isSQL(s string) bool {
	s = strings.ToUpper(strings.TrimSpace(s))
	for _, p := range []string{"INSERT ", "UPDATE ", "SELECT ", "DELETE ", "WITH "} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// The pgbench script runs exactly the store's SQL: every statement copied
// here is byte for byte a statement of the store (or of platform/outbox),
// and the store's create path has no statement the copy lacks.
func TestOrderSQLMatchesStore(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..", "..")
	store := sqlStrings(t, filepath.Join(root, "services", "orders", "internal", "store", "postgres", "store.go"))
	outbox := sqlStrings(t, filepath.Join(root, "platform", "outbox", "outbox.go"))

	// Round trip 1: the first statement of ClaimIdempotencyKey.
	claim := store["ClaimIdempotencyKey"]
	if len(claim) == 0 || claim[0] != sqlClaimIdempotencyKey {
		t.Errorf("ClaimIdempotencyKey's claim statement changed; update sqlClaimIdempotencyKey.\nstore:\n%q\ncopy:\n%q", first(claim), sqlClaimIdempotencyKey)
	}
	// Round trip 3: CreateOrder and the helpers it queues with, in order.
	var storeBatch []string
	for _, fn := range []string{"CreateOrder", "queueItems", "queueTimeline"} {
		if len(store[fn]) == 0 {
			t.Fatalf("the store has no SQL in %s any more: the create path moved; revisit ordersql.go", fn)
		}
		storeBatch = append(storeBatch, store[fn]...)
	}
	storeBatch = append(storeBatch, outbox["Queue"]...) // insertSQL and the wake-up
	var copied []string
	for _, st := range createOrderBatch {
		copied = append(copied, st.sql)
	}
	if !slices.Equal(storeBatch, copied) {
		t.Errorf("the create-order batch differs from the store's:\nstore (%d):\n%s\ncopy (%d):\n%s",
			len(storeBatch), strings.Join(storeBatch, "\n----"), len(copied), strings.Join(copied, "\n----"))
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return "<none>"
	}
	return s[0]
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

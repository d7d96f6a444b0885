package baseline

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// sqlStrings folds every string expression in file (literals, and + of
// literals and the file's string constants) and returns them per function
// ("" for package level).
func sqlStrings(path string) (map[string][]string, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := parser.ParseFile(token.NewFileSet(), path, src, 0)
	if err != nil {
		return nil, err
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
	return out, nil
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

// CheckOrderSQL compares the copied statements with the orders store's
// and platform/outbox's source under root: every statement byte for byte,
// in order, none missing or extra. The harness refuses to run pgbench on
// a stale copy.
func CheckOrderSQL(root string) error {
	store, err := sqlStrings(filepath.Join(root, "services", "orders", "internal", "store", "postgres", "store.go"))
	if err != nil {
		return fmt.Errorf("read the orders store: %w", err)
	}
	ob, err := sqlStrings(filepath.Join(root, "platform", "outbox", "outbox.go"))
	if err != nil {
		return fmt.Errorf("read platform/outbox: %w", err)
	}
	// Round trip 1: the first statement of ClaimIdempotencyKey.
	if claim := store["ClaimIdempotencyKey"]; len(claim) == 0 || claim[0] != sqlClaimIdempotencyKey {
		return fmt.Errorf("ClaimIdempotencyKey's claim statement differs from sqlClaimIdempotencyKey")
	}
	// Round trip 3: CreateOrder and the helpers it queues with, in order,
	// then outbox.Queue (its insert and the wake-up).
	var want []string
	for _, fn := range []string{"CreateOrder", "queueItems", "queueTimeline"} {
		if len(store[fn]) == 0 {
			return fmt.Errorf("the orders store has no SQL in %s any more: the create path moved", fn)
		}
		want = append(want, store[fn]...)
	}
	want = append(want, ob["Queue"]...)
	if len(want) != len(createOrderBatch) {
		return fmt.Errorf("the store's create batch has %d statements, the copy %d", len(want), len(createOrderBatch))
	}
	for i, st := range createOrderBatch {
		if st.sql != want[i] {
			return fmt.Errorf("statement %d (%s) differs from the store's:\n%s", i+1, st.name, strings.TrimSpace(want[i]))
		}
	}
	return nil
}

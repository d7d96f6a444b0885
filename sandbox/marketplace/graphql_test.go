package marketplace

import (
	"strings"
	"testing"
)

func TestParseAndValidate(t *testing.T) {
	t.Parallel()
	readFOs := `query FOs($id: ID!) { order(id: $id) { id fulfillmentOrders(first: 5) { nodes { id status lineItems(first: 10) { nodes { id remainingQuantity } } } } } }`
	tests := []struct {
		name    string
		query   string
		vars    map[string]any
		wantErr string // substring; empty means valid
	}{
		{"read fulfillment orders", readFOs, map[string]any{"id": "gid://shopify/Order/1"}, ""},
		{"anonymous query with literal and alias", `{ o: order(id: "gid://shopify/Order/1") { id __typename } }`, nil, ""},
		{"comments and commas", "# hi\nquery { order(id: \"gid://shopify/Order/1\"), { id, name } }", nil, ""},
		{"mutation", `mutation M($f: FulfillmentInput!) { fulfillmentCreate(fulfillment: $f) { fulfillment { id } userErrors { field message } } }`, map[string]any{"f": map[string]any{}}, ""},
		{"garbage", `hello world`, nil, "Parse error"},
		{"unbalanced", `query { order(id: "x") { id }`, nil, "Parse error"},
		{"unterminated string", `query { order(id: "x) { id } }`, nil, "Parse error"},
		{"fragment", `query { order(id: "x") { ...F } }`, nil, "fragments"},
		{"directive", `query { order(id: "x") @include(if: true) { id } }`, nil, "directives"},
		{"unknown field", `query { order(id: "x") { id bogus } }`, nil, "Field 'bogus' doesn't exist on type 'Order'"},
		{"unknown root", `query { products(first: 1) { nodes { id } } }`, nil, "doesn't exist on type 'QueryRoot'"},
		{"unknown argument", `query { order(id: "x", foo: 1) { id } }`, nil, "doesn't accept argument 'foo'"},
		{"object without selection", `query { order(id: "x") }`, nil, "must have selections"},
		{"scalar with selection", `query { order(id: "x") { id { x } } }`, nil, "Selections can't be made on scalars"},
		{"connection without first", `query { order(id: "x") { fulfillmentOrders { nodes { id } } } }`, nil, "first or last"},
		{"page too big", `query { order(id: "x") { fulfillmentOrders(first: 500) { nodes { id } } } }`, nil, "maximum of 250"},
		{"missing variable", readFOs, nil, "Variable $id of type ID! was provided invalid value"},
		{"wrong variable type", readFOs, map[string]any{"id": true}, "expected a string"},
		{"undeclared variable", `query { order(id: $id) { id } }`, nil, "not declared"},
		{"unused variable", `query Q($x: ID) { order(id: "x") { id } }`, nil, "declared by Q but not used"},
		{"two operations unnamed", `query A { order(id: "x") { id } } query B { order(id: "y") { id } }`, nil, "operation name is required"},
		{"subscription", `subscription { order(id: "x") { id } }`, nil, "not supported"},
		{"empty", ``, nil, "No query string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := prepare(gqlRequest{Query: tc.query, Variables: tc.vars})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("accepted, want error %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Message, tc.wantErr):
				t.Fatalf("error %q, want it to contain %q", err.Message, tc.wantErr)
			}
		})
	}
}

func TestRequestedCost(t *testing.T) {
	t.Parallel()
	q := `query($id: ID!) { order(id: $id) { id fulfillmentOrders(first: 5) { nodes { id lineItems(first: 10) { nodes { id } } } } } }`
	op, vars, root, err := prepare(gqlRequest{Query: q, Variables: map[string]any{"id": "gid://shopify/Order/1"}})
	if err != nil {
		t.Fatal(err)
	}
	// order 1 + connection 2 + 5 × (node 1 + connection 2 + 10 × node 1)
	if got := requestedCost(root, op.sel, vars); got != 68 {
		t.Fatalf("requested cost = %d, want 68", got)
	}
}

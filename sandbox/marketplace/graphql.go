package marketplace

// A small GraphQL reader for the Shopify stand-in. It is not a general GraphQL
// server: it lexes and parses one operation (variables, arguments, aliases, nested
// selections), checks the selection against the few types the stand-in serves,
// coerces variables, and projects resolved objects onto the selection. Fragments and
// directives are refused rather than misread.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// gqlError is a GraphQL error as it appears in the "errors" list.
type gqlError struct {
	Message    string         `json:"message"`
	Locations  []gqlLocation  `json:"locations,omitempty"`
	Path       []any          `json:"path,omitempty"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

type gqlLocation struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

func (e *gqlError) Error() string { return e.Message }

// --- lexer ---

type tokKind int

const (
	tEOF tokKind = iota
	tPunct
	tName
	tInt
	tFloat
	tString
)

type token struct {
	kind tokKind
	val  string
	pos  int
}

func lex(src string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',':
			i++
		case c == '#':
			for i < len(src) && src[i] != '\n' && src[i] != '\r' {
				i++
			}
		case strings.HasPrefix(src[i:], "\ufeff"):
			i += len("\ufeff")
		case strings.HasPrefix(src[i:], "..."):
			toks = append(toks, token{tPunct, "...", i})
			i += 3
		case strings.IndexByte("!$&():=@[]{}|", c) >= 0:
			toks = append(toks, token{tPunct, string(c), i})
			i++
		case c == '_' || isLetter(c):
			j := i + 1
			for j < len(src) && (src[j] == '_' || isLetter(src[j]) || isDigit(src[j])) {
				j++
			}
			toks = append(toks, token{tName, src[i:j], i})
			i = j
		case c == '-' || isDigit(c):
			j := i
			if src[j] == '-' {
				j++
			}
			start := j
			for j < len(src) && isDigit(src[j]) {
				j++
			}
			if j == start || (src[start] == '0' && j-start > 1) {
				return nil, syntaxErr(src, i, "invalid number")
			}
			kind := tInt
			if j < len(src) && src[j] == '.' {
				kind = tFloat
				j++
				k := j
				for j < len(src) && isDigit(src[j]) {
					j++
				}
				if j == k {
					return nil, syntaxErr(src, i, "invalid number")
				}
			}
			if j < len(src) && (src[j] == 'e' || src[j] == 'E') {
				kind = tFloat
				j++
				if j < len(src) && (src[j] == '+' || src[j] == '-') {
					j++
				}
				k := j
				for j < len(src) && isDigit(src[j]) {
					j++
				}
				if j == k {
					return nil, syntaxErr(src, i, "invalid number")
				}
			}
			if j < len(src) && (src[j] == '_' || isLetter(src[j]) || src[j] == '.') {
				return nil, syntaxErr(src, i, "invalid number")
			}
			toks = append(toks, token{kind, src[i:j], i})
			i = j
		case strings.HasPrefix(src[i:], `"""`):
			end := strings.Index(src[i+3:], `"""`)
			if end < 0 {
				return nil, syntaxErr(src, i, "unterminated string")
			}
			toks = append(toks, token{tString, src[i+3 : i+3+end], i})
			i += 6 + end
		case c == '"':
			j := i + 1
			for j < len(src) && src[j] != '"' {
				if src[j] == '\\' {
					j++
				}
				if j < len(src) && (src[j] == '\n' || src[j] == '\r') {
					return nil, syntaxErr(src, i, "unterminated string")
				}
				j++
			}
			if j >= len(src) {
				return nil, syntaxErr(src, i, "unterminated string")
			}
			var s string
			if err := json.Unmarshal([]byte(src[i:j+1]), &s); err != nil {
				return nil, syntaxErr(src, i, "invalid string")
			}
			toks = append(toks, token{tString, s, i})
			i = j + 1
		default:
			return nil, syntaxErr(src, i, fmt.Sprintf("unexpected character %q", c))
		}
	}
	return append(toks, token{tEOF, "", len(src)}), nil
}

func isLetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

func location(src string, pos int) gqlLocation {
	line, col := 1, 1
	for i := 0; i < pos && i < len(src); i++ {
		if src[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return gqlLocation{Line: line, Column: col}
}

func syntaxErr(src string, pos int, msg string) *gqlError {
	return &gqlError{Message: "Parse error: " + msg, Locations: []gqlLocation{location(src, pos)},
		Extensions: map[string]any{"code": "PARSE_ERROR"}}
}

// --- syntax tree ---

type operation struct {
	kind string // query or mutation
	name string
	vars []varDef
	sel  []*field
}

type varDef struct {
	name   string
	typ    typeRef
	def    *value
	hasDef bool
}

type typeRef struct {
	name    string
	elem    *typeRef
	nonNull bool
}

func (t typeRef) String() string {
	s := t.name
	if t.elem != nil {
		s = "[" + t.elem.String() + "]"
	}
	if t.nonNull {
		s += "!"
	}
	return s
}

type field struct {
	alias, name string
	args        []argument
	sel         []*field
	hasSel      bool
	pos         int
}

func (f *field) key() string {
	if f.alias != "" {
		return f.alias
	}
	return f.name
}

type argument struct {
	name string
	val  value
}

type valueKind int

const (
	vVariable valueKind = iota
	vInt
	vFloat
	vString
	vBool
	vNull
	vEnum
	vList
	vObject
)

type value struct {
	kind   valueKind
	raw    string
	list   []value
	fields []argument
}

// --- parser ---

type parser struct {
	src  string
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) is(kind tokKind, val string) bool {
	t := p.peek()
	return t.kind == kind && (val == "" || t.val == val)
}

func (p *parser) expect(kind tokKind, val string) (token, error) {
	t := p.next()
	if t.kind != kind || (val != "" && t.val != val) {
		want := val
		if want == "" {
			want = map[tokKind]string{tName: "a name", tString: "a string"}[kind]
		}
		got := t.val
		if t.kind == tEOF {
			got = "end of document"
		}
		return t, syntaxErr(p.src, t.pos, fmt.Sprintf("expected %s, got %q", want, got))
	}
	return t, nil
}

// parseDocument parses every operation in src and returns the one to run.
func parseDocument(src, operationName string) (*operation, error) {
	if strings.TrimSpace(src) == "" {
		return nil, &gqlError{Message: "No query string was present"}
	}
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{src: src, toks: toks}
	var ops []*operation
	for !p.is(tEOF, "") {
		op, err := p.operation()
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	switch {
	case operationName != "":
		for _, op := range ops {
			if op.name == operationName {
				return op, nil
			}
		}
		return nil, &gqlError{Message: fmt.Sprintf("No operation named %q", operationName)}
	case len(ops) > 1:
		return nil, &gqlError{Message: "An operation name is required when the document has more than one operation"}
	}
	return ops[0], nil
}

func (p *parser) operation() (*operation, error) {
	op := &operation{kind: "query"}
	if p.is(tPunct, "{") {
		sel, err := p.selectionSet()
		op.sel = sel
		return op, err
	}
	t := p.next()
	switch {
	case t.kind == tName && (t.val == "query" || t.val == "mutation"):
		op.kind = t.val
	case t.kind == tName && t.val == "fragment":
		return nil, syntaxErr(p.src, t.pos, "fragments are not supported by this sandbox")
	case t.kind == tName && t.val == "subscription":
		return nil, syntaxErr(p.src, t.pos, "subscriptions are not supported")
	default:
		return nil, syntaxErr(p.src, t.pos, fmt.Sprintf("unexpected %q, expected query or mutation", t.val))
	}
	if p.is(tName, "") {
		op.name = p.next().val
	}
	if p.is(tPunct, "(") {
		p.next()
		for !p.is(tPunct, ")") {
			v, err := p.varDef()
			if err != nil {
				return nil, err
			}
			op.vars = append(op.vars, v)
		}
		p.next()
	}
	if p.is(tPunct, "@") {
		return nil, syntaxErr(p.src, p.peek().pos, "directives are not supported by this sandbox")
	}
	sel, err := p.selectionSet()
	op.sel = sel
	return op, err
}

func (p *parser) varDef() (varDef, error) {
	if _, err := p.expect(tPunct, "$"); err != nil {
		return varDef{}, err
	}
	name, err := p.expect(tName, "")
	if err != nil {
		return varDef{}, err
	}
	if _, err := p.expect(tPunct, ":"); err != nil {
		return varDef{}, err
	}
	typ, err := p.typeRef()
	if err != nil {
		return varDef{}, err
	}
	v := varDef{name: name.val, typ: typ}
	if p.is(tPunct, "=") {
		p.next()
		def, err := p.value(true)
		if err != nil {
			return varDef{}, err
		}
		v.def, v.hasDef = &def, true
	}
	return v, nil
}

func (p *parser) typeRef() (typeRef, error) {
	var t typeRef
	if p.is(tPunct, "[") {
		p.next()
		elem, err := p.typeRef()
		if err != nil {
			return t, err
		}
		if _, err := p.expect(tPunct, "]"); err != nil {
			return t, err
		}
		t.elem = &elem
	} else {
		name, err := p.expect(tName, "")
		if err != nil {
			return t, err
		}
		t.name = name.val
	}
	if p.is(tPunct, "!") {
		p.next()
		t.nonNull = true
	}
	return t, nil
}

func (p *parser) selectionSet() ([]*field, error) {
	open, err := p.expect(tPunct, "{")
	if err != nil {
		return nil, err
	}
	var sel []*field
	for !p.is(tPunct, "}") {
		if p.is(tPunct, "...") {
			return nil, syntaxErr(p.src, p.peek().pos, "fragments are not supported by this sandbox")
		}
		f, err := p.field()
		if err != nil {
			return nil, err
		}
		sel = append(sel, f)
	}
	p.next()
	if len(sel) == 0 {
		return nil, syntaxErr(p.src, open.pos, "empty selection set")
	}
	return sel, nil
}

func (p *parser) field() (*field, error) {
	name, err := p.expect(tName, "")
	if err != nil {
		return nil, err
	}
	f := &field{name: name.val, pos: name.pos}
	if p.is(tPunct, ":") {
		p.next()
		real, err := p.expect(tName, "")
		if err != nil {
			return nil, err
		}
		f.alias, f.name = f.name, real.val
	}
	if p.is(tPunct, "(") {
		p.next()
		args, err := p.arguments(")", false)
		if err != nil {
			return nil, err
		}
		f.args = args
	}
	if p.is(tPunct, "@") {
		return nil, syntaxErr(p.src, p.peek().pos, "directives are not supported by this sandbox")
	}
	if p.is(tPunct, "{") {
		sel, err := p.selectionSet()
		if err != nil {
			return nil, err
		}
		f.sel, f.hasSel = sel, true
	}
	return f, nil
}

// arguments parses "name: value" pairs up to the closing punctuation close,
// which it consumes: a field's arguments and an input object's fields.
func (p *parser) arguments(close string, constant bool) ([]argument, error) {
	var out []argument
	for !p.is(tPunct, close) {
		name, err := p.expect(tName, "")
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tPunct, ":"); err != nil {
			return nil, err
		}
		v, err := p.value(constant)
		if err != nil {
			return nil, err
		}
		out = append(out, argument{name.val, v})
	}
	p.next()
	return out, nil
}

func (p *parser) value(constant bool) (value, error) {
	t := p.next()
	switch {
	case t.kind == tPunct && t.val == "$" && !constant:
		name, err := p.expect(tName, "")
		return value{kind: vVariable, raw: name.val}, err
	case t.kind == tInt:
		return value{kind: vInt, raw: t.val}, nil
	case t.kind == tFloat:
		return value{kind: vFloat, raw: t.val}, nil
	case t.kind == tString:
		return value{kind: vString, raw: t.val}, nil
	case t.kind == tName && (t.val == "true" || t.val == "false"):
		return value{kind: vBool, raw: t.val}, nil
	case t.kind == tName && t.val == "null":
		return value{kind: vNull}, nil
	case t.kind == tName:
		return value{kind: vEnum, raw: t.val}, nil
	case t.kind == tPunct && t.val == "[":
		v := value{kind: vList}
		for !p.is(tPunct, "]") {
			if p.is(tEOF, "") {
				return v, syntaxErr(p.src, t.pos, "unterminated list")
			}
			e, err := p.value(constant)
			if err != nil {
				return v, err
			}
			v.list = append(v.list, e)
		}
		p.next()
		return v, nil
	case t.kind == tPunct && t.val == "{":
		fields, err := p.arguments("}", constant)
		return value{kind: vObject, fields: fields}, err
	}
	return value{}, syntaxErr(p.src, t.pos, fmt.Sprintf("unexpected %q, expected a value", t.val))
}

// --- values and variables ---

// resolve turns a literal or variable into plain Go data as encoding/json would
// decode it (numbers as json.Number).
func (v value) resolve(vars map[string]any) any {
	switch v.kind {
	case vVariable:
		return vars[v.raw]
	case vInt, vFloat:
		return json.Number(v.raw)
	case vString, vEnum:
		return v.raw
	case vBool:
		return v.raw == "true"
	case vList:
		out := make([]any, len(v.list))
		for i, e := range v.list {
			out[i] = e.resolve(vars)
		}
		return out
	case vObject:
		out := map[string]any{}
		for _, f := range v.fields {
			out[f.name] = f.val.resolve(vars)
		}
		return out
	}
	return nil
}

func (v value) variables(into map[string]bool) {
	switch v.kind {
	case vVariable:
		into[v.raw] = true
	case vList:
		for _, e := range v.list {
			e.variables(into)
		}
	case vObject:
		for _, f := range v.fields {
			f.val.variables(into)
		}
	}
}

func usedVariables(sel []*field, into map[string]bool) {
	for _, f := range sel {
		for _, a := range f.args {
			a.val.variables(into)
		}
		usedVariables(f.sel, into)
	}
}

// coerceVariables checks the request's variables against the operation's
// declarations and fills in defaults.
func (op *operation) coerceVariables(given map[string]any) (map[string]any, error) {
	opName := op.name
	if opName == "" {
		opName = "anonymous " + op.kind
	}
	used := map[string]bool{}
	usedVariables(op.sel, used)
	declared := map[string]bool{}
	out := map[string]any{}
	for _, d := range op.vars {
		declared[d.name] = true
		if !used[d.name] {
			return nil, &gqlError{Message: fmt.Sprintf("Variable $%s is declared by %s but not used", d.name, opName)}
		}
		v, ok := given[d.name]
		if (!ok || v == nil) && d.hasDef {
			v, ok = d.def.resolve(nil), true
		}
		if d.typ.nonNull && (!ok || v == nil) {
			return nil, &gqlError{Message: fmt.Sprintf("Variable $%s of type %s was provided invalid value", d.name, d.typ),
				Extensions: map[string]any{"code": "INVALID_VARIABLE"}}
		}
		if err := checkScalar(d.typ, v); err != nil {
			return nil, &gqlError{Message: fmt.Sprintf("Variable $%s of type %s was provided invalid value: %v", d.name, d.typ, err),
				Extensions: map[string]any{"code": "INVALID_VARIABLE"}}
		}
		out[d.name] = v
	}
	for name := range used {
		if !declared[name] {
			return nil, &gqlError{Message: fmt.Sprintf("Variable $%s is used by %s but not declared", name, opName)}
		}
	}
	return out, nil
}

// checkScalar checks the built-in scalar types; input objects are checked by the
// field that reads them.
func checkScalar(t typeRef, v any) error {
	if v == nil {
		return nil
	}
	if t.elem != nil {
		list, ok := v.([]any)
		if !ok {
			return checkScalar(*t.elem, v) // a single value coerces to a list of one
		}
		for _, e := range list {
			if err := checkScalar(*t.elem, e); err != nil {
				return err
			}
		}
		return nil
	}
	switch t.name {
	case "ID", "String", "URL", "DateTime":
		if _, ok := v.(string); !ok {
			return fmt.Errorf("expected a string")
		}
	case "Int":
		n, ok := v.(json.Number)
		if _, err := n.Int64(); !ok || err != nil {
			return fmt.Errorf("expected an integer")
		}
	case "Boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("expected a boolean")
		}
	default:
		if _, ok := schema[t.name]; ok {
			return fmt.Errorf("%s is an output type", t.name)
		}
		if _, ok := inputTypes[t.name]; !ok {
			return fmt.Errorf("unknown type %s", t.name)
		}
		if _, ok := v.(map[string]any); !ok {
			return fmt.Errorf("expected an input object")
		}
	}
	return nil
}

// --- schema ---

// fieldDef describes one field of an object type.
type fieldDef struct {
	typ  string   // named type of the field (element type for lists)
	list bool     // the field is a list of typ
	args []string // arguments the field accepts
}

var connArgs = []string{"first", "last", "after", "before", "reverse", "query"}

// schema holds the object types the stand-in serves; any other named type is a scalar
// or enum.
var schema = map[string]map[string]fieldDef{
	"QueryRoot": {
		"order": {typ: "Order", args: []string{"id"}},
	},
	"Mutation": {
		"fulfillmentCreate": {typ: "FulfillmentCreatePayload", args: []string{"fulfillment", "message"}},
	},
	"Order": {
		"id": {typ: "ID"}, "name": {typ: "String"}, "displayFulfillmentStatus": {typ: "String"},
		"fulfillmentOrders": {typ: "FulfillmentOrderConnection", args: connArgs},
	},
	"FulfillmentOrderConnection": {
		"nodes": {typ: "FulfillmentOrder", list: true}, "edges": {typ: "FulfillmentOrderEdge", list: true},
		"pageInfo": {typ: "PageInfo"},
	},
	"FulfillmentOrderEdge": {"node": {typ: "FulfillmentOrder"}, "cursor": {typ: "String"}},
	"FulfillmentOrder": {
		"id": {typ: "ID"}, "status": {typ: "String"}, "requestStatus": {typ: "String"},
		"orderId": {typ: "ID"}, "createdAt": {typ: "DateTime"}, "updatedAt": {typ: "DateTime"},
		"lineItems": {typ: "FulfillmentOrderLineItemConnection", args: connArgs},
	},
	"FulfillmentOrderLineItemConnection": {
		"nodes": {typ: "FulfillmentOrderLineItem", list: true}, "edges": {typ: "FulfillmentOrderLineItemEdge", list: true},
		"pageInfo": {typ: "PageInfo"},
	},
	"FulfillmentOrderLineItemEdge": {"node": {typ: "FulfillmentOrderLineItem"}, "cursor": {typ: "String"}},
	"FulfillmentOrderLineItem": {
		"id": {typ: "ID"}, "totalQuantity": {typ: "Int"}, "remainingQuantity": {typ: "Int"},
		"sku": {typ: "String"}, "lineItem": {typ: "LineItem"},
	},
	"LineItem":                 {"id": {typ: "ID"}, "sku": {typ: "String"}, "name": {typ: "String"}, "quantity": {typ: "Int"}},
	"FulfillmentCreatePayload": {"fulfillment": {typ: "Fulfillment"}, "userErrors": {typ: "UserError", list: true}},
	"Fulfillment": {
		"id": {typ: "ID"}, "name": {typ: "String"}, "status": {typ: "String"}, "createdAt": {typ: "DateTime"},
		"trackingInfo": {typ: "FulfillmentTrackingInfo", list: true, args: []string{"first"}},
	},
	"FulfillmentTrackingInfo": {"company": {typ: "String"}, "number": {typ: "String"}, "url": {typ: "URL"}},
	"UserError":               {"field": {typ: "String", list: true}, "message": {typ: "String"}},
	"PageInfo": {
		"hasNextPage": {typ: "Boolean"}, "hasPreviousPage": {typ: "Boolean"},
		"startCursor": {typ: "String"}, "endCursor": {typ: "String"},
	},
}

// inputTypes lists the input objects and the keys each accepts.
var inputTypes = map[string][]string{
	"FulfillmentInput":               {"lineItemsByFulfillmentOrder", "trackingInfo", "notifyCustomer", "originAddress"},
	"FulfillmentOrderLineItemsInput": {"fulfillmentOrderId", "fulfillmentOrderLineItems"},
	"FulfillmentOrderLineItemInput":  {"id", "quantity"},
	"FulfillmentTrackingInput":       {"company", "number", "url", "numbers", "urls"},
}

func isConnection(typ string) bool { return strings.HasSuffix(typ, "Connection") }

// validate checks sel against the schema type typ, with arguments resolved from vars.
func validate(src, typ string, sel []*field, vars map[string]any) error {
	fields := schema[typ]
	seen := map[string]*field{}
	for _, f := range sel {
		loc := []gqlLocation{location(src, f.pos)}
		if prev, dup := seen[f.key()]; dup && prev.name != f.name {
			return &gqlError{Message: fmt.Sprintf("Field '%s' conflict because %s and %s are different fields", f.key(), prev.name, f.name), Locations: loc}
		}
		seen[f.key()] = f
		if f.name == "__typename" {
			if f.hasSel || len(f.args) > 0 {
				return &gqlError{Message: "__typename takes neither arguments nor selections", Locations: loc}
			}
			continue
		}
		def, ok := fields[f.name]
		if !ok {
			return &gqlError{Message: fmt.Sprintf("Field '%s' doesn't exist on type '%s'", f.name, typ), Locations: loc,
				Extensions: map[string]any{"code": "undefinedField", "typeName": typ, "fieldName": f.name}}
		}
		for _, a := range f.args {
			if !slices.Contains(def.args, a.name) {
				return &gqlError{Message: fmt.Sprintf("Field '%s' doesn't accept argument '%s'", f.name, a.name), Locations: loc,
					Extensions: map[string]any{"code": "argumentNotAccepted"}}
			}
		}
		_, object := schema[def.typ]
		switch {
		case object && !f.hasSel:
			return &gqlError{Message: fmt.Sprintf("Field must have selections (field '%s' returns %s but has no selections. Did you mean '%s { ... }'?)", f.name, def.typ, f.name), Locations: loc}
		case !object && f.hasSel:
			return &gqlError{Message: fmt.Sprintf("Selections can't be made on scalars (field '%s' returns %s but has selections)", f.name, def.typ), Locations: loc}
		}
		if isConnection(def.typ) {
			first, last := argInt(f, "first", vars), argInt(f, "last", vars)
			if first < 0 && last < 0 {
				return &gqlError{Message: "you must provide one of first or last", Locations: loc, Path: []any{f.key()}}
			}
			if first > 250 || last > 250 {
				return &gqlError{Message: fmt.Sprintf("The first or last argument on %s exceeds the maximum of 250", f.name), Locations: loc}
			}
		}
		if object {
			if err := validate(src, def.typ, f.sel, vars); err != nil {
				return err
			}
		}
	}
	return nil
}

// argInt returns an integer argument, or -1 when it is absent or not an integer.
func argInt(f *field, name string, vars map[string]any) int {
	for _, a := range f.args {
		if a.name != name {
			continue
		}
		n, ok := a.val.resolve(vars).(json.Number)
		if !ok {
			return -1
		}
		i, err := strconv.Atoi(string(n))
		if err != nil || i < 0 {
			return -1
		}
		return i
	}
	return -1
}

func args(f *field, vars map[string]any) map[string]any {
	out := map[string]any{}
	for _, a := range f.args {
		out[a.name] = a.val.resolve(vars)
	}
	return out
}

// requestedCost follows the platform's published rules of thumb: an object costs 1, a
// connection 2 plus its page size times the cost of one node, scalars nothing, and a
// mutation a flat 10.
func requestedCost(typ string, sel []*field, vars map[string]any) int {
	cost := 0
	for _, f := range sel {
		def, ok := schema[typ][f.name]
		if !ok {
			continue
		}
		if _, object := schema[def.typ]; !object {
			continue
		}
		switch {
		case isConnection(def.typ):
			n := max(argInt(f, "first", vars), argInt(f, "last", vars))
			cost += 2 + n*nodeCost(def.typ, f.sel, vars)
		default:
			cost += 1 + requestedCost(def.typ, f.sel, vars)
		}
	}
	return cost
}

func nodeCost(connType string, sel []*field, vars map[string]any) int {
	cost := 0
	for _, f := range sel {
		def := schema[connType][f.name]
		switch f.name {
		case "nodes":
			cost = max(cost, 1+requestedCost(def.typ, f.sel, vars))
		case "edges":
			for _, e := range f.sel {
				if e.name == "node" {
					cost = max(cost, 1+requestedCost(schema[def.typ]["node"].typ, e.sel, vars))
				}
			}
		}
	}
	return max(cost, 1)
}

// --- results ---

// object is a resolved GraphQL object: a field maps to a value, or to a func that
// takes the field's arguments.
type object map[string]any

type resolver func(args map[string]any) any

// connection serves a list of nodes as a connection honouring first/last/after.
func connection(nodes []object) resolver {
	return func(a map[string]any) any {
		start := 0
		if after, ok := a["after"].(string); ok {
			if b, err := base64.StdEncoding.DecodeString(after); err == nil {
				if i, err := strconv.Atoi(strings.TrimPrefix(string(b), "cursor:")); err == nil {
					start = i + 1
				}
			}
		}
		start = min(start, len(nodes))
		page := nodes[start:]
		hasNext := false
		if n, ok := a["first"].(json.Number); ok {
			if i, err := n.Int64(); err == nil && int(i) < len(page) {
				page, hasNext = page[:i], true
			}
		}
		if n, ok := a["last"].(json.Number); ok {
			if i, err := n.Int64(); err == nil && int(i) < len(page) {
				page = page[len(page)-int(i):]
			}
		}
		edges := make([]any, len(page))
		nodesOut := make([]any, len(page))
		cursor := func(i int) string { return base64.StdEncoding.EncodeToString([]byte("cursor:" + strconv.Itoa(i))) }
		for i, n := range page {
			nodesOut[i] = n
			edges[i] = object{"node": n, "cursor": cursor(start + i)}
		}
		info := object{"hasNextPage": hasNext, "hasPreviousPage": start > 0, "startCursor": nil, "endCursor": nil}
		if len(page) > 0 {
			info["startCursor"], info["endCursor"] = cursor(start), cursor(start+len(page)-1)
		}
		return object{"nodes": nodesOut, "edges": edges, "pageInfo": info}
	}
}

// ordered is a JSON object that keeps the selection's field order.
type ordered []kv

type kv struct {
	k string
	v any
}

func (o ordered) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(e.k)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(e.v)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// project keeps what sel asks for from v (an object, a list of objects or nil) and
// adds up the actual cost of what it returned.
func project(typ string, v any, sel []*field, vars map[string]any, cost *int) any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = project(typ, e, sel, vars, cost)
		}
		return out
	case object:
		if !isConnection(typ) && !strings.HasSuffix(typ, "Edge") && typ != "PageInfo" && typ != "QueryRoot" && typ != "Mutation" {
			*cost++
		}
		if isConnection(typ) {
			*cost += 2
		}
		out := make(ordered, 0, len(sel))
		for _, f := range sel {
			if f.name == "__typename" {
				out = append(out, kv{f.key(), typ})
				continue
			}
			fv := x[f.name]
			if r, ok := fv.(resolver); ok {
				fv = r(args(f, vars))
			}
			def := schema[typ][f.name]
			if _, obj := schema[def.typ]; obj {
				fv = project(def.typ, fv, f.sel, vars, cost)
			}
			out = append(out, kv{f.key(), fv})
		}
		return out
	}
	return v
}

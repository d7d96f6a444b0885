package marketplace

// Parsing: tokens into one operation's syntax tree.

import (
	"fmt"
	"strings"
)

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

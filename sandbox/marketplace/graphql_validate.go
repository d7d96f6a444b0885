package marketplace

// Validating: variables coerced against their declarations, the selection checked
// against the schema, and the cost the request asks for.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
)

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
		if values, ok := enumTypes[t.name]; ok {
			if str, _ := v.(string); !slices.Contains(values, str) {
				return fmt.Errorf("expected one of %v", values)
			}
			return nil
		}
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

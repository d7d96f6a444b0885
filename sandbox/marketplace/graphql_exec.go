package marketplace

// Executing: resolved objects projected onto the selection, in its field order.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
)

func args(f *field, vars map[string]any) map[string]any {
	out := map[string]any{}
	for _, a := range f.args {
		out[a.name] = a.val.resolve(vars)
	}
	return out
}

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

// Package openapigen completes the OpenAPI (v2) document that
// protoc-gen-openapiv2 writes with what the protos say and the generator
// leaves out, so that the rules have one source, the protos:
//
//   - the protovalidate rules of every request message (buf.validate field
//     options): required fields, string lengths and patterns, uuid, numeric
//     bounds (exclusive for gt/lt), item counts and uniqueness, the values an
//     enum or string may take;
//   - the 201 Created answer with its Location header of the operations the
//     gateway answers so (gateway.CreatedMethods);
//   - 64-bit integers as JSON numbers (type integer, format int64), which is
//     what the API writes (platform/restjson) and reads; the generator
//     describes protojson's strings.
//
// Each operation is tied to its gRPC method by its operationId
// (Service_Method) and the method's google.api.http binding; its request
// message is then walked along the document's schemas, so a definition is
// completed from the message it describes, whatever its name.
package openapigen

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Enrich returns raw (a swagger 2.0 JSON document) with the request rules of
// the services found in files and 201 + Location on the created methods
// (full gRPC method names, "/pkg.Service/Method").
func Enrich(raw []byte, files *protoregistry.Files, created []string) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("openapi: parse: %w", err)
	}
	services := map[string]protoreflect.ServiceDescriptor{}
	files.RangeFiles(func(f protoreflect.FileDescriptor) bool {
		if !strings.HasPrefix(string(f.Package()), "printfleet.") {
			return true
		}
		for i := range f.Services().Len() {
			s := f.Services().Get(i)
			services[string(s.Name())] = s
		}
		return true
	})
	integers(doc)
	defs, _ := doc["definitions"].(map[string]any)
	g := &gen{defs: defs, done: map[string]bool{}}
	paths, _ := doc["paths"].(map[string]any)
	for _, path := range sortedKeys(paths) {
		item, _ := paths[path].(map[string]any)
		for _, verb := range sortedKeys(item) {
			op, _ := item[verb].(map[string]any)
			id, _ := op["operationId"].(string)
			md, rule, err := method(services, id)
			if err != nil {
				return nil, fmt.Errorf("openapi: %s %s: %w", strings.ToUpper(verb), path, err)
			}
			if err := g.operation(op, md, rule); err != nil {
				return nil, fmt.Errorf("openapi: %s %s: %w", strings.ToUpper(verb), path, err)
			}
			full := "/" + string(md.Parent().FullName()) + "/" + string(md.Name())
			if slices.Contains(created, full) {
				createdAnswer(op)
			}
		}
	}
	return json.MarshalIndent(doc, "", "  ")
}

// integers makes every 64-bit integer schema or parameter (protojson's
// string) a JSON integer.
func integers(v any) {
	switch v := v.(type) {
	case map[string]any:
		if f := v["format"]; v["type"] == "string" && (f == "int64" || f == "uint64") {
			v["type"] = "integer"
		}
		for _, x := range v {
			integers(x)
		}
	case []any:
		for _, x := range v {
			integers(x)
		}
	}
}

var bindingSuffix = regexp.MustCompile(`^(.*?)([0-9]*)$`)

// method finds the gRPC method of an operationId "Service_Method" (an
// additional binding's operation ends in its number, from 2) and the HTTP
// binding the operation describes.
func method(services map[string]protoreflect.ServiceDescriptor, id string) (protoreflect.MethodDescriptor, *annotations.HttpRule, error) {
	svc, name, ok := strings.Cut(id, "_")
	s := services[svc]
	if !ok || s == nil {
		return nil, nil, fmt.Errorf("operationId %q names no printfleet service", id)
	}
	md := s.Methods().ByName(protoreflect.Name(name))
	n := 0
	if md == nil {
		m := bindingSuffix.FindStringSubmatch(name)
		md = s.Methods().ByName(protoreflect.Name(m[1]))
		n, _ = strconv.Atoi(m[2])
	}
	if md == nil {
		return nil, nil, fmt.Errorf("operationId %q names no method of %s", id, s.FullName())
	}
	rule, _ := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule)
	if rule == nil {
		return nil, nil, fmt.Errorf("%s has no google.api.http binding", md.FullName())
	}
	if extra := rule.GetAdditionalBindings(); n >= 2 && n-2 < len(extra) {
		rule = extra[n-2]
	}
	return md, rule, nil
}

// createdAnswer makes the operation's success answer 201 with a Location.
func createdAnswer(op map[string]any) {
	responses, _ := op["responses"].(map[string]any)
	ok, _ := responses["200"].(map[string]any)
	if ok == nil {
		return
	}
	delete(responses, "200")
	ok["description"] = "Created; Location names the created resource."
	ok["headers"] = map[string]any{
		"Location": map[string]any{"type": "string", "description": "The path of the created resource (e.g. /v1/orders/{order_id})."},
	}
	responses["201"] = ok
}

type gen struct {
	defs map[string]any
	done map[string]bool
}

func (g *gen) operation(op map[string]any, md protoreflect.MethodDescriptor, rule *annotations.HttpRule) error {
	in := md.Input()
	params, _ := op["parameters"].([]any)
	for _, p := range params {
		param, _ := p.(map[string]any)
		name, _ := param["name"].(string)
		switch param["in"] {
		case "body":
			msg := in
			if b := rule.GetBody(); b != "*" {
				fd := in.Fields().ByName(protoreflect.Name(b))
				if fd == nil || fd.Message() == nil {
					return fmt.Errorf("body %q is no message field of %s", b, in.FullName())
				}
				msg = fd.Message()
			}
			schema, _ := param["schema"].(map[string]any)
			g.schema(schema, msg)
		case "path", "query":
			fd := fieldPath(in, name)
			if fd == nil {
				continue // a parameter the generator made up (none today)
			}
			rules := fieldRules(fd)
			if needed(fd, rules) {
				param["required"] = true
			}
			constrain(param, fd, rules)
		}
	}
	return nil
}

// fieldPath resolves a parameter name ("filter.status") in msg.
func fieldPath(msg protoreflect.MessageDescriptor, name string) protoreflect.FieldDescriptor {
	var fd protoreflect.FieldDescriptor
	for part := range strings.SplitSeq(name, ".") {
		if msg == nil {
			return nil
		}
		if fd = msg.Fields().ByName(protoreflect.Name(part)); fd == nil {
			return nil
		}
		msg = fd.Message()
	}
	return fd
}

// schema completes a schema (a $ref to a definition, or inline) that
// describes msg.
func (g *gen) schema(s map[string]any, msg protoreflect.MessageDescriptor) {
	if s == nil {
		return
	}
	if ref, _ := s["$ref"].(string); ref != "" {
		name := strings.TrimPrefix(ref, "#/definitions/")
		def, _ := g.defs[name].(map[string]any)
		if def == nil || g.done[name] {
			return
		}
		g.done[name] = true
		g.message(def, msg)
		return
	}
	if wrapped, _ := s["allOf"].([]any); len(wrapped) == 1 {
		inner, _ := wrapped[0].(map[string]any)
		g.schema(inner, msg)
		return
	}
	if _, ok := s["properties"]; ok {
		g.message(s, msg)
	}
}

// message completes an object schema from msg's fields.
func (g *gen) message(def map[string]any, msg protoreflect.MessageDescriptor) {
	props, _ := def["properties"].(map[string]any)
	required := stringsOf(def["required"])
	fields := msg.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		prop, _ := props[string(fd.Name())].(map[string]any)
		if prop == nil {
			continue
		}
		rules := fieldRules(fd)
		if needed(fd, rules) && !slices.Contains(required, string(fd.Name())) {
			required = append(required, string(fd.Name()))
		}
		props[string(fd.Name())] = constrain(prop, fd, rules)
		if fd.Message() == nil || fd.IsMap() {
			continue
		}
		target, _ := props[string(fd.Name())].(map[string]any)
		if fd.IsList() {
			target, _ = target["items"].(map[string]any)
		}
		g.schema(target, fd.Message())
	}
	if len(required) > 0 {
		slices.Sort(required)
		def["required"] = anys(required)
	}
}

// needed reports whether a request must carry fd: its rules say required,
// or they refuse its zero value (a proto3 field without presence that is
// absent reads as zero) and do not skip it when zero.
func needed(fd protoreflect.FieldDescriptor, rules *validate.FieldRules) bool {
	if rules.GetRequired() {
		return true
	}
	if rules == nil || rules.GetIgnore() != validate.Ignore_IGNORE_UNSPECIFIED || fd.HasPresence() {
		return false
	}
	if fd.IsList() {
		return rules.GetRepeated().GetMinItems() > 0
	}
	if fd.IsMap() {
		return false
	}
	switch {
	case rules.GetString() != nil:
		r := rules.GetString()
		return r.GetMinLen() > 0 || r.GetLen() > 0 || r.GetUuid() || r.GetEmail() || r.GetUri() ||
			(r.HasPattern() && !regexp.MustCompile(r.GetPattern()).MatchString(""))
	case rules.GetEnum() != nil:
		return slices.Contains(rules.GetEnum().GetNotIn(), 0) ||
			(len(rules.GetEnum().GetIn()) > 0 && !slices.Contains(rules.GetEnum().GetIn(), 0))
	}
	lo, hi := bounds(rules)
	return (lo.set && (lo.v > 0 || (lo.v == 0 && lo.exclusive))) || (hi.set && (hi.v < 0 || (hi.v == 0 && hi.exclusive)))
}

type bound struct {
	set, exclusive bool
	v              float64
	text           string
}

// bounds reads the lower and upper bound of a numeric rule (any of the
// numeric kinds: their rule messages share the field names gt, gte, lt, lte).
func bounds(rules *validate.FieldRules) (lo, hi bound) {
	if rules == nil {
		return
	}
	rm := rules.ProtoReflect()
	set := rm.WhichOneof(rm.Descriptor().Oneofs().ByName("type"))
	if set == nil || set.Message() == nil {
		return
	}
	sub := rm.Get(set).Message()
	get := func(name protoreflect.Name, exclusive bool) bound {
		f := sub.Descriptor().Fields().ByName(name)
		if f == nil || !sub.Has(f) {
			return bound{}
		}
		text := fmt.Sprint(sub.Get(f).Interface())
		v, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return bound{}
		}
		return bound{set: true, exclusive: exclusive, v: v, text: text}
	}
	if lo = get("gt", true); !lo.set {
		lo = get("gte", false)
	}
	if hi = get("lt", true); !hi.set {
		hi = get("lte", false)
	}
	return lo, hi
}

func fieldRules(fd protoreflect.FieldDescriptor) *validate.FieldRules {
	r, _ := proto.GetExtension(fd.Options(), validate.E_Field).(*validate.FieldRules)
	return r
}

// constrain writes rules into s, the schema (or non-body parameter) of fd,
// and returns the schema to use in its place (an enum reference is wrapped
// so that it can carry a description).
func constrain(s map[string]any, fd protoreflect.FieldDescriptor, rules *validate.FieldRules) map[string]any {
	if rules == nil {
		return s
	}
	if fd.IsList() {
		rep := rules.GetRepeated()
		if rep == nil {
			return s
		}
		if rep.HasMinItems() {
			s["minItems"] = rep.GetMinItems()
		}
		if rep.HasMaxItems() {
			s["maxItems"] = rep.GetMaxItems()
		}
		if rep.GetUnique() {
			s["uniqueItems"] = true
		}
		if items, _ := s["items"].(map[string]any); items != nil && rep.GetItems() != nil {
			s["items"] = constrainScalar(items, fd, rep.GetItems())
		}
		return s
	}
	return constrainScalar(s, fd, rules)
}

func constrainScalar(s map[string]any, fd protoreflect.FieldDescriptor, rules *validate.FieldRules) map[string]any {
	var notes []string
	switch {
	case rules.GetString() != nil:
		r := rules.GetString()
		if r.HasLen() {
			s["minLength"], s["maxLength"] = r.GetLen(), r.GetLen()
		}
		if r.HasMinLen() {
			s["minLength"] = r.GetMinLen()
		}
		if r.HasMaxLen() {
			s["maxLength"] = r.GetMaxLen()
		}
		if r.HasPattern() {
			s["pattern"] = r.GetPattern()
		}
		switch {
		case r.GetUuid():
			s["format"] = "uuid"
		case r.GetEmail():
			s["format"] = "email"
		case r.GetUri():
			s["format"] = "uri"
		case r.GetHostname():
			s["format"] = "hostname"
		}
		if in := r.GetIn(); len(in) > 0 {
			s["enum"] = anys(in)
		}
		if out := r.GetNotIn(); len(out) > 0 {
			notes = append(notes, "Must not be one of: "+strings.Join(out, ", ")+".")
		}
	case rules.GetEnum() != nil:
		r := rules.GetEnum()
		names := func(nums []int32) []string {
			var out []string
			for _, n := range nums {
				if v := fd.Enum().Values().ByNumber(protoreflect.EnumNumber(n)); v != nil {
					out = append(out, string(v.Name()))
				}
			}
			return out
		}
		if r.GetDefinedOnly() {
			notes = append(notes, "Only the enum's defined values are accepted.")
		}
		if in := names(r.GetIn()); len(in) > 0 {
			notes = append(notes, "Must be one of: "+strings.Join(in, ", ")+".")
		}
		if out := names(r.GetNotIn()); len(out) > 0 {
			notes = append(notes, "Must not be "+strings.Join(out, " or ")+".")
		}
	default:
		numeric(s, rules, &notes)
	}
	if len(notes) == 0 {
		return s
	}
	note := strings.Join(notes, " ")
	if _, ref := s["$ref"]; ref {
		// Siblings of a $ref are ignored: a one-element allOf carries the
		// description.
		return map[string]any{"allOf": []any{s}, "description": note}
	}
	if d, _ := s["description"].(string); d != "" {
		note = d + "\n\n" + note
	}
	s["description"] = note
	return s
}

// numeric writes the bounds of a numeric rule. An integer's exclusive bound
// becomes the next integer (gt: 0 is minimum 1). Where the schema is no
// number (a Duration or Timestamp rule), the bounds go to the description.
func numeric(s map[string]any, rules *validate.FieldRules, notes *[]string) {
	lo, hi := bounds(rules)
	write := func(b bound, key, exclusiveKey, words, exclusiveWords string, step int64) {
		switch {
		case !b.set:
		case s["type"] == "integer":
			n, _ := strconv.ParseInt(b.text, 10, 64)
			if b.exclusive {
				n += step
			}
			s[key] = n
		case s["type"] == "number":
			s[key] = json.Number(b.text)
			if b.exclusive {
				s[exclusiveKey] = true
			}
		case b.exclusive:
			*notes = append(*notes, exclusiveWords+" "+b.text+".")
		default:
			*notes = append(*notes, words+" "+b.text+".")
		}
	}
	write(lo, "minimum", "exclusiveMinimum", "At least", "Greater than", 1)
	write(hi, "maximum", "exclusiveMaximum", "At most", "Less than", -1)
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func stringsOf(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func anys[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

package gateway

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// The decoding errors of an enum value the request's JSON body
// (protojson) and query (grpc-gateway's parser) report. Both name the
// field by its last segment only; protojson's start with a position.
var (
	bodyEnumRE  = regexp.MustCompile(`invalid value for enum field (\w+): (.+)$`)
	queryEnumRE = regexp.MustCompile(`^parsing field "(\w+)": (".*") is not a valid value$`)
	// A number the decoders accept (enums are open) that protovalidate's
	// defined_only refuses in the service: the message of one violation, or
	// one line of several.
	definedOnlyRE = regexp.MustCompile(`(?m)^((?:validation error: | - )(?:[\w\[\]"]+\.)*(\w+)(?:\[[^\]]*\])?): value must be one of the defined enum values$`)
)

// maxEchoedValue bounds how much of a client's value an error repeats.
const maxEchoedValue = 64

// enumMessage rewrites a decoding error about an enum value into one that
// names the field by its proto name and lists the values it takes:
// `invalid value "X" for status; allowed: ORDER_STATUS_PENDING, ...`. It
// reports false for any other message, or when the request message of the
// route has no enum field of that name. The service's refusal of an
// undefined enum number gets the list too.
func enumMessage(ctx context.Context, msg string) (string, bool) {
	if method, ok := runtime.RPCMethod(ctx); ok && definedOnlyRE.MatchString(msg) {
		if in, ok := requestDescriptor(method); ok {
			return definedOnlyRE.ReplaceAllStringFunc(msg, func(line string) string {
				m := definedOnlyRE.FindStringSubmatch(line)
				fd := findEnumField(in, m[2], map[protoreflect.FullName]bool{})
				if fd == nil {
					return line
				}
				return m[1] + ": value must be one of " + strings.Join(enumValues(fd.Enum()), ", ")
			}), true
		}
	}
	var name, value string
	if m := queryEnumRE.FindStringSubmatch(msg); m != nil {
		name, value = m[1], m[2]
	} else if m := bodyEnumRE.FindStringSubmatch(msg); m != nil {
		name, value = m[1], m[2]
	} else {
		return "", false
	}
	method, ok := runtime.RPCMethod(ctx)
	if !ok {
		return "", false
	}
	in, ok := requestDescriptor(method)
	if !ok {
		return "", false
	}
	fd := findEnumField(in, name, map[protoreflect.FullName]bool{})
	if fd == nil {
		return "", false
	}
	if len(value) > maxEchoedValue {
		value = value[:maxEchoedValue] + "…"
	}
	return fmt.Sprintf("invalid value %s for %s; allowed: %s", value, fd.Name(), strings.Join(enumValues(fd.Enum()), ", ")), true
}

// requestDescriptor is the input message of a "/pkg.Service/Method" name.
func requestDescriptor(method string) (protoreflect.MessageDescriptor, bool) {
	svc, m, ok := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	if !ok {
		return nil, false
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		return nil, false
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, false
	}
	md := sd.Methods().ByName(protoreflect.Name(m))
	if md == nil {
		return nil, false
	}
	return md.Input(), true
}

// findEnumField is the first enum field named name (proto or JSON name) in
// md or the messages it contains, breadth first.
func findEnumField(md protoreflect.MessageDescriptor, name string, seen map[protoreflect.FullName]bool) protoreflect.FieldDescriptor {
	queue := []protoreflect.MessageDescriptor{md}
	for len(queue) > 0 {
		m := queue[0]
		queue = queue[1:]
		if seen[m.FullName()] {
			continue
		}
		seen[m.FullName()] = true
		fs := m.Fields()
		for i := 0; i < fs.Len(); i++ {
			f := fs.Get(i)
			if f.IsMap() {
				if v := f.MapValue(); v.Message() != nil {
					queue = append(queue, v.Message())
				}
				continue
			}
			if f.Enum() != nil && (string(f.Name()) == name || f.JSONName() == name) {
				return f
			}
			if f.Message() != nil {
				queue = append(queue, f.Message())
			}
		}
	}
	return nil
}

// enumValues are the names a client may send: every value but the zero
// "unspecified" one.
func enumValues(ed protoreflect.EnumDescriptor) []string {
	var out []string
	vs := ed.Values()
	for i := 0; i < vs.Len(); i++ {
		v := vs.Get(i)
		if v.Number() == 0 && strings.HasSuffix(string(v.Name()), "_UNSPECIFIED") {
			continue
		}
		out = append(out, string(v.Name()))
	}
	return out
}

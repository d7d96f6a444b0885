package grpcserver

import (
	"context"
	"strconv"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/printfleet/printfleet/platform/errs"
)

// rejectNUL refuses requests with a NUL character in any string field.
// PostgreSQL text cannot hold U+0000, so such input would otherwise fail deep
// in a store as an internal error; it is the client's mistake and is answered
// as one, naming the field.
func rejectNUL(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if m, ok := req.(proto.Message); ok {
		if field := findNUL(m.ProtoReflect(), ""); field != "" {
			return nil, errs.Status(errs.Field(field, "must not contain NUL characters")).Err()
		}
	}
	return h(ctx, req)
}

// findNUL returns the path of the first string field holding a NUL, or "".
func findNUL(m protoreflect.Message, prefix string) string {
	var found string
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := prefix + string(fd.Name())
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len() && found == ""; i++ {
				found = checkValue(fd, l.Get(i), name+"["+strconv.Itoa(i)+"]")
			}
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				if strings.ContainsRune(k.String(), 0) {
					found = name
					return false
				}
				found = checkValue(fd.MapValue(), mv, name+"["+k.String()+"]")
				return found == ""
			})
		default:
			found = checkValue(fd, v, name)
		}
		return found == ""
	})
	return found
}

func checkValue(fd protoreflect.FieldDescriptor, v protoreflect.Value, name string) string {
	switch fd.Kind() {
	case protoreflect.StringKind:
		if strings.ContainsRune(v.String(), 0) {
			return name
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return findNUL(v.Message(), name+".")
	}
	return ""
}

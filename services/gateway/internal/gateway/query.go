package gateway

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// strictQuery parses query parameters like grpc-gateway's default parser but
// refuses a parameter that names no field of the request message (nested
// paths resolved on the descriptor) or names a field bound by the path: a
// misspelt filter must not silently return every row.
type strictQuery struct{ runtime.DefaultQueryParser }

// mapKeyRE matches grpc-gateway's map syntax, field[key].
var mapKeyRE = regexp.MustCompile(`^(.*)\[(.*)\]$`)

func (q *strictQuery) Parse(msg proto.Message, values url.Values, filter *utilities.DoubleArray) error {
	desc := msg.ProtoReflect().Descriptor()
	for key := range values {
		field := key
		if m := mapKeyRE.FindStringSubmatch(key); len(m) == 3 {
			field = m[1]
		}
		path, ok := resolveField(desc, field)
		if !ok || bound(filter, path) {
			// The generated handler answers the parser's error as
			// INVALID_ARGUMENT with its text as the message.
			return fmt.Errorf("unknown query parameter %q (allowed: %s)",
				key, strings.Join(queryFields(desc, filter), ", "))
		}
	}
	return q.DefaultQueryParser.Parse(msg, values, filter)
}

// resolveField returns the proto names along a dotted path of proto or JSON
// names, or false when a segment names no field or a non-final segment is not
// a singular message.
func resolveField(desc protoreflect.MessageDescriptor, dotted string) ([]string, bool) {
	if dotted == "" {
		return nil, false
	}
	parts := strings.Split(dotted, ".")
	path := make([]string, 0, len(parts))
	for i, p := range parts {
		if desc == nil {
			return nil, false
		}
		fd := desc.Fields().ByTextName(p)
		if fd == nil {
			fd = desc.Fields().ByJSONName(p)
		}
		if fd == nil {
			return nil, false
		}
		path = append(path, string(fd.Name()))
		if i < len(parts)-1 {
			if fd.Message() == nil || fd.IsList() || fd.IsMap() {
				return nil, false
			}
			desc = fd.Message()
		}
	}
	return path, true
}

// queryFields names the top-level fields a query may set: every field of the
// request, in declaration order, except those bound by the path or the body.
func queryFields(desc protoreflect.MessageDescriptor, filter *utilities.DoubleArray) []string {
	var names []string
	fs := desc.Fields()
	for i := 0; i < fs.Len(); i++ {
		n := string(fs.Get(i).Name())
		if !bound(filter, []string{n}) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return []string{"none"}
	}
	return names
}

// bound reports whether the path or the body sets the field at path.
func bound(filter *utilities.DoubleArray, path []string) bool {
	return filter != nil && filter.HasCommonPrefix(path)
}

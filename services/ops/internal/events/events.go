// Package events decodes a dead letter's body by its type: the routing key
// names an event message of printfleet.events.v1 (eventsv1.Keys,
// eventsv1.VariantKeys), which is unmarshalled and shown as JSON.
package events

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
)

// pkg is the event messages' protobuf package.
const pkg = "printfleet.events.v1"

// names maps each routing key to its event message's name.
var names = func() map[string]string {
	m := make(map[string]string, len(eventsv1.Keys)+len(eventsv1.VariantKeys))
	for name, key := range eventsv1.Keys {
		m[key] = name
	}
	for key, name := range eventsv1.VariantKeys {
		m[key] = name
	}
	return m
}()

// ensure the event messages are registered even if nothing else in the
// binary names one.
var _ = (*eventsv1.OrderPlaced)(nil)

// Decoded is a body shown as JSON and the order it is about ("" when none).
type Decoded struct {
	JSON    string
	OrderID string
}

// Decode unmarshals body as the event message typ names and renders it
// with protojson. The error says why a body is not the message its type
// names (unknown type, malformed bytes).
func Decode(typ string, body []byte) (Decoded, error) {
	name, ok := names[typ]
	if !ok {
		return Decoded{}, fmt.Errorf("unknown event type %q", typ)
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(pkg + "." + name))
	if err != nil {
		return Decoded{}, fmt.Errorf("event message %s.%s not registered: %w", pkg, name, err)
	}
	msg := mt.New().Interface()
	if err := (proto.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(body, msg); err != nil {
		return Decoded{}, fmt.Errorf("body is not a %s: %w", name, err)
	}
	js, err := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: false}.Marshal(msg)
	if err != nil {
		return Decoded{}, fmt.Errorf("render %s as JSON: %w", name, err)
	}
	return Decoded{JSON: string(js), OrderID: orderID(msg.ProtoReflect())}, nil
}

// orderID is the message's top-level order_id field, when it has one.
func orderID(m protoreflect.Message) string {
	fd := m.Descriptor().Fields().ByName("order_id")
	if fd == nil || fd.Kind() != protoreflect.StringKind || fd.IsList() {
		return ""
	}
	return m.Get(fd).String()
}

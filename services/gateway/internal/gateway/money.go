package gateway

import (
	"io"
	"regexp"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/restjson"
)

// moneyJSON writes responses as protojson does with UseProtoNames and
// EmitDefaultValues, except that 64-bit integers are JSON numbers, the shape
// the public API promises ({"currency": "USD", "amount_minor": 2499},
// "version": 3; see platform/restjson for the rule and why); protojson
// writes every int64 as a string. Input accepts both forms (protojson does).
//
// Proto messages are encoded by platform/restjson (the public JSON shape,
// shared with the webhook deliveries that show the same objects). Anything
// else (never a response today) goes through JSONPb and the old rewrite.
type moneyJSON struct{ *runtime.JSONPb }

func (m moneyJSON) Marshal(v any) ([]byte, error) {
	if msg, ok := v.(proto.Message); ok {
		if b, err := restjson.Append(make([]byte, 0, 512), msg); err == nil {
			return b, nil
		}
		// Whatever restjson refuses (invalid UTF-8, a map with non-string
		// keys) gets protojson's own answer.
	}
	b, err := m.JSONPb.Marshal(v)
	if err != nil {
		return nil, err
	}
	return amountMinor.ReplaceAll(b, []byte(`"amount_minor":$1$2`)), nil
}

func (m moneyJSON) NewEncoder(w io.Writer) runtime.Encoder {
	return runtime.EncoderFunc(func(v any) error {
		b, err := m.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	})
}

// amountMinor matches a Money amount as protojson writes int64: a string
// (only used for values that are not proto messages).
var amountMinor = regexp.MustCompile(`"amount_minor":(\s*)"(-?[0-9]+)"`)

package gateway

import (
	"io"
	"regexp"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
)

// amountMinor matches a Money amount as protojson writes int64: a string.
// protojson may put a space after the colon; a field name inside a string
// value is escaped (\"amount_minor\") and never matches.
var amountMinor = regexp.MustCompile(`"amount_minor":(\s*)"(-?[0-9]+)"`)

// moneyJSON writes Money amounts as JSON numbers, the shape the public API
// promises ({"currency": "USD", "amount_minor": 2499}); protojson writes
// every int64 as a string. Amounts are minor units far below 2^53, so
// JavaScript clients read them exactly. Input accepts both forms (protojson
// does).
type moneyJSON struct{ *runtime.JSONPb }

func (m moneyJSON) Marshal(v any) ([]byte, error) {
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

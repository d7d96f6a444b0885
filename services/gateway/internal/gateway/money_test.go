package gateway

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	pricingv1 "github.com/printfleet/printfleet/proto/printfleet/pricing/v1"
	typesv1 "github.com/printfleet/printfleet/proto/printfleet/types/v1"
)

func TestMoneyAmountsAreJSONNumbers(t *testing.T) {
	t.Parallel()
	m := moneyJSON{&runtime.JSONPb{MarshalOptions: protojson.MarshalOptions{UseProtoNames: true, EmitDefaultValues: true}}}
	o := &ordersv1.Order{
		Id: "o1", Total: &typesv1.Money{Currency: "USD", AmountMinor: 2499},
		Discount:        &typesv1.Money{Currency: "USD", AmountMinor: -5},
		ExternalOrderId: `"amount_minor":"7"`, // text that looks like an amount stays text
		Version:         3,
	}
	b, err := m.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Total, Discount struct {
			Currency    string          `json:"currency"`
			AmountMinor json.RawMessage `json:"amount_minor"`
		}
		ExternalOrderID string          `json:"external_order_id"`
		Version         json.RawMessage `json:"version"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if string(got.Total.AmountMinor) != "2499" || string(got.Discount.AmountMinor) != "-5" {
		t.Fatalf("amounts %s / %s, want JSON numbers: %s", got.Total.AmountMinor, got.Discount.AmountMinor, b)
	}
	if got.ExternalOrderID != `"amount_minor":"7"` {
		t.Fatalf("text changed: %s", b)
	}
	// One rule for every 64-bit integer: a JSON number.
	if string(got.Version) != "3" {
		t.Fatalf("version %s, want the JSON number 3: %s", got.Version, b)
	}
	var sb strings.Builder
	if err := m.NewEncoder(&sb).Encode(o); err != nil || !strings.Contains(sb.String(), `2499`) || strings.Contains(sb.String(), `"2499"`) {
		t.Fatalf("encoder: %v %s", err, sb.String())
	}
	// Both forms are accepted on input.
	for _, in := range []string{`{"currency":"USD","amount_minor":1999}`, `{"currency":"USD","amount_minor":"1999"}`} {
		var money typesv1.Money
		if err := m.Unmarshal([]byte(in), &money); err != nil || money.AmountMinor != 1999 {
			t.Fatalf("unmarshal %s: %v %v", in, &money, err)
		}
	}
}

// TestRESTJSONMatchesProtojson: for every message of the public API, filled
// at random (every field, nested messages, lists, maps, strings that need
// escaping), the one-pass encoder writes exactly the bytes protojson writes
// with its 64-bit integers unquoted, less its random insignificant spaces.
func TestRESTJSONMatchesProtojson(t *testing.T) {
	t.Parallel()
	old := &runtime.JSONPb{MarshalOptions: protojson.MarshalOptions{UseProtoNames: true, EmitDefaultValues: true}}
	m := moneyJSON{old}
	var files []protoreflect.FileDescriptor
	for _, msg := range []proto.Message{&ordersv1.Order{}, &catalogv1.Product{}, &pricingv1.Quote{}, &typesv1.Money{}} {
		files = append(files, msg.ProtoReflect().Descriptor().ParentFile())
	}
	// The 64-bit integer fields of the files, whose protojson strings become
	// numbers (all singular: a list or map of them would need more than a
	// rewrite by name).
	var names []string
	for _, fd := range files {
		var walk func(protoreflect.MessageDescriptors)
		walk = func(msgs protoreflect.MessageDescriptors) {
			for i := 0; i < msgs.Len(); i++ {
				fields := msgs.Get(i).Fields()
				for j := 0; j < fields.Len(); j++ {
					f := fields.Get(j)
					switch f.Kind() {
					case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
						if f.IsList() || f.IsMap() {
							t.Fatalf("%s: a list or map of 64-bit integers; the reference rewrite cannot handle it", f.FullName())
						}
						names = append(names, regexp.QuoteMeta(string(f.Name())))
					}
				}
				walk(msgs.Get(i).Messages())
			}
		}
		walk(fd.Messages())
	}
	int64s := regexp.MustCompile(`"(` + strings.Join(names, "|") + `)":(\s*)"(-?[0-9]+)"`)
	rng := rand.New(rand.NewPCG(1, 2))
	n := 0
	for _, fd := range files {
		msgs := fd.Messages()
		for i := 0; i < msgs.Len(); i++ {
			mt, err := protoregistry.GlobalTypes.FindMessageByName(msgs.Get(i).FullName())
			if err != nil {
				t.Fatal(err)
			}
			for round := range 30 {
				msg := mt.New()
				if round > 0 {
					fill(rng, msg, 0)
				}
				want, err := old.Marshal(msg.Interface())
				if err != nil {
					t.Fatal(err)
				}
				want = int64s.ReplaceAll(want, []byte(`"$1":$2$3`))
				var compact bytes.Buffer
				if err := json.Compact(&compact, want); err != nil {
					t.Fatal(err)
				}
				got, err := m.Marshal(msg.Interface())
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, compact.Bytes()) {
					t.Fatalf("%s:\n got %s\nwant %s", msgs.Get(i).FullName(), got, compact.Bytes())
				}
				n++
			}
		}
	}
	t.Logf("%d messages compared", n)
}

var texts = []string{"", "plain", `quote " and \ backslash`, "tab\tnew\nline\r\x01\x1f", "ünïcødé ✓ 🎉", "<html>&amp;", "\u2028\u2029", `"amount_minor":"7"`}

// fill sets every field of m (oneofs: one member) to a random value.
func fill(rng *rand.Rand, m protoreflect.Message, depth int) {
	fds := m.Descriptor().Fields()
	for i := 0; i < fds.Len(); i++ {
		fd := fds.Get(i)
		if rng.IntN(5) == 0 || (fd.ContainingOneof() != nil && m.WhichOneof(fd.ContainingOneof()) != nil) {
			continue
		}
		switch {
		case fd.IsList():
			l := m.Mutable(fd).List()
			for range rng.IntN(3) {
				if fd.Kind() == protoreflect.MessageKind {
					if depth < 3 {
						e := l.NewElement()
						fill(rng, e.Message(), depth+1)
						l.Append(e)
					}
					continue
				}
				l.Append(scalar(rng, fd))
			}
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			for range rng.IntN(4) {
				mp.Set(protoreflect.ValueOfString(texts[rng.IntN(len(texts))]+strconv.Itoa(rng.IntN(9))).MapKey(), scalar(rng, fd.MapValue()))
			}
		case fd.Kind() == protoreflect.MessageKind:
			if depth < 3 {
				sub := m.Mutable(fd).Message()
				if sub.Descriptor().FullName() == "google.protobuf.Timestamp" {
					sub.Set(sub.Descriptor().Fields().ByNumber(1), protoreflect.ValueOfInt64(rng.Int64N(4e9)))
					sub.Set(sub.Descriptor().Fields().ByNumber(2), protoreflect.ValueOfInt32([]int32{0, 5e8, 123e6, 123456e3, 123456789}[rng.IntN(5)]))
					continue
				}
				if sub.Descriptor().FullName() == "google.protobuf.FieldMask" {
					l := sub.Mutable(sub.Descriptor().Fields().ByNumber(1)).List()
					l.Append(protoreflect.ValueOfString("title"))
					l.Append(protoreflect.ValueOfString("base_price"))
					continue
				}
				fill(rng, sub, depth+1)
			}
		default:
			m.Set(fd, scalar(rng, fd))
		}
	}
}

func scalar(rng *rand.Rand, fd protoreflect.FieldDescriptor) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(rng.IntN(2) == 0)
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(texts[rng.IntN(len(texts))])
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(rng.Int32() - 1<<30)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(rng.Uint32())
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(rng.Int64() - 1<<62)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(rng.Uint64())
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32([]float32{0, 1.5, -3.25e-9, 7e22, 0.1}[rng.IntN(5)])
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64([]float64{0, 1.5, -3.25e-9, 7e22, 0.1, 1e21, 123456.789}[rng.IntN(7)])
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte(texts[rng.IntN(len(texts))]))
	case protoreflect.EnumKind:
		vals := fd.Enum().Values()
		if rng.IntN(6) == 0 {
			return protoreflect.ValueOfEnum(999) // unknown numbers are written as numbers
		}
		return protoreflect.ValueOfEnum(vals.Get(rng.IntN(vals.Len())).Number())
	}
	panic(fd.Kind().String())
}
